"""Metrics against hand-computed numbers, and the scripted-clock invariant e2e - ttft == sum(itl)."""
import math
import random

import pytest

from bench.summary.metrics import (RequestRecord, distribution, e2e_s, itls_s, percentile, summarize, tpot_s,
                           ttft_s)


def rec(rid, submitted, times, n_in=10, batch=None, success=True):
    return RequestRecord(request_id=rid, input_tokens=n_in, output_tokens=len(times), submitted_s=submitted,
                         token_times_s=list(times), batch_id=batch, success=success)


def test_single_request_by_hand():
    r = rec("a", 1.0, [1.5, 1.7, 2.0, 2.5])
    assert ttft_s(r) == pytest.approx(0.5)
    assert e2e_s(r) == pytest.approx(1.5)
    assert itls_s(r) == pytest.approx([0.2, 0.3, 0.5])
    assert tpot_s(r) == pytest.approx((1.5 - 0.5) / 3)


def test_tpot_is_none_for_one_token():
    assert tpot_s(rec("a", 0.0, [0.4])) is None


def test_percentiles_linear_interpolation():
    v = [1.0, 2.0, 3.0, 4.0]
    assert percentile(v, 50) == pytest.approx(2.5)
    assert percentile(v, 90) == pytest.approx(3.7)
    assert percentile(v, 99) == pytest.approx(3.97)
    assert percentile([7.0], 99) == 7.0


def test_distribution_by_hand_and_empty_is_none_not_zero():
    d = distribution([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert d["n"] == 8 and d["mean"] == pytest.approx(5.0)
    assert d["min"] == 2.0 and d["max"] == 9.0 and d["p50"] == pytest.approx(4.5)
    assert d["stdev"] == pytest.approx(math.sqrt(32 / 7))
    empty = distribution([])
    assert empty["n"] == 0 and all(empty[k] is None for k in ("mean", "p50", "p99", "min", "max", "stdev"))


def test_summary_throughput_by_hand():
    # two batches of two requests, run one after the other; 3 output tokens each, 10 input tokens each
    recs = [rec("a", 0.0, [1.0, 1.5, 2.0], batch="b0"), rec("b", 0.0, [1.0, 1.5, 2.0], batch="b0"),
            rec("c", 2.0, [2.5, 3.0, 4.0], batch="b1"), rec("d", 2.0, [2.5, 3.0, 4.0], batch="b1")]
    s = summarize(recs)
    assert s["window_s"] == pytest.approx(4.0)
    assert s["output_tok_s"] == pytest.approx(12 / 4.0)
    assert s["total_tok_s"] == pytest.approx((12 + 40) / 4.0)
    assert s["requests_per_s"] == pytest.approx(1.0)
    # prefill: 20 tokens in 1.0 s (batch 0) + 20 tokens in 0.5 s (batch 1)
    assert s["prefill_tok_s"] == pytest.approx(40 / 1.5)
    assert s["ttft_s"]["mean"] == pytest.approx(0.75)


def test_failed_requests_are_counted_and_excluded():
    s = summarize([rec("a", 0.0, [1.0, 2.0]), RequestRecord("b", 5, 2, 0.0, [], success=False, error="boom")])
    assert s["requests"] == {"total": 2, "succeeded": 1, "failed": 1}
    assert s["e2e_s"]["n"] == 1


def test_nothing_measured_gives_none_never_zero():
    s = summarize([])
    for k in ("output_tok_s", "total_tok_s", "requests_per_s", "prefill_tok_s", "window_s"):
        assert s[k] is None


def test_scripted_clock_e2e_minus_ttft_equals_sum_itl():
    rng = random.Random(7)
    for i in range(200):
        t = rng.uniform(0, 100)
        submitted = t
        times = []
        for _ in range(rng.randint(1, 40)):
            t += rng.expovariate(50)
            times.append(t)
        r = rec(str(i), submitted, times)
        assert e2e_s(r) - ttft_s(r) == pytest.approx(sum(itls_s(r)), abs=1e-9)


def test_tpot_does_not_depend_on_chunking_and_itl_needs_one_token_per_event():
    from bench.summary.metrics import RequestRecord, summarize, tpot_s

    # 16 tokens (the server's count) over 4 events at 1.0, 1.1, 1.2, 1.3 s, submitted at 0: TPOT = 0.3 / 15
    chunked = RequestRecord("a", 8, 16, 0.0, token_times_s=[1.0, 1.0, 1.0, 1.0, 1.1, 1.1, 1.1, 1.1, 1.2, 1.2, 1.2,
                                                             1.2, 1.3, 1.3, 1.3, 1.3])
    assert tpot_s(chunked) == pytest.approx(0.3 / 15)
    # the whole output in one event: no decode time was seen, so no TPOT (never 0)
    one_event = RequestRecord("b", 8, 16, 0.0, token_times_s=[2.0] * 16)
    assert tpot_s(one_event) is None
    # one token per event: ITL is the gaps, 0.1 s each
    steady = RequestRecord("c", 8, 4, 0.0, token_times_s=[1.0, 1.1, 1.2, 1.3])
    s = summarize([chunked, one_event, steady])
    assert s["itl_s"]["n"] == 3 and s["itl_s"]["p50"] == pytest.approx(0.1)
    assert s["tpot_s"]["n"] == 2  # the one-event request has none
    assert s["itl_coalesced"]["requests"] == 2 and s["itl_coalesced"]["of"] == 3
    assert "16 tokens in 4 stream event(s)" in s["itl_coalesced"]["reason"]
    only = summarize([one_event])
    assert only["itl_s"]["n"] == 0 and only["itl_s"]["p50"] is None and only["tpot_s"]["p50"] is None
    assert "none is left" in only["itl_coalesced"]["reason"]
    assert "itl_coalesced" not in summarize([steady])
