"""Online workloads against the scripted server: trace replay on schedule (within 5 ms), sessions
(each turn after the previous answer plus think time, TTFT per turn), reasoning streams (TTFT vs time to
first output token), the rate ramp, prefix-cache counters/reset/validity, and the report's send-time
chart — through the load generator and end to end through the CLI."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.summary import metrics
from bench.measure.endpoint.loadgen import LoadSpec, Request, ramp_gaps, run_load, schedule
from conftest import ROOT, cli, run_cli, write_config
from fake_openai import FakeOpenAI

pytestmark = pytest.mark.server  # test tier (pyproject markers): `make test-fast` leaves it out


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(delay_s=0.002) as s:
        yield s


@pytest.fixture(scope="module")
def own_process_server():
    """The fake server in its own process: a server thread in the test process would share the GIL with
    the load generator and delay its sends by itself."""
    p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield p.stdout.readline().strip()
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def _synthetic_arrivals() -> list[float]:
    # 40 requests with irregular gaps (3-57 ms), several in flight at once
    gaps = [0.0] + [0.003 + (i * 37 % 19) * 0.003 for i in range(39)]
    t, arrivals = 0.0, []
    for g in gaps:
        t += g
        arrivals.append(t)
    return arrivals


def _mooncake_sample():
    from bench.workloads.trace import TraceDataset
    from bench.workloads import TokenSource, load_dataset

    ds = load_dataset(TraceDataset(kind="trace", path=str(ROOT / "tests/data/workloads/mooncake-sample.jsonl"),
                                   block_tokens=16), TokenSource(vocab=list(range(3, 300))), 0)
    return [(r.arrival_s, r.input_tokens, r.output_tokens) for r in ds.requests]


def _busy_cores(interval_s: float = 1.0) -> float:
    """Cores busy right now (from /proc/stat over ``interval_s``); the 1-minute load average instead when there
    is no /proc/stat. (The load average trails by a minute: right after the vLLM tests it still says 'busy'.)"""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    try:
        t0, i0 = snap()
        time.sleep(interval_s)
        t1, i1 = snap()
    except OSError:
        return os.getloadavg()[0]
    cores = os.cpu_count() or 1
    return cores * (1 - (i1 - i0) / max(t1 - t0, 1))


def _wait_for_a_free_core(timeout_s: float = 60.0) -> float:
    """Wait (up to ``timeout_s``) until at least one core is idle; returns the busy cores last seen."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + timeout_s
    busy = _busy_cores()
    while busy > cores - 1 and time.monotonic() < deadline:
        busy = _busy_cores()
    return busy


