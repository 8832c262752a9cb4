"""Commands over catalogs and results: ``cost``, ``project`` and ``capacity``.

Parse, call, print: the maths is in bench.analysis (cost, projection, capacity, exhibit63, efficiency),
pricing is resolved by bench.catalog.pricing, each flag's rule is in a typed request
(bench/analysis/requests.py) and what a flag names in the catalog is resolved by bench/analysis/asked.py;
this module builds the requests, calls and prints.

Above 400 lines because it holds three commands with a table each (cost, the projection and its whole-run
form, capacity and the exhibit), and cost and project share one printer of invalid-case warnings, which a
CLI module may not import from another.
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.analysis import asked, requests
from bench.results import jsonout
from bench.cli import args as checks
from bench.errors import InputError
from bench.present import MISSING, cell, fixed, half_batch_words, ms, pct


def add_commands(sub) -> None:
    add_cost(sub)
    add_project(sub)
    add_capacity(sub)


def _print_invalid_warnings(run, where: str) -> None:
    """A case judged invalid is used, never silently: one warning line each on stderr."""
    import sys

    from bench.analysis.compare import invalid_warnings

    for w in invalid_warnings(run.ok_cases, where):
        print(f"warning: {w}", file=sys.stderr)






# ---------------------------------------------------------------------------- cost


def add_cost(sub) -> None:
    c = sub.add_parser("cost", help="$/M-token from a measured run or a given throughput")
    c.add_argument("--hardware", required=True, help="catalog ids of the accelerators you pay for, comma-separated: "
                   "priced side by side (list hardware)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--results", metavar="RUN_DIR", help="a run directory: one price per successful case")
    src.add_argument("--output-tok-s", type=float, help="output (decode) tokens/s per accelerator")
    src.add_argument("--project", action="store_true", help="project the throughput with the chip's efficiency "
                     "profile (needs --model, --input-tokens, --output-tokens, --batch, --dtype)")
    c.add_argument("--input-tok-s", type=float, help="input (prefill) tokens/s per accelerator")
    c.add_argument("--input-tokens", type=int, help="--project: prompt tokens per request")
    c.add_argument("--output-tokens", type=int, help="--project: generated tokens per request")
    c.add_argument("--batch", type=int, help="--project: requests decoded together")
    c.add_argument("--dtype", help="--project: weights dtype (bf16, fp8, int8 ...)")
    c.add_argument("--accelerators", type=int, default=1, help="--project: tensor-parallel accelerators per replica")
    c.add_argument("--kv-dtype", help="--project: KV-cache dtype (as project --kv-dtype)")
    c.add_argument("--parallelism", help="--project: how the replica's accelerators work (as project --parallelism)")
    c.add_argument("--profile", metavar="CHIP=NAME", help="--project: efficiency profile (see project --profile)")
    c.add_argument("--engine", default="field", help="--project: serving engine whose profile to use (see project --engine)")
    how = c.add_mutually_exclusive_group()  # none: the chip's own rate (pricing.yaml chips:)
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


def cmd_cost(args) -> int:
    from bench.analysis import cost
    from bench.catalog import pricing
    from bench.catalog import models as catalog
    from bench.results import load_run

    req = requests.CostRequest.from_flags(vars(args))
    chips = asked.chips(req.hardware)
    fx = req.fx or pricing.fx_rmb_per_usd()
    api = catalog.get_model(req.model).api_price_usd_per_mtok if req.model else None
    req.check_shape()
    given = req.given_terms([c.id for c in chips])
    cases = shape = m = None
    if req.results:
        run = load_run(Path(req.results))
        cases = [c.to_json() for c in run.ok_cases]
        if not cases:
            raise InputError(f"{req.results}: no successful cases to price; run the benchmark again or pass --output-tok-s")
        _print_invalid_warnings(run, req.results)
    elif req.project:
        from bench.analysis import projection

        req.missing_for_project()
        m = catalog.get_model(req.model)
        asked.fits_context(m, req.input_tokens, req.output_tokens)
        parallelism = asked.parallelism(req.parallelism, req.accelerators, m)
        shape = projection.Shape(req.input_tokens, req.output_tokens, req.batch, req.accelerators, req.dtype,
                                 req.kv_dtype, parallelism=parallelism, engine=checks.engine_class(req.engine))
    names = asked.profile_names(req.profile, chips)
    # each chip at the given terms, else its own rate (None: a row that says it has no price)
    priced = {chip.id: given or req.own_terms(chip.id) for chip in chips}
    req.check_ownership_flags_apply(priced)
    entries = []
    for chip in chips:
        terms = priced[chip.id]
        if cases is not None:
            entries += cost.price_cases(cases, chip, terms, fx, req.blend_ratio, req.power_w, req.server_overhead)
        elif shape is not None:
            from bench.analysis import profiles

            prof = profiles.for_engine(profiles.catalog_profiles(), chip.id, req.engine, names.get(chip.id))
            entries.append(cost.price_projection(m, chip, shape, prof, terms, fx, req.blend_ratio, req.power_w,
                                                 req.server_overhead))
        else:
            rates = cost.Rates(output_tok_s=req.output_tok_s, input_tok_s=req.input_tok_s, provenance="user")
            entries.append({"priced_as": chip.id, **cost.price_or_none(terms, chip, rates, fx, req.blend_ratio, None,
                                                                       req.power_w, req.server_overhead)})
    if api is not None:
        for e in entries:
            if e.get("price_note"):
                continue
            e["market"] = {"model": req.model, "source": "report Exhibits 24/25 (May 2025)",
                           **cost.market_comparison(e["usd_per_mtok_input"], e["usd_per_mtok_output"], api.input,
                                                    api.output)}
    if len(chips) > 1:
        doc = {"hardware": [c.id for c in chips], "fx_rmb_per_usd": fx, "entries": entries}
    else:
        doc = {"hardware": chips[0].id, "fx_rmb_per_usd": fx, "entries": entries} if req.results else entries[0]
    text = jsonout.dumps(doc)  # refuses NaN/inf in any format
    if req.format == "json":
        print(text)
        return 0
    _print_cost_table(entries, chips, req.power_w)
    return 0


def _print_cost_table(entries: list[dict], chips: list, power_w: float | None = None) -> None:
    from bench.analysis import cost
    from bench.present import Col, render_table

    several = len(chips) > 1
    title = chips[0].name if not several else " vs ".join(c.id for c in chips)
    heads = ("chip",) * several + ("case", "$/h", "$/busy h", "out tok/s/acc", "decode tok/s/acc", "$/M out", "$/M in",
                                   "$/M blended", "¥/M out", "API $/M out", "margin out")
    cols = [Col(h, "left" if h in ("case", "chip") else "right", key=h in ("chip", "case")) for h in heads]
    rows = []
    for e in entries:
        mk = e.get("market") or {}
        if e.get("price_note"):
            money = ["no price", MISSING]
        elif e.get("fits") is False:
            money = ["does not fit", MISSING]
        else:
            money = [fixed(e["usd_per_hour"], 3), fixed(e["usd_per_busy_hour"], 3)]
        rows.append([*([e["priced_as"]] if several else []), e.get("case_id", MISSING), *money,
                     fixed(e["output_tok_s_per_accelerator"], 1), fixed(e["decode_tok_s_per_accelerator"], 1),
                     fixed(e["usd_per_mtok_output"], 4), fixed(e["usd_per_mtok_input"], 4),
                     fixed(e["usd_per_mtok_blended"], 4), fixed(e["rmb_per_mtok_output"], 4),
                     fixed(mk.get("api_usd_per_mtok_output"), 2), pct(mk.get("margin_output"))])
    notes = ["", "out tok/s/acc: output tokens over the whole run (prefill included, as `project` prints); output tokens "
             "are charged the decode time (decode tok/s/acc), input tokens the prefill time"]
    seen = set()
    for e in entries:
        chip = e["priced_as"]
        if chip in seen:
            continue
        seen.add(chip)
        who = f"{chip}: " if several else ""
        if e.get("price_note"):
            notes.append(f"{who}no $/M: {e['price_note']}")
            continue
        if e.get("fit_note"):
            notes.append(f"{who}{e['fit_note']}")
            continue
        if e.get("evidence"):
            notes.append(f"{who}throughput projected: {e['evidence']}")
        notes.append(f"{who}{cost.made_of(e)}")
    if several:
        notes[2:2] = cost.one_figure_for_every_chip(entries, [c.id for c in chips], power_w)
    if not any(e.get("case_id") for e in entries):  # projected: no measured case to name
        at = heads.index("case")
        cols, rows = cols[:at] + cols[at + 1:], [r[:at] + r[at + 1:] for r in rows]
    sys.stdout.write(render_table(cols, rows, title=f"$/M tokens on {title} ({entries[0]['provenance']} throughput)",
                                  notes=notes))


# ---------------------------------------------------------------------------- project
def add_project(sub) -> None:
    p = sub.add_parser("project", help="project throughput and latency onto catalog hardware (roofline)")
    p.add_argument("--model", required=True)
    p.add_argument("--hardware", required=True, help="catalog ids, comma-separated")
    p.add_argument("--input-tokens", type=int, help="prompt tokens per request (not with --dataset jsonl PATH, "
                   "whose lines give them)")
    p.add_argument("--output-tokens", type=int, help="output tokens per request (not with --dataset jsonl PATH)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--batch", type=int, help="requests decoded together (steady state; or give --num-prompts)")
    g.add_argument("--concurrency", type=int, help="requests in flight (treated as the decode batch; with "
                   "--num-prompts the client's cap on requests in flight)")
    p.add_argument("--num-prompts", type=int, help="whole-run projection: simulate a benchmark of N prompts through a "
                   "continuous-batching engine (scheduler limits, KV cache, chunked prefill)")
    p.add_argument("--request-rate", default="inf", help="--num-prompts: requests per second (Poisson), or inf: all "
                   "at once (default)")
    p.add_argument("--dataset", nargs="+", metavar="KIND [PATH]", default=["random"],
                   help="--num-prompts: random (every prompt --input-tokens in, --output-tokens out; default), "
                   "sharegpt (--input-tokens each, outputs of mean --output-tokens in ShareGPT's shape, "
                   "bench/catalog/data/length_shapes.yaml) or jsonl PATH (one {\"input_tokens\": N, "
                   "\"output_tokens\": M} a line; the requests cycle through the lines)")
    p.add_argument("--max-num-seqs", type=int, help="--num-prompts: requests in flight at most (default: the engine's)")
    p.add_argument("--max-num-batched-tokens", type=int, help="--num-prompts: tokens per engine step (default: the "
                   "engine's)")
    p.add_argument("--no-chunked-prefill", action="store_true", help="--num-prompts: prefill whole prompts only")
    p.add_argument("--engine-version", metavar="V", help="--num-prompts: the --engine version whose scheduler "
                   "defaults apply, e.g. 0.9.1 for vllm-ascend (bench/catalog/data/engines.yaml lists the versions "
                   "that differ; default: the engine's current defaults)")
    p.add_argument("--seed", type=int, default=0, help="--num-prompts: seed of the arrival times")
    p.add_argument("--dtype", required=True, help="fp32, bf16, fp16, fp8 or int8")
    p.add_argument("--kv-dtype", help="KV-cache dtype (default: fp8 with fp8 weights, as TensorRT-LLM; else bf16. "
                   "vLLM and SGLang keep bf16 with fp8 weights: --kv-dtype bf16)")
    p.add_argument("--accelerators", type=int, default=1, help="accelerators per replica (tensor parallel unless "
                   "--parallelism says otherwise)")
    p.add_argument("--parallelism", help="how the replica's accelerators work, read as a published row's: 'TP8', "
                   "'TP4 PP2' (pipeline stages in turn), 'attention DP8 + EP8' (expert parallel, DP attention)")
    p.add_argument("--calibrate", metavar="RUN_DIR", help="add a measured run to its chip's efficiency profile")
    p.add_argument("--profile", metavar="CHIP=NAME", help="efficiency profile per chip, e.g. h20=sglang,910b=all "
                   "(default: the chip's fit over all its published rows; 'defaults' = datasheet MBU/MFU)")
    p.add_argument("--engine", default="field", help="serving engine whose profile to use (default 'field': every engine's rows; e.g. chitu, vllm, sglang, trtllm, mindie)")
    p.add_argument("--mbu", type=float, help="override memory-bandwidth utilisation")
    p.add_argument("--mfu", type=float, help="override model-FLOPs utilisation")
    p.add_argument("--sw-efficiency", default=None, help="per-chip throughput factor, e.g. 910b=0.725")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_project)


def add_capacity(sub) -> None:
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
    c.add_argument("--dtype", default="best", help="weights dtype (default 'best': the narrowest every chip asked has, "
                   "fp8, else int8 -- one dtype for all; 'best-each': each chip its own best)")
    c.add_argument("--replica-accelerators", type=int, help="accelerators per replica (default: smallest that fits)")
    c.add_argument("--tok-s-per-accelerator", type=float, help="use this output throughput instead of projecting")
    c.add_argument("--pue", type=float, default=1.0)
    c.add_argument("--utilisation", type=float, default=1.0)
    c.add_argument("--sw-efficiency", default=None, help="per-chip throughput factor, e.g. 910b=0.725")
    c.add_argument("--profile", metavar="CHIP=NAME", help="efficiency profile per chip (see project --profile)")
    c.add_argument("--engine", default="field", help="serving engine whose profile to use (default 'field': every engine's rows; e.g. chitu, vllm, sglang, trtllm, mindie)")
    c.add_argument("--rental-usd-per-hour", type=float, help="price tokens at this rental (default: the chip's own rate)")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.set_defaults(func=cmd_capacity)


def cmd_project(args) -> int:
    from bench.analysis import profiles, projection
    from bench.catalog import models as catalog
    from bench.catalog import published

    req = requests.ProjectRequest.from_flags(vars(args))
    m = catalog.get_model(args.model)
    req.check_lengths()
    lengths = None
    if req.lengths_from_file:  # every request's lengths from the file; the shape takes their means
        from bench.workloads.lengths import dataset_lengths

        lengths = dataset_lengths(args.dataset, m.context_length, m.id, None, None)
        args.input_tokens = max(round(sum(x for x, _ in lengths) / len(lengths)), 1)
        args.output_tokens = max(round(sum(y for _, y in lengths) / len(lengths)), 1)
    else:
        asked.fits_context(m, args.input_tokens, args.output_tokens)
    chips = asked.chips(args.hardware)
    if args.calibrate:
        from bench.results import load_run

        _print_invalid_warnings(load_run(Path(args.calibrate)), args.calibrate)
    profs, local, local_chip = profiles.with_local_run(published.rows(), args.calibrate)
    names = asked.profile_names(args.profile, chips)
    req.check_run_flags()
    batch = req.decode_batch
    args.parallelism = asked.parallelism(args.parallelism, args.accelerators, m)
    w = projection.Shape(args.input_tokens, args.output_tokens, batch, args.accelerators, args.dtype, args.kv_dtype,
                         parallelism=args.parallelism, engine=checks.engine_class(args.engine))
    sw = asked.sw_efficiency(args.sw_efficiency, chips)
    if args.num_prompts is not None:
        return cmd_project_run(args, req, m, chips, w, profs, names, lengths)
    out, errors = [], []
    for chip in chips:  # a chip that lacks the dtype or that the model does not fit on is a row, never an abort
        try:
            projection.check_dtype(chip, args.dtype)
        except InputError as exc:
            errors.append(exc)
            out.append({"hardware": chip.id, "model": m.id, "dtype": args.dtype, "fits": None, "provenance": "projected",
                        "note": str(exc)})
            continue
        prof = profiles.with_overrides(profiles.for_engine(profs, chip.id, args.engine, names.get(chip.id)), args.mbu,
                                       args.mfu)
        r = profiles.project(m, chip, w, prof, sw.get(chip.id, 1.0))
        if not r["fits"]:
            k = projection.fewest_accelerators(m, chip, w)
            r["fewest_accelerators_that_fit"] = k
            r["note"] = (f"does not fit at batch {batch} on {args.accelerators} x {chip.id} (max batch {r['max_batch']}); "
                         + (f"fits on {k} x {chip.id}: --accelerators {k}" if k else "use a smaller --dtype"))
            errors.append(projection.does_not_fit(m, chip, w, "raise --accelerators or use a smaller --dtype")
                          or InputError(f"{chip.id}: {r['note']}"))
        if local and chip.id == local_chip:
            r["calibration"] = local
        out.append(r)
    if len(errors) == len(chips):  # nothing to show: the first reason, one line, exit 2
        raise errors[0]
    text = jsonout.dumps(out)  # refuses NaN/inf in any format
    if args.format == "json":
        print(text)
        return 0
    _print_projection(out, m, args, batch)
    return 0


def _print_projection(out: list[dict], m, args, batch: int) -> None:
    from bench.analysis.projection import expert_parallel
    from bench.present import Col, render_table, with_range

    title = (f"PROJECTED {m.id} {args.dtype}, {args.input_tokens} in / {args.output_tokens} out, batch {batch}, "
             f"{args.accelerators} accelerator(s) per replica ({args.parallelism or f'TP{args.accelerators}'}; engine: "
             f"{args.engine}; band: the profile's 80 % range)")
    cols = [Col(h, "left" if h in ("hardware", "bound", "profile") else "right", key=h == "hardware")
            for h in ("hardware", "profile", "fits", "max batch", "TTFT ms", "TPOT ms", "tok/s/user", "out tok/s/acc",
                      "total tok/s/acc", "bound")]
    rows = []
    for r in out:
        if r["fits"] is None:  # the chip lacks the dtype
            rows.append([r["hardware"], MISSING, "no", *[MISSING] * 7])
            continue
        rng = lambda k, s=1.0: r[k] and [x * s for x in r[k]]  # noqa: E731
        rows.append([r["hardware"], f"{r['profile']} ({r['profile_rows']} rows)", "yes" if r["fits"] else "no",
                     str(r["max_batch"]),
                     with_range(r["ttft_s"] and r["ttft_s"] * 1e3, rng("ttft_s_range", 1e3)),
                     with_range(r["tpot_s"] and r["tpot_s"] * 1e3, rng("tpot_s_range", 1e3), 2),
                     with_range(r.get("tok_s_per_user"), r.get("tok_s_per_user_range")),
                     with_range(r["output_tok_s_per_accelerator"], r.get("output_tok_s_per_accelerator_range")),
                     with_range(r["total_tok_s_per_accelerator"], r.get("total_tok_s_per_accelerator_range")),
                     cell(r["bound"])])
    notes = [""]
    for r in out:  # one footnote per chip
        if r["fits"] is None:
            notes.append(f"{r['hardware']}: {r['note']}")
            continue
        e = r["efficiency"]
        line = (f"{r['hardware']}: {r['evidence']} — MBU {e['mbu']:.2f} ({half_batch_words(e['mbu_half_batch'])}), "
                f"MFU {e['mfu']:.2f}, {ms(e['step_overhead_per_decoder_layer_s'], 3)} ms per layer and step, KV "
                f"cache read at {e['kv_mbu_factor']:.2f} x MBU")
        if m.moe is not None:
            line += (f", {ms(e['step_overhead_per_layer_s'], 3)} ms per MoE layer and step, expert weights at "
                     f"{e['moe_mbu_factor']:.2f} x MBU")
            if expert_parallel(args.parallelism):
                line += f", all-to-alls at {e['ep_efficiency']:.2f} x DeepEP's published speed"
        if r.get("calibration"):
            line += f"; + {r['calibration']}"
        if not r["fits"]:
            line += f"; {r['note']}"
        notes.append(line)
    sys.stdout.write(render_table(cols, rows, title=title, notes=notes))


def cmd_project_run(args, req, m, chips, w, profs, names, lengths=None) -> int:
    """``project --num-prompts``: the whole run simulated on each chip (``whole_run``); ``lengths``: every request's
    (input, output) from a jsonl file, else the flags' for every prompt."""
    from bench.analysis import profiles, projection, whole_run
    from bench.catalog import engines

    rate = req.run_rate()
    from bench.workloads.lengths import dataset_lengths

    if lengths is None:
        lengths = dataset_lengths(args.dataset, m.context_length, m.id, args.input_tokens, args.output_tokens,
                                  args.num_prompts, args.seed)
    reqs = whole_run.requests(args.num_prompts, lengths, rate, args.seed)
    engine = checks.engine_class(args.engine) or "vllm"  # the field: vLLM's limits, the catalog's most common engine
    out = []
    for chip in chips:
        d = engines.defaults(engine, chip, args.engine_version, m.context_length, bool(m.mla)) \
            if (args.max_num_seqs is None or args.max_num_batched_tokens is None) else None
        seqs = args.max_num_seqs if args.max_num_seqs is not None else d.max_num_seqs
        if args.concurrency:
            seqs = min(seqs or args.concurrency, args.concurrency)
        toks = args.max_num_batched_tokens if args.max_num_batched_tokens is not None else d.max_num_batched_tokens
        chunked = not args.no_chunked_prefill and (d is None or d.chunked_prefill)
        source = "given" if d is None else d.source
        label = "given" if d is None else (("field: " if args.engine == "field" else "") + d.label)
        prof = profiles.with_overrides(profiles.for_engine(profs, chip.id, args.engine, names.get(chip.id)), args.mbu,
                                       args.mfu)
        projection_check = projection.fit_error(m, chip, w)
        if projection_check is not None:
            out.append({"hardware": chip.id, "model": m.id, "fits": False, "note": projection_check})
            continue
        first = d is not None and d.prefill_first
        out.append({**whole_run.project_run(m, chip, w, prof, reqs, seqs, toks, chunked, source, first,
                                            d.max_prefill_seqs if first else None,
                                            d is not None and d.decode_cap_only and not args.concurrency),
                    "scheduler_limits": label})
    if all(r.get("fits") is False for r in out):
        raise InputError(out[0]["note"])
    text = jsonout.dumps(out)
    if args.format == "json":
        print(text)
        return 0
    _print_run(out, m, args)
    return 0




