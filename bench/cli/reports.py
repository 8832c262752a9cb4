"""``compare`` and ``report`` commands: loading, pricing and charts are in bench.analysis (compare, report)."""
from __future__ import annotations

import json
import os
import sys

from bench.results import jsonout
from bench.cli import args as args_mod
from bench.errors import InputError
from bench.present import console, plus_minus, sig, styled, verdict_cell


def add_run_dir_args(p) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--pricing", default=None, help="rental preset for every $/M column (default: each chip at its own "
                   "rate from pricing.yaml chips:; a chip without one shows no $/M)")
    p.add_argument("--rental-usd-per-hour", type=float, help="price every accelerator-hour at this rental instead")


def add_commands(sub) -> None:
    c = sub.add_parser("compare", help="one table of many result directories, from any machines")
    add_run_dir_args(c)
    c.add_argument("--format", choices=("table", "md", "csv", "json", "parquet"), default="table")
    c.add_argument("--output", help="write to this file instead of stdout (parquet needs it)")
    c.set_defaults(func=cmd_compare)

    r = sub.add_parser("report", help="a self-contained HTML (and Markdown) report with charts")
    add_run_dir_args(r)
    r.add_argument("--html", help="write the HTML report here")
    r.add_argument("--markdown", help="write a Markdown report here, PNG charts beside it")
    r.add_argument("--capacity", action="store_true", help="add the H20 vs 910B capacity chart (Exhibit 63)")
    r.set_defaults(func=cmd_report)

    k = sub.add_parser("check", help="regression gate: a candidate run against a baseline run (exit 1 on regression)")
    k.add_argument("candidate", metavar="CANDIDATE_RUN")
    k.add_argument("--baseline", required=True, metavar="BASELINE_RUN")
    k.add_argument("--metric", action="append", help="a headline metric to gate on (repeatable; default "
                   "output_tok_s and tpot_p50_s)")
    k.add_argument("--max-regression", default="5%", help="tolerance, e.g. 5%% (default) or 0.05")
    k.add_argument("--format", choices=("table", "md", "json"), default="table")
    k.set_defaults(func=cmd_check)


def cmd_compare(args) -> int:
    from bench.analysis import compare

    fmt = args.format
    if fmt == "parquet" and not args.output:
        raise InputError("--format parquet writes a binary file: give --output PATH")
    out_path = args_mod.output_path("--output", args.output) if args.output else None
    args_mod.positive("--rental-usd-per-hour", args.rental_usd_per_hour, maximum=1e6)
    runs, df, warns = compare.load(args.run_dirs, args.pricing, args.rental_usd_per_hour)
    if fmt == "table":
        from rich.table import Table

        t = Table(title=f"{len(df)} case(s) from {len(runs)} run(s); $/M at {df['pricing'].iloc[0] if len(df) else ''}",
                  title_justify="left")
        cols = ["hardware", "model", "backend", "dtype", "batch_size", "input_tokens", "output_tokens",
                "output_tok_s_per_accelerator", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms",
                "tpot_limit_ms", "tpot_pct_of_limit", "prefill_pct_of_limit", "compile",
                "j_per_output_tok", "avg_power_w", "usd_per_mtok_output", "mbu", "provenance", "validity"]
        for col in cols:
            t.add_column(col.replace("_", " "))
        for row, ci in zip(df[cols].itertuples(index=False), df["output_tok_s_ci95_rel"]):
            cells = [sig(v) for v in row]
            cells[7] = plus_minus(cells[7], ci)
            cells[-1] = verdict_cell(row[-1])
            t.add_row(*cells)
        con = console()
        con.print(t)
        for w in warns:
            con.print(f"warning: {w}")
        return 0
    if fmt == "md":
        text = compare.to_markdown(df) + "".join(f"\n> warning: {w}\n" for w in warns)
    elif fmt == "csv":
        text = df.to_csv(index=False)
    elif fmt == "json":
        text = jsonout.dumps({"rows": jsonout.finite_or_none(json.loads(df.to_json(orient="records"))),
                              "warnings": warns})
    else:
        try:
            df.to_parquet(out_path, index=False)
        except OSError as exc:
            raise InputError(f"--output '{args.output}': cannot write ({exc.strerror or exc})") from None
        for w in warns:
            print(f"warning: {w}", file=sys.stderr)
        return 0
    if out_path is not None:
        try:
            out_path.write_text(text)
        except OSError as exc:
            raise InputError(f"--output '{args.output}': cannot write ({exc.strerror})") from None
        if fmt == "csv":
            for w in warns:
                print(f"warning: {w}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if fmt == "csv":
            for w in warns:
                print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    if not args.html and not args.markdown:
        raise InputError("report needs --html PATH and/or --markdown PATH")
    if args.html:
        args_mod.output_path("--html", args.html)
    if args.markdown:
        args_mod.output_path("--markdown", args.markdown)
    from bench.analysis import report

    args_mod.positive("--rental-usd-per-hour", args.rental_usd_per_hour, maximum=1e6)
    html, markdown = (os.path.expanduser(x) if x else x for x in (args.html, args.markdown))
    for kind, path in report.write_reports(args.run_dirs, html, markdown, args.capacity, args.pricing,
                                           args.rental_usd_per_hour):
        print(f"{kind} report: {path}")
    return 0


def cmd_check(args) -> int:
    from bench.analysis import check, compare

    try:
        tol = check.parse_tolerance(args.max_regression)
    except ValueError as exc:
        raise InputError(f"--max-regression: {exc}") from None
    known = check.known_metrics()
    for m in args.metric or []:
        if m not in known:
            raise InputError(f"--metric '{m}' is unknown; known: {', '.join(known)}")
    base, cand = compare.load_runs([args.baseline])[0], compare.load_runs([args.candidate])[0]
    rep = check.check(base, cand, args.metric, tol)
    if args.format == "json":
        print(json.dumps(check.to_json(rep), default=str))
    elif args.format == "md":
        sys.stdout.write(check.to_markdown(rep))
    else:
        from rich.table import Table

        t = Table(title=f"check {args.candidate} against {args.baseline}", title_justify="left")
        for h in check.HEADERS:
            t.add_column(h, justify="right" if h in ("baseline", "candidate", "Δ %", "p") else "left")
        style = {"regressed": "red", "improved": "green", "not comparable": "yellow"}
        for r, cells in zip(rep.rows, check.table_rows(rep)):
            if r.verdict in style:
                cells[6] = styled(cells[6], style[r.verdict])
            t.add_row(*cells)
        con = console()
        con.print(t)
        for n in rep.run_notes:
            con.print(f"not comparable: {n}")
        con.print(check.summary_line(rep))
    return rep.exit_code()
