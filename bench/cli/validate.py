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
    from bench.analysis.requests_results import ValidateRequest
    from bench.catalog import published

    req = ValidateRequest.from_flags(vars(args))
    chip_id, engine = req.chip_id, req.engine_key
    if req.profiles:
        table = [r for r in profiles.engine_table(profiles.catalog_profiles())
                 if (not chip_id or r["hardware"] == chip_id) and (engine is None or r["engine"] in (engine, profiles.FIELD))]
        text = jsonout.dumps(table)
        if req.format == "json":
            print(text)
        else:
            _print_profiles(table)
        return 0
    extra = profiles.runs_points(req.include)
    doc = validate.validate(published.rows(), chip_id, extra, engine)
    text = jsonout.dumps(doc)  # refuses NaN/inf in any format
    if req.format == "json":
        print(text)
        return 0
    _print_validate(doc)
    return 0


def _print_profiles(table: list[dict], width: int | None = None) -> None:
    import sys

    from bench.present import Col, fixed, half_batch_cell, ms, render_table

    cols = [Col("chip", "left", key=True), Col("engine", "left"), Col("rows"), Col("MBU"), Col("MFU"),
            Col("MBU half at batch"), Col("ms per layer"), Col("ms per MoE layer"), Col("MoE MBU x"),
            Col("KV MBU x"), Col("EP all-to-all x"), Col("band x/÷")]
    body = [[r["hardware"], r["engine"], str(r["rows"]), fixed(r["mbu"]), fixed(r["mfu"]),
             half_batch_cell(r["mbu_half_batch"]), ms(r["step_overhead_per_decoder_layer_s"], 3),
             ms(r["step_overhead_per_layer_s"], 3), fixed(r["moe_mbu_factor"]), fixed(r["kv_mbu_factor"]),
             fixed(r["ep_efficiency"]), fixed(r["band_factor"])]
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
        ls = fr.get("latency_summary") or {}
        said = [f"{name} median |error| {100 * x['median_abs_error']:.0f} % ({x['rows']} rows)"
                for name, key in (("TTFT", "ttft_mean_ms"), ("TPOT", "tpot_mean_ms"))
                if (x := ls.get(key)) and x["median_abs_error"] is not None]
        if said:
            parts.append("Finite-run latencies (projected means against the means the pages state): "
                         + "; ".join(said) + "\n")
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
    from bench.present import term_width, wrap_words

    import sys

    text = "\n".join(p for p in parts if p)
    w = width or term_width()
    sys.stdout.write("\n".join(line for raw in text.split("\n")
                               for line in (wrap_words(raw, w) if len(raw) > w else [raw])))


def _print_rows_table(title: str, rows: list[dict], width) -> str:
    """One row a published row: its id whole, the engine and its profile on one line, the unit's short label from
    the metric registry (in the 'published' header where every row has the same one); a row that could not be
    projected shows '— (n)' and its reason as footnote n below the table (each reason once); the error is marked
    ✓ where the published figure lies inside the projection's band, ✗ where it does not."""
    def _profile_cell(r: dict) -> str:
        """The engine and the profile that projected its row: 'vllm-ascend (22)' where it is the engine's own fit on
        the chip, 'mindie: field (44)' where the engine has none and the chip's field profile stood in."""
        name = r["profile"].split("/", 1)[1] if "/" in r["profile"] else "field"
        return f"{r['engine']} ({r['profile_rows']})" if name == r["engine"] else \
            f"{r['engine']}: {name} ({r['profile_rows']})"

    def _digits(v: float) -> int:
        return 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2

    from bench.present import Col, cell, render_table, signed_pct, with_range
    from bench.results.registry import published_unit_label

    units = {published_unit_label(r["unit"]) for r in rows}
    one_unit = len(units) == 1
    cols = [Col("row", "left", key=True), Col("chip", "left", wrap=False),
            Col("engine: profile (rows)", "left", wrap=False)]
    cols += [Col(f"published {next(iter(units))}")] if one_unit else [Col("unit", "left", wrap=False), Col("published")]
    cols += [Col("projected (band)"), Col("error (✓ in band)", wrap=False)]
    reasons: list[str] = []
    body = []
    for r in rows:
        d = _digits(r["published"])
        if r["projected"]:
            proj = with_range(r["projected"], r["range"], d)
        elif r.get("note"):
            if r["note"] not in reasons:
                reasons.append(r["note"])
            proj = f"— ({reasons.index(r['note']) + 1})"
        else:
            proj = cell(None)
        unit = [] if one_unit else [published_unit_label(r["unit"])]
        mark = {True: " ✓", False: " ✗"}.get(r["inside"], "")
        body.append([r["id"], r["hardware"], _profile_cell(r), *unit, f"{r['published']:,.{d}f}", proj,
                     signed_pct(r["error"], 0) + mark])
    return render_table(cols, body, width, title, [f"({i}) {why}" for i, why in enumerate(reasons, 1)])


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
