"""``validate``: the projection's accuracy statement against published measurements (see README "Validation")."""
from __future__ import annotations

from bench.present import console
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
    _print_validation(doc)
    return 0


def _print_profiles(table: list[dict]) -> None:
    from rich.table import Table

    from bench.present import fixed, ms

    t = Table(title="Efficiency profiles per chip x engine (fitted to published rows; 'field' = every engine on the "
              "chip)", title_justify="left")
    for col in ("chip", "engine", "rows", "MBU", "MFU", "MBU half at batch", "ms per MoE layer", "band x/÷"):
        t.add_column(col, justify="left" if col in ("chip", "engine") else "right")
    for r in table:
        t.add_row(r["hardware"], r["engine"], str(r["rows"]), fixed(r["mbu"]), fixed(r["mfu"]),
                  fixed(r["mbu_half_batch"], 1), ms(r["step_overhead_per_layer_s"], 3), fixed(r["band_factor"]))
    console().print(t)


def _print_validation(doc: dict) -> None:
    c = console()
    _print_rows(c, "Leave-one-out: each published row projected by profiles fitted without it (per "
                        "accelerator)", doc["rows"])
    _print_summary(c, "Summary (median |error|, share of rows inside their band)", doc["summary"])
    _print_ratios(c, "Chip-to-chip ratios (same engine, model and workload on two chips; both rows left out)",
                  doc["ratios"], doc["ratio_summary"])
    lo = doc.get("leave_one_source_out") or {}
    if lo.get("summary"):
        _print_summary(c, f"Leave-one-source-out ({lo['sources']} publications, each left out whole): a "
                               "publication the fit has never seen", lo["summary"])
    fr = doc.get("finite_runs") or {}
    if fr.get("rows"):
        _print_rows(c, "Finite runs (num_prompts): the whole-run simulation with the engine's default scheduler "
                       "limits; never fitted", fr["rows"])
        _print_summary(c, "Finite-run summary", fr["summary"])
    ho = doc.get("held_out") or {}
    if ho.get("rows"):
        _print_rows(c, "Held out: rows never fitted (exclude: 'held out ...'), projected by the profiles "
                            "fitted to every usable row", ho["rows"])
        _print_summary(c, "Held-out summary", ho["summary"])
        _print_ratios(c, "Held-out chip-to-chip ratios", ho["ratios"], ho["ratio_summary"])
    if doc["skipped"]:
        c.print(f"{len(doc['skipped'])} catalog row(s) not used (see `list published`): "
                + "; ".join(f"{x['id']}: {x['why']}" for x in doc["skipped"][:4]) + (" ..." if len(doc["skipped"]) > 4 else ""))


def _print_rows(c, title: str, rows: list[dict]) -> None:
    from rich.table import Table

    from bench.present import cell, signed_pct, with_range

    t = Table(title=title, title_justify="left")
    for col in ("row", "chip", "engine", "profile (rows)", "unit", "published", "projected (band)", "error", "in band"):
        t.add_column(col, justify="left" if col in ("row", "chip", "engine", "profile (rows)", "unit") else "right")
    for r in rows:
        t.add_row(r["id"], r["hardware"], r["engine"], f"{r['profile']} ({r['profile_rows']})", r["unit"],
                  f"{r['published']:,.1f}", with_range(r["projected"], r["range"], 1) if r["projected"] else
                  cell(r["note"]), signed_pct(r["error"], 0), cell({True: "yes", False: "no"}.get(r["inside"])))
    c.print(t)


def _print_summary(c, title: str, summary: list[dict]) -> None:
    from rich.table import Table

    from bench.present import fixed, pct

    s = Table(title=title, title_justify="left")
    for col in ("chip", "rows", "median |error|", "inside band", "median band hi/lo", "bands > 3x"):
        s.add_column(col, justify="left" if col == "chip" else "right")
    for x in summary:
        s.add_row(x["hardware"], str(x["rows"]), pct(x["median_abs_error"]), pct(x["share_inside_band"]),
                  fixed(x["median_band_ratio"]), str(x["bands_wider_than_3x"]))
    c.print(s)


def _print_ratios(c, title: str, ratios: list[dict], rs: dict) -> None:
    from rich.table import Table

    from bench.present import cell, fixed, signed_pct

    if not ratios:
        return
    r = Table(title=title, title_justify="left")
    for col in ("chips", "model", "in/out", "published", "projected", "error"):
        r.add_column(col, justify="left" if col in ("chips", "model", "in/out") else "right")
    for x in ratios:
        r.add_row(x.get("chips", x["pair"]), cell(x.get("model")), cell(x.get("workload")),
                  fixed(x["published_ratio"], 3), fixed(x["projected_ratio"], 3), signed_pct(x["error"], 0))
    c.print(r)
    if rs["median_abs_error"] is not None:
        c.print(f"ratios: median |error| {100 * rs['median_abs_error']:.0f}%, {rs['within_15pct']} of {rs['pairs']} "
                f"within 15 %, chip ranking right in {rs['ranking_right']} of {rs['pairs']}")
