"""A quick run from flags (``run --model ID ...``): the same config, validation and results as a YAML file,
and ``--print-config`` writes a config that ``run CONFIG`` reads back to the very same config."""
import json
from pathlib import Path

import pytest

from bench.config import quick
from bench.config.load import config_sha256, load_config, parse_config
from bench.errors import ConfigError, InputError
from tests.conftest import cli

FLAGS = ["--model", "tiny:llama", "--batch-sizes", "1,4", "--input-tokens", "8", "--output-tokens", "4"]


def test_flags_run_and_print_config_round_trips_through_run_config(tmp_path):
    r = cli("run", *FLAGS, "--output-dir", tmp_path / "out", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [c["case_id"] for c in doc["cases"]] == ["tiny-llama_bs1_in8_out4", "tiny-llama_bs4_in8_out4"]
    assert all(c["status"] == "ok" and c["output_tok_s"] > 0 for c in doc["cases"])
    manifest = json.loads((Path(doc["run_dir"]) / "manifest.json").read_text())

    p = cli("run", *FLAGS, "--print-config")
    assert p.returncode == 0 and p.stderr == ""
    saved = tmp_path / "quick.yaml"
    saved.write_text(p.stdout)
    cfg, _ = load_config(saved)
    assert config_sha256(cfg) == manifest["config_sha256"]  # the file is the config the flags ran
    assert cfg.workload.batch_sizes == [1, 4] and cfg.workload.input_tokens == 8 and cfg.models[0].id == "tiny:llama"

    # `run CONFIG` accepts the flag run as its own: --resume refuses a run made with any other config
    r2 = cli("run", saved, "--resume", doc["run_dir"], "--format", "json")
    assert r2.returncode == 0, r2.stderr
    assert {c["case_id"] for c in json.loads(r2.stdout)["cases"]} == {c["case_id"] for c in doc["cases"]}


def test_openai_quick_config_defaults_and_yaml_round_trip():
    data = quick.quick_config("tiny:llama", backend="openai", base_url="http://10.0.0.2:8000/v1",
                              served_model_name="Qwen/Qwen2.5-7B-Instruct",
                              request_rates=quick.rate_list("--request-rates", "2, inf"), trials=3)
    assert data["backend"] == {"kind": "openai", "base_url": "http://10.0.0.2:8000/v1",
                               "served_model_name": "Qwen/Qwen2.5-7B-Instruct"}
    assert data["workload"] == {"input_tokens": 128, "output_tokens": 128, "request_rates": [2.0, "inf"],
                                "trials": 3}
    cfg = parse_config(data, "flags")
    assert cfg.workload.concurrency is None and cfg.workload.request_rates == [2.0, "inf"]
    # no rate and no concurrency: one request in flight, not everything at once
    assert quick.quick_config("tiny:llama", backend="openai")["workload"]["concurrency"] == [1]
    import yaml

    assert yaml.safe_load(quick.to_yaml(data, "run ...")) == data


def test_catalog_model_gets_random_weights_and_datasets_keep_their_lengths():
    data = quick.quick_config("Llama-3.1-8B", dataset=quick.dataset_spec("prefix"))
    assert data["models"] == [{"id": "Llama-3.1-8B", "weights": "random"}]
    assert data["name"] == "quick-Llama-3.1-8B"
    assert "input_tokens" not in data["workload"] and data["workload"]["dataset"] == {"kind": "prefix"}
    assert quick.dataset_spec("trace:t.jsonl") == {"kind": "trace", "path": "t.jsonl"}
    assert quick.quick_config("./models/my-7b")["models"] == ["./models/my-7b"]


@pytest.mark.parametrize("args, names", [
    (["--batch-sizes", "1,x"], "--batch-sizes: 'x' is not a whole number"),
    (["--batch-sizes", "0"], "--batch-sizes: workload.batch_sizes"),
    (["--batch-sizes", "1,1"], "--batch-sizes"),
    (["--backend", "openai", "--batch-sizes", "2"], "--batch-sizes: workload.batch_sizes is for"),
    (["--concurrency", "2"], "--concurrency: "),
    (["--backend", "openai", "--request-rates", "nan"], "--request-rates: 'nan' is not a rate"),
    (["--backend", "openai", "--request-rates", "-1"], "--request-rates"),
    (["--input-tokens", "0"], "--input-tokens: "),
    (["--output-tokens", "99999999"], "--output-tokens"),
    (["--trials", "0"], "--trials: "),
    (["--dataset", "nope"], "--dataset: 'nope' is unknown"),
    (["--dataset", "sharegpt"], "--dataset sharegpt needs a file"),
    (["--dataset", "prefix", "--input-tokens", "3"], "--input-tokens: "),
    (["--base-url", "http://x:1/v1"], "--base-url is for --backend openai"),
    (["--served-model-name", "m"], "--served-model-name is for --backend openai"),
    (["--backend", "openai", "--base-url", "ftp://x"], "--base-url: "),
    (["--backend", "vlm"], "invalid choice"),
    (["--input-tokens", "nan"], "--input-tokens"),
])
def test_bad_flag_values_are_one_line_and_exit_2(args, names):
    r = cli("run", "--model", "tiny:llama", *args, "--print-config")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert names in r.stderr


def test_config_and_flags_together_or_neither_are_refused():
    r = cli("run", "configs/smoke-cpu.yaml", "--batch-sizes", "2")
    assert r.returncode == 2 and "--batch-sizes is for a quick run without CONFIG" in r.stderr
    r = cli("run")
    assert r.returncode == 2 and "--model ID" in r.stderr
    r = cli("run", "--model", "Llama-9", "--print-config")
    assert r.returncode == 2 and r.stderr.startswith("error: --model: models[0]: model id 'Llama-9' is unknown")


def test_name_flags_leaves_an_unmapped_line_on_its_source():
    exc = quick.name_flags(ConfigError("flags: energy.x: bad", ["flags: energy.x: bad"]), "flags")
    assert exc.lines() == ["flags: energy.x: bad"]
    with pytest.raises(InputError):
        quick.int_list("--concurrency", "1,,2")


@pytest.mark.server
def test_openai_quick_run_against_the_scripted_server(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fake_openai import FakeOpenAI

    with FakeOpenAI(delay_s=0.002) as s:
        r = cli("run", "--model", "tiny:llama", "--backend", "openai", "--base-url", s.base_url, "--served-model-name",
                "ok", "--concurrency", "1,2", "--input-tokens", "8", "--output-tokens", "4", "--output-dir",
                tmp_path, "--format", "json")
    assert r.returncode == 0, r.stderr
    cases = json.loads(r.stdout)["cases"]
    assert [c["workload"]["concurrency"] for c in cases] == [1, 2]
    assert all(c["status"] == "ok" and c["requests"]["total"] == 64 and c["requests"]["failed"] == 0 for c in cases)
