"""bench/workloads: every source with hand-computed lengths, seeded sampling, filters, context clip,
shape statistics, and the one-line errors for bad files (with line numbers)."""
import json
from pathlib import Path

import pytest

from bench.config.load import parse_config
from bench.errors import ConfigError
from bench.workloads import DatasetError, TokenSource, describe, load_dataset
from bench.workloads.sampling import histogram, sample, shared_prefix_tokens
from bench.workloads.request import WorkRequest
from bench.config.schema import Workload
from bench.workloads.conversation import ConversationDataset
from bench.workloads.jsonl import JsonlDataset
from bench.workloads.prefix import PrefixDataset
from bench.workloads.sharegpt import ShareGPTDataset
from bench.workloads.trace import TraceDataset

DATA = Path(__file__).parent / "data" / "workloads"


def words_tok(max_len=None) -> TokenSource:
    """A tokenizer stub: one token per whitespace-separated word (hand-countable lengths)."""
    vocab = {}
    enc = lambda text: [vocab.setdefault(w, len(vocab) + 10) for w in text.split()]  # noqa: E731
    return TokenSource(vocab=list(range(10, 500)), encode=enc, decode=None, max_model_len=max_len)


SYNTH = TokenSource(vocab=list(range(3, 300)))


def test_prefix_requests_share_their_prefix_and_the_share_is_counted():
    spec = PrefixDataset(kind="prefix", num_prefixes=2, prefix_tokens=32, suffix_tokens=16, output_tokens=5)
    ds = load_dataset(spec, SYNTH, seed=1, n=6)
    reqs = ds.requests
    assert [r.input_tokens for r in reqs] == [48] * 6 and {r.output_tokens for r in reqs} == {5}
    by_prefix = {}
    for r in reqs:
        by_prefix.setdefault(r.prefix_id, r.prompt_ids[:32])
        assert r.prompt_ids[:32] == by_prefix[r.prefix_id]
    # every request after the first of its prefix shares 32 tokens (two 16-token blocks)
    repeats = 6 - len(by_prefix)
    d = describe(reqs)
    assert d["shared_prefix_tokens"] == 32 * repeats
    assert d["shared_prefix_share"] == pytest.approx(32 * repeats / (6 * 48))
    assert load_dataset(spec, SYNTH, seed=1, n=6).requests[3].prompt_ids == reqs[3].prompt_ids  # seeded
    assert load_dataset(spec, SYNTH, seed=2, n=6).requests[3].prompt_ids != reqs[3].prompt_ids


def test_conversation_turns_carry_the_history():
    spec = ConversationDataset(kind="conversation", sessions=2, turns=3, user_tokens=8, assistant_tokens=4,
                               think_time_s=0.5)
    reqs = load_dataset(spec, SYNTH, seed=0).requests
    assert [(r.session_id, r.turn, r.input_tokens) for r in reqs] == [
        ("s0", 1, 8), ("s0", 2, 20), ("s0", 3, 32), ("s1", 1, 8), ("s1", 2, 20), ("s1", 3, 32)]
    assert reqs[1].prompt_ids[:8] == reqs[0].prompt_ids and reqs[2].prompt_ids[:20] == reqs[1].prompt_ids
    assert [r.think_time_s for r in reqs[:3]] == [0.0, 0.5, 0.5]
    assert {r.output_tokens for r in reqs} == {4}


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_sharegpt_first_and_all_turns(tmp_path):
    conv = [{"id": "a", "conversations": [
        {"from": "human", "value": "one two three"}, {"from": "gpt", "value": "four five"},
        {"from": "human", "value": "six"}, {"from": "gpt", "value": "seven eight nine ten"}]},
        {"id": "b", "conversations": [{"from": "system", "value": "be nice"},
                                      {"from": "human", "value": "x y"}, {"from": "gpt", "value": "z"}]}]
    p = write(tmp_path, "sg.json", json.dumps(conv))
    first = load_dataset(ShareGPTDataset(kind="sharegpt", path=str(p)), words_tok(), 0).requests
    assert sorted((r.input_tokens, r.output_tokens) for r in first) == [(3, 2), (4, 1)]  # "b" keeps its system turn
    every = load_dataset(ShareGPTDataset(kind="sharegpt", path=str(p), turns="all"), words_tok(), 0).requests
    # turn 2 of "a" carries the history: 3 + 2 + 1 words; "b" keeps its system turn as history: 2 + 2
    assert sorted((r.session_id, r.turn, r.input_tokens, r.output_tokens) for r in every) == [
        ("a", 1, 3, 2), ("a", 2, 6, 4), ("b", 1, 4, 1)]
    # for chat endpoints the history is messages, roles kept (a leading system turn stays a system message)
    msgs = {(r.session_id, r.turn): r.messages for r in every}
    assert msgs[("a", 1)] is None  # a first turn without history: one user message
    assert [(m.role, m.text) for m in msgs[("a", 2)]] == [("user", "one two three"), ("assistant", "four five"),
                                                         ("user", "six")]
    assert [(m.role, m.text) for m in msgs[("b", 1)]] == [("system", "be nice"), ("user", "x y")]


