"""Dataset and trace files through the one bounded reader (bench/workloads/files.py), and schedules bounded
at preflight (bench/workloads/schedule.py): every hostile file or schedule is one line naming the file (and
line) or the case, before any token is generated; a Hypothesis fuzz over file contents gives only such
lines or a valid dataset, in bounded time."""
import json
import math
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.config import limits
from bench.config.load import parse_config
from bench.workloads.jsonl import JsonlDataset
from bench.workloads.sharegpt import ShareGPTDataset
from bench.workloads.trace import TraceDataset
from bench.errors import ConfigError
from bench.measure.runner import schedule_problems
from bench.workloads import DatasetError, TokenSource, load_dataset, preflight_datasets
from bench.workloads.schedule import ramp_time_s
from conftest import cli, write_config

MC = '{{"timestamp": {t}, "input_length": {i}, "output_length": {o}}}\n'


def spec_for(path, kind):
    if kind == "sharegpt":
        return ShareGPTDataset(kind="sharegpt", path=str(path))
    if kind == "jsonl":
        return JsonlDataset(kind="jsonl", path=str(path))
    return TraceDataset(kind="trace", path=str(path), format=kind)


def only_problem(tmp_path, name, data, kind) -> str:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    problems = preflight_datasets([spec_for(p, kind)])
    assert len(problems) == 1 and "\n" not in problems[0], problems
    return problems[0]


