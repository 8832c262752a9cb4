"""Hardening, round three (issues 24 and 25 leftovers): runs written before the redaction change are redacted
when read, a Ray runtime that cannot start is one line and no "complete" run, config errors name the field
and the fix, offline prompts are bounded by total tokens, and the flags and fields added this round refuse
hostile input with one line (exit 2, no traceback, no hang)."""
import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.redact import _SECRETS
from conftest import write_config, run_main

CFG = """
name: r3
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 3, batch_sizes: [2], num_batches: 1, warmup: 0}
"""



def one_error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in err and "internal" not in err.lower(), err
    return lines[0]


# 1 ----------------------------------------------------------- runs stored before redaction are redacted on read
OLD_SECRETS = ("old-api-key-5f1e2d", "old-bearer-8a7b6c", "old-serve-key-3c2b1a", "old-hf-token-9e8d7c",
               "old-url-pass-4d5e6f")


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("r3")
    cfg = write_config(tmp / "c.yaml", CFG)
    assert main(["run", str(cfg), "--output-dir", str(tmp / "out"), "--format", "json"]) == 0
    return next((tmp / "out").iterdir())


@pytest.fixture
def old_run(clean_run, tmp_path):
    """A run directory as an older bench wrote it: the secrets stored as given, in the manifest's config,
    its config text, and a case summary."""
    run = tmp_path / "old-run"
    shutil.copytree(clean_run, run)
    a, b, c, d, e = OLD_SECRETS
    m = json.loads((run / "manifest.json").read_text())
    m["config"]["backend"]["extra_body"] = {"api_key": a, "headers": {"Authorization": f"Bearer {b}"}}
    m["config"]["backend"]["serve_args"] = ["--api-key", c, "--hf-token", d, "--port", "8000"]
    m["config"]["backend"]["base_url"] = f"http://user:{e}@host:8000/v1"
    m["config_text"] += f"\n# extra_body: {{api_key: {a}}}\n# serve_args: [--api-key, {c}, --hf-token, {d}]\n"
    (run / "manifest.json").write_text(json.dumps(m))
    lines = (run / "cases.jsonl").read_text().splitlines()
    case = json.loads(lines[-1])
    case.setdefault("validity", {}).setdefault("notes", []) if isinstance(case.get("validity"), dict) else None
    case["note"] = f"server said: Authorization: Bearer {b}; url http://user:{e}@host/ --hf-token {d}"
    (run / "cases.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(case)]) + "\n")
    _SECRETS.clear()  # a fresh process: nothing registered yet
    return run


def _shows_no_secret(text: str):
    for s in OLD_SECRETS:
        assert s not in text, s


def test_load_run_redacts_an_old_run(old_run):
    from bench.results.run import load_run

    run = load_run(old_run)
    _shows_no_secret(json.dumps(run.manifest.raw))
    _shows_no_secret(json.dumps([c.to_json() for c in run.cases]))
    assert "--port" in json.dumps(run.manifest.raw)  # the structure stays


@pytest.mark.parametrize("view", ["compare-json", "compare-table", "report", "check", "cost"])
def test_no_view_shows_a_secret_of_an_old_run(old_run, tmp_path, capsys, view):
    if view == "compare-json":
        argv = ["compare", old_run, "--format", "json"]
    elif view == "compare-table":
        argv = ["compare", old_run, "--wide"]
    elif view == "report":
        argv = ["report", old_run, "--html", tmp_path / "r.html", "--markdown", tmp_path / "r.md"]
    elif view == "check":
        argv = ["check", old_run, "--baseline", old_run, "--format", "json"]
    else:
        argv = ["cost", "--hardware", "h100-sxm", "--results", old_run, "--rental-usd-per-hour", "2", "--format", "json"]
    code, out, err = run_main(capsys, *argv)
    assert code in (0, 1, 3), err
    shown = out + err
    for f in tmp_path.glob("r.*"):
        shown += f.read_text(errors="replace")
    _shows_no_secret(shown)


# 2 ------------------------------------------------------------------- a Ray runtime that cannot start or join
def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


@pytest.mark.parametrize("address", ["closed", "ray://closed", "no-such-host.invalid:6379", "127.0.0.1:99999",
                                     "127.0.0.1", "[/]:x", "h:6379\r\nX: y", "127.0.0.1:nan"])
def test_a_ray_address_where_nothing_answers_is_one_line_and_no_run(tmp_path, capsys, address):
    pytest.importorskip("ray")
    address = address.replace("closed", f"127.0.0.1:{_closed_port()}")
    cfg = write_config(tmp_path / "c.yaml", CFG)
    code, out, err = run_main(capsys, "run", cfg, "--executor", "ray", "--ray-address", address,
                              "--output-dir", tmp_path / "out")
    assert code == 2
    line = one_error_line(err)
    assert "--ray-address" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing ran: no run


@pytest.mark.parametrize("address", ["closed", "[/]", "h:1\r\nX: y"])
def test_a_bad_executor_address_in_the_config_names_the_field(tmp_path, capsys, address):
    pytest.importorskip("ray")
    address = address.replace("closed", f"127.0.0.1:{_closed_port()}")
    cfg = write_config(tmp_path / "c.yaml", CFG + f"executor: {{kind: ray, address: {json.dumps(address)}}}\n")
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    assert code == 2
    line = one_error_line(err)
    assert "executor.address" in line and "--ray-address" not in line, line
    assert not (tmp_path / "out").exists()


def test_ray_that_fails_to_start_leaves_no_complete_run(tmp_path, capsys, monkeypatch):
    ray = pytest.importorskip("ray")

    def broken(*a, **k):
        raise OSError("cannot create /tmp/ray: read-only file system")

    monkeypatch.setattr(ray, "init", broken)
    cfg = write_config(tmp_path / "c.yaml", CFG)
    code, out, err = run_main(capsys, "run", cfg, "--executor", "ray", "--output-dir", tmp_path / "out")
    assert code == 2
    line = one_error_line(err)
    assert "ray" in line.lower() and "read-only" in line
    for m in (tmp_path / "out").glob("*/manifest.json"):
        assert json.loads(m.read_text())["status"] != "complete"


def test_executor_ray_without_ray_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    cfg = write_config(tmp_path / "c.yaml", CFG)
    code, out, err = run_main(capsys, "run", cfg, "--executor", "ray", "--output-dir", tmp_path / "out")
    assert code == 2
    assert "pip install" in one_error_line(err)
    assert not (tmp_path / "out").exists()


# 3 ------------------------------------------------------------------- config errors in the project's words
@pytest.mark.parametrize("workload, field, fix", [
    ("request_rate_ramp: {from: 1e-4, to: 5, over_s: 10}", "workload.request_rate_ramp.from", ">= 0.001"),
    ("request_rate_ramp: {from: 1, to: 5, over_s: 1e12}", "workload.request_rate_ramp.over_s", "<= 86400"),
    ("request_rate_ramp: {from: 1, to: .nan, over_s: 10}", "workload.request_rate_ramp.to", "finite"),
    ("request_rates: [1], num_prompts: 2.5", "workload.num_prompts", "whole number"),
])
def test_config_bounds_are_one_line_naming_the_field_and_the_fix(tmp_path, capsys, workload, field, fix):
    text = ("name: r3\nmodels: [tiny:llama]\nbackend: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}\n"
            f"workload: {{input_tokens: 8, output_tokens: 3, {workload}}}\n")
    cfg = write_config(tmp_path / "c.yaml", text)
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    assert code == 2
    line = one_error_line(err)
    assert field in line and fix in line and "Input should" not in line, line


# 4 ------------------------------------------------------------------- random prompts bounded by total tokens
@pytest.mark.parametrize("backend, workload, figure", [
    ("{kind: transformers, device: cpu, dtype: float32, threads: 1}",
     "input_tokens: 100000, output_tokens: 1, batch_sizes: [4096], num_batches: 100", "40,960,000,000"),
    ("{kind: transformers, device: cpu, dtype: float32, threads: 1}",
     "input_tokens: [8, 65536], output_tokens: 1, batch_sizes: [64], num_batches: 10, trials: 100", "4,194,304,000"),
    ("{kind: openai, base_url: 'http://127.0.0.1:1/v1'}",
     "input_tokens: 100000, output_tokens: 1, concurrency: [1], num_prompts: 10000", "1,000,000,000"),
])
def test_random_prompts_are_bounded_by_total_tokens(tmp_path, capsys, backend, workload, figure):
    from bench.config import limits

    text = f"name: r3\nmodels: [tiny:llama]\nbackend: {backend}\nworkload: {{{workload}}}\n"
    cfg = write_config(tmp_path / "c.yaml", text)
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    assert code == 2
    line = one_error_line(err)
    assert "workload" in line and figure in line and f"{limits.MAX_CASE_PROMPT_TOKENS:,}" in line, line
    assert not (tmp_path / "out").exists()


def test_random_prompts_within_the_bound_are_accepted():
    from bench.config.load import parse_config
    import yaml

    cfg = parse_config(yaml.safe_load(CFG.replace("input_tokens: 8", "input_tokens: 8192")
                                      .replace("batch_sizes: [2]", "batch_sizes: [256]")), "c.yaml")
    assert cfg.workload.input_tokens == 8192


# 5 ------------------------------------------------------------------- this round's new surfaces, probed
PROM = ("name: r3\nmodels: [tiny:llama]\nbackend: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}\n"
        "workload: {input_tokens: 8, output_tokens: 3, concurrency: [1]}\n"
        "energy: {source: prometheus, prometheus: {%s}}\n")


@pytest.mark.parametrize("field, fix", [
    ("""selector: '{a="b"} or vector(1) {c="d"}'""", "label matchers"),  # PromQL injected: fake power
    ("""selector: '{a="}'""", "label matchers"),
    ("""selector: '{}}'""", "label matchers"),
    ("""selector: "{a=\\"b\\"}\\r\\n{c=\\"d\\"}" """, "label matchers"),
    ("""selector: '{a=~"x", b!~"[/]"} * 1000'""", "label matchers"),
    ("step_s: 0", "> 0"), ("step_s: .nan", "finite"), ("step_s: 1e12", "<= 3600"), ("timeout_s: .inf", "finite"),
    ("min_samples: 1e12", "whole number"), ("url: '[/]'", "http(s) URL"), ("energy_metric: 'a{b}'", "must match the pattern"),
])
def test_prometheus_fields_refuse_hostile_values_in_one_line(tmp_path, capsys, field, fix):
    cfg = write_config(tmp_path / "c.yaml", PROM % (field if field.startswith("url") else
                                                    f"url: 'http://127.0.0.1:1', {field}"))
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    assert code == 2
    line = one_error_line(err)
    assert "energy.prometheus." in line and fix in line, line


@pytest.mark.parametrize("selector", ['{Hostname=~"h20-node-[12]"}', "{gpu!='3', job=`dcgm`,}", "{}", "",
                                      '{a="x\\"}y"}'])
def test_prometheus_selectors_that_are_label_matchers_are_kept(selector):
    from bench.config.schema import PrometheusEnergy

    assert PrometheusEnergy(url="http://p:9090", selector=selector).selector == selector


@pytest.mark.parametrize("flag", [["--executor", "ray"], ["--ray-address", "auto"], ["--output-dir", "o"],
                                  ["--max-duration", "60"], ["--report", "r.html"], ["--resume", "r"]])
def test_print_config_never_drops_a_run_flag_silently(capsys, flag):
    code, out, err = run_main(capsys, "run", "--model", "tiny:llama", "--print-config", *flag)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert flag[0] in line and "--print-config" in line, line


@pytest.mark.parametrize("view", ["compare", "pivot", "check"])
def test_markdown_views_hold_no_live_html_from_a_run(clean_run, tmp_path, capsys, view):
    """compare/check --format md is a CI job summary, rendered as HTML: a label or hardware name from a run
    (or --label) is text there, never a tag."""
    run = tmp_path / "x"
    shutil.copytree(clean_run, run)
    m = json.loads((run / "manifest.json").read_text())
    m["config"]["name"] = 'q"><img src=x onerror=alert(1)>'
    m["hardware"] = "<b>chip</b>|x"
    (run / "manifest.json").write_text(json.dumps(m))
    if view == "compare":
        argv = ["compare", run, clean_run, "--format", "md", "--baseline", run]
    elif view == "pivot":
        argv = ["compare", run, clean_run, "--format", "md", "--pivot", "output_tok_s", "--baseline", run]
    else:
        argv = ["check", run, "--baseline", clean_run, "--format", "md"]
    code, out, err = run_main(capsys, *argv)
    assert code in (0, 1, 3), err
    assert "<img" not in out and "<b>" not in out, out


@pytest.mark.parametrize("argv", [["run", "--model", "tiny:llama", "--input-tokens", "4", "--output-tokens", "2",
                                   "--report"], ["report", "RUN", "--html"], ["report", "RUN", "--markdown"],
                                  ["compare", "RUN", "--output"]])
def test_an_output_path_that_is_a_fifo_is_refused_before_any_work(clean_run, tmp_path, capsys, argv):
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nothing reads it: writing would block for ever
    argv = [clean_run if a == "RUN" else a for a in argv] + [fifo, "--output-dir", tmp_path / "out"][
        : 1 if argv[0] != "run" else 3]
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert "not a regular file" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_executor_ray_with_a_broken_ray_install_is_one_line(tmp_path, capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def broken(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("libray.so: cannot open shared object file")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", broken)
    cfg = write_config(tmp_path / "c.yaml", CFG)
    code, out, err = run_main(capsys, "run", cfg, "--executor", "ray", "--output-dir", tmp_path / "out")
    assert code == 2
    line = one_error_line(err)
    assert "ray" in line.lower() and "libray.so" in line, line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_ray_address_that_answers_but_is_not_ray_is_bounded(tmp_path):
    """Something listens at the address (here an HTTP server), but not a Ray head: Ray would retry for ever;
    the run gives up after executors.distributed.START_TIMEOUT_S with one line (run in a child process: a
    half-started Ray stays behind in the process that tried)."""
    import socket
    import subprocess
    import sys
    import threading
    from http.server import HTTPServer, BaseHTTPRequestHandler

    pytest.importorskip("ray")
    srv = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cfg = write_config(tmp_path / "c.yaml", CFG)
        code = ("import sys; import bench.measure.executors.distributed as d; d.START_TIMEOUT_S = 8; "
                "from bench.cli import main; sys.exit(main(sys.argv[1:]))")
        p = subprocess.run([sys.executable, "-c", code, "run", str(cfg), "--executor", "ray", "--ray-address",
                            f"127.0.0.1:{srv.server_address[1]}", "--output-dir", str(tmp_path / "out")],
                           capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    finally:
        srv.shutdown()
    assert p.returncode == 2, p.stderr[-2000:]
    line = one_error_line("\n".join(x for x in p.stderr.splitlines() if x.startswith("error")))
    assert "--ray-address" in line and "within 8 s" in line, line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_compare_columns_naming_a_metric_twice_is_refused(clean_run, capsys):
    code, out, err = run_main(capsys, "compare", clean_run, "--columns", "output_tok_s, output_tok_s")
    assert code == 2 and "twice" in one_error_line(err)
