"""The online load generator against a scripted local SSE server: timings from chunk arrival, token
counts from usage (or the tokenizer), failures as records, arrival processes, the concurrency cap."""
import statistics

import pytest

from bench.summary import metrics
from bench.measure.endpoint.loadgen import LoadSpec, Request, arrival_gaps, request_body, run_load
from fake_openai import FakeOpenAI

pytestmark = pytest.mark.server  # test tier (pyproject markers): `make test-fast` leaves it out


def reqs(n, out=5, prompt="a b c d"):
    return [Request(f"r{i}", prompt, len(prompt.split()), out) for i in range(n)]


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(delay_s=0.003, slow_s=1.5) as s:
        yield s


def spec(server, model="ok", **kw):
    return LoadSpec(base_url=server.base_url, model=model, **kw)


def test_streamed_request_times_every_chunk_and_takes_counts_from_usage(server):
    [r] = run_load(spec(server), reqs(1, out=6))
    assert r.success and r.error is None
    assert r.output_tokens == 6 and r.input_tokens == 4  # from the usage chunk
    assert len(r.token_times_s) == 6  # the usage-only chunk (choices: []) is not a token
    assert r.submitted_s < r.token_times_s[0] <= r.token_times_s[-1]
    # e2e - ttft == sum of the inter-token gaps, and each gap is at least the server's delay
    assert metrics.e2e_s(r) - metrics.ttft_s(r) == pytest.approx(sum(metrics.itls_s(r)))
    assert min(metrics.itls_s(r)) >= 0.002


def test_chat_endpoint_streams_deltas(server):
    [r] = run_load(spec(server, endpoint="chat"), reqs(1, out=3))
    assert r.success and r.output_tokens == 3 and len(r.token_times_s) == 3
    assert "messages" in server.bodies[-1] and "prompt" not in server.bodies[-1]


def test_without_usage_the_tokenizer_counts(server):
    seen = []

    def count(text):
        seen.append(text)
        return len(text.split())

    [r] = run_load(spec(server, model="nousage"), reqs(1, out=4), count_tokens=count)
    assert r.success and r.output_tokens == 4 and seen == [" t0 t1 t2 t3"]


def test_request_body_asks_for_usage_and_exact_lengths(server):
    body = request_body(spec(server), Request("x", [1, 2, 3], 3, 7))
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 7 and body["min_tokens"] == 7 and body["ignore_eos"] is True
    assert body["prompt"] == [1, 2, 3]
    assert "ignore_eos" not in request_body(spec(server, ignore_eos=False), Request("x", "p", 1, 7))


@pytest.mark.parametrize("model,reason", [
    ("http500", "HTTP 500"),
    ("malformed", "malformed chunk"),
    ("drop", "stream ended without [DONE]"),
])
def test_failures_are_records_not_crashes(server, model, reason):
    [r] = run_load(spec(server, model=model), reqs(1))
    assert not r.success and reason in r.error


def test_timeout_is_a_failed_record(server):
    [r] = run_load(spec(server, model="slow", timeout_s=0.3), reqs(1))
    assert not r.success and r.error.startswith("timeout")


def test_unreachable_server_is_a_failed_record():
    [r] = run_load(LoadSpec(base_url="http://127.0.0.1:9/v1", model="ok", timeout_s=2), reqs(1))
    assert not r.success and "Connect" in r.error


def test_failed_requests_are_counted_and_left_out_of_latencies(server):
    ok = run_load(spec(server), reqs(3))
    bad = run_load(spec(server, model="http500"), reqs(2))
    s = metrics.summarize(ok + bad)
    assert s["requests"] == {"total": 5, "succeeded": 3, "failed": 2}
    assert s["ttft_s"]["n"] == 3 and s["e2e_s"]["n"] == 3


def test_concurrency_cap_is_respected(server):
    import time

    deadline = time.monotonic() + 10
    while server.in_flight and time.monotonic() < deadline:  # the timed-out request may still be streaming
        time.sleep(0.05)
    server.max_in_flight = 0
    recs = run_load(spec(server, max_concurrency=2), reqs(8, out=8))
    assert all(r.success for r in recs)
    assert server.max_in_flight == 2


def test_api_key_goes_in_the_header(server):
    run_load(spec(server, headers={"Authorization": "Bearer sk-test"}), reqs(1))
    assert server.auth_headers[-1] == "Bearer sk-test"


