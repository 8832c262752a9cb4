"""``compare``, ``report`` and ``check``: parse, build the typed request (bench.analysis.requests_results: each flag's
rule), call bench.analysis (compare, report, check) and print."""
from __future__ import annotations

import json
import sys

from bench.analysis import requests_results
from bench.results import jsonout
from bench.errors import InputError
from bench.present import md_text


def add_run_dir_args(p) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--pricing", default=None, help="rental preset for every $/M column (default: each chip at its own "
                   "rate from pricing.yaml chips:; a chip without one shows no $/M)")
    p.add_argument("--rental-usd-per-hour", type=float, help="price every accelerator-hour at this rental instead")


def add_view_args(p, baseline: bool = True) -> None:
    """The flags every multi-run view takes: run names, columns, a baseline run."""
    p.add_argument("--label", action="append", metavar="RUN_DIR=NAME", help="name a run in every table (repeatable; "
                   "default: the config name, + hardware, date, time as far as needed to tell runs apart)")
    p.add_argument("--columns", metavar="a,b,c", help="the metrics to show (registry keys, e.g. output_tok_s,"
                   "ttft_p50_s); default: the headline metrics")
    p.add_argument("--wide", action="store_true", help="every metric with a value (the table may split into blocks)")
    if baseline:
        p.add_argument("--baseline", metavar="RUN_DIR", help="one of the RUN_DIRs: every other run's values get "
                       "their ratio to it (×) for the same case (default: the first RUN_DIR)")


def add_commands(sub) -> None:
    c = sub.add_parser("compare", help="runs side by side, from any machines: one row per case and run")
    add_run_dir_args(c)
    add_view_args(c)
    c.add_argument("--format", choices=("table", "md", "csv", "json", "parquet"), default="table",
                   help="table (fits the terminal), md (a CI job summary: at most 12 columns), csv/json/parquet "
                   "(every metric, SI units)")
    c.add_argument("--output", help="write to this file instead of stdout (parquet needs it)")
    c.add_argument("--layout", choices=("side", "stacked"), default="side",
                   help="table/md with several runs: side (one row per case, each metric's runs side by side with "
                   "their ratio to --baseline) or stacked (one row per case and run)")
    c.add_argument("--pivot", metavar="METRIC", help="table/md: the side-by-side table for this one metric "
                   "(the same as --columns METRIC)")
    c.set_defaults(func=cmd_compare)

    r = sub.add_parser("report", help="a self-contained HTML (and Markdown) report with charts")
    add_run_dir_args(r)
    r.add_argument("--html", help="write the HTML report here")
    r.add_argument("--markdown", help="write a Markdown report here, PNG charts beside it")
    r.add_argument("--capacity", action="store_true", help="add the H20 vs 910B capacity chart (Exhibit 63)")
    r.add_argument("--label", action="append", metavar="RUN_DIR=NAME", help="name a run in the report (repeatable; "
                   "default: the config name, + hardware, date, time as far as needed to tell runs apart)")
    r.set_defaults(func=cmd_report)

    k = sub.add_parser("check", help="regression gate: a candidate run against a baseline run (exit 0 pass, "
                       "1 regression, 2 bad input, 3 too few cases compared)")
    k.add_argument("candidate", metavar="CANDIDATE_RUN")
    k.add_argument("--baseline", required=True, metavar="BASELINE_RUN")
    k.add_argument("--metric", action="append", help="a headline metric to gate on (repeatable; default "
                   "output_tok_s and tpot_p50_s)")
    k.add_argument("--max-regression", default="5%", help="tolerance, e.g. 5%% (default) or 0.05")
    k.add_argument("--min-compared", type=int, metavar="N", help="exit 3 when fewer than N cases could be "
                   "compared (default: every case of the baseline)")
    k.add_argument("--allow-missing", action="store_true", help="pass even when cases could not be compared "
                   "(they are still listed and counted)")
    k.add_argument("--format", choices=("table", "md", "json"), default="table")
    k.set_defaults(func=cmd_check)


