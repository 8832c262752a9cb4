"""Issue 16: each numbered defect, reproduced, then held fixed."""
import csv
import json
import os
import shutil
import threading
import time
import warnings
from pathlib import Path

import pytest

from bench.config.cases import expand
from bench.config.load import parse_config
from bench.errors import BenchError, ConfigError, InputError
from bench.results.rundir import RunDir, read_jsonl
from conftest import ROOT, cli, run_main, run_with_a_failed_case, write_config
from fake_openai import FakeOpenAI

RUNS = sorted((ROOT / "tests" / "data" / "runs").iterdir())

ONE_MODEL = """
name: h
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1, 2], num_batches: 1, warmup: 0}
"""



def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def failed_second_case(tmp_path, capsys, monkeypatch):
    """A finished run of ONE_MODEL whose bs2 case failed, so that --resume has work to do."""
    return run_with_a_failed_case(tmp_path, capsys, monkeypatch, ONE_MODEL, "_bs2_")


# 1 + 2 ---------------------------------------------------------------- torn line, orphan records, resume
def test_resume_after_torn_line_and_orphan_records_loses_and_duplicates_nothing(failed_second_case, capsys):
    cfg, run_dir = failed_second_case
    reqs_before = (run_dir / "requests.jsonl").read_bytes()
    # a kill -9 inside the retried case: its request records are on disk, its summary only half written
    orphan = json.loads(reqs_before.splitlines()[0])
    orphan["case_id"] = "tiny-llama_bs2_in8_out4"
    with open(run_dir / "requests.jsonl", "a") as f:
        f.write(json.dumps(orphan) + "\n" + json.dumps(orphan) + "\n")
    with open(run_dir / "cases.jsonl", "a") as f:
        f.write('{"schema_version": 1, "case_id": "tiny-llama_bs2_in8_ou')
    code, out, err = run_main(capsys, "run", cfg, "--resume", run_dir, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [c["status"] for c in doc["cases"]] == ["ok", "ok"]
    lines = (run_dir / "cases.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(x)["case_id"] for x in lines)  # every line readable
    reqs = [json.loads(x) for x in (run_dir / "requests.jsonl").read_text().splitlines()]
    by_case = {}
    for r in reqs:
        by_case[r["case_id"]] = by_case.get(r["case_id"], 0) + 1
    # bs1: one batch of 1 request; bs2: its failed attempt wrote none, the retry wrote 2, the 2 orphans are gone
    assert by_case == {"tiny-llama_bs1_in8_out4": 1, "tiny-llama_bs2_in8_out4": 2}
    assert [c["requests"]["total"] for c in doc["cases"]] == [1, 2]
    rows = list(csv.DictReader((run_dir / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"]


def test_append_starts_on_a_fresh_line_after_a_torn_fragment(tmp_path):
    rd = RunDir.create(tmp_path, "x")
    case = {"schema_version": 1, "case_id": "a", "status": "ok", "model": {"label": "m"},
            "backend": {"kind": "transformers", "dtype": "float32"},
            "workload": {"batch_size": 1, "input_tokens": 4, "output_tokens": 2}}  # a valid ok case
    rd.append_case(dict(case), [])
    with open(rd.cases_path, "a") as f:
        f.write('{"schema_version": 1, "case_id": "to')
    assert [c["case_id"] for c in read_jsonl(rd.cases_path)] == ["a"]  # the torn fragment is skipped
    rd.append_case(dict(case, case_id="b"), [])  # the fragment is cut, never joined to the new record
    assert [c["case_id"] for c in read_jsonl(rd.cases_path)] == ["a", "b"]
    assert rd.cases_path.read_text().count("\n") == 2


# 3 -------------------------------------------------------------------- resume with another config
def test_resume_with_a_different_config_is_refused(failed_second_case, tmp_path, capsys):
    _, run_dir = failed_second_case
    other = write_config(tmp_path / "other.yaml", ONE_MODEL.replace("output_tokens: 4", "output_tokens: 5"))
    before = (run_dir / "cases.jsonl").read_text()
    code, _, err = run_main(capsys, "run", other, "--resume", run_dir)
    assert code == 2 and "another config" in one_error_line(err)
    assert (run_dir / "cases.jsonl").read_text() == before


def test_two_writers_on_one_run_dir_are_refused(tmp_path):
    rd = RunDir.create(tmp_path, "x")
    rd.lock()
    other = RunDir(rd.path)
    with pytest.raises(InputError, match="another bench process"):
        other.lock()
    rd.unlock()
    other.lock()
    other.unlock()


# 4 + 5: the table of corrupt run directories is in test_fuzz_inputs.py; here the warnings
def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUNS[0], run)
    n = len((run / "cases.jsonl").read_text().splitlines())
    with open(run / "cases.jsonl", "a") as f:
        f.write('{"schema_version": 1, "case_')
    p = cli("compare", run, "--format", "json")
    assert p.returncode == 0 and "torn last line" in p.stderr and f"cases.jsonl:{n + 1}" in p.stderr
    assert len(json.loads(p.stdout)["rows"]) == n


def test_an_interrupted_run_without_cases_warns_and_reports_without_matplotlib_warnings(tmp_path, capsys, caplog):
    run = tmp_path / "run"
    shutil.copytree(RUNS[0], run)
    (run / "cases.jsonl").unlink()
    m = json.loads((run / "manifest.json").read_text())
    m["status"] = "interrupted"
    (run / "manifest.json").write_text(json.dumps(m))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run_main(capsys, "report", run, "--markdown", tmp_path / "r" / "report.md")
    assert code == 0 and "no case finished" in caplog.text
    assert [str(w.message) for w in caught] == []
    assert (tmp_path / "r" / "report.md").exists()


# 6 -------------------------------------------------------------------- config files
def test_non_utf8_and_binary_configs(tmp_path, capsys):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    code, _, err = run_main(capsys, "run", p)
    assert code == 2 and "not UTF-8" in one_error_line(err) and f"{p}:1" in err
    p.write_bytes(b"\x00\x01\x02\xffELF")
    code, _, err = run_main(capsys, "run", p)
    assert code == 2 and one_error_line(err).startswith(f"error: {p}")


def test_non_utf8_user_hardware_file(tmp_path, capsys, monkeypatch):
    from bench.catalog import hardware

    (tmp_path / "bad.yaml").write_bytes(b"chips:\n  - id: x\xff\n")
    monkeypatch.setenv("BENCH_HARDWARE_DIR", str(tmp_path))
    hardware._chips.cache_clear()
    try:
        code, _, err = run_main(capsys, "cost", "--hardware", "h20", "--output-tok-s", "100",
                                "--rental-usd-per-hour", "2")
    finally:
        hardware._chips.cache_clear()
    assert code == 2 and "bad.yaml: not UTF-8" in one_error_line(err)


def test_a_long_name_is_refused_by_validation():
    with pytest.raises(ConfigError, match="name: must be at most 100 character"):
        parse_config({"name": "a" * 250, "models": ["tiny:llama"], "backend": {"kind": "transformers"},
                      "workload": {"input_tokens": 4, "output_tokens": 2, "batch_sizes": [1]}}, "c.yaml")


def test_tilde_in_output_dir_is_the_home_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    cfg = write_config(tmp_path / "c.yaml", ONE_MODEL.replace("batch_sizes: [1, 2]", "batch_sizes: [1]")
                       + "output_dir: ~/runs\n")
    code, out, err = run_main(capsys, "run", cfg, "--format", "json")
    assert code == 0, err
    run_dir = Path(json.loads(out)["run_dir"])
    assert run_dir.parent == tmp_path / "home" / "runs" and not (tmp_path / "~").exists()
    assert (run_dir / "summary.csv").exists()
    # --output-dir too
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", "~/other", "--format", "json")
    assert code == 0 and Path(json.loads(out)["run_dir"]).parent == tmp_path / "home" / "other"


# 7 -------------------------------------------------------------------- NaN, inf, wrong values from flags
@pytest.mark.parametrize("argv,expect", [
    (["cost", "--hardware", "h20", "--output-tok-s", "inf", "--rental-usd-per-hour", "2"], "--output-tok-s"),
    (["cost", "--hardware", "h20", "--output-tok-s", "100", "--capex-usd", "1e4", "--life-years", "5", "--pue", "nan",
      "--electricity-usd-per-kwh", "0.1"], "--pue"),
    (["capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--input-tokens", "100", "--output-tokens", "100",
      "--accelerators", "1e300"], "--accelerators"),
    (["capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--input-tokens", "100", "--output-tokens", "100",
      "--accelerators", "0.5"], "--accelerators must be a whole number"),
    (["capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--input-tokens", "100", "--output-tokens", "100",
      "--accelerators", "8", "--replica-accelerators", "0"], "--replica-accelerators"),
    (["project", "--model", "Llama-3.1-8B", "--hardware", "h20", "--input-tokens", "100", "--output-tokens", "100",
      "--batch", "1", "--dtype", "fp8", "--sw-efficiency", "bogus=0.5"], "'bogus' is not one of the chips"),
    (["project", "--model", "Llama-3.1-8B", "--hardware", ",", "--input-tokens", "100", "--output-tokens", "100",
      "--batch", "1", "--dtype", "fp8"], "--hardware ',': no id given"),
    (["compare", str(RUNS[0]), "--rental-usd-per-hour", "nan"], "--rental-usd-per-hour"),
])
def test_flags_must_be_finite_in_range_and_known(capsys, argv, expect):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == "" and expect in one_error_line(err)


def test_json_output_is_strict(capsys):
    code, out, err = run_main(capsys, "capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--input-tokens",
                              "100", "--output-tokens", "100", "--accelerators", "1000", "--format", "json")
    assert code == 0
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


# 8 -------------------------------------------------------------------- bounds and huge sweeps
def test_absurd_lengths_are_refused():
    base = {"name": "x", "models": ["tiny:llama"], "backend": {"kind": "transformers"},
            "workload": {"input_tokens": 10**18, "output_tokens": 2, "batch_sizes": [1]}}
    with pytest.raises(ConfigError, match="workload.input_tokens: must be at most 1048576"):
        parse_config(base, "c.yaml")


def test_a_huge_sweep_is_refused_at_once_and_expansion_is_linear():
    big = {"name": "x", "models": ["tiny:llama"], "backend": {"kind": "transformers"},
           "workload": {"input_tokens": list(range(1, 1001)), "output_tokens": list(range(1, 1001)),
                        "batch_sizes": [1]}}
    cfg = parse_config(big, "c.yaml")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="1,000,000 cases, more than the limit of 10,000"):
        expand(cfg)
    assert time.perf_counter() - t0 < 1.0
    ok = parse_config({**big, "workload": {**big["workload"], "input_tokens": list(range(1, 101)),
                                           "output_tokens": list(range(1, 91))}}, "c.yaml")
    t0 = time.perf_counter()
    assert len(expand(ok)) == 9000
    assert time.perf_counter() - t0 < 10.0  # list.count made this minutes


def test_lengths_beyond_the_model_context_fail_preflight_naming_the_config(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml", ONE_MODEL.replace("input_tokens: 8", "input_tokens: 4000"))
    code, _, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    line = one_error_line(err)
    assert code == 2 and line.startswith(f"error: {cfg}: ") and "exceeds the context" in line and "(2048 tokens)" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# 9 -------------------------------------------------------------------- compare --output
def test_compare_output_creates_parents_and_refuses_directories(tmp_path, capsys):
    target = tmp_path / "new" / "deeper" / "cmp.csv"
    code, _, err = run_main(capsys, "compare", RUNS[0], "--format", "csv", "--output", target)
    assert code == 0 and target.read_text().startswith("run,run_id,")
    code, _, err = run_main(capsys, "compare", RUNS[0], "--format", "csv", "--output", tmp_path)
    assert code == 2 and "is a directory" in one_error_line(err)
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_main(capsys, "compare", RUNS[0], "--format", "json", "--output", blocker / "x.json")
    assert code == 2 and "--output" in one_error_line(err)


# 10 ------------------------------------------------------------------- secrets
SECRET = "sk-hardening-test-5e1d2c9b"


@pytest.mark.server
def test_a_key_echoed_by_the_server_is_never_stored(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BENCH_TEST_KEY", SECRET)
    with FakeOpenAI() as server:
        cfg = write_config(tmp_path / "ep.yaml", f"""
name: ep
models: [tiny:llama]
backend: {{kind: openai, base_url: "{server.base_url}", served_model_name: auth401, tokenizer: tiny:llama,
          api_key_env: BENCH_TEST_KEY, hardware: h20}}
workload: {{input_tokens: 8, output_tokens: 4, num_prompts: 3, warmup_requests: 0, concurrency: [1]}}
""")
        code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out", "--format", "json")
    assert code == 1  # every request failed
    run_dir = Path(json.loads(out)["run_dir"])
    stored = "".join((run_dir / f).read_text() for f in ("cases.jsonl", "requests.jsonl", "summary.csv", "manifest.json"))
    assert "Incorrect API key provided" in stored and "Bearer [REDACTED]" in stored
    assert SECRET not in stored and SECRET not in out and SECRET not in err
    assert SECRET[3:] not in stored


def test_redaction_of_bearer_tokens_and_registered_secrets():
    from bench.redact import redact, register_secret

    register_secret("opaque-token-without-prefix")
    text = redact("401: Bearer abc.def-ghi and key opaque-token-without-prefix; api_key=zzz9")
    assert "abc.def" not in text and "opaque-token" not in text and "zzz9" not in text
    assert redact("tokens/s 12.5, risk-free") == "tokens/s 12.5, risk-free"


# 11 ------------------------------------------------------------------- races
def test_simultaneous_run_dir_creation_never_collides(tmp_path):
    made, errors = [], []

    def create():
        try:
            made.append(RunDir.create(tmp_path, "same").path)
        except Exception as exc:  # noqa: BLE001 - the test records any failure
            errors.append(exc)
    threads = [threading.Thread(target=create) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(made)) == 16


def test_preflight_probe_name_is_unique(tmp_path, capsys):
    out = tmp_path / "out"
    (out / ".write-test").mkdir(parents=True)  # what a parallel run's probe used to collide with
    cfg = write_config(tmp_path / "c.yaml", ONE_MODEL.replace("batch_sizes: [1, 2]", "batch_sizes: [1]"))
    code, _, err = run_main(capsys, "run", cfg, "--output-dir", out, "--format", "json")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".write-test")) == [".write-test"]


# 12 ------------------------------------------------------------------- smaller defects
GOOD = ONE_MODEL


@pytest.mark.parametrize("text,expect", [
    (GOOD + "name: again\n", "key 'name' is given twice"),
    (GOOD.replace("input_tokens: 8", "input_tokens: true"), "input_tokens: true is a boolean"),
    (GOOD.replace("batch_sizes: [1, 2]", "batch_sizes: [2, 2]"), "batch_sizes lists 2 twice"),
    (GOOD.replace("tiny:llama", "x" * 100_000), "models[0].id: must be at most 200 character(s)"),
])
def test_smaller_config_defects(tmp_path, capsys, text, expect):
    cfg = write_config(tmp_path / "c.yaml", text)
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    line = one_error_line(err)
    assert code == 2 and out == "" and expect in line and line.startswith(f"error: {cfg}")
    assert len(line) < 1000


def test_a_huge_id_is_cut_in_the_error(capsys):
    code, _, err = run_main(capsys, "cost", "--hardware", "h" * 100_000, "--output-tok-s", "10",
                            "--rental-usd-per-hour", "2")
    line = one_error_line(err)
    assert code == 2 and "…(100002 chars)" in line and "is unknown; known: " in line and len(line) < 2000


def test_preflight_errors_name_the_config_file(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml", GOOD.replace("tiny:llama", str(tmp_path / "nope")))
    code, _, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    assert code == 2 and one_error_line(err).startswith(f"error: {cfg}: models[0].path")


def test_unwritable_report_path_is_found_before_the_run(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml", GOOD)
    code, _, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out", "--report", tmp_path)
    assert code == 2 and "--report" in one_error_line(err)
    assert not (tmp_path / "out").exists()


# the last-resort guard ------------------------------------------------------------------------------
def test_an_unexpected_exception_is_one_line_and_exit_1(monkeypatch, capsys):
    from bench.catalog import models

    def boom():
        raise ZeroDivisionError("division by zero\nsecond line")
    monkeypatch.setattr(models, "rows", boom)  # `list models` calls it at run time
    code, out, err = run_main(capsys, "list", "models")
    assert code == 1 and err == ("error: internal: ZeroDivisionError: division by zero second line "
                                 "(rerun with -v for the traceback)\n")
    code, out, err = run_main(capsys, "-v", "list", "models")
    assert code == 1 and "Traceback" in err and err.strip().endswith("(rerun with -v for the traceback)")


def test_bench_error_is_never_the_internal_guard():
    assert issubclass(InputError, BenchError) and issubclass(ConfigError, BenchError)
    p = cli("cost", "--hardware", "h20", "--output-tok-s=-inf", "--rental-usd-per-hour", "2")
    assert p.returncode == 2 and p.stderr.startswith("error: --output-tok-s") and "Traceback" not in p.stderr
    p = cli("compare", ROOT / "configs")
    assert p.returncode == 2 and "not a run directory" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow  # a fresh interpreter killed and resumed
def test_kill_9_then_resume_keeps_every_case_once(tmp_path):
    """A real kill -9 at whatever point the run has reached, then --resume: each case once, each with exactly
    its own request records."""
    import signal
    import subprocess
    import sys

    cfg = write_config(tmp_path / "c.yaml", ONE_MODEL.replace("batch_sizes: [1, 2]", "batch_sizes: [1, 2, 3, 4]"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_bench.py"), "run", str(cfg), "--output-dir", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    cases_file = None
    while time.time() < deadline and proc.poll() is None:
        found = list(out.glob("*/cases.jsonl")) if out.exists() else []
        if found and found[0].read_text().count("\n") >= 1:
            cases_file = found[0]
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert cases_file is not None, "the run never finished a case"
    run_dir = cases_file.parent
    p = cli("run", cfg, "--resume", run_dir, "--format", "json")
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    assert [c["status"] for c in doc["cases"]] == ["ok"] * 4
    lines = [json.loads(x) for x in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert sorted(c["case_id"] for c in lines) == sorted(c["case_id"] for c in doc["cases"])  # each case once
    reqs = [json.loads(x) for x in (run_dir / "requests.jsonl").read_text().splitlines()]
    for c in doc["cases"]:
        assert sum(r["case_id"] == c["case_id"] for r in reqs) == c["requests"]["total"] == c["workload"]["batch_size"]
