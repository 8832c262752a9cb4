"""What ``gpu-check`` reports per case (pure, over case summaries): tokens/s, TPOT against its roofline
limit, W and J/token from the energy source and from its sampled-power cross-check (``nvml-energy`` vs
``nvml-sampled``, ``amdsmi-energy`` vs ``amdsmi-sampled``) with their disagreement, and peak memory. A
source that is itself sampled (``npu-smi-sampled``) has no second figure to compare: its cross-check
fields are None. The command is ``bench/cli/gpu_check.py``.
"""
from __future__ import annotations

AGREEMENT_LIMIT = 0.05  # the two NVML sources should agree within 5 %


def cross_check(energy: dict) -> tuple[str | None, dict]:
    """The energy block's sampled-power cross-check that carries its own energy figure, or (None, {})."""
    for name, block in (energy.get("cross_check") or {}).items():
        if isinstance(block, dict) and "total_j" in block:
            return name, block
    return None, {}


def check_rows(cases: list[dict]) -> list[dict]:
    rows = []
    for c in cases:
        e = c.get("energy") or {}
        cc_name, sampled = cross_check(e)
        counter_j, sampled_j = e.get("total_j"), sampled.get("total_j")
        out_tok = (c.get("output_tok_s") or 0) * (c.get("window_s") or 0)
        diff = abs(counter_j - sampled_j) / counter_j if counter_j and sampled_j else None
        mem, roof, comp = c.get("memory") or {}, c.get("roofline") or {}, c.get("compile") or {}
        rows.append({
            "case_id": c["case_id"], "status": c["status"], "output_tok_s": c.get("output_tok_s"),
            "tpot_p50_ms": ((c.get("tpot_s") or {}).get("p50") or 0) * 1000 or None,
            "tpot_limit_ms": roof["tpot_limit_s"] * 1000 if roof.get("tpot_limit_s") is not None else None,
            "tpot_pct_of_limit": roof.get("tpot_pct_of_limit"), "compile": comp.get("mode"),
            "compile_s": comp.get("compile_s"), "compile_fallback_note": comp.get("fallback_note"),
            "energy_source": e.get("source"), "cross_check_source": cc_name,
            "avg_power_w": e.get("avg_power_w"), "sampled_avg_power_w": sampled.get("avg_power_w"),
            "j_per_output_tok": e.get("j_per_output_tok"),
            "sampled_j_per_output_tok": sampled_j / out_tok if sampled_j and out_tok else None,
            "energy_disagreement": diff,
            "agree_within_5pct": None if diff is None else diff <= AGREEMENT_LIMIT,
            "torch_peak_allocated_gib": (mem.get("torch_peak_allocated_bytes") or 0) / 2**30 or None,
            "device_used_peak_gib": (mem.get("device_used_peak_bytes") or 0) / 2**30 or None,
            "error": c.get("error"),
        })
    return rows


def failed(rows: list[dict]) -> list[dict]:
    """The rows that fail the check: a case that did not finish, or two energy figures that disagree."""
    return [r for r in rows if r["status"] != "ok" or r["agree_within_5pct"] is False]
