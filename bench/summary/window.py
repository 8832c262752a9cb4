"""The full and the steady-state window of a case (pure functions over request records).

A load has a ramp (requests in flight climbing to their working level) and a drain (the last requests
finishing alone). Throughput, latency and energy over the *full* window mix both in; the *steady*
window leaves them out:

- **closed loop** (a concurrency cap, or an offline batch): from the moment requests in flight first
  reach the target concurrency to the moment they last fall below it (and stay below);
- **open loop** (an arrival rate, no cap, or a cap the load never reaches): from the first completion
  (before it the server only fills up: every request in flight is still in its first service time)
  to the last send (after it no new arrival comes: the drain).

Both windows report the same figures, so throughput, energy and $/M use one window:
``duration_s, requests, output_tokens, output_tok_s, total_tok_s, requests_per_s, {ttft,tpot,e2e}_p50_s
and _p99_s, energy_j, j_per_output_tok``. Tokens are counted where they arrived inside the window;
latencies are of the requests *sent* inside it. Several trials: windows are found per trial and
their figures pooled (durations, tokens and energy summed; latencies over all the requests).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.summary import metrics
from bench.summary.power import trapezoid_j


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    rule: str  # "full", "concurrency", "arrival"

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def in_flight_events(intervals: list[tuple[float, float]]) -> list[tuple[float, int]]:
    """(time, requests in flight just after it) at every send or completion; a completion at the same
    instant as a send is counted first (the slot frees, then refills)."""
    ev = sorted([(s, 1) for s, _ in intervals] + [(d, -1) for _, d in intervals], key=lambda e: (e[0], e[1]))
    out, n = [], 0
    for t, step in ev:
        n += step
        out.append((t, n))
    return out


def concurrency_window(intervals: list[tuple[float, float]], target: int) -> tuple[float, float] | None:
    """[first time in flight ≥ target, last time it drops below target]; None if it never reaches it or
    the window is empty."""
    ev = in_flight_events(intervals)
    start = next((t for t, n in ev if n >= target), None)
    if start is None:
        return None
    end, prev = None, 0
    for t, n in ev:
        if prev >= target > n:
            end = t
        prev = n
    return (start, end) if end is not None and end > start else None


def arrival_window(intervals: list[tuple[float, float]]) -> tuple[float, float] | None:
    """[first completion, last send]; None when every request was sent before the first finished."""
    if not intervals:
        return None
    start, end = min(d for _, d in intervals), max(s for s, _ in intervals)
    return (start, end) if end > start else None


def steady_window(intervals: list[tuple[float, float]], target_concurrency: int | None) -> tuple[Window | None, str]:
    """The steady window of one trial's (send, done) intervals and the reason for its rule (or its absence)."""
    if not intervals:
        return None, "no successful requests"
    if target_concurrency:
        w = concurrency_window(intervals, target_concurrency)
        if w is not None:
            return Window(*w, "concurrency"), f"requests in flight at or above the target of {target_concurrency}"
    w = arrival_window(intervals)
    if w is not None:
        why = "first completion to last send"
        if target_concurrency:
            why += f" (in flight never held {target_concurrency})"
        return Window(*w, "arrival"), why
    return None, "every request was sent before the first one finished: no steady state (all ramp and drain)"


def full_window(intervals: list[tuple[float, float]]) -> Window | None:
    if not intervals:
        return None
    return Window(min(s for s, _ in intervals), max(d for _, d in intervals), "full")


def _tokens_in(r: metrics.RequestRecord, w: Window) -> float:
    """Output tokens of ``r`` that arrived inside ``w``: from token times when known, else spread evenly
    from the first token (one) to the last (the rest)."""
    if r.token_times_s:
        inside = sum(1 for t in r.token_times_s if w.start_s <= t <= w.end_s)
        return r.output_tokens * inside / len(r.token_times_s)
    first, done = r.first_token_s, r.done_s
    if first is None or done is None:
        return 0.0
    n = 1.0 if w.start_s <= first <= w.end_s else 0.0
    if r.output_tokens > 1:
        span = done - first
        if span <= 0:
            n += (r.output_tokens - 1) if w.start_s <= done <= w.end_s else 0
        else:
            overlap = max(0.0, min(done, w.end_s) - max(first, w.start_s))
            n += (r.output_tokens - 1) * overlap / span
    return n