def _print_run(out: list[dict], m, args) -> None:
    from bench.present import Col, render_table, with_range

    rate = "all at once" if args.request_rate == "inf" else f"{args.request_rate} req/s"
    lengths = (f"lengths from {args.dataset[1]} (means {args.input_tokens} in / {args.output_tokens} out)"
               if len(args.dataset) == 2 else f"{args.input_tokens} in / {args.output_tokens} out"
               + (" (mean, ShareGPT's output shape)" if args.dataset[0].lower() == "sharegpt" else ""))
    title = (f"PROJECTED whole run: {m.id} {args.dtype}, {args.num_prompts} prompts {rate}, {lengths}, "
             f"{args.accelerators} accelerator(s) per replica (engine: {args.engine}; band: the profile's 80 % range)")
    cols = [Col(h, "left" if h in ("hardware", "profile") else "right", key=h == "hardware")
            for h in ("hardware", "profile", "out tok/s/acc", "total tok/s/acc", "TTFT p50 ms", "TTFT p99 ms",
                      "TPOT p50 ms", "E2E p50 s", "max batch")]
    rows = []
    for r in out:
        if r.get("fits") is False:
            rows.append([r["hardware"], MISSING, *[MISSING] * 6, "does not fit"])
            continue
        ms_r = lambda v: v and [x * 1e3 for x in v]  # noqa: E731
        rows.append([r["hardware"], f"{r['profile']} ({r['profile_rows']} rows)",
                     with_range(r["output_tok_s_per_accelerator"], r["output_tok_s_per_accelerator_range"]),
                     with_range(r["total_tok_s_per_accelerator"], r["total_tok_s_per_accelerator_range"]),
                     with_range(r["ttft_s"]["p50"] * 1e3, ms_r(r["ttft_s"]["p50_range"])),
                     with_range(r["ttft_s"]["p99"] * 1e3, ms_r(r["ttft_s"]["p99_range"])),
                     with_range(r["tpot_s"]["p50"] and r["tpot_s"]["p50"] * 1e3, ms_r(r["tpot_s"]["p50_range"]), 1),
                     with_range(r["e2e_s"]["p50"], r["e2e_s"]["p50_range"], 1), str(r["max_batch"])])
    notes = [""]
    for r in out:
        if r.get("fits") is False:
            notes.append(f"{r['hardware']}: {r['note']}")
            continue
        batches = " ".join(str(x["batch"]) for x in r["batch_over_time"])
        notes.append(f"{r['hardware']}: {r['evidence']}; scheduler max_num_seqs {cell(r['max_num_seqs'])}, "
                     f"max_num_batched_tokens {r['max_num_batched_tokens']}, chunked prefill "
                     f"{'on' if r['chunked_prefill'] else 'off'}{', prefill steps first' if r.get('prefill_first') else ''}"
                     f" ({r['scheduler_limits']}; engines.yaml); KV cache {r['kv_capacity_tokens']:,} tokens; "
                     f"{r['steps']:,} steps over {r['duration_s']:.1f} s; batch over time: {batches}")
    sys.stdout.write(render_table(cols, rows, title=title, notes=notes))


