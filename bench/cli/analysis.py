"""Commands over catalogs and results: ``cost`` (and ``project``, ``capacity`` when present).

Pure maths lives in bench.cost / bench.projection / bench.capacity; this module parses flags,
validates them (exit 2 with one clear line) and presents.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from bench.present import console
from bench.errors import InputError


def _positive(name: str, value: float | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}; found {value:g}")


def _fraction(name: str, value: float | None) -> None:
    if value is not None and not 0 < value <= 1:
        raise InputError(f"{name} must be in (0, 1]; found {value:g}")


# ---------------------------------------------------------------------------- cost
def add_cost(sub) -> None:
    c = sub.add_parser("cost", help="$/M-token from a measured run or a given throughput")
    c.add_argument("--hardware", required=True, help="catalog id of the accelerator you pay for (list hardware)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--results", metavar="RUN_DIR", help="a run directory: one price per successful case")
    src.add_argument("--output-tok-s", type=float, help="output (decode) tokens/s per accelerator")
    c.add_argument("--input-tok-s", type=float, help="input (prefill) tokens/s per accelerator")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--rental-usd-per-hour", type=float, help="rental price of one accelerator-hour")
    how.add_argument("--pricing", metavar="PRESET", help="a pricing preset (list pricing)")
    how.add_argument("--capex-usd", type=float, help="ownership: capex per accelerator incl. its server share")
    c.add_argument("--life-years", type=float, help="ownership: straight-line depreciation life (default 5)")
    c.add_argument("--power-w", type=float, help="ownership: all-in W per accelerator (default: measured x "
                   "server overhead, else the chip's server power or TDP x overhead)")
    c.add_argument("--pue", type=float, help="ownership: facility PUE")
    c.add_argument("--electricity-usd-per-kwh", type=float, help="ownership: electricity price")
    c.add_argument("--other-opex-fraction", type=float, default=None, help="ownership: other opex per year, fraction of capex")
    c.add_argument("--utilisation", type=float, default=None, help="fraction of hours producing tokens (default 1, or the preset's)")
    c.add_argument("--server-overhead", type=float, default=None, help="all-in W / chip W (default from pricing.yaml)")
    c.add_argument("--fx", type=float, default=None, help="RMB per USD (default 7.2, the report's)")
    c.add_argument("--blend-ratio", type=float, default=3.0, help="input:output tokens for the blended price (default 3)")
    c.add_argument("--model", help="catalog model id: show the report's API price beside and the implied margin")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.set_defaults(func=cmd_cost)


def _measured_power_w(case: dict) -> float | None:
    e = case.get("energy") or {}
    if e.get("source") in (None, "none") or e.get("avg_power_w") is None:
        return None
    return e["avg_power_w"] / max(case.get("accelerators") or 1, 1)


def _hourly(args, chip, measured_w: float | None):
    from bench.analysis import cost
    from bench.catalog import pricing

    overhead = args.server_overhead if args.server_overhead is not None else pricing.data()["default_server_overhead"]
    util = args.utilisation
    if args.rental_usd_per_hour is not None:
        return cost.rental(args.rental_usd_per_hour, util or 1.0)
    if args.pricing:
        p = pricing.preset(args.pricing)
        if p["kind"] == "rental":
            return cost.rental(p["usd_per_hour"], util or 1.0)
        capex, life, pue = p["capex_usd"], p["life_years"], p["pue"]
        elec = pricing.electricity_usd_per_kwh(p["electricity"], args.fx)
        other = p.get("other_opex_fraction", 0.0)
        util = util or p.get("utilisation", 1.0)
    else:
        missing = [f for f, v in (("--life-years", args.life_years), ("--pue", args.pue),
                                  ("--electricity-usd-per-kwh", args.electricity_usd_per_kwh)) if v is None]
        if missing:
            raise InputError(f"ownership cost with --capex-usd also needs {', '.join(missing)}")
        capex, life, pue, elec = args.capex_usd, args.life_years, args.pue, args.electricity_usd_per_kwh
        other, util = args.other_opex_fraction or 0.0, util or 1.0
    if args.other_opex_fraction is not None:
        other = args.other_opex_fraction
    if args.power_w is not None:
        power, source = args.power_w, "given (--power-w)"
    elif measured_w is not None:
        power, source = measured_w * overhead, f"measured {measured_w:.1f} W x server overhead {overhead:g}"
    else:
        power = chip.all_in_power_w(overhead)
        source = (f"catalog server power ({chip.server_power_w:g} W)" if chip.server_power_w else
                  f"catalog TDP {chip.tdp_w} W x server overhead {overhead:g}")
        if power is None:
            raise InputError(f"hardware '{chip.id}' has no TDP in the catalog; pass --power-w")
    return cost.tco(capex, life, power, pue, elec, util, other, source)


def cmd_cost(args) -> int:
    from bench.catalog import models as catalog
    from bench.analysis import cost
    from bench.catalog import hardware
    from bench.catalog import pricing
    from bench.results.rundir import RunDir

    for name in ("output_tok_s", "input_tok_s", "rental_usd_per_hour", "capex_usd", "life_years", "power_w",
                 "electricity_usd_per_kwh", "fx", "server_overhead", "blend_ratio"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    _positive("--other-opex-fraction", args.other_opex_fraction, allow_zero=True)
    if args.pue is not None and args.pue < 1:
        raise InputError(f"--pue must be >= 1 (facility power / IT power); found {args.pue:g}")
    _fraction("--utilisation", args.utilisation)
    chip = hardware.get_chip(args.hardware)
    fx = args.fx or pricing.fx_rmb_per_usd()
    api = None
    if args.model:
        m = catalog.get_model(args.model)
        api = m.api_price_usd_per_mtok
    entries = []
    if args.results:
        rd = RunDir.open_existing(Path(args.results))
        ok = [c for c in rd.latest_cases() if c.get("status") == "ok"]
        if not ok:
            raise InputError(f"{args.results}: no successful cases to price; run the benchmark again or pass --output-tok-s")
        for case in ok:
            rates = cost.rates_from_case(case)
            if rates is None:
                continue
            priced = cost.price_tokens(_hourly(args, chip, _measured_power_w(case)), rates, fx, args.blend_ratio)
            entries.append({"case_id": case["case_id"], "model": case["model"]["label"],
                            "measured_on": case.get("hardware"), "priced_as": chip.id, **priced})
    else:
        rates = cost.Rates(output_tok_s=args.output_tok_s, input_tok_s=args.input_tok_s, provenance="user")
        entries.append({"priced_as": chip.id, **cost.price_tokens(_hourly(args, chip, None), rates, fx,
                                                                   args.blend_ratio)})
    if api is not None:
        for e in entries:
            e["market"] = {"model": args.model, "source": "report Exhibits 24/25 (May 2025)",
                           **cost.market_comparison(e["usd_per_mtok_input"], e["usd_per_mtok_output"], api.input,
                                                    api.output)}
    doc = {"hardware": chip.id, "fx_rmb_per_usd": fx, "entries": entries} if args.results else entries[0]
    if args.format == "json":
        print(json.dumps(doc, default=str))
        return 0
    _print_cost_table(entries, chip)
    return 0


def _print_cost_table(entries: list[dict], chip) -> None:
    from rich.table import Table

    f = lambda v, d=4: "—" if v is None else f"{v:,.{d}f}"  # noqa: E731
    t = Table(title=f"$/M tokens on {chip.name} ({entries[0]['provenance']} throughput)", title_justify="left")
    for col in ("case", "$/h", "$/busy h", "out tok/s/acc", "$/M out", "$/M in", "$/M blended", "¥/M out",
                "API $/M out", "margin out"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for e in entries:
        mk = e.get("market") or {}
        t.add_row(e.get("case_id", "—"), f(e["usd_per_hour"], 3), f(e["usd_per_busy_hour"], 3),
                  f(e["output_tok_s_per_accelerator"], 1), f(e["usd_per_mtok_output"]), f(e["usd_per_mtok_input"]),
                  f(e["usd_per_mtok_blended"]), f(e["rmb_per_mtok_output"]), f(mk.get("api_usd_per_mtok_output"), 2),
                  "—" if mk.get("margin_output") is None else f"{100 * mk['margin_output']:.0f}%")
    c = console()
    c.print(t)
    h = entries[0]["hourly"]
    if h["kind"] == "tco":
        c.print(f"hourly (per accelerator): capex ${h['capex_usd']:.3f} + energy ${h['energy_usd']:.3f} + other "
                f"${h['other_usd']:.3f} = ${h['total_usd']:.3f} (¥{h['total_rmb']:.2f}); utilisation "
                f"{h['utilisation']:g}; power {h['power_w']:.0f} W from {h['power_source']}")


def add_commands(sub) -> None:
    from bench.cli import capacity as cli_capacity

    add_cost(sub)
    cli_capacity.add_commands(sub)
    from bench.cli import reports as cli_reports

    cli_reports.add_commands(sub)
