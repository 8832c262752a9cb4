"""End to end on CPU: the shipped smoke config through the CLI, resume, a failing case, Ctrl-C."""
import csv
import json
from pathlib import Path

import pytest

from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend
from bench.cli import main
from conftest import ROOT, TINY_CONFIG, cli, run_cli, write_config

DIST = {"n", "mean", "p50", "p90", "p99", "min", "max", "stdev"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    p = cli("run", ROOT / "configs" / "smoke-cpu.yaml", "--output-dir", out, "--format", "json")
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def test_smoke_json_document_and_every_case(smoke_run):
    cases = smoke_run["cases"]
    run_dir = Path(smoke_run["run_dir"])
    assert len(cases) == 12
    assert {c["model"]["label"] for c in cases} == {"tiny:qwen2", "tiny:llama", "tiny:qwen3_moe", "tiny:deepseek_v3"}
    assert {c["workload"]["batch_size"] for c in cases} == {1, 4, 16}
    for c in cases:
        assert c["status"] == "ok" and c["error"] is None and c["provenance"] == "measured"
        assert c["schema_version"] == 1
        n_req = c["workload"]["batch_size"] * c["workload"]["num_batches"]
        assert c["requests"] == {"total": n_req, "succeeded": n_req, "failed": 0}
        assert c["output_tokens"] == n_req * 64 and c["input_tokens"] == n_req * 32
        for key in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
            assert set(c[key]) == DIST and c[key]["n"] > 0 and c[key]["min"] > 0
        assert c["itl_s"]["n"] == n_req * 63
        for key in ("output_tok_s", "total_tok_s", "requests_per_s", "prefill_tok_s"):
            assert c[key] > 0
        assert c["total_tok_s"] > c["output_tok_s"]
        e = c["energy"]
        # no power sensor on the CPU machine: not measured is None with a reason, never 0
        assert e["source"] == "none" and e["note"]
        for key in ("total_j", "avg_power_w", "peak_power_w", "j_per_output_tok", "j_per_total_tok"):
            assert e[key] is None
        m = c["memory"]
        assert m["weight_bytes"] > 0 and m["rss_peak_bytes"] > 0 and m["kv_cache_bytes"] > 0
        assert m["torch_peak_allocated_bytes"] is None  # CPU: torch has no allocator peak
        # the CPU default is the eager loop; compile=auto resolved on the machine
        assert c["compile"] == {"requested": "auto", "mode": "none", "torch_compile_mode": None, "compile_s": None,
                                "graphs_reused": None, "attention": None, "fallback_note": None}
        r = c["roofline"]  # the physical limit next to the measurement (CPU peaks: estimates, said so)
        assert r["hardware"] == "cpu" and r["tpot_limit_s"] > 0 and r["prefill_limit_s"] > 0 and "ESTIMATES" in r["note"]
        assert r["tpot_pct_of_limit"] == pytest.approx(100 * r["tpot_limit_s"] / c["tpot_s"]["p50"])
        assert r["prefill_pct_of_limit"] == pytest.approx(100 * r["prefill_limit_s"] / c["ttft_s"]["p50"])
    assert (run_dir / "manifest.json").exists()


def test_measure_stores_no_derived_block_and_every_view_derives_it(smoke_run, tmp_path):
    """cases.jsonl holds what was measured and the case's own summary; efficiency and roofline are derived when
    the run is read: `run --format json` (above) and gpu-check show them all the same."""
    lines = (Path(smoke_run["run_dir"]) / "cases.jsonl").read_text().splitlines()
    assert lines and not any({"efficiency", "roofline"} & set(json.loads(line)) for line in lines)
    assert all(c["efficiency"]["mbu"] > 0 for c in smoke_run["cases"])
    cfg = write_config(tmp_path / "g.yaml", TINY_CONFIG.replace("models: [tiny:llama, tiny:qwen2]", "models: [tiny:llama]"))
    p = cli("gpu-check", "--config", cfg, "--output-dir", tmp_path / "out")
    assert p.returncode == 0, p.stderr[-3000:]
    [run_dir] = (tmp_path / "out").iterdir()
    rows = json.loads((run_dir / "gpu_check.json").read_text())
    assert len(rows) == 2 and all(r["tpot_limit_ms"] > 0 and r["tpot_pct_of_limit"] > 0 for r in rows)


def test_static_cache_run_records_its_compile_block(tmp_path):
    cfg = write_config(tmp_path / "s.yaml", TINY_CONFIG.replace("threads: 1}", "threads: 1, compile: static}"))
    p = cli("run", cfg, "--output-dir", tmp_path, "--format", "json")
    assert p.returncode == 0, p.stderr[-3000:]
    cases = json.loads(p.stdout)["cases"]
    assert len(cases) == 4
    for c in cases:
        assert c["status"] == "ok" and c["compile"]["mode"] == "static" and c["compile"]["requested"] == "static"
        assert c["compile"]["compile_s"] > 0 and c["compile"]["graphs_reused"] is False
        assert c["compile"]["fallback_note"] is None and c["memory"]["kv_cache_bytes"] > 0


def test_no_zero_where_nothing_was_measured(smoke_run):
    def walk(obj, path=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from walk(v, f"{path}.{k}")
        elif not isinstance(obj, list):
            yield path, obj
    for c in smoke_run["cases"]:
        for path, v in walk(c):
            if any(s in path for s in ("energy", "power", "_j", "_w")):
                assert v != 0, path


def test_run_directory_files(smoke_run):
    run_dir = Path(smoke_run["run_dir"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["status"] == "complete"
    assert len(manifest["config_sha256"]) == 64 and manifest["config"]["name"] == "smoke-cpu"
    assert manifest["started_utc"].endswith("Z") and manifest["finished_utc"].endswith("Z")
    env = manifest["environment"]
    for key in ("host", "cpu", "ram_bytes", "gpus", "versions", "git", "power_sensors"):
        assert key in env
    assert env["versions"]["torch"] and env["versions"]["transformers"]
    assert "dirty" in env["git"]
    assert "cpu_pressure_start" in manifest
    lines = (run_dir / "cases.jsonl").read_text().splitlines()
    assert len(lines) == 12
    reqs = [json.loads(x) for x in (run_dir / "requests.jsonl").read_text().splitlines()]
    assert len(reqs) == sum(c["requests"]["total"] for c in smoke_run["cases"])
    r = reqs[0]
    assert len(r["token_times_s"]) == 64 and r["first_token_s"] >= r["submitted_s"] and r["done_s"] >= r["first_token_s"]
    rows = list(csv.DictReader((run_dir / "summary.csv").open()))
    assert len(rows) == 12 and float(rows[0]["output_tok_s"]) > 0


def test_resume_skips_finished_cases(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path / "c.yaml", TINY_CONFIG)
    calls = []
    real = DecodeLoopBackend.run_batch

    def failing(self, prompts, n, batch_id):
        calls.append(batch_id)
        if batch_id.startswith("tiny-qwen2_bs2"):
            raise RuntimeError("injected failure")
        return real(self, prompts, n, batch_id)

    monkeypatch.setattr(DecodeLoopBackend, "run_batch", failing)
    code = main(["run", str(cfg), "--output-dir", str(tmp_path / "out"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # one case failed
    status = {c["case_id"]: c["status"] for c in doc["cases"]}
    assert status == {"tiny-llama_bs1_in8_out4": "ok", "tiny-llama_bs2_in8_out4": "ok",
                      "tiny-qwen2_bs1_in8_out4": "ok", "tiny-qwen2_bs2_in8_out4": "failed"}
    failed = [c for c in doc["cases"] if c["status"] == "failed"][0]
    assert "injected failure" in failed["error"]

    monkeypatch.setattr(DecodeLoopBackend, "run_batch", real)
    calls.clear()
    seen = []
    monkeypatch.setattr(DecodeLoopBackend, "run_batch",
                        lambda self, p, n, b: (seen.append(b), real(self, p, n, b))[1])
    code = main(["run", str(cfg), "--resume", doc["run_dir"], "--format", "json"])
    doc2 = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {b.split("/")[0] for b in seen} == {"tiny-qwen2_bs2_in8_out4"}  # only the unfinished case ran
    assert all(c["status"] == "ok" for c in doc2["cases"]) and len(doc2["cases"]) == 4


def test_ctrl_c_keeps_finished_cases(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path / "c.yaml", TINY_CONFIG)
    real = DecodeLoopBackend.run_batch

    def interrupt(self, prompts, n, batch_id):
        if batch_id.startswith("tiny-qwen2"):
            raise KeyboardInterrupt
        return real(self, prompts, n, batch_id)

    monkeypatch.setattr(DecodeLoopBackend, "run_batch", interrupt)
    code = main(["run", str(cfg), "--output-dir", str(tmp_path / "out"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 130
    assert [c["case_id"] for c in doc["cases"]] == ["tiny-llama_bs1_in8_out4", "tiny-llama_bs2_in8_out4"]
    manifest = json.loads((Path(doc["run_dir"]) / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_list_models_and_sysinfo_json():
    p = run_cli("list", "models", "--format", "json")
    rows = json.loads(p.stdout)
    ids = {r["id"] for r in rows}
    assert {"Qwen2.5-0.5B", "Qwen2.5-7B", "Llama-3.2-1B", "Llama-3.1-8B", "DeepSeek-R1-Distill-Qwen-1.5B",
            "GLM-4-9B", "tiny:qwen2"} <= ids
    p = run_cli("sysinfo", "--format", "json")
    info = json.loads(p.stdout)
    assert p.returncode == 0 and "power_sensors" in info
    p = run_cli("sysinfo")
    assert p.returncode == 0 and "power" in p.stdout
