"""The SLO search, a scenario over any online backend: "capacity at SLO".

It probes loads of ``slo_search.num_prompts`` requests at a request rate (or a concurrency) chosen by
:func:`bench.summary.slo.search`, and judges each probe by its good fraction (:func:`bench.summary.slo.goodput` over
:func:`bench.summary.metrics.summarize`'s window). It computes no metric itself. The case's records are the
best passing probe's (else the lowest probe's).
"""
from __future__ import annotations

from bench.summary import metrics
from bench.summary import slo
from bench.measure.backends.base import Measured, OnlineBackend
from bench.measure.workload import CaseWorkload
from bench.summary.metrics import RequestRecord


def probe_point(over: str, x: float, summary: dict, good: dict) -> dict:
    """One probe's row in the ``slo_search.points`` list."""
    return {over: x, "good_fraction": good["good_fraction"], "goodput_rps": good["goodput_rps"],
            "output_tok_s": summary["output_tok_s"], "tpot_p50_s": summary["tpot_s"]["p50"]}


def run(backend: OnlineBackend, workload: CaseWorkload) -> Measured:
    ss = workload.slo_search
    limits = workload.slo_limits_ms
    by_x: dict[float, list[RequestRecord]] = {}
    points = []

    def probe(x: float) -> float | None:
        rate, conc = (x, None) if ss.over == "rate" else (float("inf"), int(x))
        recs = backend.run_load(workload, ss.num_prompts, f"p{x}-", rate, conc)
        summary = metrics.summarize(recs)
        good = slo.goodput(recs, limits, summary["window_s"])
        points.append(probe_point(ss.over, x, summary, good))
        by_x[x] = recs
        return good["good_fraction"]

    result = slo.search(probe, ss.lo, ss.hi, ss.target_fraction, ss.tolerance, ss.budget_s,
                        integer=ss.over == "concurrency")
    block = {"over": ss.over, "target_fraction": ss.target_fraction, "limits_ms": limits,
             "best": result["best"], "stopped_by_budget": result["stopped_by_budget"], "points": points}
    best = result["best"]
    records = by_x.get(best) or (by_x[min(by_x)] if by_x else [])
    return Measured(records, {"slo_search": block})
