"""Raw request records and every metric derived from them (pure functions, no I/O).

Definitions follow the vLLM benchmark and MLPerf Inference conventions:
- TTFT  = first token time - submit time
- TPOT  = (E2E - TTFT) / (output tokens - 1), per request, only when output tokens > 1
- ITL   = every gap between consecutive output tokens, pooled over the requests whose tokens arrived one
          per stream event (a stream that delivers several tokens per event has no inter-token gaps to
          measure: those requests are counted in ``itl_coalesced`` with the reason, never shown as 0 ms)
- E2E   = last token time - submit time
- output throughput = sum of output tokens / wall time of the measured window
A value that was not measured is ``None``, never 0.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class RequestRecord:
    """One request's raw timings, in seconds on one monotonic clock."""

    request_id: str
    input_tokens: int
    output_tokens: int
    submitted_s: float
    token_times_s: list[float] = field(default_factory=list)  # arrival of each output token
    success: bool = True
    error: str | None = None
    batch_id: str | None = None  # requests prefilled together share one batch_id
    # When a backend knows only the first and last token times (vLLM's offline request metrics),
    # it sets these and leaves token_times_s empty: TTFT, TPOT and E2E are known, ITL is not.
    first_token_at_s: float | None = None
    done_at_s: float | None = None
    # Client side (the online load generator; None elsewhere). scheduled_s: when the arrival process
    # meant to send it; queue_wait_s: time it waited for the concurrency cap; send_lag_s: how late it
    # was sent beyond that wait (submitted - scheduled - queue wait: the client falling behind).
    scheduled_s: float | None = None
    queue_wait_s: float | None = None
    send_lag_s: float | None = None
    requested_input_tokens: int | None = None  # what the prompt was built to be (server usage may differ)
    trial: int | None = None  # which trial of the case (workload.trials) measured it
    # Workloads: the first token of the answer itself (after any reasoning_content tokens), and the
    # request's session and turn (multi-turn datasets).
    first_output_at_s: float | None = None
    session_id: str | None = None
    turn: int | None = None
    client: int | None = None  # which client process sent it (workload.clients > 1; None: the one client)

    @property
    def first_token_s(self) -> float | None:
        if self.first_token_at_s is not None:
            return self.first_token_at_s
        return self.token_times_s[0] if self.token_times_s else None

    @property
    def done_s(self) -> float | None:
        if self.done_at_s is not None:
            return self.done_at_s
        return self.token_times_s[-1] if self.token_times_s else None

    @classmethod
    def from_json(cls, d: dict) -> "RequestRecord":
        """A record from requests.jsonl (older files lack the optional fields; derived keys are dropped)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self) -> dict:
        d = asdict(self)
        if d["client"] is None:  # one client: the records stay as they have always been written
            del d["client"]
        d["first_token_s"], d["done_s"] = self.first_token_s, self.done_s
        return d


def ttft_s(r: RequestRecord) -> float | None:
    return None if r.first_token_s is None else r.first_token_s - r.submitted_s


def ttfot_s(r: RequestRecord) -> float | None:
    """Time to first output token: like TTFT, but reasoning tokens do not count."""
    return None if r.first_output_at_s is None else r.first_output_at_s - r.submitted_s


def per_turn(records: list[RequestRecord]) -> list[dict] | None:
    """TTFT by turn of multi-turn sessions (None when no request has a turn): a TTFT that stays flat
    as the history grows shows that the engine reuses the history's KV cache."""
    turns = sorted({r.turn for r in records if r.turn is not None})
    if not turns:
        return None
    ok = [r for r in records if r.success and r.done_s is not None]
    return [{"turn": t, "input_tokens_mean": _mean([r.input_tokens for r in ok if r.turn == t]),
             "ttft_s": distribution([ttft_s(r) for r in ok if r.turn == t])} for t in turns]


def _mean(v: list[float]) -> float | None:
    return sum(v) / len(v) if v else None


def e2e_s(r: RequestRecord) -> float | None:
    return None if r.done_s is None else r.done_s - r.submitted_s


def itls_s(r: RequestRecord) -> list[float]:
    t = r.token_times_s
    return [b - a for a, b in zip(t, t[1:])]


def tpot_s(r: RequestRecord) -> float | None:
    """(E2E − TTFT) / (output tokens − 1), with the server's token count, however the stream was chunked.
    None when the whole output arrived at one instant (first token time = last): no decode time was seen."""
    if r.output_tokens <= 1 or r.done_s is None or r.first_token_s is None or r.done_s <= r.first_token_s:
        return None
    return (e2e_s(r) - ttft_s(r)) / (r.output_tokens - 1)


