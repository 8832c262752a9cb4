"""The physical limit of a measured case: the roofline bound its hardware allows, and how close the
measurement came to it.

- both from the projection kernel (``projection.kernel`` then ``projection.limits_s``), the same step every
  projection uses, at 100 % MBU and MFU with no overheads:
- decode: TPOT at the mean context of the generation, a roofline per operator (the linear layers: weights
  touched vs their FLOPs; attention: KV cache read vs its FLOPs) plus tensor-parallel communication; for a
  memory-bound step this is weights+KV bytes / bandwidth.
- prefill: the batch's prefill = max(batch x prefill FLOPs / peak, (weights + the prompt's KV written) /
  bandwidth), compared with TTFT p50 (the whole batch is prefilled at once, so its first token is the end of
  the prefill).

``*_pct_of_limit`` = 100 x limit / measured: the share of the hardware's peak the case reached.
Pure functions over the catalogs; the peaks are the catalog's (the local CPU's are estimates).
"""
from __future__ import annotations

from bench.analysis import efficiency, projection
from bench.catalog import hardware
from bench.catalog import models as catalog
from bench.catalog.hardware import Chip
from bench.catalog.models import ModelEntry
from bench.errors import BenchError


def _pct(limit: float | None, measured: float | None) -> float | None:
    return 100.0 * limit / measured if limit is not None and measured else None


def roofline_block(m: ModelEntry, chip: Chip, case: dict) -> dict | None:
    """The ``roofline`` block of a case result (None when the case has no latency to compare)."""
    tpot = (case.get("tpot_s") or {}).get("p50")
    ttft = (case.get("ttft_s") or {}).get("p50")
    w = efficiency.case_shape(case)
    if w is None or (not tpot and not ttft):
        return None
    lim = projection.limits_s(projection.kernel(m, chip, w, case.get("case_id", "case")))
    t_lim, t_bound, p_lim, p_bound = (lim["tpot_limit_s"], lim["tpot_bound"], lim["prefill_limit_s"],
                                      lim["prefill_bound"])
    note = f"100 % of {chip.id} catalog peaks ({w.dtype}, {w.accelerators} accelerator(s))"
    if chip.id == "cpu":
        note += "; CPU peaks are ESTIMATES (bandwidth assumed, see list hardware): the % is indicative only"
    return {"hardware": chip.id, "tpot_limit_s": t_lim, "tpot_bound": t_bound, "tpot_pct_of_limit": _pct(t_lim, tpot),
            "prefill_limit_s": p_lim, "prefill_bound": p_bound, "prefill_pct_of_limit": _pct(p_lim, ttft),
            "limit_provenance": "reference", "note": note}


def for_case(case: dict, hardware_label: str | None, entry: ModelEntry | None = None) -> dict | None:
    """The roofline block of a successful case, its model and hardware resolved from their labels; None
    for a failed case, a model or hardware outside the catalog, or a dtype the chip lacks."""
    if case.get("status") != "ok":
        return None
    entry = entry or catalog.resolve_model((case.get("model") or {}).get("label"))
    chip = hardware.resolve(hardware_label)
    if entry is None or chip is None:
        return None
    try:
        return roofline_block(entry, chip, case)
    except BenchError:
        return None
