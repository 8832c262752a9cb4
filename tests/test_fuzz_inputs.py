"""Hostile input, generated here: bad configs, bad flags and corrupted run directories. Each must give exit 2,
every stderr line starting with ``error:``, nothing on stdout and no traceback; Hypothesis checks that the
config schema and the flag parsers only ever let finite, in-range, bounded values through."""
import json
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.config import limits
from bench.cli import args as cli_args
from bench.cli import main
from bench.config.cases import expand
from bench.config.load import config_sha256, load_config, parse_config
from bench.errors import ConfigError, InputError
from conftest import ROOT, run_cli, run_main

RUN = sorted((ROOT / "tests" / "data" / "runs").iterdir())[0]

GOOD = """name: fz
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1], num_batches: 1, warmup: 0}
"""
OPENAI = """name: fz
models: [tiny:llama]
backend: {kind: openai, base_url: "http://127.0.0.1:9/v1", tokenizer: tiny:llama}
workload: {input_tokens: 8, output_tokens: 4, concurrency: [1]}
"""


def expect_bad_input(code: int, out: str, err: str) -> list[str]:
    assert code == 2, (code, out[-500:], err[-2000:])
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), err[-2000:]
    assert all(len(line) < 3000 for line in lines)
    return lines



# ---------------------------------------------------------------------------------------------- configs
def _workload(**kw):
    return GOOD.replace("input_tokens: 8, output_tokens: 4, batch_sizes: [1], num_batches: 1, warmup: 0",
                        ", ".join(f"{k}: {v}" for k, v in {"input_tokens": 8, "output_tokens": 4, "batch_sizes": "[1]",
                                                            "num_batches": 1, "warmup": 0, **kw}.items()))