# ---------------------------------------------------------------------------- capacity
def cmd_capacity(args) -> int:
    from bench.analysis import capacity, exhibit63
    from bench.catalog import models as catalog

    req = requests.CapacityRequest.from_flags(vars(args))
    if req.scenario == "exhibit63":
        doc = exhibit63.doc()
        if req.format == "json":
            print(jsonout.dumps(doc))
        else:
            _print_exhibit(doc)
        return 0
    ids = req.chip_ids
    from bench.analysis import profiles

    m = catalog.get_model(req.model)
    asked.fits_context(m, req.input_tokens, req.output_tokens)
    chips = asked.chips(ids, "--compare" if req.compare else "--hardware", exactly=2 if req.compare else None)
    sw = asked.sw_efficiency(req.sw_efficiency, chips)
    names = asked.profile_names(req.profile, chips)
    dtype = capacity.common_dtype(chips) if req.dtype == "best" else req.dtype  # one dtype unless asked
    replica = req.replica_accelerators  # one size on every chip unless asked (several chips: the largest minimum)
    if replica is None and req.tok_s_per_accelerator is None and len(chips) > 1:
        replica = capacity.common_replica(m, chips, dtype, req.input_tokens, req.output_tokens)
    rows = [capacity.chip_capacity(
        m, chip, req.input_tokens, req.output_tokens, "best" if dtype == "best-each" else dtype,
        power_w=req.power_mw * 1e6 if req.power_mw is not None else None, accelerators=req.accelerators,
        tokens_per_day=req.tokens_per_day, tok_s_per_accelerator=req.tok_s_per_accelerator,
        replica_accelerators=replica, pue=req.pue, utilisation=req.utilisation,
        sw_efficiency=sw.get(chip.id, 1.0), rental_usd_per_hour=req.rental_usd_per_hour,
        profile=profiles.for_engine(profiles.catalog_profiles(), chip.id, req.engine, names.get(chip.id)),
        engine=checks.engine_class(req.engine))
        for chip in chips]
    text = jsonout.dumps({"rows": rows})  # refuses NaN/inf in any format
    if req.format == "json":
        print(text)
        return 0
    _print_side_by_side(rows, chosen_replica=req.replica_accelerators is not None, rental=req.rental_usd_per_hour)
    return 0