# ---------------------------------------------------------------- arrivals (pure)
def test_infinite_rate_sends_everything_at_once():
    assert arrival_gaps(4, float("inf"), "poisson", 1.0, 0) == [0.0] * 4


def test_constant_rate_is_exact():
    assert arrival_gaps(4, 2.0, "constant", 1.0, 0) == [0.0, 0.5, 0.5, 0.5]


def test_poisson_gaps_are_seeded_with_the_right_mean():
    a = arrival_gaps(4001, 10.0, "poisson", 1.0, seed=3)
    assert a == arrival_gaps(4001, 10.0, "poisson", 1.0, seed=3)
    assert a != arrival_gaps(4001, 10.0, "poisson", 1.0, seed=4)
    gaps = a[1:]
    assert statistics.mean(gaps) == pytest.approx(0.1, rel=0.05)
    assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(1.0, rel=0.07)  # exponential: CV 1


def test_gamma_burstiness_sets_the_spread_not_the_mean():
    # gamma with shape k: mean 1/rate, coefficient of variation 1/sqrt(k)
    for k in (0.25, 4.0):
        gaps = arrival_gaps(4001, 5.0, "gamma", k, seed=1)[1:]
        assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.08)
        assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(k ** -0.5, rel=0.1)


def test_rate_paces_the_requests(server):
    recs = run_load(spec(server, rate=20.0, arrival="constant"), reqs(5, out=1))
    starts = sorted(r.submitted_s for r in recs)
    assert starts[-1] - starts[0] == pytest.approx(0.2, abs=0.08)


def test_text_prompts_re_encode_to_the_asked_length():
    import random

    from transformers import AutoTokenizer

    from bench.measure.backends.openai.http_endpoint import EndpointBackend
    from bench.config.schema import OpenAIBackend
    from bench.measure.prompts import text_of_length
    from bench.catalog.tiny import build_tiny

    tok = AutoTokenizer.from_pretrained(str(build_tiny("llama")), local_files_only=True)
    backend = EndpointBackend(OpenAIBackend(kind="openai"))
    backend.tokenizer = tok
    vocab = backend._prompt_vocab()
    assert 64 <= len(vocab) < len(tok) and not set(vocab) & set(tok.all_special_ids)
    rng = random.Random(0)
    encode = lambda t: tok.encode(t, add_special_tokens=False)  # noqa: E731
    naive, fitted = [], []
    for target in (1, 8, 32, 100, 1000):
        for _ in range(20):
            ids = [rng.choice(vocab) for _ in range(target)]
            naive.append(len(encode(tok.decode(ids))) - target)
            text, n = text_of_length(ids, target, encode, tok.decode, lambda: rng.choice(vocab))
            assert n == len(encode(text))
            fitted.append(n - target)
    assert any(d != 0 for d in naive)  # decoding random ids alone does not keep the length
    assert fitted == [0] * 100


# ---------------------------------------------------------------- client-side waiting (coordinated omission)
def test_queue_wait_and_send_lag_are_recorded_apart(server):
    import time

    deadline = time.monotonic() + 10
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    client = {}
    # 6 requests all due at once, cap 2, each streaming 8 chunks at ~3 ms: 3 waves, so the third wave
    # waits for the cap about two request times; none is late beyond that wait
    recs = run_load(spec(server, max_concurrency=2), reqs(6, out=8), client=client)
    assert all(r.success for r in recs)
    waits = sorted(r.queue_wait_s for r in recs)
    e2e = sorted(metrics.e2e_s(r) for r in recs)
    assert waits[0] < 0.01 and waits[1] < 0.01  # the first wave does not wait
    assert waits[-1] >= e2e[0]  # the last wave waited at least one full request
    for r in recs:
        # E2E stays server-facing: it starts at the actual send, after the wait
        assert r.submitted_s == pytest.approx(r.scheduled_s + r.queue_wait_s + r.send_lag_s, abs=1e-6)
        assert r.send_lag_s < 0.05 and r.requested_input_tokens == 4
    assert client["loop_lag_s"] and min(client["loop_lag_s"]) >= 0
    assert 0 < client["cpu_s"] and client["wall_s"] > 0


def test_open_loop_send_times_follow_the_schedule(server):
    recs = run_load(spec(server, rate=20.0, arrival="constant"), reqs(5, out=1))
    sched = sorted(r.scheduled_s for r in recs)
    assert [b - a for a, b in zip(sched, sched[1:])] == pytest.approx([0.05] * 4)
    assert all(r.queue_wait_s == 0.0 and r.send_lag_s < 0.05 for r in recs)