BAD_CONFIG_TEXT = {
    "empty": "",
    "only-comment": "# nothing\n",
    "scalar": "42\n",
    "list": "- a\n- b\n",
    "yaml-syntax": "name: [unclosed\n",
    "tab-indent": "name: x\n\tmodels: []\n",
    "duplicate-top-key": GOOD + "models: [tiny:qwen2]\n",
    "duplicate-nested-key": GOOD.replace("device: cpu", "device: cpu, device: cuda"),
    "alias-bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh")) + "name: x\n",
    "deep-nesting": "name: " + "[" * 5000 + "]" * 5000 + "\n",
    "python-tag": GOOD + "extra: !!python/object/apply:os.system ['true']\n",
    "name-too-long": GOOD.replace("name: fz", "name: " + "n" * 250),
    "name-slash": GOOD.replace("name: fz", "name: a/b"),
    "name-empty": GOOD.replace("name: fz", "name: ''"),
    "name-number": GOOD.replace("name: fz", "name: 12"),
    "models-empty": GOOD.replace("[tiny:llama]", "[]"),
    "models-dup": GOOD.replace("[tiny:llama]", "[tiny:llama, tiny:llama]"),
    "model-null": GOOD.replace("[tiny:llama]", "[null]"),
    "model-number": GOOD.replace("[tiny:llama]", "[3]"),
    "model-huge-id": GOOD.replace("[tiny:llama]", "[" + "m" * 100_000 + "]"),
    "model-both": GOOD.replace("[tiny:llama]", "[{id: tiny:llama, path: /tmp}]"),
    "model-seed-bool": GOOD.replace("[tiny:llama]", "[{id: tiny:llama, seed: true}]"),
    "model-seed-neg": GOOD.replace("[tiny:llama]", "[{id: tiny:llama, seed: -5}]"),
    "backend-missing": GOOD.replace("backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}\n", ""),
    "backend-kind-bool": GOOD.replace("kind: transformers", "kind: true"),
    "threads-bool": GOOD.replace("threads: 1", "threads: true"),
    "threads-huge": GOOD.replace("threads: 1", "threads: 100000"),
    "threads-float": GOOD.replace("threads: 1", "threads: 1.5"),
    "dtype-unknown": GOOD.replace("dtype: float32", "dtype: float8"),
    "trust-remote-code-string": GOOD.replace("threads: 1", "threads: 1, trust_remote_code: maybe"),
    "input-true": _workload(input_tokens="true"),
    "input-false": _workload(input_tokens="false"),
    "input-nan": _workload(input_tokens=".nan"),
    "input-inf": _workload(input_tokens=".inf"),
    "input-1e18": _workload(input_tokens="1.0e18"),
    "input-1e18-string": _workload(input_tokens="1e18"),
    "input-huge-int": _workload(input_tokens="9" * 400),
    "input-zero": _workload(input_tokens=0),
    "input-negative": _workload(input_tokens=-8),
    "input-fraction": _workload(input_tokens=8.5),
    "input-string": _workload(input_tokens="'eight'"),
    "input-empty-list": _workload(input_tokens="[]"),
    "input-list-bool": _workload(input_tokens="[8, true]"),
    "input-list-dup": _workload(input_tokens="[8, 8]"),
    "input-dict": _workload(input_tokens="{a: 1}"),
    "output-beyond-limit": _workload(output_tokens=limits.MAX_TOKENS + 1),
    "batch-empty": _workload(batch_sizes="[]"),
    "batch-dup": _workload(batch_sizes="[1, 2, 1]"),
    "batch-bool": _workload(batch_sizes="[true]"),
    "batch-huge": _workload(batch_sizes=f"[{limits.MAX_BATCH + 1}]"),
    "batch-scalar-string": _workload(batch_sizes="one"),
    "num-batches-zero": _workload(num_batches=0),
    "num-batches-huge": _workload(num_batches=10**12),
    "both-counts": _workload(num_requests=4),
    "requests-per-case": _workload(batch_sizes="[65536]", num_batches=1000),
    "num-requests-huge": _workload(num_batches="null", num_requests=10**7),
    "warmup-negative": _workload(warmup=-1),
    "warmup-huge": _workload(warmup=10**9),
    "repeats-bool": _workload(repeats="true"),
    "seed-negative": _workload(seed=-1),
    "seed-huge": _workload(seed=2**40),
    "huge-sweep": _workload(input_tokens=str(list(range(1, 201))), output_tokens=str(list(range(1, 201)))),
    "context-exceeded": _workload(input_tokens=4000),
    "unknown-workload-key": _workload(bogus=1),
    "concurrency-offline": _workload(concurrency="[1]"),
    "energy-hz-zero": GOOD + "energy: {sample_hz: 0}\n",
    "energy-hz-nan": GOOD + "energy: {sample_hz: .nan}\n",
    "energy-tdp-inf": GOOD + "energy: {source: estimate-tdp, tdp_w: .inf}\n",
    "energy-tdp-missing": GOOD + "energy: {source: estimate-tdp}\n",
    "energy-util-bool": GOOD + "energy: {utilisation: true}\n",
    "energy-idle-huge": GOOD + "energy: {idle_baseline_s: 1.0e9}\n",
    "energy-source-unknown": GOOD + "energy: {source: wattmeter}\n",
    "output-dir-empty": GOOD + "output_dir: ''\n",
    "output-dir-list": GOOD + "output_dir: [a]\n",
    "output-dir-huge": GOOD + "output_dir: /" + "d" * 5000 + "\n",
    "openai-rate-nan": OPENAI.replace("concurrency: [1]", "request_rates: [.nan]"),
    "openai-rate-inf-float": OPENAI.replace("concurrency: [1]", "request_rates: [.inf]"),
    "openai-rate-zero": OPENAI.replace("concurrency: [1]", "request_rates: [0]"),
    "openai-rate-dup": OPENAI.replace("concurrency: [1]", "request_rates: [2, 2]"),
    "openai-rate-bool": OPENAI.replace("concurrency: [1]", "request_rates: [true]"),
    "openai-concurrency-dup": OPENAI.replace("concurrency: [1]", "concurrency: [4, 4]"),
    "openai-timeout-inf": OPENAI.replace("tokenizer: tiny:llama", "tokenizer: tiny:llama, request_timeout_s: .inf"),
    "openai-timeout-huge": OPENAI.replace("tokenizer: tiny:llama", "tokenizer: tiny:llama, request_timeout_s: 1.0e12"),
    "openai-accelerators-bool": OPENAI.replace("tokenizer: tiny:llama", "tokenizer: tiny:llama, accelerators: true"),
    "openai-bad-url": OPENAI.replace("http://127.0.0.1:9/v1", "ftp://x"),
    "openai-url-ipv6-open": OPENAI.replace("http://127.0.0.1:9/v1", "http://[::1/v1"),
    "openai-url-port-range": OPENAI.replace("http://127.0.0.1:9/v1", "http://127.0.0.1:99999/v1"),
    "openai-url-space": OPENAI.replace("http://127.0.0.1:9/v1", "http://a b/v1"),
    "openai-tokenizer-missing": OPENAI.replace("tokenizer: tiny:llama", "tokenizer: /nonexistent/tok"),
    "openai-tokenizer-tiny-unknown": OPENAI.replace("tokenizer: tiny:llama", "tokenizer: 'tiny:mamba'"),
    "openai-api-key-env-unset": OPENAI.replace("tokenizer: tiny:llama", "tokenizer: tiny:llama, api_key_env: NO_SUCH_VAR_I16"),
    "openai-unreachable": OPENAI,
    "openai-batch-sizes": OPENAI.replace("concurrency: [1]", "batch_sizes: [1]"),
    "openai-slo-inverted": OPENAI.replace("concurrency: [1]", "slo: {ttft_ms: 100}, slo_search: {lo: 5, hi: 1}"),
    "openai-slo-nan": OPENAI.replace("concurrency: [1]", "slo: {ttft_ms: .nan}"),
    "openai-burstiness-inf": OPENAI.replace("concurrency: [1]", "concurrency: [1], burstiness: .inf"),
    "local-path-missing": GOOD.replace("[tiny:llama]", "[/nonexistent/model/dir]"),
    "local-path-huge": GOOD.replace("[tiny:llama]", "[/" + "p" * 5000 + "]"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIG_TEXT))
