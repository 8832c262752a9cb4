"""Goodput, the SLO search (bisection within a budget), and the server-side Prometheus counters."""

from bench.config.schema import SLO_PRESETS, Slo
from bench.summary.metrics import RequestRecord
from bench.measure.endpoint.server import parse_prometheus, server_deltas
from bench.summary.slo import goodput, meets, search


def rec(ttft, gaps, ok=True):
    """A request submitted at t=0, first token at ttft, then one token per gap (seconds)."""
    times = [ttft]
    for g in gaps:
        times.append(times[-1] + g)
    return RequestRecord(request_id="r", input_tokens=4, output_tokens=len(times), submitted_s=0.0,
                         token_times_s=times, success=ok)


def test_meets_checks_every_limit():
    r = rec(0.5, [0.1] * 10)  # TTFT 500 ms, TPOT 100 ms, E2E 1500 ms
    assert meets(r, {"ttft_ms": 500.001, "tpot_ms": 100.001, "e2e_ms": 1500.001})
    assert not meets(r, {"ttft_ms": 499})
    assert not meets(r, {"tpot_ms": 99})
    assert not meets(r, {"e2e_ms": 1499})
    assert not meets(rec(0.1, [0.01], ok=False), {"ttft_ms": 1000})


def test_goodput_hand_computed():
    recs = [rec(0.2, [0.05] * 4), rec(0.3, [0.05] * 4), rec(3.0, [0.05] * 4), rec(0.2, [0.5] * 4)]
    g = goodput(recs, {"ttft_ms": 2000, "tpot_ms": 100}, window_s=2.0)
    assert g["good_requests"] == 2 and g["total_requests"] == 4
    assert g["good_fraction"] == 0.5 and g["goodput_rps"] == 1.0


def test_mlperf_presets_and_overrides():
    assert Slo(preset="mlperf-llama2-70b").limits_ms() == {"ttft_ms": 2000, "tpot_ms": 200}
    assert Slo(preset="mlperf-llama2-70b", tpot_ms=50).limits_ms() == {"ttft_ms": 2000, "tpot_ms": 50}
    assert "mlperf-llama3.1-8b" in SLO_PRESETS


def fraction_falling_past(threshold):
    calls = []

    def probe(x):
        calls.append(x)
        return 1.0 if x <= threshold else 0.5

    return probe, calls


def test_search_bisects_to_the_highest_passing_rate():
    probe, calls = fraction_falling_past(7.3)
    out = search(probe, 1.0, 16.0, target=0.9, tolerance=0.02, budget_s=60)
    assert 7.3 / 1.02 <= out["best"] <= 7.3 and not out["stopped_by_budget"]
    assert calls[:2] == [1.0, 16.0]


def test_search_over_integers():
    probe, calls = fraction_falling_past(11)
    out = search(probe, 1, 64, target=0.9, tolerance=0.01, budget_s=60, integer=True)
    assert out["best"] == 11 and all(isinstance(c, int) for c in calls[2:])


def test_search_edges_and_budget():
    assert search(lambda x: 0.0, 1, 8, 0.9, 0.1, 60)["best"] is None  # even lo fails
    assert search(lambda x: 1.0, 1, 8, 0.9, 0.1, 60)["best"] == 8  # hi passes: capacity is at least hi
    ticks = iter(range(0, 1000, 10))  # each clock read advances 10 s
    probe, calls = fraction_falling_past(7.3)
    out = search(probe, 1.0, 16.0, 0.9, 0.001, budget_s=25, clock=lambda: next(ticks))
    assert out["stopped_by_budget"] and out["best"] <= 7.3 and len(calls) < 8


PROM = """# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 100.0
vllm:generation_tokens_total{engine="1",model_name="m"} 20.0
vllm:prompt_tokens_total{engine="0",model_name="m"} 50
vllm:request_success_total{finished_reason="length",model_name="m"} 4
vllm:request_success_total{finished_reason="stop",model_name="m"} 1
vllm:num_preemptions_total{model_name="m"} 0
vllm:kv_cache_usage_perc{model_name="m"} 0.25
garbage line
"""


def test_prometheus_text_sums_labels():
    m = parse_prometheus(PROM)
    assert m["vllm:generation_tokens_total"] == 120.0
    assert m["vllm:request_success_total"] == 5.0
    assert m["vllm:kv_cache_usage_perc"] == 0.25


def test_server_deltas_and_gauge_peaks():
    before = parse_prometheus(PROM)
    after = dict(before, **{"vllm:generation_tokens_total": 184.0, "vllm:request_success_total": 7.0,
                            "vllm:kv_cache_usage_perc": 0.0})
    samples = [{"vllm:kv_cache_usage_perc": 0.4, "vllm:num_requests_running": 3.0},
               {"vllm:kv_cache_usage_perc": 0.7}]
    d = server_deltas(before, after, samples)
    assert d["generation_tokens"] == 64.0 and d["request_success"] == 2.0 and d["prompt_tokens"] == 0.0
    assert d["kv_cache_usage_peak"] == 0.7 and d["requests_running_peak"] == 3.0
    assert d["requests_waiting_peak"] is None  # absent on this server: not measured, not 0
    assert d["scrapes"] == 2


def test_counters_absent_are_none():
    assert server_deltas({}, {})["generation_tokens"] is None
