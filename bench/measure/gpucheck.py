"""The GPU check: what anyone with an accelerator runs first (``scripts/gpu_check.sh`` on NVIDIA or AMD,
``scripts/npu_check.sh`` on Ascend, which passes ``--title "NPU check"``).

Runs a config (default ``configs/gpu-8b.yaml``: Llama-3.1-8B and Qwen2.5-7B shapes, random weights,
bf16, batch 1/8/32, 512 in / 128 out) and prints, per case: tokens/s, W and J/token from the energy
source and from its sampled-power cross-check (``nvml-energy`` vs ``nvml-sampled``, ``amdsmi-energy``
vs ``amdsmi-sampled``) with their disagreement, and peak memory. A source that is itself sampled
(``npu-smi-sampled``) has no second figure to compare: the cross-check columns read "—".
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    from rich.table import Table

    from bench.config.load import load_config
    from bench.present import console, fixed, pct
    from bench.errors import BenchError
    from bench.measure.runner import execute

    p = argparse.ArgumentParser(prog="gpu_check")
    p.add_argument("--config", default="configs/gpu-8b.yaml")
    p.add_argument("--output-dir", default="results")
    p.add_argument("--title", default="GPU check")
    args = p.parse_args(argv)
    try:
        cfg, text = load_config(args.config)
        outcome = execute(cfg, text, args.config, output_dir=Path(args.output_dir))
    except BenchError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    rows = check_rows(outcome.cases)
    (outcome.run_dir / f"{args.title.lower().replace(' ', '_')}.json").write_text(json.dumps(rows, indent=2))
    t = Table(title=f"{args.title} — measured on {outcome.cases[0]['hardware'] if outcome.cases else '?'}",
              title_justify="left")
    cols = ["case", "out tok/s", "TPOT p50 ms", "TPOT limit ms", "% limit", "compile s", "W (counter)", "W (sampled)", "J/tok (counter)",
            "J/tok (sampled)", "Δ", "torch peak GiB", "NVML used GiB"]
    for col in cols:
        t.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        t.add_row(r["case_id"] if r["status"] == "ok" else f"{r['case_id']} FAILED: {r['error']}",
                  fixed(r["output_tok_s"], 1), fixed(r["tpot_p50_ms"]), fixed(r["tpot_limit_ms"]),
                  fixed(r["tpot_pct_of_limit"], 1),
                  fixed(r["compile_s"], 1) if not r["compile_fallback_note"] else "eager (fallback)",
                  fixed(r["avg_power_w"], 1),
                  fixed(r["sampled_avg_power_w"], 1), fixed(r["j_per_output_tok"], 4),
                  fixed(r["sampled_j_per_output_tok"], 4), pct(r["energy_disagreement"], 1),
                  fixed(r["torch_peak_allocated_gib"]), fixed(r["device_used_peak_gib"]))
    console().print(t)
    print(f"results: {outcome.run_dir}")
    bad = [r for r in rows if r["status"] != "ok" or r["agree_within_5pct"] is False]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