def test_bad_config(tmp_path, capsys, name):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD_CONFIG_TEXT[name])
    lines = expect_bad_input(*run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out"))
    assert lines[0].startswith(f"error: {cfg}"), lines[0][:300]


@pytest.mark.parametrize("name,data", [
    ("latin-1", "name: caf\xe9\n".encode("latin-1")),
    ("utf-16", GOOD.encode("utf-16")),
    ("binary", bytes(range(256)) * 4),
    ("nul", GOOD.encode() + b"\x00"),
    ("huge", b"# " + b"x" * 2_000_000 + b"\n"),
])
def test_unreadable_config_bytes(tmp_path, capsys, name, data):
    cfg = tmp_path / "bad.yaml"
    cfg.write_bytes(data)
    lines = expect_bad_input(*run_main(capsys, "run", cfg))
    assert lines[0].startswith(f"error: {cfg}")


def test_config_that_is_a_directory_or_missing(tmp_path, capsys):
    expect_bad_input(*run_main(capsys, "run", tmp_path))
    expect_bad_input(*run_main(capsys, "run", tmp_path / "absent.yaml"))


# ---------------------------------------------------------------------------------------------- flags
COST = ["cost", "--hardware", "h20", "--rental-usd-per-hour", "2"]
PROJECT = ["project", "--model", "Llama-3.1-8B", "--hardware", "h20", "--input-tokens", "100", "--output-tokens",
           "100", "--batch", "8", "--dtype", "fp8"]
CAPACITY = ["capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--input-tokens", "100", "--output-tokens",
            "100", "--accelerators", "1000"]


def _with(base: list[str], flag: str, value: str) -> list[str]:
    out = list(base)
    if flag in out:
        i = out.index(flag)
        out[i + 1] = value
    else:
        out += [flag, value]
    return [x if not x.startswith("--") or x != flag else x for x in out]


NUMBERS = ["nan", "inf", "-inf", "-1", "1e300", "1e-320", "abc", ""]
BAD_FLAGS = []
for f in ("--output-tok-s", "--input-tok-s", "--rental-usd-per-hour", "--blend-ratio", "--fx", "--utilisation",
          "--server-overhead"):
    BAD_FLAGS += [_with(COST + (["--output-tok-s", "100"] if f != "--output-tok-s" else []), f, v) for v in NUMBERS]
for f in ("--pue", "--life-years", "--electricity-usd-per-kwh", "--other-opex-fraction", "--power-w"):
    base = ["cost", "--hardware", "h20", "--output-tok-s", "100", "--capex-usd", "20000", "--life-years", "5", "--pue",
            "1.2", "--electricity-usd-per-kwh", "0.1"]
    BAD_FLAGS += [_with(base, f, v) for v in NUMBERS]
OWN = ["cost", "--hardware", "h20", "--output-tok-s", "100", "--capex-usd", "20000", "--life-years", "5", "--pue",
       "1.2", "--electricity-usd-per-kwh", "0.1"]
BAD_FLAGS += [_with(OWN, f, v) for f, v in (("--server-overhead", "0.5"), ("--server-overhead", "64"),
                                            ("--other-opex-fraction", "3"), ("--life-years", "1e-9"),
                                            ("--power-w", "1e18"), ("--electricity-usd-per-kwh", "1e5"),
                                            ("--fx", "1e5"), ("--capex-usd", "1e17"))]
BAD_FLAGS += [
    PROJECT + ["--kv-dtype", ""], _with(PROJECT, "--model", " "), ["compare", ""], ["report", "", "--html", "x.html"],
    ["cost", "--hardware", "h20", "--output-tok-s", "100", "--capex-usd", "20000"],  # ownership needs more
    _with(COST + ["--output-tok-s", "100"], "--hardware", "nope"),
    _with(COST + ["--output-tok-s", "100"], "--hardware", ""),
    COST + ["--output-tok-s", "100", "--model", "nope"],
    ["cost", "--hardware", "h20", "--output-tok-s", "100", "--pricing", "nope"],
    ["cost", "--hardware", "h20", "--output-tok-s", "100", "--pue", "0.5", "--capex-usd", "1", "--life-years", "1",
     "--electricity-usd-per-kwh", "0.1"],
]
for f in ("--input-tokens", "--output-tokens", "--batch", "--accelerators"):
    BAD_FLAGS += [_with(PROJECT, f, v) for v in ("0", "-1", "1.5", "nan", "99999999999", "x")]
for f in ("--mbu", "--mfu"):
    BAD_FLAGS += [PROJECT + [f, v] for v in ("nan", "inf", "0", "-0.5", "1.5")]
BAD_FLAGS += [
    _with(PROJECT, "--hardware", ","), _with(PROJECT, "--hardware", "h20,nope"), _with(PROJECT, "--dtype", "fp4"),
    _with(PROJECT, "--model", "nope"), PROJECT + ["--kv-dtype", "fp3"], PROJECT + ["--sw-efficiency", "bogus=0.5"],
    PROJECT + ["--sw-efficiency", "h20=nan"], PROJECT + ["--sw-efficiency", "h20=2"], PROJECT + ["--sw-efficiency", "h20"],
    PROJECT + ["--sw-efficiency", "h20=x"], PROJECT + ["--calibrate", "/nonexistent"],
    _with(PROJECT, "--model", "DeepSeek-R1"),  # does not fit one H20 at batch 1
]
for f, vals in (("--accelerators", ("0.5", "0", "-3", "nan", "inf", "1e300", "1e12")),
                ("--power-mw", ("0", "nan", "inf", "-1", "1e300")), ("--tokens-per-day", ("0", "nan", "inf", "-1")),
                ("--pue", ("0.5", "nan", "inf", "1e6")), ("--utilisation", ("0", "1.5", "nan")),
                ("--replica-accelerators", ("0", "-1", "100000")), ("--tok-s-per-accelerator", ("0", "nan", "inf")),
                ("--rental-usd-per-hour", ("0", "nan", "-1")), ("--input-tokens", ("0", "99999999999")),
                ("--sw-efficiency", ("bogus=0.5", "h20=0", ","))):
    for v in vals:
        base = CAPACITY if f != "--power-mw" and f != "--tokens-per-day" else [
            x for x in CAPACITY if x not in ("--accelerators", "1000")]
        BAD_FLAGS.append(_with(base, f, v))
BAD_FLAGS += [
    ["capacity"], ["capacity", "--hardware", "h20"], _with(CAPACITY, "--hardware", ","),
    _with(CAPACITY, "--hardware", "h20,h20"), _with(PROJECT, "--hardware", "h20,H20"),
    ["capacity", "--scenario", "exhibit63", "--accelerators", "5"],
    [x if x != "--hardware" else "--compare" for x in CAPACITY],  # one chip is not a comparison
    CAPACITY + ["--compare", "h20,910b"],
    _with(CAPACITY, "--input-tokens", "1000000"),  # beyond Llama-3.1-8B's 131,072-token context
    _with(PROJECT, "--output-tokens", "1000000"),
    [x for x in CAPACITY if x not in ("--accelerators", "1000")] + ["--tokens-per-day", "1e18",
                                                                     "--tok-s-per-accelerator", "1e-6"],
    _with(CAPACITY, "--model", "nope"), _with(CAPACITY, "--dtype", "fp4"), ["capacity", "--scenario", "nope"],
    ["compare"], ["compare", "/nonexistent"], ["compare", str(RUN), str(RUN) + "/"], ["compare", str(RUN), "--format", "parquet"],
    ["compare", str(RUN), "--rental-usd-per-hour", "nan"], ["compare", str(RUN), "--rental-usd-per-hour", "0"],
    ["compare", str(RUN), "--pricing", "nope"], ["compare", str(RUN), "--pricing", "h20-own"],
    ["compare", str(RUN), "--format", "xml"], ["compare", str(RUN), "--output", "/"],
    ["compare", str(RUN), "--output", "/dev/null/x.csv", "--format", "csv"],
    ["report", str(RUN)], ["report", str(RUN), "--html", "/"], ["report", str(RUN), "--markdown", "/dev/null/r.md"],
    ["report", "/nonexistent", "--html", "/tmp/x.html"],
    ["validate", "--hardware", "nope"], ["validate", "--include", "/nonexistent"], ["validate", "--include", ""],
    ["validate", "--hardware", "h" * 5000], ["validate", "--format", "xml"],
    ["list"], ["list", "nope"], ["sysinfo", "--format", "xml"], ["run"], ["nope"], [],
    ["run", str(ROOT / "configs" / "smoke-cpu.yaml"), "--format", "xml"],
    ["run", str(ROOT / "configs" / "smoke-cpu.yaml"), "--resume", "/nonexistent"],
    ["run", str(ROOT / "configs" / "smoke-cpu.yaml"), "--resume", str(RUN)],  # another config
    ["run", str(ROOT / "configs" / "smoke-cpu.yaml"), "--report", "/"],
    ["run", str(ROOT / "configs" / "smoke-cpu.yaml"), "--output-dir", "/dev/null/x"],
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=lambda a: " ".join(a)[:90] or "(none)")
def test_bad_flags(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    out, err = capsys.readouterr()
    expect_bad_input(code, out, err)


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_bad_flags_from_a_real_process():
    for argv in (["cost", "--hardware", "h20", "--output-tok-s", "nan", "--rental-usd-per-hour", "2"],
                 ["capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--input-tokens", "1",
                  "--output-tokens", "1", "--accelerators", "0.5"],
                 ["project", "--model", "Llama-3.1-8B", "--hardware", ",", "--input-tokens", "1", "--output-tokens", "1",
                  "--batch", "1", "--dtype", "fp8"]):
        p = run_cli(*argv)
        expect_bad_input(p.returncode, p.stdout, p.stderr)


# ---------------------------------------------------------------------------------------------- run directories
def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def _set_manifest(run: Path, m) -> None:
    (run / "manifest.json").write_text(json.dumps(m))


def _case_lines(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]


def _set_first_case(run: Path, fn) -> None:
    cases = _case_lines(run)
    cases[0] = fn(cases[0])
    (run / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))


def _drop(key):
    return lambda c: {k: v for k, v in c.items() if k != key}


def _put(dotted, value):
    def fn(c):
        d = c
        *head, last = dotted.split(".")
        for part in head:
            d = d[part]
        d[last] = value
        return c
    return fn


CORRUPTIONS = {
    "manifest-empty": (lambda r: (r / "manifest.json").write_text(""), "manifest.json"),
    "manifest-truncated": (lambda r: (r / "manifest.json").write_text((r / "manifest.json").read_text()[:50]),
                           "manifest.json"),
    "manifest-list": (lambda r: _set_manifest(r, [1, 2]), "manifest.json"),
    "manifest-null": (lambda r: _set_manifest(r, None), "manifest.json"),
    "manifest-no-hardware": (lambda r: _set_manifest(r, {k: v for k, v in _manifest(r).items() if k != "hardware"}),
                             "manifest.json"),
    "manifest-hardware-number": (lambda r: _set_manifest(r, {**_manifest(r), "hardware": 7}), "manifest.json"),
    "manifest-schema-2": (lambda r: _set_manifest(r, {**_manifest(r), "schema_version": 2}), "manifest.json"),
    "manifest-not-utf8": (lambda r: (r / "manifest.json").write_bytes(b'{"a": "\xff\xfe"}'), "manifest.json"),
    "manifest-directory": (lambda r: ((r / "manifest.json").unlink(), (r / "manifest.json").mkdir()), "manifest.json"),
    "manifest-missing": (lambda r: (r / "manifest.json").unlink(), "manifest.json"),
    "case-not-object": (lambda r: (r / "cases.jsonl").write_text("[1, 2]\n"), "cases.jsonl:1"),
    "case-string": (lambda r: (r / "cases.jsonl").write_text('"ok"\n'), "cases.jsonl:1"),
    "case-no-model": (lambda r: _set_first_case(r, _drop("model")), "cases.jsonl:1"),
    "case-no-backend": (lambda r: _set_first_case(r, _drop("backend")), "cases.jsonl:1"),
    "case-no-case-id": (lambda r: _set_first_case(r, _drop("case_id")), "cases.jsonl:1"),
    "case-no-status": (lambda r: _set_first_case(r, _drop("status")), "cases.jsonl:1"),
    "case-status-unknown": (lambda r: _set_first_case(r, _put("status", "great")), "cases.jsonl:1"),
    "case-schema-2": (lambda r: _set_first_case(r, _put("schema_version", 2)), "cases.jsonl:1"),
    "case-no-schema": (lambda r: _set_first_case(r, _drop("schema_version")), "cases.jsonl:1"),
    "case-model-string": (lambda r: _set_first_case(r, _put("model", "x")), "cases.jsonl:1"),
    "case-string-number": (lambda r: _set_first_case(r, _put("output_tok_s", "fast")), "cases.jsonl:1"),
    "case-bool-number": (lambda r: _set_first_case(r, _put("window_s", True)), "cases.jsonl:1"),
    "case-string-percentile": (lambda r: _set_first_case(r, _put("tpot_s.p50", "1ms")), "cases.jsonl:1"),
    "case-workload-list": (lambda r: _set_first_case(r, _put("workload", [1])), "cases.jsonl:1"),
    "case-energy-string": (lambda r: _set_first_case(r, _put("energy", "none")), "cases.jsonl:1"),
    "case-nan": (lambda r: (r / "cases.jsonl").write_text(
        (r / "cases.jsonl").read_text().replace('"output_tok_s": ', '"output_tok_s": NaN, "x": ', 1)),
        "cases.jsonl:1"),
    "cases-not-utf8": (lambda r: (r / "cases.jsonl").write_bytes(b"\xff\xfe{}\n"), "cases.jsonl:1"),
    "cases-directory": (lambda r: ((r / "cases.jsonl").unlink(), (r / "cases.jsonl").mkdir()), "cases.jsonl"),
    "cases-garbage-middle": (lambda r: (r / "cases.jsonl").write_text(
        "garbage\n" + (r / "cases.jsonl").read_text()), "cases.jsonl:1"),
    "cases-truncated-middle": (lambda r: (r / "cases.jsonl").write_text(
        (r / "cases.jsonl").read_text()[:40] + "\n" + (r / "cases.jsonl").read_text()), "cases.jsonl:1"),
    "cases-missing-complete": (lambda r: (r / "cases.jsonl").unlink(), "cases.jsonl"),
}

CFG_FOR_RESUME = GOOD


def _corrupt_run(tmp_path: Path, name: str) -> tuple[Path, Path]:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG_FOR_RESUME)
    m = _manifest(run)
    m.update(config_sha256=config_sha256(load_config(cfg)[0]), status="complete")  # resumable with cfg
    _set_manifest(run, m)
    CORRUPTIONS[name][0](run)
    return run, cfg