def _print_side_by_side(rows: list[dict], chosen_replica: bool = False, rental: float | None = None) -> None:
    from bench.present import Col, render_table, with_range

    title = (f"fleet capacity — {rows[0]['model']}, {rows[0]['input_tokens']} in / {rows[0]['output_tokens']} out "
             f"({rows[0]['provenance']} throughput)")
    cols = [Col("", "left", key=True)] + [Col(r["hardware"]) for r in rows]
    rows = [{**r, "tpot_ms": r.get("tpot_s") and r["tpot_s"] * 1e3,
             "tokens_per_day_bn": r.get("tokens_per_day") and r["tokens_per_day"] / 1e9,
             "tokens_per_day_bn_range": r.get("tokens_per_day_range") and [x / 1e9 for x in r["tokens_per_day_range"]]}
            for r in rows]
    lines = [("dtype", "dtype", None), ("accelerators", "accelerators", 0),
             ("replica (accelerators)", "replica_accelerators", 0), ("batch per replica", "batch", 0),
             ("facility MW", "facility_power_mw", 1), ("EFLOPS (dtype peak)", "compute_eflops", 2),
             ("TWh / year", "electricity_twh_per_year", 2),
             ("out tok/s per accelerator", "output_tok_s_per_accelerator", 1), ("TPOT ms", "tpot_ms", 1),
             ("out tokens / day (bn)", "tokens_per_day_bn", 0), ("out tok/s per MW (IT)", "tokens_s_per_mw_it", 0),
             ("bound", "bound", None),
             ("$/M out (own rate)" if rental is None else "$/M out (given rental)", "usd_per_mtok_output", 4)]
    body = [[label, *[with_range(r.get(key), r.get(f"{key}_range"), d or 0) if r.get(f"{key}_range")
                      else cell(r.get(key), d or 0) for r in rows]] for label, key, d in lines
            if any(r.get(key) is not None for r in rows)]
    dtypes = sorted({r["dtype"] for r in rows})
    notes = ["", f"dtype: {dtypes[0]} on every chip" if len(dtypes) == 1 else
             "dtype: " + ", ".join(f"{r['hardware']} {r['dtype']}" for r in rows) + " (each chip its own)"]
    replicas = {r.get("replica_accelerators") for r in rows} - {None}
    if len(rows) > 1 and len(replicas) == 1:
        notes.append(f"replica: {replicas.pop()} accelerators on every chip " + (
            "(--replica-accelerators)" if chosen_replica else
            "(the smallest power of two that holds one request on each; --replica-accelerators N to choose)"))
    if rental is not None and len(rows) > 1:
        notes.append(f"--rental-usd-per-hour: one rental, ${rental:.2f}/h, charged for every chip "
                     f"({', '.join(r['hardware'] for r in rows)}), not each chip's own")
    notes += [f"{r['hardware']} ({r['dtype']}): {r.get('evidence', 'throughput given (--tok-s-per-accelerator)')}; "
              f"price: {r.get('pricing')}" for r in rows]
    sys.stdout.write(render_table(cols, body, title=title, notes=notes))


