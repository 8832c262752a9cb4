"""MBU and MFU of measured cases, computed in one place, against the catalog peaks of the hardware a
run names (see README "Projection").

- decode: ideal step times at 100 % of peak (the projection kernel, ``projection.kernel``) over the measured TPOT p50
- prefill: ideal prefill compute time over the measured TTFT p50
The hardware label is resolved by ``catalog.hardware.resolve``: an unknown label gives MBU/MFU None with a
note, never figures against the local CPU.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.analysis import projection
from bench.catalog import hardware
from bench.catalog import models as catalog
from bench.catalog.dtypes import canonical
from bench.catalog.hardware import Chip
from bench.catalog.models import ModelEntry
from bench.errors import BenchError, InputError
from bench.results.schema import rate_divisor


def case_shape(case: dict) -> projection.Shape | None:
    """The kernel's ``Shape`` of a measured case (its workload, accelerators and dtypes); None without a workload."""
    wl = case.get("workload") or {}
    if not wl.get("batch_size"):
        return None
    dtype = canonical((case.get("backend") or {}).get("dtype", "bf16"))
    return projection.Shape(wl["input_tokens"], wl["output_tokens"], wl["batch_size"],
                            rate_divisor(case.get("accelerators")), dtype)


def case_point(m: ModelEntry, chip: Chip, case: dict) -> dict | None:
    """Ideal times beside the measured ones for one case, from the projection kernel: ``t_mem``, ``t_cmp`` (a decode
    step at 100 %), ``p_cmp`` (prefill compute at 100 %), ``tpot`` and ``ttft`` (measured p50). None without a TPOT."""
    tpot = (case.get("tpot_s") or {}).get("p50")
    ttft = (case.get("ttft_s") or {}).get("p50")
    w = case_shape(case)
    if not tpot or w is None:
        return None
    t = projection.kernel(m, chip, w, case.get("case_id", "case"))
    return {"t_mem": t.d_mem, "t_cmp": t.d_cmp, "tpot": tpot, "p_cmp": t.p_cmp, "ttft": ttft, "dtype": w.dtype}


def measured_efficiency(m: ModelEntry, chip: Chip, case: dict) -> dict | None:
    """MBU and MFU of a measured case against its hardware's catalog peaks (decode from TPOT p50,
    prefill MFU from TTFT p50)."""
    p = case_point(m, chip, case)
    if p is None:
        return None
    return {"hardware": chip.id, "mbu": p["t_mem"] / p["tpot"], "mfu": p["t_cmp"] / p["tpot"],
            "prefill_mfu": p["p_cmp"] / p["ttft"] if p["ttft"] else None,
            "provenance": "measured", "note": f"against catalog peaks of {chip.id} ({p['dtype']})"}


def for_case(case: dict, hardware_label: str | None, entry: ModelEntry | None = None) -> dict | None:
    """The efficiency block of a successful case, its model and hardware resolved from their labels.

    None when there is nothing to say (a failed case, a model outside the catalog, a dtype the chip
    lacks); MBU/MFU None with a note when the hardware label is not in the catalog."""
    if case.get("status") != "ok":
        return None
    entry = entry or catalog.resolve_model((case.get("model") or {}).get("label"))
    if entry is None:
        return None
    chip = hardware.resolve(hardware_label)
    if chip is None:
        return {"hardware": None, "mbu": None, "mfu": None, "prefill_mfu": None, "provenance": "measured",
                "note": f"MBU/MFU not computed: {hardware.unknown_note(hardware_label)}"}
    try:
        eff = measured_efficiency(entry, chip, case)
    except BenchError:
        return None
    if eff is not None and chip.id == "cpu":
        eff["note"] += "; CPU peaks are ESTIMATES (see list hardware)"
    return eff


def calibration_points(m_lookup, chip: Chip, cases: list[dict]) -> list[dict]:
    """``case_point`` of every successful case whose model ``m_lookup(case)`` knows."""
    pts = []
    for c in cases:
        m = m_lookup(c)
        if m is None or c.get("status") != "ok":
            continue
        p = case_point(m, chip, c)
        if p is not None:
            pts.append(p)
    return pts


def calibration_from_run(run_dir: str) -> tuple[projection.Efficiency, Chip]:
    """MBU, MFU and step overhead fitted on a measured run, and the chip it ran on."""
    from bench.results import load_run

    run = load_run(Path(run_dir))
    cases = [c.to_json() for c in run.ok_cases]
    label = run.manifest.hardware
    chip = hardware.resolve(label)
    if chip is None:
        raise InputError(f"--calibrate {run_dir}: {hardware.unknown_note(label)}")
    eff = projection.calibrate(calibration_points(lambda c: catalog.resolve_model(c["model"]["label"]), chip, cases))
    return replace(eff, source=f"{eff.source} from {run_dir} on {chip.id}"), chip