def test_sharegpt_turns_of_one_role_are_joined_into_one_message():
    from bench.workloads.sharegpt import chat_messages

    got = chat_messages([{"from": "human", "value": "a"}, {"from": "human", "value": "b"},
                         {"from": "gpt", "value": "c"}, {"from": "tool", "value": "d"}])
    assert [(m.role, m.text) for m in got] == [("user", "a\nb"), ("assistant", "c"), ("user", "d")]


def test_shipped_samples_load():
    tok = words_tok()
    assert len(load_dataset(ShareGPTDataset(kind="sharegpt", path=str(DATA / "sharegpt-sample.json")), tok, 0).requests) == 12
    j = load_dataset(JsonlDataset(kind="jsonl", path=str(DATA / "requests-sample.jsonl")), tok, 0).requests
    assert len(j) == 16 and sum(r.session_id is not None for r in j) == 4
    shared = [r for r in j if r.prefix_id == "system-a"]
    assert len(shared) == 4 and all(r.prompt_ids[:32] == shared[0].prompt_ids[:32] for r in shared)
    t = load_dataset(TraceDataset(kind="trace", path=str(DATA / "mooncake-sample.jsonl"), block_tokens=16), SYNTH, 0)
    assert len(t.requests) == 30 and t.requests[0].arrival_s == 0.0
    assert all(a.arrival_s <= b.arrival_s for a, b in zip(t.requests, t.requests[1:]))
    b = load_dataset(TraceDataset(kind="trace", path=str(DATA / "burstgpt-sample.csv"), format="burstgpt"), SYNTH, 0)
    assert 0 < len(b.requests) < 20 and any("0 request or response tokens" in n for n in b.notes)


