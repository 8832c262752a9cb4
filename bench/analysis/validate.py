"""The projection's accuracy statement: leave-one-out over the published catalog (pure functions).

For each usable published row: fit every profile without it, project the row with the profile the projection
would pick for it (its chip/engine profile when that has enough rows, else the chip's, else the pooled fit), and
record the error and whether the band holds the published value. The same for chip-to-chip ratios, where one
engine measured the same model and workload on two chips (both rows left out).
"""
from __future__ import annotations

import statistics

from bench.analysis import profiles as PR

MIN_PARALLEL_ITEMS = 16  # fewer refits run in this process (a worker's start costs more than they take)
_TASK = None  # the function the forked workers of ``in_parallel`` run (inherited, never pickled)


def _run_task(item):
    return _TASK(item)


def in_parallel(fn, items: list) -> list:
    """``[fn(x) for x in items]`` in order, spread over the machine's cores: every leave-one-out refit is
    independent and pure, so forked worker processes give the same numbers in about 1 / cores of the time. Serial
    with one core, few items, or no ``fork`` (the workers inherit ``fn`` and the catalog instead of pickling them)."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    global _TASK
    n = min(len(items), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if n < 2 or len(items) < MIN_PARALLEL_ITEMS or "fork" not in mp.get_all_start_methods():
        return [fn(x) for x in items]
    _TASK = fn
    try:
        with ProcessPoolExecutor(n, mp_context=mp.get_context("fork")) as ex:
            return list(ex.map(_run_task, items, chunksize=max(1, len(items) // (4 * n))))
    finally:
        _TASK = None


def _pick(profiles: dict, chip: str, engine_key: str) -> PR.Profile:
    return profiles[engine_key] if engine_key in profiles else PR.resolve(profiles, chip)


def loo_row(rows, row, extra=None) -> dict:
    """Leave ``row`` out, fit, project it."""
    return project_row(PR.build([r for r in rows if r.id != row.id], extra), row)


def ratio_pairs(rows, held_out: bool = False) -> list[tuple]:
    """Pairs of usable rows (or of held-out rows): same model, dtype, engine, lengths, batch and unit on two chips."""
    key = lambda r: (r.model, r.dtype, r.engine_class, r.input_tokens, r.output_tokens, str(r.batch), r.unit)  # noqa: E731
    us = [r for r in rows if (r.held_out if held_out else r.usable is None)]
    out = []
    for i, a in enumerate(us):
        for b in us[i + 1:]:
            if key(a) == key(b) and a.hardware != b.hardware:
                out.append((a, b))
    return out


def loo_ratio(rows, a, b, profs: dict | None = None) -> dict:
    """Both rows left out of the fit (or ``profs``, profiles already fitted without them), their ratio projected."""
    profs = profs or PR.build([r for r in rows if r.id not in (a.id, b.id)])
    pa, pb = _pick(profs, a.hardware, a.profile_key), _pick(profs, b.hardware, b.profile_key)
    ta, _ = PR.row_terms(a)
    tb, _ = PR.row_terms(b)
    pub = a.per_accelerator_value() / b.per_accelerator_value()
    if ta is None or tb is None:
        return {"pair": f"{a.id} / {b.id}", "published_ratio": pub, "projected_ratio": None, "error": None}
    proj = PR.predict(ta, pa.efficiency) / PR.predict(tb, pb.efficiency)
    return {"pair": f"{a.id} / {b.id}", "chips": f"{a.hardware}/{b.hardware}", "model": a.model,
            "workload": f"{a.input_tokens}/{a.output_tokens}", "published_ratio": pub, "projected_ratio": proj,
            "error": proj / pub - 1}


def summarise(results: list[dict], by: str = "hardware") -> list[dict]:
    """Median |error| and share inside the band, per ``by`` and overall."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        if r.get("error") is None:
            continue
        groups.setdefault(r[by], []).append(r)
        groups.setdefault("all", []).append(r)
    out = []
    for k in sorted(groups, key=lambda x: (x == "all", x)):
        g = groups[k]
        errs = [abs(r["error"]) for r in g]
        inside = [r["inside"] for r in g if r.get("inside") is not None]
        ratios = [r["band_ratio"] for r in g if r.get("band_ratio")]
        out.append({by: k, "rows": len(g), "median_abs_error": statistics.median(errs),
                    "share_inside_band": sum(inside) / len(inside) if inside else None,
                    "median_band_ratio": statistics.median(ratios) if ratios else None,
                    "bands_wider_than_3x": sum(1 for x in ratios if x > 3)})
    return out


def loo_local(rows, extra, i) -> dict:
    """Leave local point ``i`` out (the published rows and the other local points stay in), project it."""
    t, v, chip = extra[i]
    prof = PR.resolve(PR.build(rows, extra[:i] + extra[i + 1:]), chip)
    return {"id": t.row_id, "hardware": chip, "engine": "local", "model": None, "unit": t.unit, "published": v,
            "profile": prof.name, "profile_rows": prof.n_rows, **_score(prof, t, v), "note": "local run"}