PROBES = {  # name: (file content, kind, what the one line says)
    "sharegpt-from-list": (json.dumps([{"conversations": [{"from": ["human"], "value": "hi"},
                                                          {"from": "gpt", "value": "yo"}]}]), "sharegpt",
                           r"entry \[0\]: needs 'conversations'"),
    "mooncake-nan": ('{"timestamp": 0, "input_length": NaN, "output_length": 3}\n', "mooncake",
                     r":1: NaN is not a number JSON allows"),
    "mooncake-1e999": ('{"timestamp": 0, "input_length": 1e999, "output_length": 3}\n', "mooncake",
                       r":1: 1e999 is too large"),
    "sharegpt-200k-deep": ("[" * 200_000 + "]" * 200_000, "sharegpt", r"nested more than 32 deep"),
    "jsonl-200k-deep": ("[" * 200_000 + "]" * 200_000 + "\n", "jsonl", r":1: JSON nested more than 32 deep"),
    "jsonl-40-deep-object": ('{"a":' * 40 + "1" + "}" * 40 + "\n", "jsonl", r":1: JSON nested more than 32"),
    "invalid-utf8": (b'{"prompt_tokens": 3, "output_tokens": 2}\n{"prompt_tokens": 3, "x": "\xff"}\n', "jsonl",
                     r":2: not UTF-8 text \(byte 0xff\)"),
    "binary": (bytes(range(256)) * 4, "mooncake", r":1: a NUL byte \(a binary file\?\)"),
    "jsonl-1e9-tokens": ('{"prompt_tokens": 1000000000, "output_tokens": 2}\n', "jsonl",
                         r":1: 'prompt_tokens' must be a whole number of tokens from 1 to 1,048,576"),
    "mooncake-1e9-tokens": (MC.format(t=0, i=10**9, o=3), "mooncake", r":1: 'input_length' must be a whole number"),
    "burstgpt-1e9-tokens": ("Timestamp,Model,Request tokens,Response tokens\n0,x,1000000000,3\n", "burstgpt",
                            r":2: 'Request tokens' must be a whole number"),
    "mooncake-fractional": (MC.format(t=0, i=3.5, o=3), "mooncake", r"'input_length' must be a whole number"),
    "mooncake-inf-timestamp": (MC.format(t=0, i=3, o=3) + MC.format(t="Infinity", i=3, o=3), "mooncake",
                               r":2: Infinity is not a number"),
    "mooncake-negative-timestamp": (MC.format(t=-5, i=3, o=3), "mooncake", r"'timestamp' must be a finite time >= 0"),
    "burstgpt-nan-timestamp": ("Timestamp,Model,Request tokens,Response tokens\nnan,x,3,3\n", "burstgpt",
                               r":2: 'Timestamp' must be a finite time"),
    "burstgpt-1e12-gap": ("Timestamp,Model,Request tokens,Response tokens\n0,x,3,3\n1000000000000,x,3,3\n", "burstgpt",
                          r":3: 'Timestamp' must be a finite time >= 0 and at most 1e\+11 s"),
    "jsonl-trace-gap": ('{"prompt_tokens": 3, "output_tokens": 2, "timestamp_s": 0}\n'
                        '{"prompt_tokens": 3, "output_tokens": 2, "timestamp_s": 1e9}\n', "jsonl-trace",
                        r":2: 1,000,000,000 s after the previous row, more than the 86,400 s"),
    "jsonl-nan-timestamp": ('{"prompt_tokens": 3, "output_tokens": 2, "timestamp_s": NaN}\n', "jsonl", r"NaN"),
    "jsonl-huge-integer": ('{"prompt_tokens": ' + "9" * 5000 + ', "output_tokens": 2}\n', "jsonl",
                           r":1: an integer of more than 4,300 digits"),
    "jsonl-session-object": ('{"prompt_tokens": 3, "output_tokens": 2, "session_id": {"a": 1}}\n', "jsonl",
                             r"'session_id' must be a short text"),
    "burstgpt-not-csv": ("Timestamp,Request tokens,Response tokens\n\"" + "x" * 200_000 + "\n", "burstgpt",
                         r"not a CSV file"),
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_a_hostile_dataset_file_is_one_line_naming_it(tmp_path, name):
    data, kind, expect = PROBES[name]
    if kind == "jsonl-trace":
        p = tmp_path / name
        p.write_text(data)
        problems = preflight_datasets([TraceDataset(kind="trace", path=str(p), format="jsonl")])
        assert len(problems) == 1, problems
        line = problems[0]
    else:
        line = only_problem(tmp_path, name, data, kind)
    import re

    assert re.search(expect, line), line
    assert name in line  # the file is named


@pytest.mark.parametrize("what", ["fifo", "directory", "/dev/zero"])
def test_only_regular_files_are_read(tmp_path, what):
    if what == "fifo":
        path = tmp_path / "f.jsonl"
        os.mkfifo(path)  # reading it would block for ever
    elif what == "directory":
        path = tmp_path
    else:
        path = "/dev/zero"  # reading it would never end
    problems = preflight_datasets([JsonlDataset(kind="jsonl", path=str(path))])
    assert len(problems) == 1
    assert ("is a directory" if what == "directory" else "not a regular file") in problems[0]


def test_size_and_line_caps(tmp_path, monkeypatch):
    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt_tokens": 3, "output_tokens": 2}\n' * 50)
    monkeypatch.setattr(limits, "MAX_DATASET_LINES", 10)
    assert "50 lines, more than the 10" in preflight_datasets([JsonlDataset(kind="jsonl", path=str(p))])[0]
    monkeypatch.setattr(limits, "MAX_DATASET_BYTES", 100)
    assert "larger than the 100 bytes" in preflight_datasets([JsonlDataset(kind="jsonl", path=str(p))])[0]


def test_the_prompt_token_budget_bounds_what_is_generated(tmp_path, monkeypatch):
    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt_tokens": 1000, "output_tokens": 2}\n' * 20)
    monkeypatch.setattr(limits, "MAX_DATASET_TOKENS", 5_000)
    tok = TokenSource(vocab=list(range(10, 100)), max_model_len=4096)
    with pytest.raises(DatasetError, match="more than 5,000 prompt tokens"):
        load_dataset(JsonlDataset(kind="jsonl", path=str(p)), tok, 0)
    # a context of 100 tokens: each prompt is built only as long as it is sent (20 x 100 = 2,000 tokens)
    ds = load_dataset(JsonlDataset(kind="jsonl", path=str(p)), TokenSource(vocab=[5], max_model_len=100), 0)
    assert all(r.input_tokens == 98 and r.output_tokens == 2 for r in ds.requests)


def test_a_context_of_one_token_is_refused_not_written_as_a_damaged_case(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt_tokens": 3, "output_tokens": 2}\n')
    with pytest.raises(DatasetError, match="context is 1 token"):
        load_dataset(JsonlDataset(kind="jsonl", path=str(p)), TokenSource(vocab=[5], max_model_len=1), 0)
    ds = load_dataset(JsonlDataset(kind="jsonl", path=str(p)), TokenSource(vocab=[5], max_model_len=2), 0)
    assert ds.requests[0].input_tokens == 1 and ds.requests[0].output_tokens == 1


def test_the_cli_prints_each_dataset_problem_as_one_line(tmp_path):
    p = tmp_path / "deep.jsonl"
    p.write_text("[" * 200_000 + "]" * 200_000 + "\n")
    cfg = write_config(tmp_path / "c.yaml", f"""
name: d
models: [tiny:llama]
backend: {{kind: transformers, device: cpu, dtype: float32, threads: 1}}
workload: {{dataset: {{kind: jsonl, path: {p}}}, batch_sizes: [1], num_batches: 1, warmup: 0}}
""")
    r = cli("run", cfg, "--output-dir", tmp_path / "out")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {cfg}: {p}:1: JSON nested more than 32 deep; each line is one "
                                             "JSON object"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# 2 ------------------------------------------------------------------- schedules bounded at preflight
OPENAI = """
name: s
models: [tiny:llama]
backend: {{kind: openai, base_url: "http://127.0.0.1:9/v1", tokenizer: tiny:llama}}
workload: {{{w}}}
"""


def cfg_of(w: str):
    import yaml

    return parse_config(yaml.safe_load(OPENAI.format(w=w)), "s.yaml")


@pytest.mark.parametrize("w, expect", [
    ("input_tokens: 8, output_tokens: 4, request_rates: [1e-9]", "below the floor of 0.001 requests/s"),
    ("input_tokens: 8, output_tokens: 4, request_rate_ramp: {from: 1e-9, to: 5, over_s: 10}",
     "must be at least 0.001"),
    ("input_tokens: 8, output_tokens: 4, slo_search: {lo: 1e-9, hi: 5}", "below the floor"),
    ("input_tokens: 8, output_tokens: 4, concurrency: [1], num_prompts: 100000, trials: 1000",
     "num_prompts x trials = 100,000,000"),
])
def test_rates_below_the_floor_and_trials_past_the_cap_are_refused(w, expect):
    with pytest.raises(ConfigError, match=expect):
        cfg_of(w)


def test_trials_count_against_the_per_case_request_cap_offline():
    import yaml

    text = """
name: t
models: [tiny:llama]
backend: {kind: transformers}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1000], num_batches: 10000, trials: 2}
"""
    with pytest.raises(ConfigError, match="20,000,000 measured requests per case"):
        parse_config(yaml.safe_load(text), "t.yaml")


def test_ramp_time_by_hand():
    assert ramp_time_s(30, 1.0, 3.0, 10.0) == pytest.approx(10 + 10 / 3)  # 20 sends while ramping, 10 at 3/s
    assert ramp_time_s(5, 1.0, 3.0, 10.0) == pytest.approx((-1 + math.sqrt(3)) / 0.2)  # t + 0.1 t^2 = 5
    assert ramp_time_s(4, 2.0, 2.0, 10.0) == pytest.approx(2.0)


@pytest.mark.parametrize("w, figure", [
    ("input_tokens: 8, output_tokens: 4, request_rates: [0.001], num_prompts: 1000", "999,000 s (999 gaps at 0.001"),
    ("input_tokens: 8, output_tokens: 4, request_rates: [1], num_prompts: 50000, trials: 2",
     "99,998 s (49999 gaps at 1 requests/s, x 2 trials)"),
    ("input_tokens: 8, output_tokens: 4, request_rate_ramp: {from: 0.001, to: 0.002, over_s: 86400}, num_prompts: 500",
     "on a ramp from 0.001 to 0.002"),
    ("dataset: {conversation: {sessions: 2, turns: 100, think_time_s: 3600}}, concurrency: [2]", "356,400 s"),
])
def test_a_schedule_longer_than_max_duration_is_refused_with_the_figure(w, figure):
    problems = schedule_problems(cfg_of(w), limits.MAX_DURATION_S)
    assert len(problems) == 1 and figure in problems[0] and "above --max-duration 86,400 s" in problems[0], problems
    assert schedule_problems(cfg_of(w), 1e7) == []  # a larger --max-duration lets it run


def test_a_trace_span_over_speedup_is_bounded(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text("".join(MC.format(t=i * 80_000_000, i=3, o=3) for i in range(4)))  # 3 x 80,000 s
    w = f"dataset: {{kind: trace, path: {p}}}, request_rates: [10]"
    problems = schedule_problems(cfg_of(w), limits.MAX_DURATION_S)
    assert len(problems) == 1 and "the trace spans 240,000 s after speedup" in problems[0]
    assert schedule_problems(cfg_of(w.replace("kind: trace,", "kind: trace, speedup: 4,")), limits.MAX_DURATION_S) == []


def test_max_duration_flag_is_checked(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", OPENAI.format(w="input_tokens: 8, output_tokens: 4, request_rates: [0.001], "
                                                          "num_prompts: 1000"))
    r = cli("run", cfg, "--max-duration", "-1")
    assert r.returncode == 2 and r.stderr.strip() == "error: --max-duration must be > 0; found -1"
    r = cli("run", cfg)
    assert r.returncode == 2 and "999,000 s" in r.stderr and "Traceback" not in r.stderr


# fuzz ---------------------------------------------------------------- random bytes, random JSON, extreme numbers
NUMBERS = st.one_of(st.integers(min_value=-10**30, max_value=10**30), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 2**20, 2**20 + 1, 10**9, -1, 0.5, 1e308, "NaN", "12", None, True, [], {}]))
JSONISH = st.recursive(st.one_of(NUMBERS, st.text(max_size=20)),
                       lambda inner: st.one_of(st.lists(inner, max_size=4),
                                               st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=20)
ROW_KEYS = ("prompt", "prompt_tokens", "output_tokens", "timestamp_s", "session_id", "turn", "prefix_id",
            "prefix_tokens", "timestamp", "input_length", "output_length", "hash_ids")
ROW = st.dictionaries(st.sampled_from(ROW_KEYS), JSONISH, max_size=6)
SHAREGPT = st.lists(st.fixed_dictionaries({"conversations": st.lists(st.dictionaries(
    st.sampled_from(["from", "value"]), st.one_of(st.sampled_from(["human", "gpt", "system"]), JSONISH)), max_size=4)}),
    max_size=4)


def _dump(obj) -> str:
    return json.dumps(obj, allow_nan=True)


FILES = st.one_of(
    st.binary(max_size=400),
    st.lists(ROW, max_size=8).map(lambda rows: "".join(_dump(r) + "\n" for r in rows).encode()),
    SHAREGPT.map(lambda d: _dump(d).encode()),
    JSONISH.map(lambda d: _dump(d).encode()),
    st.lists(st.tuples(NUMBERS, NUMBERS, NUMBERS), max_size=6).map(
        lambda rows: ("Timestamp,Model,Request tokens,Response tokens\n" + "".join(
            f"{a},m,{b},{c}\n" for a, b, c in rows)).encode()),
)
KINDS = st.sampled_from(["sharegpt", "jsonl", "mooncake", "burstgpt", "jsonl-trace"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=FILES, kind=KINDS)
def test_fuzz_dataset_files_give_one_line_or_a_valid_dataset(tmp_path, data, kind):
    p = tmp_path / "fuzz.data"
    p.write_bytes(data)
    spec = TraceDataset(kind="trace", path=str(p), format="jsonl") if kind == "jsonl-trace" else spec_for(p, kind)
    problems = preflight_datasets([spec])
    for line in problems:
        assert "\n" not in line and str(p) in line and len(line) < 1000, line
    tok = TokenSource(vocab=list(range(5, 50)), encode=lambda t: [5] * len(t.split()), decode=lambda ids: "x",
                      max_model_len=64)
    try:
        ds = load_dataset(spec, tok, 0)
    except DatasetError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1000
        return
    assert not problems  # what preflight passes, the run reads
    for r in ds.requests:  # a valid dataset: whole, in-range lengths and finite, ordered times
        assert 1 <= r.input_tokens and 1 <= r.output_tokens and r.input_tokens + r.output_tokens <= 64
        assert r.arrival_s is None or (math.isfinite(r.arrival_s) and r.arrival_s >= 0)


def test_sharegpt_histories_are_bounded_not_quadratic(tmp_path, monkeypatch):
    conv = [{"from": "human" if i % 2 == 0 else "gpt", "value": "a b"} for i in range(400)]
    p = tmp_path / "long.json"
    p.write_text(json.dumps([{"conversations": conv}]))
    spec = ShareGPTDataset(kind="sharegpt", path=str(p), turns="all")
    assert preflight_datasets([spec]) == []  # 200 exchanges repeat 1 + 3 + ... + 399 = 40,000 messages
    monkeypatch.setattr(limits, "MAX_HISTORY_MESSAGES", 10_000)
    assert "repeat more than 10,000 history messages" in preflight_datasets([spec])[0]
    monkeypatch.setattr(limits, "MAX_PROMPT_CHARS", 100)
    # 13 exchanges of 'a b' (4 characters each with the newline, twice) + the 14th prompt: 26 x 4 + 3
    assert "turn 14's prompt with its history is 107 characters, more than 100" in preflight_datasets([spec])[0]


@pytest.mark.parametrize("w, expect", [
    ("dataset: {conversation: {sessions: 1000, turns: 1000, user_tokens: 1, assistant_tokens: 1}}, concurrency: [1]",
     "1,000 sessions x 1,000 turns (each turn repeats its history) build 1,000,000,000 prompt tokens"),
    ("dataset: {prefix: {num_prefixes: 2, prefix_tokens: 1000000, suffix_tokens: 1}}, concurrency: [1], "
     "num_prompts: 100", "100 requests of 1,000,001 tokens build 102,000,100 prompt tokens"),
])
def test_synthetic_sources_that_would_build_too_many_tokens_are_refused_at_preflight(w, expect):
    # conversation: 1000 x (1 x 1000 x 1001 / 2 + 1 x 1000 x 999 / 2) = 1000 x 1,000,000; prefix: 2 x 10^6 + 100 x
    # (10^6 + 1)
    problems = schedule_problems(cfg_of(w), limits.MAX_DURATION_S)
    assert len(problems) == 1 and expect in problems[0], problems
    assert schedule_problems(cfg_of(w.replace("1000, turns: 1000", "10, turns: 10").replace(
        "prefix_tokens: 1000000", "prefix_tokens: 100")), limits.MAX_DURATION_S) == []


def test_a_jsonl_prompt_text_is_bounded_before_it_is_encoded(tmp_path, monkeypatch):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({"prompt": "word " * 50, "output_tokens": 2}) + "\n")
    assert preflight_datasets([JsonlDataset(kind="jsonl", path=str(p))]) == []
    monkeypatch.setattr(limits, "MAX_PROMPT_CHARS", 100)
    assert "p.jsonl:1: 'prompt' is 250 characters, more than 100" in preflight_datasets(
        [JsonlDataset(kind="jsonl", path=str(p))])[0]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(rows=st.one_of(
    st.lists(st.fixed_dictionaries({"prompt_tokens": st.integers(1, 6), "output_tokens": st.integers(1, 3)}),
             min_size=1, max_size=4),  # valid rows: a run
    st.lists(st.dictionaries(st.sampled_from(["prompt_tokens", "output_tokens", "turn", "session_id"]),
                             st.one_of(st.integers(-2, 6), st.sampled_from([0.5, 1e999, 10**9, "x", None])),
                             min_size=1, max_size=4), min_size=1, max_size=4)))
def test_fuzz_a_whole_run_gives_one_line_or_a_valid_run(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("fz")
    p = tmp / "d.jsonl"
    p.write_text("".join(_dump(r) + "\n" for r in rows))
    cfg = write_config(tmp / "c.yaml", f"""
name: fz
models: [tiny:llama]
backend: {{kind: transformers, device: cpu, dtype: float32, threads: 1}}
workload: {{dataset: {{kind: jsonl, path: {p}}}, batch_sizes: [2], num_batches: 1, warmup: 0}}
energy: {{source: none}}
""")
    r = cli("run", cfg, "--output-dir", tmp / "out", "--format", "json")
    event(f"exit {r.returncode}")
    assert "Traceback" not in r.stderr and "internal" not in r.stderr, r.stderr
    if r.returncode == 2:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {cfg}: {p}:") and r.stdout == "", r.stderr
    else:
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert [c["status"] for c in doc["cases"]] == ["ok"]
        assert doc["cases"][0]["workload"]["output_tokens"] >= 1
