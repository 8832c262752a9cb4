"""Executors: the same 4-case CPU sweep through --executor local and --executor ray (a real local Ray runtime,
2 CPUs), a killed worker, --resume across executors, and the resources a task asks for."""
import json
import os
import signal
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.config.load import load_config
from bench.measure.executors.distributed import task_options
from bench.measure.runner import execute
from conftest import cli, write_config

SWEEP = """
name: sweep4
models: [tiny:llama, tiny:qwen2]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 32, batch_sizes: [1, 2], num_batches: 8, warmup: 0}
energy: {idle_baseline_s: 0}
"""


@pytest.fixture(scope="module")
def ray_runtime():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False)
    # two workers with torch and the runner imported, so that the sweep's two tasks start together even on a
    # busy machine (a cold worker spends seconds importing torch)
    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tests/ is not on the workers' path
    warm = ray.remote(num_cpus=1)(_warm_worker)
    assert len(set(ray.get([warm.remote(), warm.remote()]))) == 2
    yield ray
    ray.shutdown()


def _warm_worker() -> int:
    import time

    import torch  # noqa: F401

    import transformers.models.llama.modeling_llama  # noqa: F401
    import transformers.models.qwen2.modeling_qwen2  # noqa: F401

    import bench.measure.backends.transformers.decode_loop  # noqa: F401
    import bench.measure.runner  # noqa: F401

    time.sleep(1.0)  # both warm-ups hold their worker at once: two workers, not one twice
    return os.getpid()


def _run(tmp_path, executor, extra="", **kw):
    path = write_config(tmp_path / "sweep4.yaml", SWEEP + extra)
    cfg, text = load_config(str(path))
    return execute(cfg, text, str(path), output_dir=tmp_path / executor, executor=executor, **kw)