COMMANDS = {
    "compare": lambda run, cfg, tmp: ["compare", run, "--format", "json"],
    "report": lambda run, cfg, tmp: ["report", run, "--html", tmp / "r.html"],
    "cost": lambda run, cfg, tmp: ["cost", "--results", run, "--hardware", "h20", "--rental-usd-per-hour", "2"],
    "project": lambda run, cfg, tmp: ["project", "--model", "Llama-3.1-8B", "--hardware", "h20", "--input-tokens", "64",
                                      "--output-tokens", "64", "--batch", "1", "--dtype", "fp8", "--calibrate", run],
    "resume": lambda run, cfg, tmp: ["run", cfg, "--resume", run, "--format", "json"],
    "validate": lambda run, cfg, tmp: ["validate", "--include", run, "--format", "json"],
}


@pytest.mark.parametrize("name", ["requests.jsonl", "summary.csv", "cases.jsonl"])
def test_resume_refuses_a_run_file_that_is_not_a_regular_file(tmp_path, capsys, name):
    import os

    run, cfg = _corrupt_run(tmp_path, "manifest-schema-2")
    _set_manifest(run, {**_manifest(run), "schema_version": 1})
    (run / name).unlink(missing_ok=True)
    if name == "cases.jsonl":
        os.mkfifo(run / name)  # reading it would block for ever
    else:
        (run / name).mkdir()
    lines = expect_bad_input(*run_main(capsys, *COMMANDS["resume"](run, cfg, tmp_path)))
    assert f"{run / name}: not a regular file" in lines[0] or f"{run / name}: is a directory" in lines[0]


