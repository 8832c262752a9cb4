"""Measure trace-replay send lag: replay the shipped sample traces (Mooncake, BurstGPT) at their recorded
rates against the scripted server (tests/fake_openai.py, in its own process) and print, per trace,
the median / p99 / max lag of each send behind its scaled timestamp and how many were 5 ms or more
late, with the load average before and after. ``--cli``: through ``run_bench.py run`` instead (the
harness process, with its trackers and torch/transformers loaded), lags read from requests.jsonl.

    PYTHONPATH=. python scripts/replay_lag.py [--repeats 3] [--speedup 1.0] [--cli]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRACES = [("mooncake", ROOT / "tests/data/workloads/mooncake-sample.jsonl", {"block_tokens": 16}),
          ("burstgpt", ROOT / "tests/data/workloads/burstgpt-sample.csv", {})]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def cli_lags(base_url: str, fmt: str, path: Path, extra: dict, speedup: float) -> list[float]:
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        more = "".join(f", {k}: {v}" for k, v in extra.items())
        cfg = Path(tmp) / "c.yaml"
        cfg.write_text(f"""name: lag
models: [tiny:llama]
backend: {{kind: openai, base_url: {base_url}, served_model_name: ok, tokenizer: tiny:llama}}
workload:
  dataset: {{kind: trace, path: {path}, format: {fmt}, speedup: {speedup}{more}}}
  warmup_requests: 1
""")
        p = subprocess.run([sys.executable, str(ROOT / "run_bench.py"), "run", str(cfg), "--output-dir", tmp,
                            "--format", "json"], capture_output=True, text=True, cwd=ROOT)
        if p.returncode:
            raise SystemExit(p.stderr[-2000:])
        run_dir = Path(json.loads(p.stdout)["run_dir"])
        recs = [json.loads(x) for x in (run_dir / "requests.jsonl").read_text().splitlines()]
        return [r["submitted_s"] - r["scheduled_s"] for r in recs if r.get("scheduled_s") is not None]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--speedup", type=float, default=1.0)
    ap.add_argument("--cli", action="store_true")
    args = ap.parse_args()

    from bench.config.schema import TraceDataset
    from bench.measure.endpoint.loadgen import LoadSpec, Request, run_load
    from bench.workloads import TokenSource, load_dataset

    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base_url = server.stdout.readline().strip()
    tok = TokenSource(vocab=list(range(3, 300)))
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        for name, path, extra in TRACES:
            ds = load_dataset(TraceDataset(kind="trace", path=str(path), format=name, speedup=args.speedup, **extra),
                              tok, 0)
            lags: list[float] = []
            for rep in range(args.repeats):
                if args.cli:
                    lags += cli_lags(base_url, name, path, extra, args.speedup)
                    continue
                reqs = [Request(f"{name}{rep}/{i}", " ".join(["w"] * r.input_tokens), r.input_tokens, r.output_tokens,
                                arrival_s=r.arrival_s) for i, r in enumerate(ds.requests)]
                recs = run_load(LoadSpec(base_url=base_url, model="ok"), reqs)
                lags += [r.submitted_s - r.scheduled_s for r in recs]
            span = ds.requests[-1].arrival_s
            ms = [x * 1e3 for x in lags]
            print(f"{name}: {len(ds.requests)} requests over {span:.2f} s x {args.repeats}: lag median "
                  f"{pct(ms, 0.5):.3f} ms, p99 {pct(ms, 0.99):.3f} ms, max {max(ms):.3f} ms, "
                  f">= 5 ms: {sum(x >= 5 for x in ms)} of {len(ms)}; load average now {os.getloadavg()[0]:.2f}")
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