def _score(prof: PR.Profile, t, published: float) -> dict:
    """``t`` projected with ``prof``: the value, its band, the error against ``published``, whether the band holds it."""
    proj = PR.predict(t, prof.efficiency)
    band = prof.band(proj)
    return {"projected": proj, "range": band, "error": proj / published - 1,
            "inside": band[0] <= published <= band[1] if band else None,
            "band_ratio": band[1] / band[0] if band else None}


def project_row(profs: dict, row) -> dict:
    """``row`` projected with already-fitted ``profs`` (which must not contain it)."""
    t, why = PR.row_terms(row)
    prof = _pick(profs, row.hardware, row.profile_key)
    pub = row.per_accelerator_value()
    out = {"id": row.id, "hardware": row.hardware, "engine": row.engine_class, "model": row.model,
           "unit": row.unit, "published": pub, "profile": prof.name, "profile_rows": prof.n_rows}
    if t is None:
        return {**out, "projected": None, "range": None, "error": None, "inside": None, "note": why}
    return {**out, **_score(prof, t, pub), "note": None}


def held_out(rows, hardware: str | None = None) -> dict:
    """Rows kept out of the fits on purpose (``exclude: "held out: ..."``), projected by the profiles fitted to
    every usable row: an out-of-sample check, with the same-engine chip ratios among them."""
    profs = PR.build(rows)  # held-out rows are not usable, so never in the fit
    ho = [r for r in rows if r.held_out and (hardware is None or r.hardware == hardware)]
    results = [project_row(profs, r) for r in ho]
    ratios = [loo_ratio(rows, a, b, profs) for a, b in ratio_pairs(rows, held_out=True)
              if hardware is None or hardware in (a.hardware, b.hardware)]
    return {"rows": results, "summary": summarise(results), "ratios": ratios, "ratio_summary": _ratio_summary(ratios),
            "method": "held out: profiles fitted to every usable row; these rows are never in a fit"}


def _mine(r, hardware: str | None, engine: str | None) -> bool:
    return (hardware is None or r.hardware == hardware) and (engine is None or r.engine_class == engine)


def leave_one_source_out(rows, hardware: str | None = None, engine: str | None = None) -> dict:
    """For each publication, fit without all of its rows and project them: how well the projection does on a source
    it has never seen (per-row leave-one-out keeps a row's siblings from the same page in the fit)."""
    mine: dict[str, list] = {}  # each source's usable rows that are asked for
    for r in rows:
        if r.usable is None and _mine(r, hardware, engine):
            mine.setdefault(r.source_key, []).append(r)

    def one(src):
        profs = PR.build([r for r in rows if r.source_key != src])
        return [{**project_row(profs, r), "source": src} for r in mine[src]]

    results = [x for part in in_parallel(one, sorted(mine)) for x in part]
    return {"rows": results, "summary": summarise(results), "sources": len({r["source"] for r in results}),
            "method": "leave-one-source-out: every row of a publication left out together, the profiles refitted"}