def cmd_compare(args) -> int:
    from bench.analysis import compare

    req = requests_results.CompareRequest.from_flags(vars(args))
    fmt, out_path = req.format, req.output_path
    runs = compare.load_runs(req.run_dirs, req.label)
    base = compare.baseline_run(runs, req.baseline) or (runs[0] if len(runs) > 1 else None)  # default: the first
    hourly, label = compare.rental(req.pricing, req.rental_usd_per_hour)
    rows = compare.aligned(compare.case_rows(runs, hourly, label), runs)
    warns = compare.warnings(runs)
    if fmt in ("table", "md"):
        metrics, notes = compare.pick_metrics(rows, req.columns, req.wide)
        prices = sorted({r.pricing for r in rows if r.pricing})
        if any(m.key.startswith("usd_per") for m in metrics) and prices:
            notes = [f"$/M: {'; '.join(prices)}"] + notes
        with_run = len(runs) > 1
        title = f"{len({r.case_id for r in rows})} case(s) in {len(runs)} run(s): " + ", ".join(
            f"{r.label} ({compare.hardware_short(r.manifest)}, {r.manifest.date or '—'})" for r in runs)
        if req.pivot:
            metrics = [req.pivot_metric()]
            notes = [n for n in notes if n.startswith("$/M") and req.pivot.startswith("usd_per")]
        warn_notes = [f"warning: {w}" for w in warns]
        if with_run and req.side_by_side:
            text = compare.side_by_side(rows, runs, metrics, base, title=title, notes=notes + warn_notes,
                                        markdown=fmt == "md")
            text = f"**{md_text(title)}**\n\n" + text if fmt == "md" else text
        elif fmt == "table":
            text = compare.view(rows, metrics, with_run, base, title=title, notes=notes + warn_notes)
        else:
            text = f"**{md_text(title)}**\n\n" + compare.to_markdown(rows, metrics, with_run, base, notes + warn_notes)
        _print_text(text, out_path, req.output)
        return 0
    df = compare.frame(rows, base)
    if fmt == "csv":
        text = df.to_csv(index=False)
    elif fmt == "json":
        text = jsonout.dumps({"runs": [{"label": r.label, "run_id": r.manifest.run_id, "path": str(r.path),
                                        "hardware": r.manifest.hardware, "machine": r.manifest.machine,
                                        "engine": r.manifest.engine, "started_utc": r.manifest.started_utc,
                                        "config_sha256": r.manifest.config_sha256} for r in runs],
                              "baseline": base.label if base else None,
                              "rows": jsonout.finite_or_none(json.loads(df.to_json(orient="records"))),
                              "warnings": warns})
    else:
        try:
            df.to_parquet(out_path, index=False)
        except OSError as exc:
            raise InputError(f"--output '{req.output}': cannot write ({exc.strerror or exc})") from None
        for w in warns:
            print(f"warning: {w}", file=sys.stderr)
        return 0
    _print_text(text, out_path, req.output)
    if fmt == "csv":
        for w in warns:
            print(f"warning: {w}", file=sys.stderr)
    return 0


def _print_text(text: str, out_path, given: str | None) -> None:
    if out_path is not None:
        try:
            out_path.write_text(text)
        except OSError as exc:
            raise InputError(f"--output '{given}': cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_report(args) -> int:
    from bench.analysis import report

    req = requests_results.ReportRequest.from_flags(vars(args))
    for kind, path in report.write_reports(req.run_dirs, req.html_path, req.markdown_path, req.capacity, req.pricing,
                                           req.rental_usd_per_hour, labels=req.label):
        print(f"{kind} report: {path}")
    return 0


def cmd_check(args) -> int:
    """Exit 0: pass; 1: a case regressed; 2: bad input; 3: fewer cases compared than --min-compared (default:
    every case of the baseline; never none), unless --allow-missing."""
    from bench.analysis import check, compare

    req = requests_results.CheckRequest.from_flags(vars(args))
    base, cand = compare.load_runs([req.baseline])[0], compare.load_runs([req.candidate])[0]
    rep = check.check(base, cand, req.metric, req.tolerance, req.min_compared, req.allow_missing)
    if req.format == "json":
        print(jsonout.dumps(jsonout.finite_or_none(check.to_json(rep))))
    elif req.format == "md":
        sys.stdout.write(check.to_markdown(rep))
    else:
        title = f"check {cand.label} ({req.candidate}) against the baseline {base.label} ({req.baseline})"
        sys.stdout.write(check.view(rep, title))
    return rep.exit_code()