def test_a_fifo_config_does_not_hang(tmp_path, capsys):
    import os

    os.mkfifo(tmp_path / "c.yaml")
    expect_bad_input(*run_main(capsys, "run", tmp_path / "c.yaml"))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_run_directory(tmp_path, capsys, name, command):
    run, cfg = _corrupt_run(tmp_path, name)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    lines = expect_bad_input(*run_main(capsys, *COMMANDS[command](run, cfg, tmp_path)))
    assert CORRUPTIONS[name][1] in lines[0] or (name == "manifest-missing" and "no manifest.json" in lines[0]), lines
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == {k: v for k, v in before.items() if k != ".lock"}  # a refused run directory is left as it was


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_corrupt_run_directory_from_a_real_process(tmp_path):
    run, _ = _corrupt_run(tmp_path, "case-no-model")
    p = run_cli("compare", run)
    expect_bad_input(p.returncode, p.stdout, p.stderr)
    assert f"{run / 'cases.jsonl'}:1: case has no model" in p.stderr


# ---------------------------------------------------------------------------------------------- properties
ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                      st.lists(st.integers(min_value=-5, max_value=2**21), max_size=5))
WORKLOAD_KEYS = ["input_tokens", "output_tokens", "batch_sizes", "num_batches", "num_requests", "warmup", "repeats",
                 "seed"]