@pytest.mark.parametrize("trace", ["synthetic", "mooncake-sample"])
def test_trace_replay_sends_each_request_within_5_ms(own_process_server, trace):
    """Every request leaves within 5 ms of its schedule, measured against a reference taken on the same machine at
    the same time: plain ``asyncio.sleep`` timers on the same schedule, with no client work at all, run just before
    and just after. With a core idle the reference is ~0 and the bound is 5 ms; on a busy machine the OS
    deschedules any process now and then (the reference shows by how much), and the bound is 5 ms beyond what the
    reference saw. Never skipped: the bound always holds, and the measured lags are in the failure message."""
    rows = [(a, 3, 4) for a in _synthetic_arrivals()] if trace == "synthetic" else _mooncake_sample()
    arrivals = [a for a, _, _ in rows]
    _wait_for_a_free_core(timeout_s=20.0)
    reference = [max(bare_timer_lags(arrivals))]
    runs = []
    for _ in range(3):  # the best of three replays: one OS stall in one replay is the machine, not the client
        reqs = [Request(f"r{i}", " ".join(["w"] * n), n, out, arrival_s=a) for i, (a, n, out) in enumerate(rows)]
        recs = run_load(LoadSpec(base_url=own_process_server, model="ok"), reqs)
        assert all(r.success for r in recs)
        start = recs[0].scheduled_s - arrivals[0]
        lags = []
        for r, a in zip(recs, arrivals):
            assert r.scheduled_s == pytest.approx(start + a, abs=1e-9)  # the schedule is the trace's, scaled
            assert r.queue_wait_s == 0.0  # no concurrency cap: all lateness is the client's
            lags.append(r.submitted_s - r.scheduled_s)
            assert lags[-1] >= 0 and r.send_lag_s == pytest.approx(lags[-1])  # never early
        assert metrics.summarize(recs)["send_lag_s"]["max"] == pytest.approx(max(lags))
        runs.append(sorted(round(x * 1e3, 3) for x in lags))
        if runs[-1][-1] < 5.0:
            break
    reference.append(max(bare_timer_lags(arrivals)))
    ms = min(runs, key=lambda x: x[-1])
    assert ms[len(ms) // 2] < 2.0, ms  # the median holds on any machine
    bound_ms = 5.0 + 1e3 * max(reference)
    assert ms[-1] < bound_ms, (f"max send lag {ms[-1]} ms (best of {len(runs)} replays) is beyond 5 ms + the bare "
                               f"timers' {1e3 * max(reference):.3f} ms; lags {ms}")


def test_a_timed_load_opens_its_connections_before_the_first_send(server):
    gets, posts = len(server.get_ports), len(server.post_ports)
    recs = run_load(LoadSpec(base_url=server.base_url, model="ok", rate=20.0, arrival="constant"),
                    [Request(f"r{i}", "a b", 2, 2) for i in range(5)])
    assert all(r.success for r in recs)
    warmed = server.get_ports[gets:]
    assert len(warmed) == 5  # one keep-alive connection per request (at most WARM_CONNECTIONS)
    assert set(server.post_ports[posts:]) <= set(warmed)  # every send went out on a connection opened ahead


def test_a_timed_load_runs_with_the_heap_frozen_and_restores_it():
    import asyncio
    import gc

    from bench.measure.endpoint.loadgen import run_load_async

    seen = []

    def clock():
        seen.append(gc.get_freeze_count())
        return time.perf_counter()

    with FakeOpenAI(delay_s=0.001) as s:
        recs = asyncio.run(run_load_async(LoadSpec(base_url=s.base_url, model="ok", rate=50.0, arrival="constant"),
                                          [Request(f"r{i}", "a", 1, 2) for i in range(3)], clock=clock))
        assert all(r.success for r in recs)
        assert seen and all(frozen > 0 for frozen in seen)  # the heap from before is frozen (not walked by GC)
        assert gc.get_freeze_count() == 0  # and given back afterwards
        seen.clear()
        asyncio.run(run_load_async(LoadSpec(base_url=s.base_url, model="ok"), [Request("r", "a", 1, 2)], clock=clock))
        assert seen and all(frozen == 0 for frozen in seen)  # an untimed load (all at once) leaves it alone


def test_stream_events_are_decoded_after_the_stream_by_hand():
    from bench.measure.endpoint.loadgen import _finish
    from bench.summary.metrics import RequestRecord

    def rec():
        return RequestRecord("x", 4, 0, submitted_s=0.5)

    events = [(1.0, b'{"choices": [{"text": " a"}]}'), (1.25, b'{"choices": [{"text": ""}]}'),
              (1.5, b'{"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}')]
    r = _finish(rec(), events, True, False, None)
    # each token event keeps its arrival time; the usage-only chunk is not a token; counts from usage
    assert r.success and r.token_times_s == [1.0, 1.25] and (r.input_tokens, r.output_tokens) == (5, 2)
    bad = _finish(rec(), [events[0], (1.1, b"{not json")], True, False, None)
    assert not bad.success and "malformed chunk" in bad.error
    assert "without [DONE]" in _finish(rec(), events, False, False, None).error
    err = _finish(rec(), [(1.0, b'{"error": {"message": "overloaded"}}')], True, False, None)
    assert "server error" in err.error


def bare_timer_lags(arrivals: list[float]) -> list[float]:
    """How late (s) each wake-up of plain ``asyncio.sleep`` timers on the schedule lands here: the reference for
    what any client can do on this machine right now."""
    import asyncio
    import time

    async def main():
        start = time.perf_counter() + 0.02
        late = []

        async def one(a):
            await asyncio.sleep(max(0.0, start + a - time.perf_counter()))
            late.append(max(0.0, time.perf_counter() - start - a))
        await asyncio.gather(*(one(a) for a in arrivals))
        return late
    return asyncio.run(main())


def test_sessions_wait_for_the_answer_and_the_think_time(server):
    reqs = [Request(f"s{s}t{t}", "a b", 2, 5, session_id=f"s{s}", turn=t, think_time_s=0.05 if t > 1 else 0.0)
            for s in range(2) for t in (1, 2, 3)]
    recs = run_load(LoadSpec(base_url=server.base_url, model="ok"), reqs)
    by = {r.request_id: r for r in recs}
    for s in range(2):
        for t in (2, 3):
            prev, cur = by[f"s{s}t{t - 1}"], by[f"s{s}t{t}"]
            assert cur.submitted_s >= prev.done_s + 0.05  # after the previous answer plus the think time
            assert cur.turn == t and cur.session_id == f"s{s}"
    # the two sessions ran side by side: their first turns left together
    assert abs(by["s0t1"].submitted_s - by["s1t1"].submitted_s) < 0.05
    turns = metrics.summarize(recs)["turns"]
    assert [(x["turn"], x["ttft_s"]["n"]) for x in turns] == [(1, 2), (2, 2), (3, 2)]


def test_reasoning_stream_separates_ttft_from_first_output_token(server):
    [r] = run_load(LoadSpec(base_url=server.base_url, model="reasoning", endpoint="chat"),
                   [Request("r", "hello", 1, 8)])
    assert r.success and len(r.token_times_s) == 8
    assert r.first_token_s == r.token_times_s[0]  # TTFT: any token, reasoning included
    assert r.first_output_at_s == r.token_times_s[4]  # the first 4 are reasoning_content
    assert metrics.ttfot_s(r) > metrics.ttft_s(r)
    [c] = run_load(LoadSpec(base_url=server.base_url, model="ok", endpoint="chat"), [Request("c", "hi", 1, 3)])
    assert c.first_output_at_s == c.token_times_s[0]


def test_rate_ramp_gaps_by_hand():
    # constant arrivals, 1 -> 3 req/s over 2 s: gap at t=0 is 1/1; at t=1 the rate is 2 (0.5 s);
    # at t=1.5 it is 2.5 (0.4 s); at t=1.9 it is 2.9; after t=2 it stays 3
    g = ramp_gaps(6, 1.0, 3.0, 2.0, "constant", 1.0, 0)
    assert g[:4] == pytest.approx([0.0, 1.0, 0.5, 0.4])
    assert g[4] == pytest.approx(1 / 2.9) and g[5] == pytest.approx(1 / 3.0)
    spec = LoadSpec(base_url="x", model="m", arrival="constant", ramp=(1.0, 3.0, 2.0))
    lone = [Request(f"r{i}", "a", 1, 1) for i in range(3)]
    assert schedule(spec, lone) == pytest.approx([0.0, 1.0, 1.5])


def test_schedule_of_sessions_and_traces():
    spec = LoadSpec(base_url="x", model="m", rate=2.0, arrival="constant")
    reqs = [Request("a1", "", 1, 1, session_id="a", turn=1), Request("a2", "", 1, 1, session_id="a", turn=2),
            Request("b1", "", 1, 1, session_id="b", turn=1), Request("c", "", 1, 1, arrival_s=7.0)]
    # session starts follow the rate (0, 0.5, 1.0); a later turn waits for its answer; a timestamp wins
    assert schedule(spec, reqs) == [0.0, None, 0.5, 7.0]


def ep_config(base_url, dataset, extra=""):
    return f"""
name: wl
models: [tiny:llama]
backend: {{kind: openai, base_url: {base_url}, served_model_name: ok, tokenizer: tiny:llama}}
workload:
  dataset: {dataset}
  num_prompts: 12
  warmup_requests: 1
  {extra}
"""


def test_prefix_workload_end_to_end_records_cache_counters_and_resets(tmp_path, server):
    before = server.resets
    server.prefix_metrics = True
    p = cli("run", write_config(tmp_path / "c.yaml", ep_config(
        server.base_url, "{kind: prefix, num_prefixes: 2, prefix_tokens: 32, suffix_tokens: 16, output_tokens: 4}",
        "concurrency: [2]")), "--output-dir", tmp_path / "out", "--format", "json")
    assert p.returncode == 0, p.stderr[-2000:]
    [c] = json.loads(p.stdout)["cases"]
    assert c["case_id"] == "tiny-llama_c2_rinf_prefix" and c["status"] == "ok"
    assert server.resets == before + 1  # reset after the warm-up, before the measured window
    ds = c["dataset"]
    assert ds["name"] == "prefix" and ds["requests"] == 12 and ds["input_tokens"]["mean"] == 48
    assert 0 < ds["shared_prefix_share"] <= 32 / 48
    assert c["workload"]["input_tokens"] == 48 and c["workload"]["output_tokens"] == 4
    pc = c["prefix_cache"]
    assert pc["queries"] is not None and pc["hits"] == 0 and pc["hit_rate"] == 0.0
    assert "prefix_cache" in c["validity"]["skipped"]  # shared prefixes on purpose: hits are expected
    run_dir = Path(json.loads(p.stdout)["run_dir"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["datasets"][c["case_id"]]["input_tokens"]["histogram"]["counts"] == [12]


def test_hits_on_a_workload_without_shared_prefixes_mark_the_case(tmp_path):
    with FakeOpenAI(delay_s=0.001) as s:
        s.prefix_hits, s.prefix_metrics = 16, True
        text = ep_config(s.base_url, "random", "input_tokens: 16\n  output_tokens: 4\n  concurrency: [2]").replace(
            "  dataset: random\n", "")
        p = cli("run", write_config(tmp_path / "c.yaml", text), "--output-dir", tmp_path / "out", "--format", "json")
    assert p.returncode == 0, p.stderr[-2000:]
    [c] = json.loads(p.stdout)["cases"]
    assert c["prefix_cache"]["hits"] == 12 * 16 and c["prefix_cache"]["hit_rate"] > 0
    assert c["validity"]["verdict"] in ("warn", "invalid")
    assert c["validity"]["checks"]["prefix_cache"]["status"] == "warn"


def test_trace_and_conversation_end_to_end_and_the_report_chart(tmp_path, server):
    trace = ROOT / "tests" / "data" / "workloads" / "mooncake-sample.jsonl"
    p = run_cli("run", write_config(tmp_path / "t.yaml", ep_config(
        server.base_url, f"{{kind: trace, path: {trace}, block_tokens: 16, speedup: 2.0}}")),
        "--output-dir", tmp_path / "out", "--format", "json")
    assert p.returncode == 0, p.stderr[-2000:]
    [c] = json.loads(p.stdout)["cases"]
    assert c["requests"]["succeeded"] == 30 and c["dataset"]["timed_arrivals"]
    assert c["send_lag_s"]["n"] == 30 and c["send_lag_s"]["p50"] < 0.005
    conv = ep_config(server.base_url, "{kind: conversation, sessions: 2, turns: 3, user_tokens: 8, "
                     "assistant_tokens: 4, think_time_s: 0.02}", "concurrency: [2]")
    p2 = cli("run", write_config(tmp_path / "v.yaml", conv), "--output-dir", tmp_path / "out", "--format", "json")
    assert p2.returncode == 0, p2.stderr[-2000:]
    [v] = json.loads(p2.stdout)["cases"]
    assert [t["turn"] for t in v["turns"]] == [1, 2, 3] and all(t["ttft_s"]["n"] == 2 for t in v["turns"])
    means = [t["input_tokens_mean"] for t in v["turns"]]  # the fake counts words, not tokens: only the growth
    assert means[0] < means[1] < means[2]
    run_dir = Path(json.loads(p.stdout)["run_dir"])
    html = tmp_path / "r.html"
    r = cli("report", run_dir, Path(json.loads(p2.stdout)["run_dir"]), "--html", html)
    assert r.returncode == 0, r.stderr[-2000:]
    page = html.read_text()
    assert 'id="chart-send-times"' in page and 'id="chart-dataset-lengths"' in page


def test_rate_ramp_end_to_end(tmp_path, server):
    text = ep_config(server.base_url, "random", "input_tokens: 8\n  output_tokens: 2\n"
                     "  request_rate_ramp: {from: 20, to: 100, over_s: 0.1}\n  arrival: constant").replace(
        "  dataset: random\n", "")
    p = cli("run", write_config(tmp_path / "c.yaml", text), "--output-dir", tmp_path / "out", "--format", "json")
    assert p.returncode == 0, p.stderr[-2000:]
    [c] = json.loads(p.stdout)["cases"]
    assert c["case_id"] == "tiny-llama_cmax_rramp20-100_in8_out2" and c["requests"]["succeeded"] == 12
    recs = sorted((json.loads(x) for x in (Path(json.loads(p.stdout)["run_dir"]) / "requests.jsonl")
                   .read_text().splitlines()), key=lambda r: r["scheduled_s"])
    gaps = [b["scheduled_s"] - a["scheduled_s"] for a, b in zip(recs, recs[1:])]
    assert gaps[0] == pytest.approx(1 / 20) and gaps[-1] == pytest.approx(1 / 100)  # 1/20 s, then 1/100 s


def test_chat_history_goes_as_alternating_messages(server):
    """Chat endpoints get a multi-turn prompt as user/assistant messages, each history message the same text
    in every later turn; completions keep the concatenated text. The prompt tokens read back from the
    server's usage are the messages' (the fake server has no chat template: a real one adds its own)."""
    from transformers import AutoTokenizer

    from bench.catalog.tiny import build_tiny
    from bench.workloads.conversation import ConversationDataset
    from bench.measure import prompts
    from bench.measure.workload import CaseWorkload
    from bench.workloads import TokenSource

    tok = AutoTokenizer.from_pretrained(str(build_tiny("llama")), local_files_only=True)
    encode = lambda text: tok.encode(text, add_special_tokens=False)  # noqa: E731
    tokens = TokenSource(vocab=prompts.round_trip_vocab(tok), encode=encode, decode=tok.decode)
    w = CaseWorkload(case_id="c", kind="load", input_tokens=None, output_tokens=None, seed=0,
                     dataset=ConversationDataset(kind="conversation", sessions=2, turns=3, user_tokens=8,
                                                 assistant_tokens=4))
    chat, _ = prompts.dataset_requests(w, 6, "r", tokens, tok, as_text=True, chat=True)
    plain, _ = prompts.dataset_requests(w, 6, "r", tokens, tok, as_text=True)
    assert all(r.messages is None for r in plain)
    s0 = [r for r in chat if r.session_id == "s0"]
    assert [[m["role"] for m in r.messages] for r in s0] == [
        ["user"], ["user", "assistant", "user"], ["user", "assistant", "user", "assistant", "user"]]
    assert s0[2].messages[:3] == s0[1].messages and s0[1].messages[:1] == s0[0].messages  # history repeated
    for r in s0:  # each message re-encodes to its own length: 8 per user turn, 4 per assistant turn
        assert [len(encode(m["content"])) for m in r.messages] == [8 if m["role"] == "user" else 4
                                                                   for m in r.messages]
        assert r.input_tokens == 8 * r.turn + 4 * (r.turn - 1)
    n = len(server.bodies)
    recs = run_load(LoadSpec(base_url=server.base_url, model="ok", endpoint="chat"), chat)
    bodies = server.bodies[n:]
    assert all(r.success for r in recs) and len(bodies) == 6
    assert sorted(len(b["messages"]) for b in bodies) == [1, 1, 3, 3, 5, 5] and all("prompt" not in b for b in bodies)
    for r, q in zip(recs, chat):  # usage read back: the words of every message the server got
        assert r.input_tokens == sum(len(m["content"].split()) for m in q.messages)
        assert r.requested_input_tokens == q.input_tokens and r.turn == q.turn
    n = len(server.bodies)
    run_load(LoadSpec(base_url=server.base_url, model="ok"), plain[:2])
    assert all(isinstance(b["prompt"], str) and "messages" not in b for b in server.bodies[n:])


def test_one_managed_server_serves_every_case_with_a_reset_before_each(tmp_path, monkeypatch):
    """A managed server starts once per model and is reused by all of its cases (one per dataset here),
    with the prefix cache reset before each measured case. `vllm serve` is stood in for by the fake server."""
    from bench.cli import main
    from bench.measure.endpoint.server import ManagedServer

    monkeypatch.setattr(ManagedServer, "command", lambda self: [
        sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", str(self.port)])
    cfg = write_config(tmp_path / "c.yaml", """
name: reuse
models: [tiny:llama]
backend: {kind: openai, server: managed}
workload:
  input_tokens: 8
  output_tokens: 2
  dataset: [random, {kind: prefix, num_prefixes: 2, prefix_tokens: 8, suffix_tokens: 4, output_tokens: 2},
            {kind: conversation, sessions: 2, turns: 2, user_tokens: 4, assistant_tokens: 2}]
  num_prompts: 4
  warmup_requests: 1
""")
    assert main(["run", str(cfg), "--output-dir", str(tmp_path / "out")]) == 0
    [log] = list((tmp_path / "out").glob("reuse-*/server-tiny-llama.log"))
    text = log.read_text()
    assert text.count("\n$ ") + text.startswith("$ ") == 1  # started once
    assert text.count("POST /v1/reset_prefix_cache") + text.count("POST /reset_prefix_cache") == 3  # one per case
    cases = [json.loads(x) for x in next((tmp_path / "out").glob("reuse-*/cases.jsonl")).read_text().splitlines()]
    assert [c["status"] for c in cases] == ["ok"] * 3
    assert len({c["load_s"] for c in cases}) == 1  # one load (the server's start-up) for all three


def test_a_chunk_of_the_wrong_shape_is_a_failed_record_not_a_crash():
    from bench.measure.endpoint.loadgen import _finish
    from bench.summary.metrics import RequestRecord

    for payload in (b'{"choices": [3]}', b'{"choices": {"a": 1}}', b"[1, 2]"):
        r = _finish(RequestRecord("x", 1, 0, submitted_s=0.0), [(1.0, payload)], True, False, None)
        assert not r.success and "malformed chunk" in r.error, payload
