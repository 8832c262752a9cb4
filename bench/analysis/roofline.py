"""The physical limit of a measured case: the roofline bound its hardware allows, and how close the
measurement came to it.

- decode: TPOT at 100 % MBU and MFU = max(bytes read per step / bandwidth, FLOPs per step / peak) at
  the mean context of the generation (``efficiency.step_roofline``: weights touched + KV cache read);
  for a memory-bound step this is weights+KV bytes / bandwidth.
- prefill: the batch's prefill at 100 % MFU and MBU = max(batch x prefill FLOPs / peak,
  (weights + the prompt's KV written) / bandwidth), compared with TTFT p50 (the whole batch is
  prefilled at once, so its first token is the end of the prefill).

``*_pct_of_limit`` = 100 x limit / measured: the share of the hardware's peak the case reached.
Pure functions over the catalogs; the peaks are the catalog's (the local CPU's are estimates).
"""
from __future__ import annotations

from bench.analysis import efficiency, projection
from bench.catalog import hardware
from bench.catalog import models as catalog
from bench.catalog.dtypes import canonical
from bench.catalog.hardware import Chip
from bench.catalog.models import ModelEntry
from bench.errors import BenchError


def prefill_limit_s(m: ModelEntry, chip: Chip, dtype: str, batch: int, input_tokens: int,
                    accelerators: int = 1) -> tuple[float, str]:
    """(seconds, 'compute' | 'memory') for one batch's prefill at 100 % of the chip's peaks."""
    peak = projection.check_dtype(chip, dtype) * 1e12 * accelerators
    bw = chip.bandwidth_tbs * 1e12 * accelerators
    t_cmp = batch * catalog.prefill_flops(m, input_tokens) / peak
    t_mem = (projection.decode_weight_bytes(m, dtype, batch)
             + batch * input_tokens * catalog.kv_bytes_per_token(m, dtype)) / bw
    return (t_cmp, "compute") if t_cmp >= t_mem else (t_mem, "memory")


def tpot_limit_s(m: ModelEntry, chip: Chip, dtype: str, batch: int, input_tokens: int, output_tokens: int,
                 accelerators: int = 1) -> tuple[float, str]:
    """(seconds, 'memory' | 'compute') for one decode step at 100 % MBU/MFU, at the mean context."""
    t_mem, t_cmp = efficiency.step_roofline(m, chip, dtype, batch, input_tokens + output_tokens / 2, accelerators)
    return (t_mem, "memory") if t_mem >= t_cmp else (t_cmp, "compute")


def _pct(limit: float | None, measured: float | None) -> float | None:
    return 100.0 * limit / measured if limit is not None and measured else None


def roofline_block(m: ModelEntry, chip: Chip, case: dict) -> dict | None:
    """The ``roofline`` block of a case result (None when the case has no latency to compare)."""
    wl = case.get("workload") or {}
    tpot = (case.get("tpot_s") or {}).get("p50")
    ttft = (case.get("ttft_s") or {}).get("p50")
    if not wl.get("batch_size") or (not tpot and not ttft):
        return None
    dtype = canonical((case.get("backend") or {}).get("dtype", "bf16"))
    acc = max(case.get("accelerators") or 1, 1)
    b, n_in, n_out = wl["batch_size"], wl["input_tokens"], wl["output_tokens"]
    t_lim, t_bound = tpot_limit_s(m, chip, dtype, b, n_in, n_out, acc)
    p_lim, p_bound = prefill_limit_s(m, chip, dtype, b, n_in, acc)
    note = f"100 % of {chip.id} catalog peaks ({dtype}, {acc} accelerator(s))"
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
