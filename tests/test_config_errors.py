"""Bad input: exit 2, one line per problem naming the file and field, never a traceback."""
import pytest

from bench.config.cases import expand
from bench.config.load import load_config
from conftest import ROOT, run_cli, write_config, run_main

GOOD = """
name: ok
models: [tiny:llama]
backend: {kind: transformers, device: cpu}
workload: {input_tokens: 4, output_tokens: 2, batch_sizes: [1]}
"""



@pytest.mark.parametrize("name,text,expect", [
    ("yaml-syntax", "name: x\nmodels: [tiny:llama\n", ["bad.yaml:", "YAML syntax error"]),
    ("unknown-key", GOOD + "bogus: 1\n", ["bogus: unknown key", "allowed here: name, models"]),
    ("unknown-nested-key", GOOD.replace("device: cpu", "device: cpu, devise: cpu"),
     ["backend.devise: unknown key", "allowed here: kind, dtype, device"]),
    ("wrong-type", GOOD.replace("batch_sizes: [1]", "batch_sizes: one"), ["workload.batch_sizes", "found \"one\""]),
    ("zero-length", GOOD.replace("input_tokens: 4", "input_tokens: 0"), ["workload.input_tokens", "greater than 0"]),
    ("negative-length", GOOD.replace("output_tokens: 2", "output_tokens: -3"), ["workload.output_tokens", "found -3"]),
    ("unknown-model", GOOD.replace("tiny:llama", "Llama-9-Ultra"), ["models[0]", "'Llama-9-Ultra' is unknown", "Llama-3.1-8B"]),
    ("unknown-arch", GOOD.replace("tiny:llama", "tiny:mamba"), ["models[0]", "tiny architecture 'mamba' is unknown"]),
    ("unknown-backend", GOOD.replace("kind: transformers", "kind: vlm"), ["backend.kind", "'vlm' is unknown"]),
    ("not-a-mapping", "- just\n- a list\n", ["must be a mapping", "found list"]),
    ("bad-device", GOOD.replace("device: cpu", "device: tpu"), ["backend.device", "auto, cpu, cuda, cuda:N"]),
])
def test_bad_config_exits_2_with_one_clear_line(tmp_path, capsys, name, text, expect):
    cfg = write_config(tmp_path / "bad.yaml", text)
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    assert code == 2
    assert "Traceback" not in err and out == ""
    first = err.strip().splitlines()[0]
    assert first.startswith(f"error: {cfg}")
    for piece in expect:
        assert piece in err, (piece, err)


def test_every_problem_reported_at_once(tmp_path, capsys):
    text = GOOD.replace("tiny:llama", "tiny:mamba").replace("input_tokens: 4", "input_tokens: 0") + "extra: 1\n"
    cfg = write_config(tmp_path / "bad.yaml", text)
    code, _, err = run_main(capsys, "run", cfg)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"error: {cfg}") for line in lines)


def test_missing_model_directory_is_a_preflight_error(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml", GOOD.replace("tiny:llama", str(tmp_path / "nope")))
    code, _, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    assert code == 2 and "models[0].path" in err and "directory not found" in err


def test_unwritable_output_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = write_config(tmp_path / "c.yaml", GOOD)
    code, _, err = run_main(capsys, "run", cfg, "--output-dir", blocker / "sub")
    assert code == 2 and "output_dir" in err and "not writable" in err


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run_main(capsys, "run", tmp_path / "absent.yaml")
    assert code == 2 and "config file not found" in err


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_no_traceback_from_a_real_process(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", GOOD.replace("input_tokens: 4", "input_tokens: -1"))
    p = run_cli("run", cfg)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith(f"error: {cfg}: workload.input_tokens")


def test_cases_are_the_cartesian_product_with_stable_ids(tmp_path):
    text = GOOD.replace("models: [tiny:llama]", "models: [tiny:llama, tiny:qwen2]").replace(
        "batch_sizes: [1]", "batch_sizes: [1, 4]").replace("output_tokens: 2", "output_tokens: [2, 8]")
    cfg, _ = load_config(write_config(tmp_path / "c.yaml", text))
    ids = [c.case_id for c in expand(cfg)]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert ids[0] == "tiny-llama_bs1_in4_out2"
    assert ids == [c.case_id for c in expand(load_config(tmp_path / "c.yaml")[0])]


def test_trust_remote_code_off_by_default_and_shipped_configs_valid():
    for f in sorted((ROOT / "configs").glob("*.yaml")):
        cfg, _ = load_config(f)
        assert getattr(cfg.backend, "trust_remote_code", False) is False, f