def test_mooncake_hash_ids_share_tokens_and_speedup_scales_time(tmp_path):
    rows = [{"timestamp": 1000, "input_length": 40, "output_length": 3, "hash_ids": [1, 2, 3]},
            {"timestamp": 1500, "input_length": 24, "output_length": 4, "hash_ids": [1, 9]},
            {"timestamp": 3000, "input_length": 50, "output_length": 2, "hash_ids": [1, 2]}]
    p = write(tmp_path, "mc.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(TraceDataset(kind="trace", path=str(p), block_tokens=16, speedup=2.0), SYNTH, 0)
    a, b, c = ds.requests
    assert [r.arrival_s for r in ds.requests] == [0.0, 0.25, 1.0]
    assert [r.input_tokens for r in ds.requests] == [40, 24, 50] and [r.output_tokens for r in ds.requests] == [3, 4, 2]
    assert b.prompt_ids[:16] == a.prompt_ids[:16] and b.prompt_ids[16:] != a.prompt_ids[16:24]
    assert c.prompt_ids[:32] == a.prompt_ids[:32]  # 50 > 2 blocks: the tail beyond the hashes is its own
    # shared tokens, in whole 16-token blocks: b shares 16, c shares 32
    assert shared_prefix_tokens(ds.requests) == [0, 16, 32]
    capped = load_dataset(TraceDataset(kind="trace", path=str(p), block_tokens=16, max_requests=2), SYNTH, 0)
    assert len(capped.requests) == 2


@pytest.mark.parametrize("name,text,expect", [
    ("bad.jsonl", '{"prompt_tokens": 5, "output_tokens": 2}\n{"prompt_tokens": 5\n', r"bad\.jsonl:2: not valid JSON"),
    ("nolen.jsonl", '{"prompt_tokens": 5, "output_tokens": 2}\n\n{"prompt": "hi there"}\n',
     r"nolen\.jsonl:3: a row needs 'output_tokens' and either 'prompt'"),
    ("neg.jsonl", '{"prompt_tokens": 0, "output_tokens": 2}\n', r"neg\.jsonl:1: 'prompt_tokens' must be a whole number of tokens from 1 to 1,048,576"),
])
def test_jsonl_errors_name_the_line(tmp_path, name, text, expect):
    p = write(tmp_path, name, text)
    with pytest.raises(DatasetError, match=expect):
        load_dataset(JsonlDataset(kind="jsonl", path=str(p)), words_tok(), 0)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(DatasetError, match=r"nope\.json: dataset file not found"):
        load_dataset(ShareGPTDataset(kind="sharegpt", path=str(tmp_path / "nope.json")), words_tok(), 0)
    p = write(tmp_path, "sg.json", '[\n {"conversations": []},\n {oops}\n]')
    with pytest.raises(DatasetError, match=r"sg\.json:3: not valid JSON"):
        load_dataset(ShareGPTDataset(kind="sharegpt", path=str(p)), words_tok(), 0)
    with pytest.raises(DatasetError, match=r"no tokenizer"):
        load_dataset(ShareGPTDataset(kind="sharegpt", path=str(p)), SYNTH, 0)


def test_unsorted_trace_is_refused_with_its_line(tmp_path):
    p = write(tmp_path, "t.jsonl", "".join(json.dumps({"timestamp": t, "input_length": 4, "output_length": 2}) + "\n"
                                           for t in (0, 10, 5)))
    with pytest.raises(DatasetError, match=r"t\.jsonl:3: timestamp 0.005 is before the previous row's 0.01"):
        load_dataset(TraceDataset(kind="trace", path=str(p)), SYNTH, 0)
    p = write(tmp_path, "b.csv", "Timestamp,Model,Request tokens,Response tokens\n1.0,x,4,2\n0.5,x,4,2\n")
    with pytest.raises(DatasetError, match=r"b\.csv:3: timestamp 0.5"):
        load_dataset(TraceDataset(kind="trace", path=str(p), format="burstgpt"), SYNTH, 0)


def test_filters_sampling_and_nothing_left(tmp_path):
    rows = [{"prompt_tokens": n, "output_tokens": o} for n, o in [(5, 2), (50, 2), (20, 30), (30, 3)]]
    p = write(tmp_path, "r.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    spec = JsonlDataset(kind="jsonl", path=str(p), min_input_tokens=10, max_input_tokens=40, max_output_tokens=10)
    ds = load_dataset(spec, SYNTH, 0)
    assert [r.input_tokens for r in ds.requests] == [30] and "3 of 4 requests" in ds.notes[0]
    with pytest.raises(DatasetError, match=r"r\.jsonl: no requests left after filtering \(4 read, 4 outside"):
        load_dataset(JsonlDataset(kind="jsonl", path=str(p), min_input_tokens=100), SYNTH, 0)
    few = load_dataset(JsonlDataset(kind="jsonl", path=str(p)), SYNTH, 0, n=10)
    assert len(few.requests) == 4 and "fewer than the 10" in few.notes[0]


def test_sample_keeps_sessions_whole_and_is_seeded():
    reqs = [WorkRequest([i], 1, session_id=f"s{i // 3}", turn=i % 3 + 1) for i in range(12)]
    got = sample(reqs, 5, seed=4)
    assert len(got) == 6  # two whole sessions
    for k in range(0, 6, 3):
        assert [r.turn for r in got[k:k + 3]] == [1, 2, 3] and len({r.session_id for r in got[k:k + 3]}) == 1
    assert [r.prompt_ids for r in sample(reqs, 5, seed=4)] == [r.prompt_ids for r in got]


def test_clip_to_context_keeps_the_start():
    spec = PrefixDataset(kind="prefix", num_prefixes=1, prefix_tokens=40, suffix_tokens=40, output_tokens=20)
    tok = TokenSource(vocab=list(range(3, 300)), max_model_len=64)
    ds = load_dataset(spec, tok, 0, n=2)
    assert [r.input_tokens for r in ds.requests] == [44, 44] and "2 prompts clipped" in ds.notes[0]
    full = load_dataset(spec, SYNTH, 0, n=2).requests
    assert ds.requests[0].prompt_ids == full[0].prompt_ids[:44]


def test_histogram_and_shared_prefix_by_hand():
    assert histogram([1, 2, 2, 3, 10]) == {"edges": [1 + 0.9 * i for i in range(11)],
                                           "counts": [1, 2, 1, 0, 0, 0, 0, 0, 0, 1]}
    assert histogram([7, 7]) == {"edges": [7, 7], "counts": [2]}
    a = list(range(40))
    reqs = [WorkRequest(a, 1), WorkRequest(a[:32] + [99] * 8, 1), WorkRequest(a[:15] + [0] * 25, 1),
            WorkRequest(a[:16] + [5] * 16 + a[32:40], 1)]
    # block 1 of request 4 differs, so its third block does not count even though it matches request 1's
    assert shared_prefix_tokens(reqs) == [0, 32, 0, 16]


def test_config_dataset_forms_and_errors():
    w = Workload.model_validate({"dataset": {"prefix": {"num_prefixes": 3}}, "batch_sizes": [1]})
    assert w.dataset.kind == "prefix" and w.dataset.num_prefixes == 3
    assert Workload.model_validate({"input_tokens": 4, "output_tokens": 2, "dataset": "random"}).dataset.kind == "random"
    base = {"name": "x", "models": ["tiny:llama"], "backend": {"kind": "transformers"}}
    with pytest.raises(ConfigError, match=r"c\.yaml: workload: input_tokens and output_tokens are required"):
        parse_config({**base, "workload": {"batch_sizes": [1]}}, "c.yaml")
    with pytest.raises(ConfigError, match=r"are for the random dataset"):
        parse_config({**base, "workload": {"batch_sizes": [1], "input_tokens": 3, "dataset": {"kind": "prefix"}}}, "c.yaml")
    with pytest.raises(ConfigError, match=r"c\.yaml: workload\.dataset\.kind: 'tsv' is unknown"):
        parse_config({**base, "workload": {"batch_sizes": [1], "dataset": {"kind": "tsv"}}}, "c.yaml")
    with pytest.raises(ConfigError, match=r"workload\.dataset\.path: required field is missing"):
        parse_config({**base, "workload": {"batch_sizes": [1], "dataset": {"kind": "jsonl"}}}, "c.yaml")
    with pytest.raises(ConfigError, match=r"request_rate_ramp.*need backend\.kind: openai"):
        parse_config({**base, "workload": {"batch_sizes": [1], "input_tokens": 2, "output_tokens": 2,
                                           "request_rate_ramp": {"from": 1, "to": 2, "over_s": 3}}}, "c.yaml")


def test_a_list_of_datasets_sweeps_them():
    from bench.config.cases import expand

    cfg = parse_config({"name": "x", "models": ["tiny:llama"], "backend": {"kind": "openai"},
                        "workload": {"input_tokens": 8, "output_tokens": 4, "concurrency": [2],
                                     "dataset": ["random", {"prefix": {}}, {"kind": "prefix", "num_prefixes": 2},
                                                 {"kind": "conversation"}]}}, "c.yaml")
    cases = expand(cfg)
    assert [c.case_id for c in cases] == ["tiny-llama_c2_rinf_in8_out4", "tiny-llama_c2_rinf_prefix1",
                                          "tiny-llama_c2_rinf_prefix2", "tiny-llama_c2_rinf_conversation"]
    assert cfg.workload.datasets()[cases[2].dataset_index].num_prefixes == 2 and cases[3].input_tokens is None
    with pytest.raises(ConfigError, match=r"input_tokens and output_tokens are required"):
        parse_config({"name": "x", "models": ["tiny:llama"], "backend": {"kind": "openai"},
                      "workload": {"dataset": ["random", "prefix"]}}, "c.yaml")


def test_every_source_through_the_transformers_backend(tmp_path):
    """Offline, end to end: each source's per-request prompt and output lengths are what ran."""
    from conftest import ROOT, cases_by_dataset, cli, write_config

    d = ROOT / "tests" / "data" / "workloads"
    text = f"""
name: wl-offline
models: [tiny:llama]
backend: {{kind: transformers, device: cpu, dtype: float32, threads: 1}}
workload:
  dataset:
    - {{kind: sharegpt, path: {d / 'sharegpt-sample.json'}, turns: all, max_input_tokens: 200}}
    - {{kind: jsonl, path: {d / 'requests-sample.jsonl'}}}
    - {{kind: prefix, num_prefixes: 2, prefix_tokens: 32, suffix_tokens: 8, output_tokens: 3}}
    - {{kind: conversation, sessions: 2, turns: 2, user_tokens: 8, assistant_tokens: 4}}
    - {{kind: trace, path: {d / 'mooncake-sample.jsonl'}, block_tokens: 16, max_requests: 6}}
  batch_sizes: [3]
  num_requests: 6
  warmup: 0
"""
    p = cli("run", write_config(tmp_path / "c.yaml", text), "--output-dir", tmp_path / "out", "--format", "json")
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(p.stdout)
    cases = cases_by_dataset(doc, ["conversation", "jsonl", "prefix", "sharegpt", "trace"])
    for name, c in cases.items():
        ds, mine = c["dataset"], c["_records"]
        assert len(mine) == ds["requests"] == c["requests"]["succeeded"]
        # what ran is what the dataset asked for: every request's own lengths, tokens timed one by one
        assert sum(r["input_tokens"] for r in mine) == pytest.approx(ds["input_tokens"]["mean"] * len(mine))
        assert sum(r["output_tokens"] for r in mine) == pytest.approx(ds["output_tokens"]["mean"] * len(mine))
        assert all(len(r["token_times_s"]) == r["output_tokens"] for r in mine)
    assert cases["prefix"]["dataset"]["input_tokens"]["min"] == 40 and cases["prefix"]["output_tokens"] == 18
    assert cases["conversation"]["dataset"]["input_tokens"]["max"] == 20  # turn 2: 8 + 4 + 8
    assert cases["trace"]["dataset"]["requests"] == 6
    # offline records carry their session and turn: per-turn TTFT for multi-turn sources
    conv = cases["conversation"]
    assert sorted((r["session_id"], r["turn"]) for r in conv["_records"]) == [("s0", 1), ("s0", 2), ("s1", 1),
                                                                              ("s1", 2)]
    assert [(t["turn"], t["ttft_s"]["n"], t["input_tokens_mean"]) for t in conv["turns"]] == [(1, 2, 8), (2, 2, 20)]
    sg = cases["sharegpt"]
    assert all(r["turn"] is not None and r["session_id"] is not None for r in sg["_records"])
    assert [t["turn"] for t in sg["turns"]] == sorted({r["turn"] for r in sg["_records"]})
    assert sum(t["ttft_s"]["n"] for t in sg["turns"]) == len(sg["_records"])
    assert "turns" not in cases["prefix"] and all(r["turn"] is None for r in cases["prefix"]["_records"])


@pytest.mark.parametrize("dataset,content,expect", [
    ("{kind: jsonl, path: FILE}", None, "FILE: dataset file not found"),
    ("{kind: jsonl, path: FILE}", '{"prompt_tokens": 4, "output_tokens": 2}\n{"prompt_tokens": 4}\n',
     "FILE:2: a row needs 'output_tokens'"),
    ("{kind: trace, path: FILE}", '{"timestamp": 5, "input_length": 4, "output_length": 2}\n'
     '{"timestamp": 1, "input_length": 4, "output_length": 2}\n', "FILE:2: timestamp 0.001 is before"),
    ("{kind: sharegpt, path: FILE}", '[{"conversations": [}]', "FILE:1: not valid JSON"),
    ("{kind: jsonl, path: FILE, max_output_tokens: 1}", '{"prompt_tokens": 4, "output_tokens": 2}\n',
     "FILE: no requests left after filtering"),
])
def test_bad_dataset_input_is_one_line_and_exit_2(tmp_path, dataset, content, expect):
    from conftest import cli, write_config

    f = tmp_path / "data.jsonl"
    if content is not None:
        f.write_text(content)
    text = ("name: x\nmodels: [tiny:llama]\nbackend: {kind: transformers, device: cpu, dtype: float32, threads: 1}\n"
            f"workload: {{batch_sizes: [1], warmup: 0, dataset: {dataset.replace('FILE', str(f))}}}\n")
    p = cli("run", write_config(tmp_path / "c.yaml", text), "--output-dir", tmp_path / "out")
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    [line] = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert expect.replace("FILE", str(f)) in line, line


def test_prefix_cache_block_counters_by_hand():
    from types import SimpleNamespace

    from bench.workloads.cache import counters, engine_prefix_counters, prefix_cache_block

    before = counters({"vllm:prefix_cache_hits_total": 100.0, "vllm:prefix_cache_queries_total": 1000.0})
    after = counters({"vllm:prefix_cache_hits_total": 400.0, "vllm:prefix_cache_queries_total": 2000.0})
    assert prefix_cache_block(before, after, "s") == {"hits": 300.0, "queries": 1000.0, "hit_rate": 0.3, "source": "s"}
    none = prefix_cache_block(counters({}), counters({}), "s")
    assert none["hits"] is None and none["hit_rate"] is None  # not exposed: not measured, never 0
    llm = SimpleNamespace(get_metrics=lambda: [SimpleNamespace(name="vllm:prefix_cache_hits", value=7),
                                               SimpleNamespace(name="vllm:prefix_cache_queries", value=9),
                                               SimpleNamespace(name="vllm:prefix_cache_hits", value=1)])
    assert engine_prefix_counters(llm) == {"hits": 8.0, "queries": 9.0}