def _print_exhibit(doc: dict) -> None:
    from bench.present import Col, fmt, render_table, with_range

    def printed(v) -> str:  # the report's figure as printed, with separators
        return f"{v:,}" if isinstance(v, int) else fmt(v)

    out = []
    cols = [Col(h, "left" if h == "scenario" else "right", key=h in ("scenario", "year"))
            for h in ("scenario", "year", "power MW", "printed", "TWh", "printed", "EFLOPS FP16", "printed", "max err")]
    by = {(x["scenario"], x["year"], x["metric"]): x for x in doc["check"]}
    rows = []
    for r in doc["rows"]:
        k = (r["scenario"], r["year"])
        errs = [abs(by[(*k, mm)]["rel_error"]) for mm in ("power_mw", "electricity_twh", "compute_eflops_fp16")]
        rows.append([r["scenario"], str(r["year"]), f"{r['power_mw']:,.0f}", printed(by[(*k, 'power_mw')]['printed']),
                     f"{r['electricity_twh']:,.1f}", printed(by[(*k, 'electricity_twh')]['printed']),
                     f"{r['compute_eflops_fp16']:,.0f}", printed(by[(*k, 'compute_eflops_fp16')]['printed']),
                     f"{100 * max(errs):.1f}%"])
    out.append(render_table(cols, rows, title="Exhibit 63 rebuilt (reference-model: the report's assumptions, "
                                              "recomputed; printed value and error beside)"))
    heads = ("model", "workload", "chip", "profile (rows)", "dtype", "replica", "batch", "bound", "out tok/s/acc",
             "datasheet tok/s/acc", "out tokens/day (bn)", "out tok/s per MW")
    cols = [Col(h, "left" if h in ("model", "workload", "chip", "dtype", "bound", "profile (rows)") else "right",
                key=h in ("model", "workload", "chip")) for h in heads]
    rows = []
    for r in doc["token_rows"]:
        day = r["output_tokens_per_day_range"]
        rows.append([r["model"], r["workload"], r["scenario"], f"{r['profile']} ({r['profile_rows']})", r["dtype"],
                     str(r["replica_accelerators"]), str(r["batch"]), r["bound"],
                     with_range(r["output_tok_s_per_accelerator"], r["output_tok_s_per_accelerator_range"]),
                     fixed(r["output_tok_s_per_accelerator_datasheet"], 0),
                     fmt(r["output_tokens_per_day"] / 1e9, 3)
                     + (f" ({fmt(day[0] / 1e9, 3)}–{fmt(day[1] / 1e9, 3)})" if day else ""),
                     with_range(r["output_tokens_s_per_mw"], r["output_tokens_s_per_mw_range"])])
    out.append(render_table(cols, rows, title="Beyond the exhibit: the same fleets in tokens (PROJECTED with fitted "
                                              "profiles; 80 % band)"))
    cols = [Col(h, "left" if h in ("model", "workload") else "right", key=h in ("model", "workload"))
            for h in ("model", "workload", "gap", "report", "tokens 910b/h20 (band)", "EFLOPS 910b/h20")]
    rows = []
    for g in doc["efficiency_gaps"]:
        b = g["tokens_910b_over_h20_range"]
        rows.append([g["model"], g["workload"], pct(g["efficiency_gap_910b_vs_h20"]), "25-30%",
                     f"{g['tokens_910b_over_h20']:.2f}" + (f" ({b[0]:.2f}–{b[1]:.2f})" if b else ""),
                     fixed(g["eflops_910b_over_h20"])])
    notes = [""] + [f"- {st}" for st in doc["ranking"]] + ["assumptions:"] + [f"- {a}" for a in doc["assumptions"]]
    out.append(render_table(cols, rows, title="Efficiency gap the evidence implies (910B vs H20: 1 - delivered/"
                                              "datasheet of the 910B over the same for the H20), beside the report's "
                                              "25-30 % claim", notes=notes))
    sys.stdout.write("\n".join(out))
