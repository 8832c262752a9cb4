"""``kind: openai`` through the CLI against a scripted local server: the sweep, goodput, server-side
counters beside client-side latencies, per-accelerator normalisation, the SLO search, API keys kept
out of the results, and the preflight errors."""
import json
from pathlib import Path

import pytest

from bench.config.cases import expand
from bench.config.load import load_config
from conftest import cli, run_cli, write_config
from fake_openai import FakeOpenAI

pytestmark = pytest.mark.server  # test tier (pyproject markers): `make test-fast` leaves it out

SECRET = "sk-bench-test-7f3a9c"


def endpoint_config(base_url, extra_workload="", extra_backend="", model="ok"):
    return f"""
name: ep
models: [tiny:llama]
backend:
  kind: openai
  base_url: {base_url}
  served_model_name: {model}
  tokenizer: tiny:llama
  accelerators: 2
  hardware: h20
  api_key_env: BENCH_TEST_KEY
  {extra_backend}
workload:
  input_tokens: 16
  output_tokens: 8
  num_prompts: 12
  warmup_requests: 1
  {extra_workload}
"""


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(delay_s=0.002) as s:
        yield s


def run_json(tmp_path, text, env_key=SECRET, runner=run_cli):
    """``run --format json`` of TEXT with the API key variable set to ENV_KEY (unset if None). RUNNER: a fresh
    process (run_cli) where latency matters, since the scripted server is a thread of this process; conftest's cli
    (in this process) where nothing timed is checked."""
    import os

    cfg = write_config(tmp_path / "ep.yaml", text)
    old = os.environ.get("BENCH_TEST_KEY")
    if env_key is not None:
        os.environ["BENCH_TEST_KEY"] = env_key
    else:
        os.environ.pop("BENCH_TEST_KEY", None)
    try:
        return runner("run", cfg, "--output-dir", tmp_path / "out", "--format", "json")
    finally:
        if old is None:
            os.environ.pop("BENCH_TEST_KEY", None)
        else:
            os.environ["BENCH_TEST_KEY"] = old


def test_sweep_of_concurrency_and_rate(tmp_path, server):
    text = endpoint_config(server.base_url, "concurrency: [1, 4]\n  request_rates: [inf, 50]\n"
                           "  slo: {ttft_ms: 2000, tpot_ms: 500}")
    p = run_json(tmp_path, text)
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    cases = doc["cases"]
    assert [c["case_id"] for c in cases] == ["tiny-llama_c1_rinf_in16_out8", "tiny-llama_c1_r50_in16_out8",
                                             "tiny-llama_c4_rinf_in16_out8", "tiny-llama_c4_r50_in16_out8"]
    for c in cases:
        assert c["status"] == "ok" and c["hardware"] == "h20" and c["backend"]["kind"] == "openai"
        assert c["requests"] == {"total": 12, "succeeded": 12, "failed": 0}
        assert c["output_tokens"] == 12 * 8
        assert c["output_tok_s_per_accelerator"] == pytest.approx(c["output_tok_s"] / 2)
        assert c["tok_s_per_user"] == pytest.approx(1 / c["tpot_s"]["p50"])
        # ITL: 7 gaps per request whose 8 tokens arrived one per event; a request whose chunks the client read
        # together (a busy machine) is left out of ITL and counted, never a 0 ms gap
        coalesced = (c.get("itl_coalesced") or {}).get("requests", 0)
        assert c["itl_s"]["n"] == (12 - coalesced) * 7 and c["ttft_s"]["n"] == 12
        assert c["goodput"]["good_fraction"] == 1.0 and c["goodput"]["limits_ms"] == {"ttft_ms": 2000, "tpot_ms": 500}
        # server-side counters, scraped from /metrics, agree with what the client counted
        assert c["server"]["side"] == "server" and c["server"]["generation_tokens"] == 12 * 8
        assert c["server"]["request_success"] == 12
        assert c["server"]["scrapes"] >= 2 and c["server"]["kv_cache_usage_peak"] is not None  # sampled during
        # an external endpoint's power is not visible from here: not measured, never 0
        assert c["energy"]["source"] == "none" and c["energy"]["total_j"] is None
        assert "external endpoint" in c["energy"]["note"]
        # nor its memory: the client's own RSS is not passed off as the server's
        assert c["memory"]["device_used_peak_bytes"] is None and c["memory"]["headroom_bytes"] is None
    assert cases[0]["workload"]["concurrency"] == 1 and cases[3]["workload"]["request_rate"] == 50
    # the API key was sent, and is written nowhere
    assert server.auth_headers[-1] == f"Bearer {SECRET}"
    for f in Path(doc["run_dir"]).iterdir():
        assert SECRET not in f.read_text(), f


def test_failed_requests_are_recorded_and_a_case_with_none_ok_fails(tmp_path, server):
    p = run_json(tmp_path, endpoint_config(server.base_url, "concurrency: [2]", model="http500"), runner=cli)
    assert p.returncode == 1  # a failed case: recorded, exit 1
    [c] = json.loads(p.stdout)["cases"]
    assert c["status"] == "failed" and c["requests"]["failed"] == 12 and "HTTP 500" in c["error"]
    lines = (Path(json.loads(p.stdout)["run_dir"]) / "requests.jsonl").read_text().splitlines()
    assert len(lines) == 12 and all(not json.loads(x)["success"] for x in lines)


