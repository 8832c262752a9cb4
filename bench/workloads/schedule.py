"""How long a case's schedule takes at the least, found at preflight before any model loads: a rate of
1e-9 requests/s, a ramp starting there, or a trace whose span (÷ speedup) is a year would otherwise run
for ever. Pure functions over the config's cases and what preflight read from the dataset files.

The figure is the schedule alone (the gaps between sends, the trace's span, the think times), times
the trials; serving time comes on top, so it is a lower bound of the case's duration. Offline cases
(batches) have no schedule and are not bounded here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetShape:
    """What preflight read from a dataset file: its requests, the sessions' first requests (each
    session's first turn follows the arrival process; later turns wait for the answer), its span of
    arrival times after speedup (None: no timestamps), and the longest chain of think times in a session."""

    requests: int
    firsts: int
    span_s: float | None
    think_s: float = 0.0


def ramp_time_s(n_gaps: int, rate_from: float, rate_to: float, over_s: float) -> float:
    """Expected time to make ``n_gaps`` sends at a rate moving linearly from ``rate_from`` to ``rate_to``
    over ``over_s`` and staying at ``rate_to`` after: solve ∫ rate dt = n_gaps."""
    if n_gaps <= 0:
        return 0.0
    during = (rate_from + rate_to) * over_s / 2  # sends made while the rate moves
    if n_gaps > during:
        return over_s + (n_gaps - during) / rate_to
    slope = (rate_to - rate_from) / over_s
    if abs(slope) < 1e-300:
        return n_gaps / rate_from
    # rate_from t + slope t^2 / 2 = n_gaps
    return (-rate_from + math.sqrt(rate_from * rate_from + 2 * slope * n_gaps)) / slope


def case_schedule_s(case, w, shape: DatasetShape | None) -> tuple[float, str] | None:
    """The least time one trial of an online ``case`` (``bench.config.cases.Case``) spends on its schedule
    under the workload section ``w``, and how it was found; None for an offline case."""
    if case.kind == "slo-search":
        return w.slo_search.budget_s, f"slo_search.budget_s {w.slo_search.budget_s:g} s"
    if case.batch_size is not None:  # offline: batches, no schedule
        return None
    n = w.num_prompts if shape is None else min(w.num_prompts, shape.requests)
    firsts = n if shape is None else max(1, min(n, shape.firsts))
    think = 0.0 if shape is None else shape.think_s
    if shape is not None and shape.span_s is not None:
        return shape.span_s + think, f"the trace spans {shape.span_s:,.0f} s after speedup"
    r = w.request_rate_ramp
    if r is not None:
        t = ramp_time_s(firsts - 1, r.from_rps, r.to_rps, r.over_s)
        return t + think, f"{firsts - 1} gaps on a ramp from {r.from_rps:g} to {r.to_rps:g} requests/s"
    rate = case.request_rate
    if rate is None or rate == float("inf"):
        return think, "think times" if think else "no pacing"
    return (firsts - 1) / rate + think, f"{firsts - 1} gaps at {rate:g} requests/s"


def too_long(cases, w, shapes: dict[int, DatasetShape], max_duration_s: float) -> list[str]:
    """One problem per case whose schedule, times its trials, takes longer than ``max_duration_s``."""
    trials = w.until.max_trials if w.until is not None else w.trials
    out = []
    for case in cases:
        found = case_schedule_s(case, w, shapes.get(case.dataset_index))
        if found is None:
            continue
        t, how = found
        total = t * trials
        if total > max_duration_s:
            out.append(f"workload: case {case.case_id}: its schedule takes at least {total:,.0f} s ({how}"
                       f"{f', x {trials} trials' if trials > 1 else ''}), above --max-duration "
                       f"{max_duration_s:,.0f} s; raise the rate, send fewer requests, speed the trace up, or "
                       "pass a larger --max-duration")
    return out


def synthetic_tokens(spec, n: int | None) -> int:
    """Prompt tokens a synthetic source (``prefix``, ``conversation``) builds for ``n`` requests, before any
    clip: a conversation's turn t repeats every earlier message, so its sessions build
    u·T(T+1)/2 + a·T(T-1)/2 tokens each (u, a: user and assistant tokens, T turns). 0 for other kinds."""
    if spec.kind == "prefix":
        n = n or spec.num_prefixes * 8
        return spec.num_prefixes * spec.prefix_tokens + n * (spec.prefix_tokens + spec.suffix_tokens)
    if spec.kind == "conversation":
        t, u, a = spec.turns, spec.user_tokens, spec.assistant_tokens
        return spec.sessions * (u * t * (t + 1) // 2 + a * t * (t - 1) // 2)
    return 0


def too_many_tokens(spec, n: int | None, budget: int) -> str | None:
    """One problem when a synthetic source would build more than ``budget`` prompt tokens."""
    built = synthetic_tokens(spec, n)
    if built <= budget:
        return None
    what = (f"{spec.sessions:,} sessions x {spec.turns:,} turns (each turn repeats its history)"
            if spec.kind == "conversation" else f"{n or spec.num_prefixes * 8:,} requests of "
            f"{spec.prefix_tokens + spec.suffix_tokens:,} tokens")
    return (f"workload.dataset ({spec.kind}): {what} build {built:,} prompt tokens, more than {budget:,} "
            "(bench/config/limits.py MAX_DATASET_TOKENS); use fewer or shorter requests")