def one_per_event(r: RequestRecord) -> bool:
    """Whether each output token arrived in its own stream event (distinct arrival times, one per token)."""
    t = r.token_times_s
    return bool(t) and len(t) == r.output_tokens and len(set(t)) == len(t)


def itl_coalesced(ok: list[RequestRecord]) -> dict | None:
    """Why ITL leaves requests out: those with token times whose tokens came several per event."""
    timed = [r for r in ok if r.token_times_s]
    bad = [r for r in timed if not one_per_event(r)]
    if not bad:
        return None
    ex = bad[0]
    return {"requests": len(bad), "of": len(timed),
            "reason": f"tokens arrived coalesced in {len(bad)} of {len(timed)} requests (e.g. {ex.output_tokens} "
                      f"tokens in {len(set(ex.token_times_s))} stream event(s)): ITL needs one token per event, so "
                      "those requests are left out of it" + ("" if len(bad) < len(timed) else "; none is left")}


def tok_s_per_user(tpot: float | None) -> float | None:
    """Interactivity: tokens/s one user sees, 1 / TPOT (measured p50, or projected); None if TPOT is not known."""
    return 1.0 / tpot if tpot else None


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


DIST_KEYS = ("n", "mean", "p50", "p90", "p99", "min", "max", "stdev")


def distribution(values: list[float]) -> dict:
    """n, mean, p50, p90, p99, min, max and sample stdev; all None (n=0) when nothing was measured."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return {k: (0 if k == "n" else None) for k in DIST_KEYS}
    mean = sum(v) / len(v)
    stdev = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return {"n": len(v), "mean": mean, "p50": percentile(v, 50), "p90": percentile(v, 90),
            "p99": percentile(v, 99), "min": v[0], "max": v[-1], "stdev": stdev}


def _ratio(num: float, den: float | None) -> float | None:
    return num / den if den else None


def summarize(records: list[RequestRecord]) -> dict:
    """Latency distributions (seconds) and throughputs over the measured window of ``records``."""
    ok = [r for r in records if r.success and r.done_s is not None]
    out: dict = {
        "requests": {"total": len(records), "succeeded": len(ok), "failed": len(records) - len(ok)},
        "ttft_s": distribution([ttft_s(r) for r in ok]),
        "tpot_s": distribution([tpot_s(r) for r in ok]),
        "itl_s": distribution([x for r in ok if one_per_event(r) for x in itls_s(r)]),
        "e2e_s": distribution([e2e_s(r) for r in ok]),
    }
    coalesced = itl_coalesced(ok)
    if coalesced is not None:
        out["itl_coalesced"] = coalesced
    if any(r.first_output_at_s is not None for r in records):
        out["ttfot_s"] = distribution([ttfot_s(r) for r in ok])
    if any(r.send_lag_s is not None for r in records):  # online: how late each request left (see RequestRecord)
        out["send_lag_s"] = distribution([r.send_lag_s for r in records if r.send_lag_s is not None])
    turns = per_turn(records)
    if turns is not None:
        out["turns"] = turns
    if not ok:
        out.update(window_s=None, output_tok_s=None, total_tok_s=None, requests_per_s=None,
                   prefill_tok_s=None, output_tokens=0, input_tokens=0)
        return out
    window = max(r.done_s for r in ok) - min(r.submitted_s for r in ok)
    n_out = sum(r.output_tokens for r in ok)
    n_in = sum(r.input_tokens for r in ok)
    # Prefill: requests prefilled together (one batch) count their shared prefill time once.
    batches: dict[str, tuple[float, int]] = {}
    for r in ok:
        if ttft_s(r) is None:
            continue
        key = r.batch_id or r.request_id
        t, n = batches.get(key, (ttft_s(r), 0))
        batches[key] = (max(t, ttft_s(r)), n + r.input_tokens)
    prefill_time = sum(t for t, _ in batches.values())
    if all(x.batch_id is None for x in ok):  # independent requests (online load): no prefill/decode split
        prefill_time = None
        n_prefill = 0
    else:
        n_prefill = sum(n for _, n in batches.values())
    out.update(
        window_s=window, output_tokens=n_out, input_tokens=n_in,
        output_tok_s=_ratio(n_out, window), total_tok_s=_ratio(n_out + n_in, window),
        requests_per_s=_ratio(len(ok), window),
        prefill_tok_s=_ratio(n_prefill, prefill_time) if prefill_time else None,
    )
    return out