def finite_runs(rows, hardware: str | None = None, engine: str | None = None, profs: dict | None = None) -> dict:
    """Rows that describe a finite run (``num_prompts``, ``request_rate``) projected through the whole-run simulation
    (``whole_run``) with the profiles fitted to every usable row and the engine's default scheduler limits. They are
    never fitted (their batch is the engine's own), so this is out of sample. Lengths: the row's stated (mean)
    lengths for every prompt; on ShareGPT, the outputs in ShareGPT's shape with the row's mean
    (``lengths.shaped_lengths``), every prompt the mean input."""
    from bench.analysis import projection, whole_run
    from bench.catalog import engines
    from bench.catalog import hardware as hw
    from bench.catalog import models
    from bench.errors import BenchError
    from bench.workloads.lengths import shaped_lengths

    profs = profs if profs is not None else PR.catalog_profiles()
    out = []
    for r in rows:
        if not r.num_prompts or not _mine(r, hardware, engine):
            continue
        base = {"id": r.id, "hardware": r.hardware, "engine": r.engine_class, "model": r.model, "unit": r.unit,
                "published": r.per_accelerator_value(), "num_prompts": r.num_prompts, "request_rate": r.request_rate}
        chip, m = hw.get_chip(r.hardware), models.get_model(r.model)
        known = r.engine_class in PR.known_engines(profs)
        prof = PR.for_engine(profs, r.hardware, r.engine_class if known else None)
        if not r.unit.startswith("output_tok_s"):  # the simulation's figure to compare is the output rate
            out.append({**base, "profile": prof.name, "profile_rows": prof.n_rows, "projected": None, "range": None,
                        "error": None, "inside": None,
                        "note": f"a finite run is checked on its output tok/s; this row states {r.unit}"})
            continue
        try:
            lim = engines.defaults(r.engine_class, chip, r.engine_version, m.context_length, bool(m.mla))
            w = projection.Shape(r.input_tokens, r.output_tokens, 1, r.accelerators, r.dtype, r.kv_cache_dtype,
                                 r.compute_dtype, parallelism=None)
            rate = None if r.request_rate in (None, "inf") else float(r.request_rate)
            sharegpt = (r.dataset or "").strip().lower().startswith("sharegpt")
            lengths = shaped_lengths(r.num_prompts, r.input_tokens, r.output_tokens, m.context_length) if sharegpt \
                else [(r.input_tokens, r.output_tokens)]
            reqs = whole_run.requests(r.num_prompts, lengths, rate)
            run = whole_run.project_run(m, chip, w, prof, reqs, lim.max_num_seqs, lim.max_num_batched_tokens,
                                        lim.chunked_prefill, lim.source, lim.prefill_first, lim.max_prefill_seqs,
                                        lim.decode_cap_only)
        except BenchError as exc:
            out.append({**base, "profile": prof.name, "profile_rows": prof.n_rows, "projected": None, "range": None,
                        "error": None, "inside": None, "note": str(exc)})
            continue
        proj = run["output_tok_s_per_accelerator"]
        band = run["output_tok_s_per_accelerator_range"]
        lat = {f"{k}_mean_ms": {"published": v, "projected": 1e3 * run[f"{k}_s"]["mean"],
                                "error": 1e3 * run[f"{k}_s"]["mean"] / v - 1}
               for k, v in (("ttft", r.ttft_ms), ("tpot", r.tpot_ms)) if v and run[f"{k}_s"]["mean"] is not None}
        out.append({**base, "profile": prof.name, "profile_rows": prof.n_rows, "projected": proj, "range": band,
                    "error": proj / base["published"] - 1,
                    "inside": band[0] <= base["published"] <= band[1] if band else None,
                    "band_ratio": band[1] / band[0] if band else None, "latency": lat,
                    "note": f"{lim.label}: max_num_seqs {lim.max_num_seqs}, max_num_batched_tokens "
                            f"{lim.max_num_batched_tokens}; max batch {run['max_batch']}"})
    lat_errs = {k: [abs(x["latency"][k]["error"]) for x in out if k in (x.get("latency") or {})]
                for k in ("ttft_mean_ms", "tpot_mean_ms")}
    return {"rows": out, "summary": summarise(out),
            "latency_summary": {k: {"rows": len(v), "median_abs_error": statistics.median(v) if v else None}
                                for k, v in lat_errs.items()},
            "method": "finite runs (num_prompts): the whole-run simulation with the engine's default scheduler limits "
                      "(per engine version) and the profiles fitted to every usable row; ShareGPT rows with ShareGPT's "
                      "output shape at the row's mean; never fitted"}


def _ratio_summary(ratios: list[dict]) -> dict:
    done = [x for x in ratios if x["error"] is not None]
    errs = [abs(x["error"]) for x in done]
    return {"pairs": len(errs), "median_abs_error": statistics.median(errs) if errs else None,
            "within_15pct": sum(1 for e in errs if e <= 0.15),
            "ranking_right": sum(1 for x in done if (x["published_ratio"] > 1) == (x["projected_ratio"] > 1))}


def validate(rows, hardware: str | None = None, extra=None, engine: str | None = None) -> dict:
    """Leave-one-out over usable published rows (and local points ``extra``: (terms, value, chip id)); ``engine``:
    only that engine's rows are checked (the fits still use every row)."""
    use = [r for r in rows if r.usable is None and _mine(r, hardware, engine)]
    results = in_parallel(lambda r: loo_row(rows, r, extra), use)
    extra = extra or []
    results += [loo_local(rows, extra, i) for i in range(len(extra)) if hardware in (None, extra[i][2])
                and engine in (None, "local")]
    pairs = [(a, b) for a, b in ratio_pairs(rows)
             if (hardware is None or hardware in (a.hardware, b.hardware)) and engine in (None, a.engine_class)]
    ratios = in_parallel(lambda ab: loo_ratio(rows, *ab), pairs)
    return {"rows": results, "summary": summarise(results), "ratios": ratios, "ratio_summary": _ratio_summary(ratios),
            "skipped": [{"id": r.id, "why": r.usable} for r in rows if r.usable is not None and _mine(r, hardware, engine)],
            "method": "leave-one-out: each row's profiles are refitted without it (ratios: without both rows)",
            "engine": engine or "field", "finite_runs": finite_runs(rows, hardware, engine, PR.build(rows)),
            "leave_one_source_out": leave_one_source_out(rows, hardware, engine), "held_out": held_out(rows, hardware)}


__all__ = ["validate", "loo_row", "loo_local", "loo_ratio", "ratio_pairs", "summarise", "held_out", "project_row",
           "leave_one_source_out"]