def _finite_and_bounded(obj, path=""):
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        assert math.isfinite(obj), path
        assert abs(obj) <= max(limits.MAX_SEED, limits.MAX_COUNT * 100, 16 * limits.MAX_TOKENS), (path, obj)
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            _finite_and_bounded(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite_and_bounded(v, f"{path}[{i}]")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(WORKLOAD_KEYS), ANY_VALUE, min_size=1))
def test_config_schema_accepts_only_finite_bounded_values(patch):
    data = {"name": "p", "models": ["tiny:llama"], "backend": {"kind": "transformers"},
            "workload": {"input_tokens": 4, "output_tokens": 2, "batch_sizes": [1], **patch}}
    try:
        cfg = parse_config(data, "p.yaml")
    except ConfigError as exc:
        assert all(line.startswith("p.yaml: ") for line in exc.lines())
        return
    w = cfg.workload
    _finite_and_bounded(cfg.model_dump(mode="python"))
    for v in (w.input_tokens, w.output_tokens, w.batch_sizes, w.num_batches, w.repeats):
        for x in (v if isinstance(v, list) else [v]):
            assert x is None or (type(x) is int and x > 0)
    try:
        cases = expand(cfg)
    except ConfigError:
        return
    assert 0 < len(cases) <= limits.MAX_CASES and len({c.case_id for c in cases}) == len(cases)


FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10**30), max_value=10**30))


@settings(max_examples=500, deadline=None)
@given(FLOATS)
def test_flag_parsers_pass_only_finite_in_range_values(v):
    from argparse import Namespace

    for check, ok in ((lambda: cli_args.positive("--x", v), lambda: math.isfinite(v) and v > 0),
                      (lambda: cli_args.fraction("--x", v), lambda: math.isfinite(v) and 0 < v <= 1),
                      (lambda: cli_args.whole("--x", v, 1, 4096),
                       lambda: math.isfinite(v) and v == int(v) and 1 <= v <= 4096),
                      (lambda: cli_args.check_namespace(Namespace(x=v)),
                       lambda: math.isfinite(v) and (v == 0 or limits.MIN_FLAG_NUMBER <= abs(v) <= limits.MAX_FLAG_NUMBER))):
        try:
            check()
            assert ok(), v
        except InputError as exc:
            assert not ok(), (v, exc)
            assert str(exc).startswith("--x")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["--output-tok-s", "--rental-usd-per-hour", "--blend-ratio", "--fx", "--utilisation"]),
       st.floats(allow_nan=True, allow_infinity=True))
def test_cost_flags_never_give_non_finite_output(capsys, flag, value):
    argv = [x for x in ["cost", "--hardware", "h20", "--output-tok-s=100", "--rental-usd-per-hour=2", "--format",
                        "json"] if not x.startswith(flag + "=")] + [f"{flag}={value!r}"]
    code = main(argv)
    out, err = capsys.readouterr()
    if code == 0:
        doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON output"))
        assert doc["usd_per_mtok_output"] > 0 and math.isfinite(doc["usd_per_mtok_output"])
    else:
        expect_bad_input(code, out, err)


@pytest.mark.parametrize("text", ["", "- a\n", "chips: []\nchips: []\n", "chips: [{id: x}]\n", "chips: [\n",
                                  "chips: {a: 1}\n"])
def test_bad_user_hardware_file(tmp_path, capsys, monkeypatch, text):
    from bench.catalog import hardware

    (tmp_path / "mine.yaml").write_text(text)
    monkeypatch.setenv("BENCH_HARDWARE_DIR", str(tmp_path))
    hardware._chips.cache_clear()
    try:
        lines = expect_bad_input(*run_main(capsys, "list", "hardware"))
    finally:
        hardware._chips.cache_clear()
    assert lines[0].startswith(f"error: {tmp_path / 'mine.yaml'}")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", b"\xff\xfe"])
def test_local_model_with_a_damaged_config_json_fails_preflight(tmp_path, capsys, content):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD.replace("[tiny:llama]", f"[{model}]"))
    lines = expect_bad_input(*run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out"))
    assert "config.json is not a JSON object" in lines[0]
