from __future__ import annotations
import os
import sys
import time
from pathlib import Path
from bench.results import jsonout
from bench.present import console

STDOUT_FD, STDERR_FD = 1, 2  # the process's descriptors (sys.stdout may be replaced in-process; these are not)
EXIT_INTERRUPTED = 130  # as a shell reports SIGINT; finished cases are kept (bench.cli.main's table of exit codes)


def cmd_run(args) -> int:
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.analysis.requests_results import RunRequest
    from bench.config import quick
    from bench.measure.runner import execute

    cfg, text, source = quick.resolve(args.config, {k: getattr(args, k) for k in ("model", *quick.QUICK_FLAGS)})
    req = RunRequest.from_flags({**vars(args), "printing": cfg is None})
    if cfg is None:  # --print-config
        print(text, end="")
        return 0
    max_duration_s = req.max_duration_s
    err = console(stderr=True)
    lines = not (sys.stdout.isatty() and sys.stderr.isatty())  # a CI log: one line per finished case
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=False, disable=lines)
    task = progress.add_task(escape(cfg.name), total=None)
    state = {"total": None, "done": 0, "t0": time.monotonic()}

    started = []

    def on_start(n):  # after preflight: a bad config or machine prints its error alone
        state["total"] = n
        progress.update(task, total=n)
        progress.start()
        started.append(True)

    def on_case(case_id, summary):
        state["done"] += 1
        if lines:
            from bench.analysis.compare import progress_line
            from bench.results.schema import CaseResult

            try:
                case = CaseResult.from_json(summary)
            except ValueError:
                print(f"[{state['done']}/{state['total']}] {case_id}", file=sys.stderr, flush=True)
                return
            print(progress_line(state["done"], state["total"], case, time.monotonic() - state["t0"]),
                  file=sys.stderr, flush=True)
            return
        progress.update(task, advance=1, description=escape(f"{cfg.name}: {case_id} {summary['status']}"))

    # stdout carries only the table or the JSON document: engines' logs (vLLM logs to stdout, and its
    # worker processes inherit file descriptor 1) go to stderr while the cases run.
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    sys.stdout.flush()
    saved_stdout = os.dup(STDOUT_FD)
    os.dup2(STDERR_FD, STDOUT_FD)
    try:
        outcome = execute(cfg, text, source, output_dir=Path(args.output_dir) if args.output_dir else None,
                          resume=Path(args.resume) if args.resume else None, on_case=on_case, on_start=on_start,
                          executor=args.executor, executor_address=args.ray_address, max_duration_s=max_duration_s)
    finally:
        if started:  # stopping a progress never started prints an empty line
            progress.stop()
        sys.stdout.flush()
        os.dup2(saved_stdout, STDOUT_FD)
        os.close(saved_stdout)
    from bench.analysis.derived import fill_run
    from bench.results import load_run

    run = fill_run(load_run(outcome.run_dir))
    if args.format == "json":
        print(jsonout.dumps({"run_dir": str(outcome.run_dir), "interrupted": outcome.interrupted,
                             "cases": [c.to_json() for c in run.cases]}))
    else:
        from bench.analysis.compare import run_view

        text = run_view(run, getattr(args, "columns", None), getattr(args, "wide", False))
        sys.stdout.write(text)
        print(f"results: {outcome.run_dir}")  # whole, to be copied
    if args.report and run.cases:
        from bench.analysis import report

        for kind, path in report.write_reports([str(outcome.run_dir)], html_path=os.path.expanduser(args.report)):
            print(f"{kind} report: {path}", file=sys.stderr if args.format == "json" else sys.stdout)
    if outcome.interrupted:
        print(f"interrupted: {len(run.cases)} finished case(s) kept in {outcome.run_dir}; "
              f"continue with --resume {outcome.run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1 if any(not c.ok for c in run.cases) else 0


def cmd_list(args) -> int:
    from bench.analysis.requests_results import ListRequest
    from bench.catalog import hardware, models, pricing, published

    req = ListRequest.from_flags(vars(args))
    rows = {"models": models.rows, "hardware": hardware.rows, "pricing": pricing.rows,
            "published": lambda: published.table_rows(req.engine)}[req.what]()
    if req.format == "json":
        print(jsonout.dumps(rows))
        return 0
    _print_catalog(req.what, rows)
    return 0


def _print_catalog(what: str, rows: list[dict], width: int | None = None) -> None:
    """A catalog as a table that fits the terminal: the first column (the id) repeated in every block, ids
    and names never cut (they wrap between words), long text (sources, notes) wrapped."""
    from bench.present import Col, cell, fmt, render_table

    keys = list(rows[0]) if rows else []
    numeric = {k for k in keys if all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in rows)}
    cols = [Col(k, "right" if k in numeric else "left", key=(i == 0)) for i, k in enumerate(keys)]
    body = [[fmt(r.get(k)) if k in numeric else cell(r.get(k)) for k in keys] for r in rows]
    sys.stdout.write(render_table(cols, body, width, f"{what} catalog (reference data; sources in bench/catalog/data)"))


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
