"""Hardening, round two (issue 24): --resume recounts records by parsing, secrets are redacted by structure
and by value, user text never reaches rich as markup, a full disk or a read-only file system is one line and
loses nothing, and the writer never writes a case its reader refuses."""
import errno
import json
import os
from pathlib import Path

import pytest

from bench.results.rundir import RunDir
from conftest import run_main, run_with_a_failed_case, write_config

CFG = """
name: r2
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 3, batch_sizes: [2, 3], num_batches: 2, warmup: 0}
"""
# bs2: 2 batches x 2 = 4 records; bs3: 2 x 3 = 6 records



def one_error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.startswith("error")]  # besides: the progress line
    assert len(lines) == 1 and "Traceback" not in err and "internal" not in err, err
    return lines[0]


def records_by_case(run_dir: Path) -> dict:
    out: dict = {}
    for line in (run_dir / "requests.jsonl").read_bytes().splitlines():
        if line.strip():
            cid = json.loads(line)["case_id"]
            out[cid] = out.get(cid, 0) + 1
    return out


@pytest.fixture
def half_run(tmp_path, capsys, monkeypatch):
    """A finished run whose bs3 case failed (its 6 records missing), so that --resume reruns it."""
    cfg, run_dir = run_with_a_failed_case(tmp_path, capsys, monkeypatch, CFG, "_bs3_")
    assert records_by_case(run_dir) == {"tiny-llama_bs2_in8_out3": 4}
    return cfg, run_dir


def _resume(capsys, cfg, run_dir):
    code, out, err = run_main(capsys, "run", cfg, "--resume", run_dir, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def _damage_offsets(run_dir: Path, value):
    lines = (run_dir / "cases.jsonl").read_text().splitlines()
    cases = [json.loads(x) for x in lines]
    for c in cases:
        c["records"]["requests_end_bytes"] = value
    (run_dir / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))


@pytest.mark.parametrize("damage", ["crlf", 0, -5, 10**12, "crlf+0"])
def test_resume_recounts_records_and_never_trusts_an_offset(half_run, capsys, damage):
    cfg, run_dir = half_run
    if "crlf" in str(damage):  # git with autocrlf, or an editor, converted the run directory
        for name in ("cases.jsonl", "requests.jsonl"):
            p = run_dir / name
            p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    if damage != "crlf":
        _damage_offsets(run_dir, 0 if damage == "crlf+0" else damage)
        if damage == "crlf+0":
            p = run_dir / "cases.jsonl"
            p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    _resume(capsys, cfg, run_dir)
    assert records_by_case(run_dir) == {"tiny-llama_bs2_in8_out3": 4, "tiny-llama_bs3_in8_out3": 6}
    assert b"\r" not in (run_dir / "requests.jsonl").read_bytes()
    rd = RunDir(run_dir)
    latest = {c["case_id"]: c for c in rd.latest_cases()}
    assert all(c["status"] == "ok" for c in latest.values())
    # the repaired index agrees with the file: each case's records end where it says
    data = (run_dir / "requests.jsonl").read_bytes()
    for cid, c in latest.items():
        end = c["records"]["requests_end_bytes"]
        assert 0 < end <= len(data) and data[end - 1:end] == b"\n"
        assert json.loads(data[:end].splitlines()[-1])["case_id"] == cid


def test_resume_drops_only_uncommitted_records_of_a_rerun_case(half_run, capsys):
    """A kill between a retried case's records and its summary: those records have no summary of their
    own and are dropped; the ok case keeps every record that parses."""
    cfg, run_dir = half_run
    with open(run_dir / "requests.jsonl", "ab") as f:
        f.write(b'{"case_id": "tiny-llama_bs3_in8_out3", "success": true}\n' * 2)
        f.write(b'{"case_id": "nobody", "success": true}\n')
        f.write(b"not json\n")
    _damage_offsets(run_dir, 10**12)
    _resume(capsys, cfg, run_dir)
    assert records_by_case(run_dir) == {"tiny-llama_bs2_in8_out3": 4, "tiny-llama_bs3_in8_out3": 6}


