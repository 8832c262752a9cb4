"""``validate``: the projection's accuracy statement against published measurements (see README "Validation")."""
from __future__ import annotations

from bench.results import jsonout


def add_commands(sub) -> None:
    v = sub.add_parser("validate", help="leave-one-out accuracy of the projection over published measurements")
    v.add_argument("--hardware", help="only rows on this catalog chip")
    v.add_argument("--include", metavar="RUN_DIR", nargs="*", default=[],
                   help="also fit and check the cases of these runs (measured on a catalog chip)")
    v.add_argument("--engine", default="field", help="check only this engine's rows (default 'field': every engine)")
    v.add_argument("--profiles", action="store_true", help="print the fitted MBU/MFU per chip x engine and stop")
    v.add_argument("--format", choices=("table", "json"), default="table")
    v.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    from bench.analysis import profiles, validate
    from bench.catalog import hardware, published

    from bench.errors import InputError

    if args.hardware:
        hardware.get_chip(args.hardware)  # unknown id: one line, exit 2
    engine = None if args.engine == profiles.FIELD else args.engine.strip().lower()
    if engine is not None and engine not in profiles.known_engines(profiles.catalog_profiles()):
        raise InputError(f"--engine '{args.engine}' has no published rows; known: "
                         f"{', '.join([profiles.FIELD, *profiles.known_engines(profiles.catalog_profiles())])}")
    if args.profiles:
        if args.include:
            raise InputError("--profiles prints the catalog's fitted profiles; drop --include")
        table = [r for r in profiles.engine_table(profiles.catalog_profiles())
                 if (not args.hardware or r["hardware"] == hardware.get_chip(args.hardware).id)
                 and (engine is None or r["engine"] in (engine, profiles.FIELD))]
        text = jsonout.dumps(table)
        if args.format == "json":
            print(text)
        else:
            _print_profiles(table)
        return 0
    extra = profiles.runs_points(args.include)
    doc = validate.validate(published.rows(), args.hardware and hardware.get_chip(args.hardware).id, extra, engine)
    text = jsonout.dumps(doc)  # refuses NaN/inf in any format
    if args.format == "json":
        print(text)
        return 0
    _print_validate(doc)
    return 0


def _print_profiles(table: list[dict], width: int | None = None) -> None:
    import sys

    from bench.present import Col, fixed, half_batch_cell, ms, render_table

    cols = [Col("chip", "left", key=True), Col("engine", "left"), Col("rows"), Col("MBU"), Col("MFU"),
            Col("MBU half at batch"), Col("ms per layer"), Col("ms per MoE layer"),
            Col("band x/÷")]
    body = [[r["hardware"], r["engine"], str(r["rows"]), fixed(r["mbu"]), fixed(r["mfu"]),
             half_batch_cell(r["mbu_half_batch"]), ms(r["step_overhead_per_decoder_layer_s"], 3),
             ms(r["step_overhead_per_layer_s"], 3), fixed(r["band_factor"])]
            for r in table]
    sys.stdout.write(render_table(cols, body, width, "Efficiency profiles per chip x engine (fitted to published "
                                  "rows; 'field' = every engine on the chip)"))


def _print_validate(doc: dict, width: int | None = None) -> None:
    """Every table of the accuracy statement, each fitting ``width`` (row ids never cut)."""
    parts = [_print_rows_table("Leave-one-out: each published row projected by profiles fitted without it (per "
                         "accelerator)", doc["rows"], width),
             _print_summary_table("Summary (median |error|, share of rows inside their band)", doc["summary"], width),
             _print_ratios_table("Chip-to-chip ratios (same engine, model and workload on two chips; both rows left out)",
                           doc["ratios"], doc["ratio_summary"], width)]
    lo = doc.get("leave_one_source_out") or {}
    if lo.get("summary"):
        parts.append(_print_summary_table(f"Leave-one-source-out ({lo['sources']} publications, each left out whole): a "
                                    "publication the fit has never seen", lo["summary"], width))
    fr = doc.get("finite_runs") or {}
    if fr.get("rows"):
        parts.append(_print_rows_table("Finite runs (num_prompts): the whole-run simulation with the engine's default "
                                       "scheduler limits; never fitted", fr["rows"], width))
        parts.append(_print_summary_table("Finite-run summary", fr["summary"], width))
    ho = doc.get("held_out") or {}
    if ho.get("rows"):
        parts.append(_print_rows_table("Held out: rows never fitted (exclude: 'held out ...'), projected by the profiles "
                                 "fitted to every usable row", ho["rows"], width))
        parts.append(_print_summary_table("Held-out summary", ho["summary"], width))
        parts.append(_print_ratios_table("Held-out chip-to-chip ratios", ho["ratios"], ho["ratio_summary"], width))
    if doc["skipped"]:
        parts.append(f"{len(doc['skipped'])} catalog row(s) not used (see `list published`): "
                     + "; ".join(f"{x['id']}: {x['why']}" for x in doc["skipped"][:4])
                     + (" ..." if len(doc["skipped"]) > 4 else "") + "\n")
    from bench.present import term_width, wrap

    import sys

    text = "\n".join(p for p in parts if p)
    w = width or term_width()
    sys.stdout.write("\n".join(line for raw in text.split("\n") for line in (wrap(raw, w) if len(raw) > w else [raw])))


def _print_rows_table(title: str, rows: list[dict], width) -> str:
    from bench.present import Col, cell, render_table, signed_pct, with_range

    cols = [Col("row", "left", key=True), Col("chip", "left"), Col("engine", "left"), Col("profile (rows)", "left"),
            Col("unit", "left"), Col("published"), Col("projected (band)"), Col("error"), Col("in band")]
    body = [[r["id"], r["hardware"], r["engine"], f"{r['profile']} ({r['profile_rows']})", r["unit"],
             f"{r['published']:,.1f}", with_range(r["projected"], r["range"], 1) if r["projected"] else
             cell(r["note"]), signed_pct(r["error"], 0), cell({True: "yes", False: "no"}.get(r["inside"]))]
            for r in rows]
    return render_table(cols, body, width, title)


def _print_summary_table(title: str, summary: list[dict], width) -> str:
    from bench.present import Col, fixed, pct, render_table

    cols = [Col("chip", "left", key=True), Col("rows"), Col("median |error|"), Col("inside band"),
            Col("median band hi/lo"), Col("bands > 3x")]
    body = [[x["hardware"], str(x["rows"]), pct(x["median_abs_error"]), pct(x["share_inside_band"]),
             fixed(x["median_band_ratio"]), str(x["bands_wider_than_3x"])] for x in summary]
    return render_table(cols, body, width, title)


def _print_ratios_table(title: str, ratios: list[dict], rs: dict, width) -> str:
    from bench.present import Col, cell, fixed, render_table, signed_pct

    if not ratios:
        return ""
    cols = [Col("chips", "left", key=True), Col("model", "left"), Col("in/out", "left"), Col("published"),
            Col("projected"), Col("error")]
    body = [[x.get("chips", x["pair"]), cell(x.get("model")), cell(x.get("workload")), fixed(x["published_ratio"], 3),
             fixed(x["projected_ratio"], 3), signed_pct(x["error"], 0)] for x in ratios]
    notes = []
    if rs["median_abs_error"] is not None:
        notes.append(f"ratios: median |error| {100 * rs['median_abs_error']:.0f}%, {rs['within_15pct']} of "
                     f"{rs['pairs']} within 15 %, chip ranking right in {rs['ranking_right']} of {rs['pairs']}")
    return render_table(cols, body, width, title, notes)
