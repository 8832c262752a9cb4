"""``project`` and ``capacity`` commands (flags are part of the contract; see README)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bench.cli.analysis import _fraction, _positive
from bench.errors import InputError
from bench.present import console


def add_commands(sub) -> None:
    p = sub.add_parser("project", help="project throughput and latency onto catalog hardware (roofline)")
    p.add_argument("--model", required=True)
    p.add_argument("--hardware", required=True, help="catalog ids, comma-separated")
    p.add_argument("--input-tokens", type=int, required=True)
    p.add_argument("--output-tokens", type=int, required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--batch", type=int)
    g.add_argument("--concurrency", type=int, help="requests in flight (treated as the decode batch)")
    p.add_argument("--dtype", required=True, help="fp32, bf16, fp16, fp8 or int8")
    p.add_argument("--kv-dtype", help="KV-cache dtype (default: fp8 with fp8 weights, else bf16)")
    p.add_argument("--accelerators", type=int, default=1, help="tensor-parallel accelerators per replica")
    p.add_argument("--calibrate", metavar="RUN_DIR", help="fit MBU/MFU/step overhead from a measured run")
    p.add_argument("--mbu", type=float, help="override memory-bandwidth utilisation")
    p.add_argument("--mfu", type=float, help="override model-FLOPs utilisation")
    p.add_argument("--sw-efficiency", default=None, help="per-chip throughput factor, e.g. 910b=0.725")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_project)

    c = sub.add_parser("capacity", help="fleet capacity: accelerators, MW, EFLOPS, TWh, tokens/day")
    c.add_argument("--scenario", choices=("exhibit63",), help="rebuild the report's Exhibit 63 (+ token rows)")
    c.add_argument("--hardware", help="catalog ids, comma-separated")
    c.add_argument("--compare", help="two catalog ids side by side, e.g. h20,910b")
    c.add_argument("--model")
    size = c.add_mutually_exclusive_group()
    size.add_argument("--power-mw", type=float, help="facility power budget in MW")
    size.add_argument("--accelerators", type=float, help="fleet size")
    size.add_argument("--tokens-per-day", type=float, help="demand: size the fleet that serves it")
    c.add_argument("--input-tokens", type=int)
    c.add_argument("--output-tokens", type=int)
    c.add_argument("--dtype", default="best", help="weights dtype (default: best the chip supports: fp8, else int8)")
    c.add_argument("--replica-accelerators", type=int, help="accelerators per replica (default: smallest that fits)")
    c.add_argument("--tok-s-per-accelerator", type=float, help="use this output throughput instead of projecting")
    c.add_argument("--pue", type=float, default=1.0)
    c.add_argument("--utilisation", type=float, default=1.0)
    c.add_argument("--sw-efficiency", default=None, help="per-chip throughput factor, e.g. 910b=0.725")
    c.add_argument("--rental-usd-per-hour", type=float, help="price tokens at this rental")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.set_defaults(func=cmd_capacity)


def _sw_eff(spec: str | None) -> dict[str, float]:
    out = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--sw-efficiency '{part}': expected CHIP=FACTOR, e.g. 910b=0.725")
        k, v = part.split("=", 1)
        try:
            out[k.strip().lower()] = float(v)
        except ValueError:
            raise InputError(f"--sw-efficiency '{part}': factor must be a number") from None
        _fraction(f"--sw-efficiency {k}", out[k.strip().lower()])
    return out


def _chips(ids: str):
    from bench.catalog import hardware

    return [hardware.get_chip(i.strip()) for i in ids.split(",") if i.strip()]


def calibration_from_run(run_dir: str):
    from bench.catalog import models as catalog
    from bench.catalog import hardware
    from bench.analysis import projection
    from bench.catalog.architectures import TINY
    from bench.results.rundir import RunDir

    rd = RunDir.open_existing(Path(run_dir))
    cases = [c for c in rd.latest_cases() if c.get("status") == "ok"]
    chip = hardware.get_chip(hardware.match_name(rd.manifest().get("hardware")))

    def lookup(case):
        label = case["model"]["label"]
        if label.startswith("tiny:"):
            return TINY.get(label.split(":", 1)[1])
        return catalog.models().get(label)

    eff = projection.calibrate(projection.calibration_points(lookup, chip, cases))
    return replace(eff, source=f"{eff.source} from {run_dir} on {chip.id}"), chip


def cmd_project(args) -> int:
    from bench.catalog import models as catalog
    from bench.analysis import projection

    for name in ("input_tokens", "output_tokens", "batch", "concurrency", "accelerators"):
        v = getattr(args, name)
        if v is not None and v <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be > 0; found {v}")
    _fraction("--mbu", args.mbu)
    _fraction("--mfu", args.mfu)
    m = catalog.get_model(args.model)
    chips = _chips(args.hardware)
    eff = projection.Efficiency()
    if args.calibrate:
        eff, _ = calibration_from_run(args.calibrate)
    if args.mbu or args.mfu:
        eff = replace(eff, mbu=args.mbu or eff.mbu, mfu=args.mfu or eff.mfu, source=f"{eff.source} + overrides")
    sw = _sw_eff(args.sw_efficiency)
    batch = args.batch or args.concurrency
    out = []
    for chip in chips:
        w = projection.Workload(args.input_tokens, args.output_tokens, batch, args.accelerators, args.dtype,
                                args.kv_dtype)
        projection.check_dtype(chip, args.dtype)
        fit1 = projection.memory_fit(m, chip, replace(w, batch=1))
        if not fit1["fits"]:
            raise InputError(f"model '{m.id}' ({fit1['weights_bytes'] / 1e9:.0f} GB of {args.dtype} weights + KV) "
                             f"does not fit on {args.accelerators} x {chip.id} ({chip.memory_gb:g} GB each) even at "
                             "batch 1; raise --accelerators or use a smaller --dtype")
        out.append(projection.project(m, chip, w, eff, sw.get(chip.id, 1.0)))
    if args.format == "json":
        print(json.dumps(out, default=str))
        return 0
    from rich.table import Table

    f = lambda v, d=2: "—" if v is None else f"{v:,.{d}f}"  # noqa: E731
    t = Table(title=f"PROJECTED {m.id} {args.dtype}, {args.input_tokens} in / {args.output_tokens} out, batch {batch}, "
              f"{args.accelerators} accelerator(s) per replica — MBU {eff.mbu:.2f}, MFU {eff.mfu:.2f}, "
              f"step overhead {eff.step_overhead_s * 1e3:.2f} ms ({eff.source})", title_justify="left")
    for col in ("hardware", "fits", "max batch", "TTFT ms", "TPOT ms", "tok/s/user", "out tok/s/acc",
                "total tok/s/acc", "bound", "MBU", "MFU"):
        t.add_column(col, justify="left" if col in ("hardware", "bound") else "right")
    for r in out:
        t.add_row(r["hardware"], str(r["fits"]), str(r["max_batch"]), f((r["ttft_s"] or 0) * 1e3 or None),
                  f((r["tpot_s"] or 0) * 1e3 or None), f(r.get("tok_s_per_user"), 1),
                  f(r["output_tok_s_per_accelerator"], 1), f(r["total_tok_s_per_accelerator"], 1), r["bound"] or "—",
                  f(r["mbu"]), f(r["mfu"]))
    console().print(t)
    return 0


# ---------------------------------------------------------------------------- capacity
def best_dtype(chip) -> str:
    for d in ("fp8", "int8", "bf16", "fp16"):
        if getattr(chip.tflops, d):
            return d
    return "fp32"


def _replica(m, chip, dtype, n_in, n_out, k=None):
    from bench.analysis import projection

    for acc in ([k] if k else [1, 2, 4, 8, 16, 32, 64]):
        w = projection.Workload(n_in, n_out, 1, acc, dtype)
        if projection.memory_fit(m, chip, w)["fits"]:
            return acc
    raise InputError(f"model '{m.id}' does not fit on {k or 64} x {chip.id} at {dtype} even at batch 1; "
                     "raise --replica-accelerators or use a smaller --dtype")


def chip_capacity(m, chip, dtype, n_in, n_out, args, sw: float) -> dict:
    from bench.analysis import capacity
    from bench.analysis import cost
    from bench.analysis import projection

    if dtype == "best":
        dtype = best_dtype(chip)
    peak = projection.check_dtype(chip, dtype)
    all_in = chip.all_in_power_w(_overhead())
    if all_in is None:
        raise InputError(f"hardware '{chip.id}' has no power figure in the catalog (TDP or server power)")
    if args.tok_s_per_accelerator:
        tok_s, proj, prov = args.tok_s_per_accelerator, None, "user"
    else:
        k = _replica(m, chip, dtype, n_in, n_out, args.replica_accelerators)
        proj = projection.max_load(m, chip, projection.Workload(n_in, n_out, 1, k, dtype))
        tok_s, prov = proj["output_tok_s_per_accelerator"], "projected"
    if args.power_mw is not None:
        n = capacity.accelerators_for_power(args.power_mw * 1e6, all_in, args.pue)
    elif args.accelerators is not None:
        n = args.accelerators
    else:
        n = capacity.accelerators_for_demand(args.tokens_per_day, tok_s, args.utilisation, sw)
    row = {"hardware": chip.id, "model": m.id, "dtype": dtype, "input_tokens": n_in, "output_tokens": n_out,
           "provenance": prov, "output_tok_s_per_accelerator": tok_s * sw,
           "peak_tflops": peak, **capacity.fleet(n, all_in, peak, tok_s, args.pue, args.utilisation, sw)}
    row["facility_power_mw"] = row["facility_power_w"] / 1e6
    if proj is not None:
        row.update(replica_accelerators=proj["accelerators"], batch=proj["batch"], bound=proj["bound"],
                   tpot_s=proj["tpot_s"])
    row["usd_per_mtok_output"] = (cost.usd_per_mtok(args.rental_usd_per_hour, tok_s * sw)
                                  if args.rental_usd_per_hour else None)
    return row


def _overhead() -> float:
    from bench.catalog import pricing

    return pricing.data()["default_server_overhead"]


def exhibit63_doc() -> dict:
    from bench.analysis import capacity
    from bench.catalog import models as catalog
    from bench.catalog import hardware
    from bench.analysis import projection

    x = capacity.exhibit63_inputs()
    rows = capacity.exhibit63()
    check = capacity.exhibit63_check(rows)
    chips_total = sum(x["chips_added_millions"].values()) * 1e6
    token_rows = []
    for tm in x["token_models"]:
        m = catalog.get_model(tm["model"])
        for wl in x["token_workloads"]:
            for sc in ("h20", "910b"):
                chip = hardware.get_chip(sc)
                dtype, k = tm["dtype"][sc], tm["accelerators"][sc]
                p = projection.max_load(m, chip, projection.Workload(wl["input_tokens"], wl["output_tokens"], 1, k,
                                                                     dtype))
                all_in = capacity.exhibit63_chip(sc)["all_in_w"]
                f = capacity.fleet(chips_total, all_in, chip.peak_tflops(dtype), p["output_tok_s_per_accelerator"])
                token_rows.append({
                    "scenario": sc, "model": m.id, "workload": wl["name"], "dtype": dtype, "replica_accelerators": k,
                    "batch": p["batch"], "bound": p["bound"], "tpot_s": p["tpot_s"],
                    "output_tok_s_per_accelerator": p["output_tok_s_per_accelerator"],
                    "output_tokens_per_day": f["tokens_per_day"], "output_tokens_s_per_mw": f["tokens_s_per_mw_it"],
                    "fleet_chips": chips_total, "provenance": "projected"})
    assumptions = [
        "compute: a running total from 536 EFLOPS FP16 in 2024 (stated), adding chips x TFLOPS each year",
        "chips added per year (M): " + ", ".join(f"{y} {v}" for y, v in x["chips_added_millions"].items())
        + " — DERIVED: equal in both scenarios; 2025-27 = the H20 compute additions / 148 TFLOPS, 2024 = 2,139 MW / 1.14 kW",
        *capacity.exhibit63_chip("h20")["notes"], *capacity.exhibit63_chip("910b")["notes"],
        "power: the MW *added* that year = chips added x all-in kW per chip (before PUE) — DERIVED",
        f"electricity: 180 TWh in 2024 (stated) + each later year's added MW x 8,760 h x k, k = PUE x utilisation = "
        f"{x['k_pue_x_utilisation']} — DERIVED",
        f"token rows: PROJECTED (roofline, default efficiencies) for a fleet of all chips added 2024-27 "
        f"({chips_total / 1e6:.2f} M) at maximum load; tokens/s per MW is per MW of all-in IT power",
    ]
    return {"rows": rows, "token_rows": token_rows, "check": check, "assumptions": assumptions,
            "max_abs_rel_error": max(abs(c["rel_error"]) for c in check)}


def cmd_capacity(args) -> int:
    from bench.catalog import models as catalog

    if args.scenario == "exhibit63":
        doc = exhibit63_doc()
        if args.format == "json":
            print(json.dumps(doc, default=str))
        else:
            _print_exhibit(doc)
        return 0
    ids = args.compare or args.hardware
    if not ids or not args.model:
        raise InputError("capacity needs --scenario exhibit63, or --hardware/--compare with --model")
    if args.input_tokens is None or args.output_tokens is None:
        raise InputError("capacity needs --input-tokens and --output-tokens for the token figures")
    if args.power_mw is None and args.accelerators is None and args.tokens_per_day is None:
        raise InputError("capacity needs one of --power-mw, --accelerators or --tokens-per-day")
    for name in ("power_mw", "accelerators", "tokens_per_day", "tok_s_per_accelerator", "rental_usd_per_hour",
                 "input_tokens", "output_tokens"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    if args.pue < 1:
        raise InputError(f"--pue must be >= 1; found {args.pue:g}")
    _fraction("--utilisation", args.utilisation)
    m = catalog.get_model(args.model)
    sw = _sw_eff(args.sw_efficiency)
    rows = [chip_capacity(m, chip, args.dtype, args.input_tokens, args.output_tokens, args, sw.get(chip.id, 1.0))
            for chip in _chips(ids)]
    if args.format == "json":
        print(json.dumps({"rows": rows}, default=str))
        return 0
    _print_side_by_side(rows)
    return 0


def _print_side_by_side(rows: list[dict]) -> None:
    from rich.table import Table

    f = lambda v, d=2: "—" if v is None else (f"{v:,.{d}f}" if isinstance(v, float) else str(v))  # noqa: E731
    t = Table(title=f"fleet capacity — {rows[0]['model']}, {rows[0]['input_tokens']} in / {rows[0]['output_tokens']} "
              f"out ({rows[0]['provenance']} throughput)", title_justify="left")
    t.add_column("")
    for r in rows:
        t.add_column(r["hardware"], justify="right")
    lines = [("dtype", "dtype", None), ("accelerators", "accelerators", 0), ("facility MW", "facility_power_mw", 1),
             ("EFLOPS (dtype peak)", "compute_eflops", 2), ("TWh / year", "electricity_twh_per_year", 2),
             ("out tok/s per accelerator", "output_tok_s_per_accelerator", 1), ("out tokens / day", "tokens_per_day", 0),
             ("out tok/s per MW (IT)", "tokens_s_per_mw_it", 0), ("bound", "bound", None),
             ("$/M out (rental)", "usd_per_mtok_output", 4)]
    for label, key, d in lines:
        t.add_row(label, *[f(r.get(key), d) if d is not None else str(r.get(key, "—")) for r in rows])
    console().print(t)


def _print_exhibit(doc: dict) -> None:
    from rich.table import Table

    c = console()
    t = Table(title="Exhibit 63 rebuilt (reference-model: the report's assumptions, recomputed; printed value and "
              "error beside)", title_justify="left")
    for col in ("scenario", "year", "power MW", "printed", "TWh", "printed", "EFLOPS FP16", "printed", "max err"):
        t.add_column(col, justify="left" if col == "scenario" else "right")
    by = {(x["scenario"], x["year"], x["metric"]): x for x in doc["check"]}
    for r in doc["rows"]:
        k = (r["scenario"], r["year"])
        errs = [abs(by[(*k, mm)]["rel_error"]) for mm in ("power_mw", "electricity_twh", "compute_eflops_fp16")]
        t.add_row(r["scenario"], str(r["year"]), f"{r['power_mw']:,.0f}", f"{by[(*k, 'power_mw')]['printed']:,}",
                  f"{r['electricity_twh']:,.1f}", f"{by[(*k, 'electricity_twh')]['printed']:,}",
                  f"{r['compute_eflops_fp16']:,.0f}", f"{by[(*k, 'compute_eflops_fp16')]['printed']:,}",
                  f"{100 * max(errs):.1f}%")
    c.print(t)
    t2 = Table(title="Beyond the exhibit: the same fleets in tokens (PROJECTED)", title_justify="left")
    for col in ("model", "workload", "chip", "dtype", "replica", "batch", "bound", "out tok/s/acc", "out tokens/day",
                "out tok/s per MW"):
        t2.add_column(col, justify="left" if col in ("model", "workload", "chip", "dtype", "bound") else "right")
    for r in doc["token_rows"]:
        t2.add_row(r["model"], r["workload"], r["scenario"], r["dtype"], str(r["replica_accelerators"]),
                   str(r["batch"]), r["bound"], f"{r['output_tok_s_per_accelerator']:,.0f}",
                   f"{r['output_tokens_per_day']:.3g}", f"{r['output_tokens_s_per_mw']:,.0f}")
    c.print(t2)
    c.print("assumptions:")
    for a in doc["assumptions"]:
        c.print(f"  - {a}")