def test_slo_search_finds_capacity_at_slo(tmp_path):
    # each token takes 4 ms x requests in flight: TPOT ~ 4 ms x concurrency, limit 18 ms -> about 4
    with FakeOpenAI(delay_s=0.004) as s:
        text = endpoint_config(s.base_url, "slo: {tpot_ms: 18}\n  slo_search: {over: concurrency, lo: 1, hi: 16, "
                               "target_fraction: 0.9, num_prompts: 12, budget_s: 120}", model="loaded")
        p = run_json(tmp_path, text)
    assert p.returncode == 0, p.stderr[-2000:]
    [c] = json.loads(p.stdout)["cases"]
    assert c["case_id"] == "tiny-llama_slo-search-concurrency_in16_out8" and c["workload"]["kind"] == "slo-search"
    ss = c["slo_search"]
    assert 2 <= ss["best"] <= 5, ss
    assert ss["points"][0]["concurrency"] == 1 and ss["points"][1]["concurrency"] == 16
    assert ss["points"][1]["good_fraction"] < 0.9 and not ss["stopped_by_budget"]


def test_unreachable_endpoint_is_a_preflight_error(tmp_path):
    p = run_json(tmp_path, endpoint_config("http://127.0.0.1:9/v1", "concurrency: [1]"), runner=cli)
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr
    [line] = p.stderr.strip().splitlines()
    assert "backend.base_url 'http://127.0.0.1:9/v1': endpoint unreachable" in line and "fix base_url" in line


def test_missing_api_key_variable_is_a_preflight_error(tmp_path, server):
    p = run_json(tmp_path, endpoint_config(server.base_url, "concurrency: [1]"), env_key=None, runner=cli)
    assert p.returncode == 2 and "BENCH_TEST_KEY is not set" in p.stderr


@pytest.mark.parametrize("workload,backend,expect", [
    ("batch_sizes: [1]", "", "batch_sizes is for the transformers and vllm backends"),
    ("concurrency: [1]\n  request_rates: [0]", "", "request rates must be > 0"),
    ("slo: {}", "", "give a preset or at least one of ttft_ms"),
    ("slo_search: {lo: 4, hi: 2}", "", "must be above lo"),
    ("concurrency: [1]", "endpoint: completion", "backend.endpoint"),
])
def test_bad_openai_config(tmp_path, workload, backend, expect):
    p = run_json(tmp_path, endpoint_config("http://127.0.0.1:9/v1", workload, backend), runner=cli)
    assert p.returncode == 2 and expect in p.stderr and "Traceback" not in p.stderr


def test_bad_base_url(tmp_path):
    p = run_json(tmp_path, endpoint_config("127.0.0.1:8000", "concurrency: [1]"), runner=cli)
    assert p.returncode == 2 and "is not an http(s) URL" in p.stderr


def test_offline_sweep_fields_need_the_openai_backend(tmp_path):
    text = ("name: x\nmodels: [tiny:llama]\nbackend: {kind: transformers, device: cpu}\n"
            "workload: {input_tokens: 4, output_tokens: 2, batch_sizes: [1], concurrency: [2]}\n")
    p = cli("run", write_config(tmp_path / "c.yaml", text))
    assert p.returncode == 2 and "need backend.kind: openai" in p.stderr


def test_shipped_endpoint_config_expands(tmp_path):
    cfg, _ = load_config(str(Path(__file__).parent.parent / "configs" / "endpoint.yaml"))
    ids = [c.case_id for c in expand(cfg)]
    assert ids == ["tiny-llama_c1_rinf_in128_out128", "tiny-llama_c8_rinf_in128_out128",
                   "tiny-llama_c32_rinf_in128_out128"]


def test_trials_window_queue_wait_and_validity_online(tmp_path, server):
    p = run_json(tmp_path, endpoint_config(server.base_url, "concurrency: [2]\n  trials: 2"))
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    [c] = doc["cases"]
    assert c["requests"]["total"] == 24  # 12 prompts x 2 trials
    t = c["trials"]
    assert t["n"] == 2 and t["rule"] == {"mode": "fixed", "asked": 2}
    assert t["metrics"]["output_tok_s"]["n"] == 2 and len(t["metrics"]["output_tok_s"]["ci95"]) == 2
    assert c["output_tok_s"] == pytest.approx(t["metrics"]["output_tok_s"]["mean"])
    # 12 requests through 2 slots: all but the first two wait for the cap
    q = c["queue_wait_s"]
    assert q["n"] == 24 and q["min"] >= 0 and q["max"] > 0
    w = c["window"]
    assert w["steady_rule"] == "concurrency" and w["target_concurrency"] == 2
    assert 0 < w["steady"]["duration_s"] <= w["full"]["duration_s"]
    v = c["validity"]
    assert v["verdict"] in ("ok", "warn") and {"send_lag", "event_loop_lag", "client_cpu", "token_counts",
                                                  "failed_requests", "trial_cv"} <= set(v["checks"])
    assert "prefix_cache" in v["skipped"]  # the scripted server has no prefix-cache counters
    reqs = [json.loads(x) for x in (Path(doc["run_dir"]) / "requests.jsonl").read_text().splitlines()]
    assert sorted({r["trial"] for r in reqs}) == [0, 1]
    assert all(r["queue_wait_s"] is not None and r["send_lag_s"] is not None for r in reqs)
    # each trial sends fresh prompts (a prefix cache cannot serve trial 2 from trial 1)
    prompts = [json.dumps(b["prompt"]) for b in server.bodies[-24:]]
    assert len(set(prompts)) == 24
