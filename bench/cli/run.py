from __future__ import annotations
import os
import sys
from pathlib import Path
from bench.results import jsonout
from bench.present import MISSING, cell, console, ms, plus_minus, verdict_mark


def _print_cases(out, cases: list[dict], title: str) -> None:
    from rich.table import Table

    from bench.analysis import compare

    t = Table(title=title, title_justify="left", caption="valid: ✓ ok, ! warn, ✗ invalid (reasons in the case's "
              "validity block); ± is the 95 % CI over trials", caption_justify="left")
    for col in ("case", "status", "valid", "out tok/s", "total tok/s", "TTFT p50 ms", "TPOT p50 ms", "TPOT p99 ms",
                "TPOT limit ms", "TPOT % limit", "prefill % limit", "E2E p50 ms", "J/out tok", "energy src",
                "peak RSS Δ MiB", "compile", "compile s"):
        t.add_column(col, justify="left" if col in ("case", "status", "valid", "energy src") else "right")
    for c in cases:
        e, m = c.get("energy") or {}, c.get("memory") or {}
        rss = m.get("rss_peak_delta_bytes")
        r, comp = c.get("roofline") or {}, c.get("compile") or {}
        t.add_row(c["case_id"], c["status"] if c["status"] == "ok" else f"[red]{c['status']}[/]",
                  verdict_mark((c.get("validity") or {}).get("verdict")),
                  plus_minus(cell(c.get("output_tok_s"), 1), compare.ci_rel(c)),
                  plus_minus(cell(c.get("total_tok_s"), 1), compare.ci_rel(c, "total_tok_s")),
                  ms((c.get("ttft_s") or {}).get("p50")), ms((c.get("tpot_s") or {}).get("p50")),
                  ms((c.get("tpot_s") or {}).get("p99")), ms(r.get("tpot_limit_s")),
                  cell(r.get("tpot_pct_of_limit"), 1), cell(r.get("prefill_pct_of_limit"), 1),
                  ms((c.get("e2e_s") or {}).get("p50")),
                  cell(e.get("j_per_output_tok"), 4), e.get("source", MISSING),
                  cell(rss / 2**20 if rss is not None else None, 1),
                  comp.get("mode", MISSING) + (" (fallback)" if comp.get("fallback_note") else ""),
                  cell(comp.get("compile_s"), 1))
    out.print(t)


def cmd_run(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.measure.runner import execute

    from bench.config import quick

    cfg, text, source = quick.resolve(args.config, {k: getattr(args, k) for k in ("model", *quick.QUICK_FLAGS)})
    if cfg is None:  # --print-config
        print(text, end="")
        return 0
    if args.report:  # found before the run, not after it
        from bench.cli.args import output_path

        output_path("--report", args.report)
    err = console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=False)
    task = progress.add_task(f"{cfg.name}", total=None)

    def on_start(n):  # after preflight: a bad config or machine prints its error alone
        progress.update(task, total=n)
        progress.start()

    def on_case(case_id, summary):
        progress.update(task, advance=1, description=f"{cfg.name}: {case_id} {summary['status']}")

    # stdout carries only the table or the JSON document: engines' logs (vLLM logs to stdout, and its
    # worker processes inherit file descriptor 1) go to stderr while the cases run.
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        outcome = execute(cfg, text, source, output_dir=Path(args.output_dir) if args.output_dir else None,
                          resume=Path(args.resume) if args.resume else None, on_case=on_case, on_start=on_start)
    finally:
        progress.stop()
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    if args.format == "json":
        print(jsonout.dumps({"run_dir": str(outcome.run_dir), "interrupted": outcome.interrupted,
                             "cases": outcome.cases}))
    else:
        out = console()
        _print_cases(out, outcome.cases, f"{cfg.name} — measured ({outcome.cases[0]['hardware'] if outcome.cases else ''})")
        e = (outcome.cases[0].get("energy") or {}) if outcome.cases else {}
        if e.get("source") == "none":
            out.print(f"energy: not measured ({e.get('note')})")
        out.print(f"results: {outcome.run_dir}")
    if args.report and outcome.cases:
        from bench.analysis import report

        for kind, path in report.write_reports([str(outcome.run_dir)], html_path=os.path.expanduser(args.report)):
            print(f"{kind} report: {path}", file=sys.stderr if args.format == "json" else sys.stdout)
    if outcome.interrupted:
        print(f"interrupted: {len(outcome.cases)} finished case(s) kept in {outcome.run_dir}; "
              f"continue with --resume {outcome.run_dir}", file=sys.stderr)
        return 130
    return 1 if any(c["status"] != "ok" for c in outcome.cases) else 0


def cmd_list(args) -> int:
    from rich.table import Table

    from bench.catalog import hardware, models, pricing, published

    rows = {"models": models.rows, "hardware": hardware.rows, "pricing": pricing.rows,
            "published": published.table_rows}[args.what]()
    if args.format == "json":
        print(jsonout.dumps(rows))
        return 0
    t = Table(title=f"{args.what} catalog (reference data; sources in bench/catalog/data)", title_justify="left")
    for k in rows[0]:
        t.add_column(k)
    for r in rows:
        t.add_row(*[cell(v) for v in r.values()])
    console().print(t)
    return 0


def cmd_sysinfo(args) -> int:
    from bench.measure import sysinfo

    info = sysinfo.collect()
    if args.format == "json":
        print(jsonout.dumps(info))
        return 0

    c = console()
    c.print(f"host: {info['host']}  ({info['os']})")
    c.print(f"cpu: {info['cpu']['model']}, {info['cpu']['logical_cores']} logical cores, "
            f"{info['cpu']['numa_nodes']} NUMA node(s); RAM {info['ram_bytes'] / 2**30:.1f} GiB")
    for line in sysinfo.device_lines(info):
        c.print(line, markup=False)
    ps = info["power_sensors"]
    c.print(f"power: {ps['summary']}")
    for k in ("nvml", "amdsmi", "npu_smi"):
        if k in ps:
            c.print(f"  {k}: {'available' if ps[k]['available'] else 'not available'}"
                    + (f" ({ps[k]['note']})" if ps[k]["note"] else ""), markup=False)
    c.print(f"  rapl: {'available' if ps['rapl']['available'] else 'not available: ' + str(ps['rapl']['note'])}")
    c.print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v))
    if info["cpu_pressure"]:
        c.print(f"cpu pressure (some avg10): {info['cpu_pressure']['some_avg10']}%")
    return 0