def _t(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


@pytest.mark.server
def test_ray_sweep_writes_the_local_run_directory(ray_runtime, tmp_path):
    local = _run(tmp_path, "local")
    far = _run(tmp_path, "ray")
    by_id = {c["case_id"]: c for c in far.cases}
    assert sorted(by_id) == sorted(c["case_id"] for c in local.cases) and len(by_id) == 4
    for c in local.cases:
        r = by_id[c["case_id"]]
        assert r["status"] == "ok", r["error"]
        assert set(r) - set(c) == {"executor"} and set(c) <= set(r)  # the same schema, plus where it ran
        assert r["requests"] == c["requests"] and r["output_tokens"] == c["output_tokens"]
        ex = r["executor"]
        assert ex["kind"] == "ray" and ex["node_id"] and ex["node_ip"] and ex["worker_pid"] > 0
    # the driver wrote every file the local run writes, with the same config hash
    for name in ("manifest.json", "cases.jsonl", "requests.jsonl", "summary.csv"):
        assert (far.run_dir / name).is_file()
    m_local = json.loads((local.run_dir / "manifest.json").read_text())
    m_far = json.loads((far.run_dir / "manifest.json").read_text())
    assert m_far["config_sha256"] == m_local["config_sha256"] and m_far["status"] == "complete"
    n_rec = sum(1 for _ in (far.run_dir / "requests.jsonl").open())
    assert n_rec == sum(c["requests"]["total"] for c in far.cases)
    # two cases from different workers ran at the same time: their windows overlap
    cases = list(by_id.values())
    overlap = [(a["case_id"], b["case_id"]) for a in cases for b in cases
               if a["executor"]["worker_pid"] < b["executor"]["worker_pid"]
               and _t(a["started_utc"]) < _t(b["finished_utc"]) and _t(b["started_utc"]) < _t(a["finished_utc"])]
    assert overlap, [(c["case_id"], c["started_utc"][11:], c["finished_utc"][11:], c["executor"]["worker_pid"], c["load_s"]) for c in cases]
    # --resume across executors: the ray run resumed locally has nothing left to run
    path = tmp_path / "sweep4.yaml"
    cfg, text = load_config(str(path))
    again = execute(cfg, text, str(path), resume=far.run_dir, executor="local")
    assert sorted(c["case_id"] for c in again.cases) == sorted(by_id)
    assert sum(1 for _ in (far.run_dir / "cases.jsonl").open()) == 4


@pytest.mark.server
def test_a_killed_worker_fails_its_case_and_the_sweep_finishes(ray_runtime, tmp_path):
    killed = []

    def kill_first_llama(case, where):  # a real SIGKILL of the worker process as its case starts
        if case.case_id == "tiny-llama_bs1_in8_out32":
            killed.append(where["worker_pid"])
            os.kill(where["worker_pid"], signal.SIGKILL)

    # one task per case (executor.group: case); the config says local, the flag (executor="ray") wins
    out = _run(tmp_path, "ray", extra="executor: {kind: local, group: case}\n", on_case_start=kill_first_llama)
    assert killed
    by_id = {c["case_id"]: c for c in out.cases}
    assert len(by_id) == 4
    lost = by_id.pop("tiny-llama_bs1_in8_out32")
    assert lost["status"] == "failed" and "worker lost" in lost["error"], lost["error"]
    assert lost["executor"]["worker_pid"] == killed[0]
    assert all(c["status"] == "ok" for c in by_id.values()), [c["error"] for c in by_id.values()]
    assert json.loads((out.run_dir / "manifest.json").read_text())["status"] == "complete"


def test_ray_not_installed_is_one_line_exit_2(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    path = write_config(tmp_path / "s.yaml", SWEEP)
    p = cli("run", path, "--executor", "ray", "--output-dir", tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "pip install -e '.[ray]'" in p.stderr
    assert not list(tmp_path.glob("sweep4-*"))  # refused before anything ran


def test_ray_address_without_ray_executor_is_refused(tmp_path):
    path = write_config(tmp_path / "s.yaml", SWEEP)
    p = cli("run", path, "--ray-address", "auto", "--output-dir", tmp_path)
    assert p.returncode == 2 and "--executor ray" in p.stderr


def test_task_resources():
    cpu = task_options(SimpleNamespace(backend=SimpleNamespace(threads=3)),
                       SimpleNamespace(runs_on="cpu", accelerators=1), 2)
    assert cpu == {"max_retries": 0, "num_cpus": 3}
    gpu = task_options(SimpleNamespace(backend=SimpleNamespace(threads=None)),
                       SimpleNamespace(runs_on="cuda:0", accelerators=4), 1)
    assert gpu == {"max_retries": 0, "num_cpus": 1, "num_gpus": 4}
    npu = task_options(SimpleNamespace(backend=SimpleNamespace()), SimpleNamespace(runs_on="npu:0", accelerators=8), 1)
    assert npu["resources"] == {"NPU": 8} and "num_gpus" not in npu
    managed = task_options(SimpleNamespace(backend=SimpleNamespace(hardware="h20", server="managed")),
                           SimpleNamespace(runs_on="cuda:0", accelerators=8), 3)
    assert managed["num_gpus"] == 8 and managed["resources"] == {"h20": 8}
    external = task_options(SimpleNamespace(backend=SimpleNamespace(hardware="h20", server="external")),
                            SimpleNamespace(runs_on="endpoint", accelerators=16), 3)
    assert "resources" not in external and external["num_cpus"] == 1  # the server is elsewhere: the client only


def test_executor_in_the_config_and_its_refusals(tmp_path):
    from bench.errors import ConfigError

    ok = write_config(tmp_path / "a.yaml", SWEEP + "executor: {kind: ray, address: 'auto'}\n")
    cfg, _ = load_config(str(ok))
    assert cfg.executor.kind == "ray" and cfg.executor.address == "auto" and cfg.executor.group == "model"
    bad = write_config(tmp_path / "b.yaml", SWEEP + "executor: {kind: slurm}\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    assert "executor" in str(e.value)
    # where a run ran is not what it measured: the config hash ignores the executor
    from bench.config.load import config_sha256

    plain, _ = load_config(str(write_config(tmp_path / "c.yaml", SWEEP)))
    assert config_sha256(plain) == config_sha256(cfg)


@pytest.mark.server
def test_ctrl_c_cancels_the_tasks_and_keeps_finished_cases(ray_runtime, tmp_path):
    starts = []

    def interrupt_on_third_start(case, where):  # Ctrl-C once a case has finished and others are running
        starts.append(case.case_id)
        if len(starts) == 3:
            raise KeyboardInterrupt

    out = _run(tmp_path, "ray", on_case_start=interrupt_on_third_start)
    assert out.interrupted
    assert 1 <= len(out.cases) < 4 and all(c["status"] == "ok" for c in out.cases)
    assert json.loads((out.run_dir / "manifest.json").read_text())["status"] == "interrupted"
    assert sum(1 for _ in (out.run_dir / "cases.jsonl").open()) == len(out.cases)


@pytest.mark.server
def test_spread_clients_are_ray_actors(ray_runtime, tmp_path):
    from fake_openai import FakeOpenAI

    with FakeOpenAI(delay_s=0.002) as srv:
        path = write_config(tmp_path / "sp.yaml", f"""
name: sp
models: [tiny:llama]
backend: {{kind: openai, base_url: {srv.base_url}, served_model_name: ok, tokenizer: tiny:llama}}
workload: {{input_tokens: 8, output_tokens: 4, num_prompts: 20, warmup_requests: 1, request_rates: [40],
           clients: 2, client_placement: spread}}
energy: {{idle_baseline_s: 0}}
""")
        cfg, text = load_config(str(path))
        out = execute(cfg, text, str(path), output_dir=tmp_path / "out", executor="ray")
    (case,) = out.cases
    assert case["status"] == "ok", case["error"]
    assert case["requests"]["succeeded"] == 20 and case["clients"]["placement"] == "spread"
    pids = [c["pids"][0] for c in case["clients"]["per_client"]]
    assert len(set(pids)) == 2 and case["executor"]["worker_pid"] not in pids  # two actors, not the task itself
    assert all(c["send_lag_s"]["n"] == 10 for c in case["clients"]["per_client"])