# 4 ------------------------------------------------------------------- secrets by structure and by value
def test_secrets_in_extra_body_and_serve_args_are_stored_nowhere(tmp_path, capsys):
    from fake_openai import FakeOpenAI

    secrets = ("extra-body-key-71f3a9", "nested-token-0c4e2b", "serve-args-key-9d8e7f", "hf-token-value-5a6b7c")
    with FakeOpenAI() as server:
        cfg = write_config(tmp_path / "ep.yaml", f"""
name: ep
models: [tiny:llama]
backend: {{kind: openai, base_url: "{server.base_url}", tokenizer: tiny:llama, hardware: h20,
          extra_body: {{api_key: {secrets[0]}, deep: {{list: [{{Authorization: "Bearer {secrets[1]}"}}]}}}},
          serve_args: [--api-key, {secrets[2]}, "--hf-token={secrets[3]}", --port, "8000"]}}
workload: {{input_tokens: 8, output_tokens: 4, num_prompts: 3, warmup_requests: 0, concurrency: [1]}}
""")
        code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out", "--format", "json",
                                  "--report", tmp_path / "r.html")
    run_dir = Path(json.loads(out)["run_dir"])
    stored = "".join(p.read_text() for p in run_dir.iterdir() if p.is_file()) + (tmp_path / "r.html").read_text()
    assert "[REDACTED]" in stored and "--port" in stored  # the structure stays; only the values go
    for s in secrets:
        assert s not in stored and s not in out and s not in err, s


def test_redaction_by_structure_keeps_what_is_not_secret():
    from bench.redact import REDACTED, redact_obj

    obj = {"api_key_env": "MY_KEY", "output_tokens": 4, "max_tokens": 9, "engine_args": {"hf_token": "hf_xyz12345"},
           "args": ["--token", "tok-abcdef12", "--tokenizer", "tiny:llama"], "note": "eos_token: </s>"}
    out = redact_obj(obj)
    assert out["api_key_env"] == "MY_KEY" and out["output_tokens"] == 4 and out["max_tokens"] == 9
    assert out["engine_args"]["hf_token"] == REDACTED
    assert out["args"] == ["--token", REDACTED, "--tokenizer", "tiny:llama"]
    assert out["note"] == "eos_token: </s>"
    assert redact_obj({"text": "the key was hf_xyz12345"})["text"] == f"the key was {REDACTED}"  # by value
    assert redact_obj({"base_url": "http://bob:pw123@h:8000/v1"})["base_url"] == f"http://bob:{REDACTED}@h:8000/v1"


# 6 ------------------------------------------------------------------- rich markup in user text
MARKUP = "[/]"


def test_markup_in_paths_and_labels_is_printed_as_written(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml", CFG.replace("batch_sizes: [2, 3], num_batches: 2", "batch_sizes: [1], "
                                                        "num_batches: 1"))
    out_dir = tmp_path / "o[/b]"
    code, out, err = run_main(capsys, "run", cfg, "--output-dir", out_dir)
    assert code == 0, err
    assert "o[/b]" in out and "Traceback" not in err
    run_dir = next(out_dir.iterdir())
    # a run directory whose labels hold markup: every command that prints them shows them as written
    cases = [json.loads(x) for x in (run_dir / "cases.jsonl").read_text().splitlines()]
    for c in cases:
        c["model"]["label"] = f"m{MARKUP}[bold red]x"
        c["case_id"] = f"id{MARKUP}"
        c["hardware"] = "[link=http://x]hw[/link]"
    (run_dir / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    for argv in (["compare", run_dir], ["cost", "--results", run_dir, "--hardware", "h100-sxm", "--rental-usd-per-hour", "2"], ["check", run_dir, "--baseline", run_dir]):
        code, out, err = run_main(capsys, *argv)
        assert "internal" not in err and "Traceback" not in err, (argv, err)
        assert code in (0, 1, 3), (argv, code, err)
        assert f"id{MARKUP}" in out or f"m{MARKUP}" in out or "[link=http://x]hw[/link]" in out, (argv, out)


def test_the_console_helper_prints_markup_as_text():
    import io

    from bench.present import console, styled

    c = console()
    c.file = io.StringIO()
    c.print("a [/] b [bold]c :smile:")
    c.print(styled("[/x]", "red"))
    assert c.file.getvalue().splitlines() == ["a [/] b [bold]c :smile:", "[/x]"]


# 8 ------------------------------------------------------------------- a full disk, a read-only file system
def _failing_write(monkeypatch, err: int, after_cases: int = 1):
    """os.write raising ``err`` once ``after_cases`` cases are in cases.jsonl: the disk fills mid-run."""
    real = os.write

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.endswith(("requests.jsonl", "cases.jsonl")):
            cases = Path(target).with_name("cases.jsonl")
            if cases.is_file() and len(cases.read_bytes().splitlines()) >= after_cases:
                raise OSError(err, os.strerror(err))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("err, says", [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "read-only")])
