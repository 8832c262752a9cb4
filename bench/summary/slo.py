"""Goodput and the SLO search (pure functions).

Goodput = requests/s that meet every latency limit (TTFT, TPOT, E2E in ms). The SLO search finds the
highest request rate (or concurrency) whose good fraction is >= a target, by bisection between lo
and hi within a time budget: "capacity at SLO".
"""
from __future__ import annotations

import time
from typing import Callable

from bench.summary.metrics import RequestRecord, e2e_s, tpot_s, ttft_s


def meets(r: RequestRecord, limits_ms: dict[str, float]) -> bool:
    if not r.success or r.done_s is None:
        return False
    checks = {"ttft_ms": ttft_s(r), "tpot_ms": tpot_s(r), "e2e_ms": e2e_s(r)}
    for key, limit in limits_ms.items():
        v = checks[key]
        if v is not None and v * 1000.0 > limit:
            return False
    return True


def goodput(records: list[RequestRecord], limits_ms: dict[str, float], window_s: float | None) -> dict:
    good = sum(meets(r, limits_ms) for r in records)
    return {"limits_ms": limits_ms, "good_requests": good, "total_requests": len(records),
            "good_fraction": good / len(records) if records else None,
            "goodput_rps": good / window_s if window_s else None}


def search(probe: Callable[[float], float], lo: float, hi: float, target: float, tolerance: float, budget_s: float,
           integer: bool = False, clock: Callable[[], float] = time.monotonic) -> dict:
    """Bisection for the highest x in [lo, hi] with probe(x) >= target (probe returns the good fraction).

    Assumes the fraction falls as load rises. Returns the best passing x (None if even lo fails),
    every probe made, and whether the budget stopped it early."""
    start = clock()
    probes = []

    def run(x):
        f = probe(x)
        probes.append({"x": x, "good_fraction": f, "passed": f is not None and f >= target})
        return probes[-1]["passed"]

    if not run(lo):
        return {"best": None, "probes": probes, "stopped_by_budget": False}
    if run(hi):
        return {"best": hi, "probes": probes, "stopped_by_budget": False}
    good, bad = lo, hi
    budget_hit = False
    while bad / good - 1 > tolerance:
        if clock() - start > budget_s:
            budget_hit = True
            break
        mid = (good + bad) / 2
        if integer:
            mid = int(round(mid))
            if mid in (good, bad):
                break
        if run(mid):
            good = mid
        else:
            bad = mid
    return {"best": good, "probes": probes, "stopped_by_budget": budget_hit}
