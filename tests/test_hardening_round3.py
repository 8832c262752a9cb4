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
from conftest import write_config

CFG = """
name: r3
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 3, batch_sizes: [2], num_batches: 1, warmup: 0}
"""


def run_main(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


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
