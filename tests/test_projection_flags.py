"""Projection flags are read or refused, never echoed and ignored (hardening round two, item 8)."""
import json
import shutil

import pytest

from bench.catalog import hardware
from conftest import ROOT, cli

BASE = ("project", "--model", "Llama-3.1-70B", "--hardware", "h100-sxm", "--input-tokens", "1000", "--output-tokens",
        "1000", "--batch", "16", "--dtype", "bf16", "--accelerators", "8", "--format", "json")
RUN = ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z"


def _refused(p, *words):
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr


def test_parallelism_in_lower_case_is_read_not_computed_as_tp8():
    (lower,) = json.loads(cli(*BASE, "--parallelism", "tp4 pp2").stdout)
    (upper,) = json.loads(cli(*BASE, "--parallelism", "TP4 PP2").stdout)
    (tp8,) = json.loads(cli(*BASE).stdout)
    assert lower["parallelism"] == "TP4 PP2"
    assert lower["tpot_s"] == pytest.approx(upper["tpot_s"], rel=1e-12)
    assert lower["tpot_s"] != pytest.approx(tp8["tpot_s"], rel=1e-3)


@pytest.mark.parametrize("text,words", [
    ("hello world", ["'hello' is not understood"]),
    ("TP4", ["TP4 x PP1 does not make 8 accelerator(s)", "--accelerators 4"]),
    ("EP", ["no degree stated"]),
])
def test_parallelism_that_cannot_be_read_is_refused(text, words):
    _refused(cli(*BASE, "--parallelism", text), "--parallelism", *words)


@pytest.mark.parametrize("spec,words", [
    ("h20=sglang", ["'h20' is not one of the chips asked for"]),
    ("=", ["give CHIP=NAME with both parts"]),
    ("h100-sxm=", ["give CHIP=NAME with both parts"]),
    (",", ["no CHIP=NAME given"]),
])
def test_profile_for_a_chip_not_asked_or_empty_is_refused(spec, words):
    _refused(cli(*BASE, "--profile", spec), "--profile", *words)


def test_profile_names_a_chip_as_hardware_does():
    (r,) = json.loads(cli(*BASE, "--profile", "H100-SXM=defaults").stdout)
    assert r["profile"] == "defaults"


CHIP_YAML = """chips:
  - id: MyChip
    vendor: Acme
    name: Acme MyChip
    year: 2026
    tflops: {bf16: 500, fp16: 500}
    memory_gb: 128
    bandwidth_tbs: 3.0
    tdp_w: 600
    sources: {tflops: my datasheet, memory_gb: my datasheet, bandwidth_tbs: my datasheet, tdp_w: my datasheet}
"""


def test_a_user_chip_is_matched_the_same_way_everywhere(tmp_path, monkeypatch):
    (tmp_path / "mychip.yaml").write_text(CHIP_YAML)
    monkeypatch.setenv("BENCH_HARDWARE_DIR", str(tmp_path))
    listed = json.loads(cli("list", "hardware", "--format", "json").stdout)
    ids = [r["id"] for r in (listed if isinstance(listed, list) else listed["rows"])]
    assert "mychip" in ids
    for spelling in ("MyChip", "mychip", "MYCHIP"):
        assert hardware.get_chip(spelling).id == "mychip"
        assert hardware.resolve(spelling).id == "mychip"
        p = cli("project", "--model", "Llama-3.1-8B", "--hardware", spelling, "--input-tokens", "100",
                "--output-tokens", "100", "--batch", "1", "--dtype", "bf16", "--format", "json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)[0]["hardware"] == "mychip"


def test_validate_include_refuses_a_run_named_twice(tmp_path):
    link = tmp_path / "again"
    link.symlink_to(RUN)
    _refused(cli("validate", "--hardware", "h200", "--include", str(RUN), str(RUN)), "--include", "name each run once")
    _refused(cli("validate", "--hardware", "h200", "--include", str(RUN), str(link)), "name each run once")


def test_validate_include_refuses_an_absurd_case(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    lines = (run / "cases.jsonl").read_text().splitlines()
    case = json.loads(lines[0])
    case["workload"]["input_tokens"] = 10 ** 15
    (run / "cases.jsonl").write_text("\n".join([json.dumps(case), *lines[1:]]) + "\n")
    p = cli("validate", "--hardware", "h200", "--include", str(run))
    _refused(p, str(run), case["case_id"], "input_tokens")


def test_expert_parallelism_on_a_dense_model_is_refused_by_cost_as_by_project():
    """One rule (bench.analysis.asked.parallelism) for both commands: `cost --project` used to take EP8 for a dense
    model and project it as if it were tensor parallel."""
    from conftest import cli

    args = ("--hardware", "h20", "--model", "Qwen3-32B", "--input-tokens", "100", "--output-tokens", "100",
            "--batch", "8", "--dtype", "bf16", "--accelerators", "8", "--parallelism", "EP8")
    for cmd in (("project",), ("cost", "--project")):
        p = cli(*cmd, *args)
        assert p.returncode == 2 and p.stderr.strip() == ("error: --parallelism 'EP8': expert parallelism needs a MoE "
                                                          "model; 'Qwen3-32B' is dense (use TP/PP)"), (cmd, p.stderr)