def energy_in(power: list[tuple[float, float]], w: Window) -> float | None:
    """Joules between the window's ends from (time_s, power_w) samples (trapezoid, samples clipped to the
    window, linear interpolation at its edges); None without samples covering it."""
    if len(power) < 2 or power[0][0] > w.start_s or power[-1][0] < w.end_s:
        return None

    def at(t):
        for (t0, p0), (t1, p1) in zip(power, power[1:]):
            if t0 <= t <= t1:
                return p0 if t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)
        return None

    inner = [(t, p) for t, p in power if w.start_s < t < w.end_s]
    return trapezoid_j([(w.start_s, at(w.start_s)), *inner, (w.end_s, at(w.end_s))])


def _ok(records: list[metrics.RequestRecord]) -> list[metrics.RequestRecord]:
    return [r for r in records if r.success and r.done_s is not None]


def figures(trials: list[tuple[list[metrics.RequestRecord], Window | None, list[tuple[float, float]] | None]]) -> dict | None:
    """Throughput, latency and energy over each trial's window, pooled over the trials (see module doc).
    Each trial is (records, window, power samples or None). None when no trial has a window."""
    dur = out_tok = in_tok = 0.0
    n_req = 0
    ttft, tpot, e2e = [], [], []
    energy: float | None = 0.0
    used = 0
    for records, w, power in trials:
        if w is None:
            continue
        used += 1
        ok = _ok(records)
        dur += w.duration_s
        out_tok += sum(_tokens_in(r, w) for r in ok)
        in_tok += sum(r.input_tokens for r in ok if r.first_token_s is not None and w.start_s <= r.first_token_s <= w.end_s)
        sent = [r for r in ok if w.start_s <= r.submitted_s <= w.end_s]
        n_req += len(sent)
        ttft += [metrics.ttft_s(r) for r in sent]
        tpot += [metrics.tpot_s(r) for r in sent]
        e2e += [metrics.e2e_s(r) for r in sent]
        e = energy_in(power, w) if power else None
        energy = None if e is None or energy is None else energy + e
    if not used or dur <= 0:
        return None
    d = {k: metrics.distribution(v) for k, v in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e))}
    return {
        "duration_s": dur, "requests": n_req, "output_tokens": out_tok, "input_tokens": in_tok,
        "output_tok_s": out_tok / dur, "total_tok_s": (out_tok + in_tok) / dur, "requests_per_s": n_req / dur,
        **{f"{k}_{q}_s": d[k][q] for k in ("ttft", "tpot", "e2e") for q in ("p50", "p99")},
        "energy_j": energy, "j_per_output_tok": energy / out_tok if energy is not None and out_tok else None,
    }


def intervals(records: list[metrics.RequestRecord]) -> list[tuple[float, float]]:
    return [(r.submitted_s, r.done_s) for r in _ok(records)]


def window_block(trials: list[list[metrics.RequestRecord]], target_concurrency: int | None,
                 power: list[list[tuple[float, float]] | None] | None = None) -> dict:
    """The case's ``window`` block: ``{full: {...}, steady: {...} | None, steady_rule, steady_note}`` with
    each window's start/end (seconds from the first send of the trial) for the first trial."""
    power = power or [None] * len(trials)
    fulls = [full_window(intervals(recs)) for recs in trials]
    steadies = [steady_window(intervals(recs), target_concurrency) for recs in trials]
    full = figures([(recs, w, p) for recs, w, p in zip(trials, fulls, power)])
    steady = figures([(recs, w, p) for recs, (w, _), p in zip(trials, steadies, power)])
    # the first trial that has a window (an earlier one may have had no success at all)
    k = next((i for i, w in enumerate(fulls) if w is not None), 0)
    first_full, (first_steady, why) = fulls[k] if fulls else None, steadies[k] if steadies else (None, "no trials")
    t0 = first_full.start_s if first_full else 0.0
    if full is not None and first_full is not None:
        full.update(start_s=0.0, end_s=first_full.duration_s)
    if steady is not None and first_steady is not None:
        steady.update(start_s=first_steady.start_s - t0, end_s=first_steady.end_s - t0)
    return {"full": full, "steady": steady, "steady_rule": first_steady.rule if first_steady else None,
            "steady_note": why, "target_concurrency": target_concurrency}
