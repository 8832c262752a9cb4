"""``gpu-check``: what anyone with an accelerator runs first (``scripts/gpu_check.sh`` on NVIDIA or AMD,
``scripts/npu_check.sh`` on Ascend, which passes ``--title "NPU check"``).

Runs a config (default ``configs/gpu-8b.yaml``: Llama-3.1-8B and Qwen2.5-7B shapes, random weights,
bf16, batch 1/8/32, 512 in / 128 out), writes the rows (``bench.analysis.gpu_check``) as
``<title>.json`` in the run directory and prints them. Exit 1 when a case failed or the two energy
figures disagree by more than 5 %.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.present import fixed, pct


def add_commands(sub) -> None:
    g = sub.add_parser("gpu-check", help="run a config on this machine's accelerator and cross-check its energy sensors")
    g.add_argument("--config", default="configs/gpu-8b.yaml")
    g.add_argument("--output-dir", default="results")
    g.add_argument("--title", default="GPU check")
    g.set_defaults(func=cmd_gpu_check)


def cmd_gpu_check(args) -> int:
    from bench.analysis.derived import fill_run
    from bench.analysis.gpu_check import check_rows, failed
    from bench.config.load import load_config
    from bench.measure.runner import execute
    from bench.results import load_run

    cfg, text = load_config(args.config)
    outcome = execute(cfg, text, args.config, output_dir=Path(args.output_dir))
    run = fill_run(load_run(outcome.run_dir))  # the roofline limit is derived when the run is read
    rows = check_rows([c.to_json() for c in run.cases])
    (outcome.run_dir / f"{args.title.lower().replace(' ', '_')}.json").write_text(json.dumps(rows, indent=2))
    _print_check(rows, f"{args.title} — measured on {outcome.cases[0]['hardware'] if outcome.cases else '?'}")
    print(f"results: {outcome.run_dir}")
    return 1 if failed(rows) else 0


def _print_check(rows: list[dict], title: str) -> None:
    from bench.present import Col, render_table

    heads = ["case", "out tok/s", "TPOT p50 ms", "TPOT limit ms", "% limit", "compile s", "W (counter)",
             "W (sampled)", "J/tok (counter)", "J/tok (sampled)", "Δ", "torch peak GiB", "NVML used GiB"]
    cols = [Col(h, "left" if h == "case" else "right", key=h == "case") for h in heads]
    body = [[r["case_id"] if r["status"] == "ok" else f"{r['case_id']} FAILED: {r['error']}",
             fixed(r["output_tok_s"], 1), fixed(r["tpot_p50_ms"]), fixed(r["tpot_limit_ms"]),
             fixed(r["tpot_pct_of_limit"], 1),
             fixed(r["compile_s"], 1) if not r["compile_fallback_note"] else "eager (fallback)",
             fixed(r["avg_power_w"], 1), fixed(r["sampled_avg_power_w"], 1), fixed(r["j_per_output_tok"], 4),
             fixed(r["sampled_j_per_output_tok"], 4), pct(r["energy_disagreement"], 1),
             fixed(r["torch_peak_allocated_gib"]), fixed(r["device_used_peak_gib"])] for r in rows]
    sys.stdout.write(render_table(cols, body, title=title))