def test_a_full_disk_mid_run_is_one_line_and_loses_nothing(tmp_path, capsys, monkeypatch, err, says):
    cfg = write_config(tmp_path / "c.yaml", CFG)
    _failing_write(monkeypatch, err)
    code, out, errtext = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out")
    line = one_error_line(errtext)
    assert code == 1 and says in line and "cannot write" in line and "marked interrupted" in line, line
    run_dir = next((tmp_path / "out").iterdir())
    assert str(run_dir) in line
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert records_by_case(run_dir) == {"tiny-llama_bs2_in8_out3": 4}  # the first case, whole; no partial line
    assert (run_dir / "requests.jsonl").read_bytes().endswith(b"\n")
    monkeypatch.undo()
    code, out, errtext = run_main(capsys, "run", cfg, "--resume", run_dir)
    assert code == 0, errtext
    assert records_by_case(run_dir) == {"tiny-llama_bs2_in8_out3": 4, "tiny-llama_bs3_in8_out3": 6}


def test_a_failed_atomic_write_leaves_no_tmp_and_the_old_file(tmp_path, monkeypatch):
    from bench.errors import StorageError
    from bench.results.rundir import write_json_atomic

    target = tmp_path / "manifest.json"
    target.write_text('{"status": "running"}\n')

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageError, match=r"manifest\.json: cannot write \(No space left on device\); free space"):
        write_json_atomic(target, {"status": "complete"})
    assert list(tmp_path.iterdir()) == [target] and json.loads(target.read_text()) == {"status": "running"}


def test_resume_on_a_real_read_only_file_system_is_one_line(half_run, tmp_path):
    """A bind mount remounted read-only in a private user and mount namespace (nothing outside sees it)."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    if not shutil.which("unshare") or subprocess.run(["unshare", "-r", "-m", "true"]).returncode != 0:
        pytest.skip("no user namespaces here to mount a read-only file system")
    cfg, run_dir = half_run
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    script = (f'mount --bind "{run_dir}" "{run_dir}" && mount -o remount,bind,ro "{run_dir}" && '
              f'exec "{sys.executable}" "{ROOT / "run_bench.py"}" run "{cfg}" --resume "{run_dir}"')
    p = subprocess.run(["unshare", "-r", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = one_error_line(p.stderr)
    assert p.returncode == 1 and "Read-only file system" in line and "copy the run directory" in line, p.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


# also ---------------------------------------------------------------- a server reporting max_model_len: 1
@pytest.mark.parametrize("reported, expect", [(1, 2), ("abc", 0), (-5, 0), (True, 0)])
def test_a_server_context_of_one_token_never_writes_a_damaged_case(tmp_path, capsys, reported, expect):
    from fake_openai import FakeOpenAI

    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt_tokens": 4, "output_tokens": 3}\n' * 3)
    with FakeOpenAI() as server:
        server.model_extra = {"max_model_len": reported}
        cfg = write_config(tmp_path / "ep.yaml", f"""
name: ep
models: [tiny:llama]
backend: {{kind: openai, base_url: "{server.base_url}", served_model_name: ok, tokenizer: tiny:llama}}
workload: {{dataset: {{kind: jsonl, path: {data}}}, num_prompts: 3, warmup_requests: 0, concurrency: [1]}}
""")
        code, out, err = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out", "--format", "json")
    assert code == expect, err
    if expect == 2:
        assert "context is 1 token(s): too small" in one_error_line(err)
        (run_dir,) = (tmp_path / "out").iterdir()
        assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    else:
        run_dir = Path(json.loads(out)["run_dir"])
        (case,) = RunDir(run_dir).cases()  # the reader takes back what was written
        assert case["status"] == "ok" and case["workload"]["output_tokens"] == 3
        assert any("is not a context length" in n for n in case["notes"])
    for run_dir in (tmp_path / "out").glob("*"):
        RunDir(run_dir).cases()  # nothing written that its reader refuses
