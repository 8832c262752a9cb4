"""Load from several client processes: one schedule split i mod N (sessions kept together), and a run with
``workload.clients: 2`` against a local server that records every request once, each naming its client, with
the send lag checked per client."""
import json
from pathlib import Path

import pytest

from bench.measure.endpoint.clients import shift_record, split_for_clients
from bench.measure.endpoint.loadgen import LoadSpec, Request, schedule
from bench.summary.metrics import RequestRecord
from conftest import cli, write_config
from fake_openai import FakeOpenAI


def _reqs(n, sessions=None):
    return [Request(f"r{i}", "a b", 2, 4, session_id=(sessions[i] if sessions else None)) for i in range(n)]


def test_split_keeps_one_schedule_and_sessions_together():
    spec = LoadSpec(base_url="http://x", model="m", rate=10.0, arrival="poisson", seed=3, max_concurrency=5)
    reqs = _reqs(7)
    plan = schedule(spec, reqs)
    shares = split_for_clients(spec, reqs, 2)
    assert [idx for _, idx, _ in shares] == [[0, 2, 4, 6], [1, 3, 5]]  # request i -> client i mod 2
    for _, idx, mine in shares:
        assert [r.arrival_s for r in mine] == [plan[i] for i in idx]  # the one schedule's send times
    assert [s.max_concurrency for s, _, _ in shares] == [3, 2]  # the cap split, at least 1 each
    # a session stays on the client of its first request; its later turns follow their previous answer
    sess = _reqs(6, ["a", "b", "a", "c", "b", "a"])
    shares = split_for_clients(spec, sess, 2)
    assert [idx for _, idx, _ in shares] == [[0, 2, 5], [1, 3, 4]]  # c starts at 3: client 1
    first = shares[0][2]
    assert first[0].arrival_s is not None and first[1].arrival_s is None  # r2: a's second turn


def test_shift_record_moves_every_time():
    r = RequestRecord("x", 1, 2, submitted_s=1.0, token_times_s=[1.5, 2.0], scheduled_s=0.9, done_at_s=None)
    shift_record(r, 10.0)
    assert (r.submitted_s, r.token_times_s, r.scheduled_s, r.done_at_s) == (11.0, [11.5, 12.0], 10.9, None)
    assert "client" not in RequestRecord("y", 1, 1, 0.0).to_json()  # one client: records as before
    r.client = 1
    assert r.to_json()["client"] == 1


@pytest.mark.server
def test_two_clients_record_every_request_once_with_send_lag_per_client(tmp_path):
    with FakeOpenAI(delay_s=0.002) as srv:
        cfg = write_config(tmp_path / "c2.yaml", f"""
name: c2
models: [tiny:llama]
backend: {{kind: openai, base_url: {srv.base_url}, served_model_name: ok, tokenizer: tiny:llama}}
workload: {{input_tokens: 8, output_tokens: 4, num_prompts: 40, warmup_requests: 1, request_rates: [40],
           clients: 2}}
energy: {{idle_baseline_s: 0}}
""")
        p = cli("run", cfg, "--output-dir", tmp_path / "out", "--format", "json")  # the clients are processes
    assert p.returncode in (0, 1), p.stderr[-2000:]
    doc = json.loads(p.stdout)
    (case,) = doc["cases"]
    assert case["status"] == "ok", case["error"]
    recs = [json.loads(x) for x in (Path(doc["run_dir"]) / "requests.jsonl").read_text().splitlines()]
    ids = [r["request_id"] for r in recs]
    assert len(ids) == 40 and len(set(ids)) == 40  # every request once
    assert {r["client"] for r in recs} == {0, 1}
    assert sum(r["client"] == 0 for r in recs) == 20
    assert all(r["success"] and r["send_lag_s"] is not None for r in recs)
    # merged on the driver's clock: one schedule, sent in order across both processes
    sched = [r["scheduled_s"] for r in sorted(recs, key=lambda r: int(r["request_id"].rsplit("/r", 1)[1]))]
    assert sched == sorted(sched)
    block = case["clients"]
    assert block["n"] == 2 and [c["requests"] for c in block["per_client"]] == [20, 20]
    for c in block["per_client"]:
        assert c["send_lag_s"]["n"] == 20 and c["send_lag_s"]["p99"] >= 0 and c["cpu_fraction"] > 0
        assert len(set(c["pids"])) == 1
    assert block["per_client"][0]["pids"] != block["per_client"][1]["pids"]  # two processes
    checks = case["validity"]["checks"]
    assert "send_lag[client 0]" in checks and "send_lag[client 1]" in checks
    assert case["requests"] == {"total": 40, "succeeded": 40, "failed": 0}


def test_spread_needs_the_ray_executor(tmp_path):

    cfg = write_config(tmp_path / "s.yaml", """
name: s
models: [tiny:llama]
backend: {kind: openai, base_url: 'http://127.0.0.1:9', served_model_name: ok, tokenizer: tiny:llama}
workload: {input_tokens: 8, output_tokens: 4, clients: 2, client_placement: spread}
""")
    p = cli("run", cfg, "--output-dir", tmp_path)
    assert p.returncode == 2 and "--executor ray" in p.stderr


def test_clients_are_for_the_openai_backend(tmp_path):

    cfg = write_config(tmp_path / "t.yaml", """
name: t
models: [tiny:llama]
backend: {kind: transformers, device: cpu}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1], clients: 2}
""")
    p = cli("run", cfg, "--output-dir", tmp_path)
    assert p.returncode == 2 and "clients" in p.stderr
