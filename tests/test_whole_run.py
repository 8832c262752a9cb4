"""Whole-run projection: a continuous-batching engine simulated step by step, step times from the kernel."""
import json

import pytest

from bench.analysis import profiles, whole_run
from bench.analysis import projection as P
from bench.catalog import engines, hardware
from bench.catalog import models as catalog
from bench.errors import InputError
from conftest import cli

QWEN = catalog.get_model("Qwen3-32B")
H20 = hardware.get_chip("h20")


class OneSecondSteps:
    """Every engine step takes 1 s, whatever it holds: the scheduler's arithmetic by hand."""

    m = QWEN

    def step_s(self, decode_seqs, decode_ctx_tokens, prefill_tokens, prefill_flops):
        return 1.0


def test_scheduler_by_hand_one_request_at_a_time():
    # two requests of 4 in / 3 out at t = 0, one in flight at most: r0 prefills (first token at 1 s), decodes two
    # steps (done at 3 s); r1 is admitted at the next step: first token at 4 s, done at 6 s
    reqs = whole_run.requests(2, [(4, 3)], None)
    r = whole_run.simulate(reqs, OneSecondSteps(), 1, 100, 10_000)
    assert r["steps"] == 6 and r["duration_s"] == 6.0
    assert r["ttft_s"]["p50"] == pytest.approx(2.5)  # TTFTs 1 and 4
    assert r["e2e_s"]["p50"] == pytest.approx(4.5)  # E2Es 3 and 6
    assert r["tpot_s"]["p50"] == pytest.approx(1.0)
    assert r["output_tok_s"] == pytest.approx(6 / 6)
    assert r["max_batch"] == 1


def test_chunked_prefill_by_hand():
    # a 4-token prompt in a budget of 2 tokens a step: prefill over two steps, the first token at 2 s
    reqs = whole_run.requests(1, [(4, 2)], None)
    r = whole_run.simulate(reqs, OneSecondSteps(), 8, 2, 10_000)
    assert r["ttft_s"]["p50"] == 2.0 and r["e2e_s"]["p50"] == 3.0
    with pytest.raises(InputError, match="without chunked prefill"):
        whole_run.simulate(reqs, OneSecondSteps(), 8, 2, 10_000, chunked_prefill=False)


class PrefillOrDecode:
    """A prefill step takes 2 s, a decode step 1 s, whatever they hold: which kind each step is, by hand."""

    m = QWEN

    def __init__(self):
        self.kinds = []

    def step_s(self, decode_seqs, decode_ctx_tokens, prefill_tokens, prefill_flops):
        if prefill_tokens:
            assert decode_seqs == 0  # a prefill-first step never carries decodes
        self.kinds.append("P" if prefill_tokens else "D")
        return 2.0 if prefill_tokens else 1.0


def test_prefill_first_steps_by_hand():
    # three requests of 4 in / 3 out at once, 8 prefill tokens a step, at most 2 prompts a prefill step: step 1
    # prefills r0 and r1 (first tokens at 2 s); step 2 prefills r2 (the decodes wait: first token at 4 s); then
    # decode steps: r0/r1 finish after two (6 s), r2 after two (6 s)
    reqs = whole_run.requests(3, [(4, 3)], None)
    model = PrefillOrDecode()
    r = whole_run.simulate(reqs, model, None, 8, 10_000, chunked_prefill=False, prefill_first=True,
                           max_prefill_seqs=2)
    assert model.kinds == ["P", "P", "D", "D"] and r["duration_s"] == 6.0
    assert r["ttft_s"]["p50"] == 2.0 and r["ttft_s"]["p99"] == pytest.approx(4.0 - 0.02 * 2)
    # a request arriving later interrupts the decodes with its own prefill step
    late = [whole_run.Request(0.0, 4, 3), whole_run.Request(2.5, 4, 3)]
    model = PrefillOrDecode()
    whole_run.simulate(late, model, None, 8, 10_000, prefill_first=True)
    assert model.kinds == ["P", "D", "P", "D", "D"]


def test_max_num_seqs_as_the_decode_batch_only_by_hand():
    # MindIE's maxBatchSize caps the decode batch, not admission: three requests of 4 in / 3 out, at most 2
    # decoding: r0/r1 prefill (2 s), r2 prefills at once (4 s: its first token), r0/r1 decode twice (6 s), then r2
    # (8 s); capping admission instead, r2 waits for r0/r1 to finish (4 s) before its prefill (first token at 6 s)
    reqs = whole_run.requests(3, [(4, 3)], None)
    model = PrefillOrDecode()
    r = whole_run.simulate(reqs, model, 2, 8, 10_000, prefill_first=True, decode_cap_only=True)
    assert model.kinds == ["P", "P", "D", "D", "D", "D"] and r["duration_s"] == 8.0
    assert r["ttft_s"]["p99"] == pytest.approx(4.0 - 0.02 * 2) and r["max_batch"] == 3  # TTFTs 2, 2, 4
    model = PrefillOrDecode()
    r = whole_run.simulate(reqs, model, 2, 8, 10_000, prefill_first=True)
    assert model.kinds == ["P", "D", "D", "P", "D", "D"] and r["max_batch"] == 2
    assert r["ttft_s"]["p99"] == pytest.approx(2.0 + (6.0 - 2.0) * 0.98)  # TTFTs 2, 2, 6


def test_sharegpt_shape_by_hand():
    # 20 outputs at the shape's quantiles 2.5 %, 7.5 %, ... 97.5 % (5 % points: 2, 44, 84, ... 1024 tokens), scaled
    # to a mean of 200: the first is halfway between the 0 % and 5 % points, the last halfway between 95 % and 100 %
    from bench.workloads.lengths import shape, shaped_lengths

    q = shape("sharegpt_output")["quantiles_tokens"]
    assert len(q) == 21 and q[0] == 2 and q[-1] == 1024 and "sarathi-serve" in shape("sharegpt_output")["source"]
    raw = [(q[i] + q[i + 1]) / 2 for i in range(20)]
    want = sorted(round(v * 200 * 20 / sum(raw)) for v in raw)
    got = shaped_lengths(20, 100, 200, 10_000)
    assert sorted(o for _, o in got) == want and all(i == 100 for i, _ in got)
    assert sum(o for _, o in got) / 20 == pytest.approx(200, abs=0.5)
    assert got != sorted(got) and got == shaped_lengths(20, 100, 200, 10_000)  # shuffled, seeded
    assert max(o for _, o in shaped_lengths(20, 100, 200, 400)) == 300  # the context caps a request


def test_the_kv_cache_and_max_num_seqs_bound_the_batch():
    reqs = whole_run.requests(20, [(10, 5)], None)
    assert whole_run.simulate(reqs, OneSecondSteps(), 4, 1000, 10_000)["max_batch"] == 4
    assert whole_run.simulate(reqs, OneSecondSteps(), None, 1000, 45)["max_batch"] == 3  # 3 x 15 tokens fit in 45
    with pytest.raises(InputError, match="does not fit the KV cache"):
        whole_run.simulate(reqs, OneSecondSteps(), None, 1000, 14)


def test_arrivals_at_a_rate_wait_for_the_requests():
    reqs = whole_run.requests(3, [(4, 2)], 0.01, seed=1)  # about 100 s apart: each runs alone
    r = whole_run.simulate(reqs, OneSecondSteps(), 8, 100, 10_000)
    assert r["ttft_s"]["p99"] == pytest.approx(1.0) and r["max_batch"] == 1


def test_all_at_once_without_limits_is_the_steady_state_projection():
    # N requests at once, no scheduler limit: one prefill step of the whole batch, then the batch decodes together --
    # the steady state `project` computes; the simulation's decode runs at each step's real context (project at the
    # mean), so they agree within a fraction of a percent
    prof = profiles.resolve(profiles.catalog_profiles(), "h20")
    w = P.Shape(1024, 256, 32, 1, "bf16")
    sim = whole_run.project_run(QWEN, H20, w, prof, whole_run.requests(32, [(1024, 256)], None), None, 10 ** 6)
    steady = P.project(QWEN, H20, w, prof.efficiency)
    assert sim["output_tok_s_per_accelerator"] == pytest.approx(steady["output_tok_s_per_accelerator"], rel=2e-3)
    assert sim["ttft_s"]["p50"] == pytest.approx(steady["ttft_s"], rel=2e-3)
    assert sim["tpot_s"]["p50"] == pytest.approx(steady["tpot_s"], rel=2e-3)


def test_engine_defaults_by_memory_tier():
    assert engines.defaults("vllm", H20).max_num_seqs == 1024  # 96 GB, not an A100
    assert engines.defaults("vllm", hardware.get_chip("a100")).max_num_batched_tokens == 2048
    assert engines.defaults("sglang", H20).max_num_batched_tokens == 8192
    assert "arg_utils.py" in engines.defaults("vllm", H20).source
    with pytest.raises(InputError, match="no scheduler defaults for engine 'chitu'"):
        engines.defaults("chitu", H20)


def test_engine_defaults_per_version():
    b = hardware.get_chip("910b")
    old = engines.defaults("vllm-ascend", b, "0.9.1", 40960)  # the AscendScheduler, forced for non-MLA models
    assert (old.prefill_first, old.chunked_prefill, old.max_num_batched_tokens, old.max_num_seqs) == \
        (True, False, 40960, 256)
    assert "PR #2659" in old.source
    assert engines.defaults("vllm-ascend", b, "0.9.1", 40960, mla=True).chunked_prefill  # MLA keeps chunked prefill
    assert engines.defaults("vllm-ascend", b, "0.9.1rc3", 40960).chunked_prefill  # before the change
    with pytest.raises(InputError, match="the model's context"):
        engines.defaults("vllm-ascend", b, "v0.9.1")
    mi = engines.defaults("mindie", b, "2.1RC1")
    assert (mi.max_num_seqs, mi.max_num_batched_tokens, mi.max_prefill_seqs, mi.prefill_first, mi.decode_cap_only) \
        == (200, 8192, 50, True, True)
    assert "maxPrefillBatchSize" in mi.source


RUN = ("project", "--model", "Qwen3-32B", "--hardware", "h20,910b", "--input-tokens", "1024", "--output-tokens", "256",
       "--dtype", "bf16", "--accelerators", "2")


def test_cli_whole_run():
    p = cli(*RUN, "--num-prompts", "200", "--format", "json")
    assert p.returncode == 0, p.stderr
    h20, b = json.loads(p.stdout)
    for r in (h20, b):
        lo, hi = r["output_tok_s_per_accelerator_range"]
        assert lo < r["output_tok_s_per_accelerator"] < hi and r["provenance"] == "projected"
        assert r["ttft_s"]["p50"] <= r["ttft_s"]["p99"] and len(r["batch_over_time"]) == 20
    assert h20["max_num_seqs"] == 1024 and b["max_num_seqs"] == 256  # vLLM's tiers: 96 GB vs 64 GB
    assert b["max_batch"] <= 256
    capped = json.loads(cli(*RUN, "--num-prompts", "200", "--concurrency", "8", "--format", "json").stdout)
    assert all(r["max_batch"] <= 8 for r in capped)
    table = cli(*RUN, "--num-prompts", "50", "--request-rate", "2").stdout
    assert "PROJECTED whole run" in table and "batch over" in table


NO_LENGTHS = tuple(x for i, x in enumerate(RUN) if x not in ("--input-tokens", "--output-tokens")
                   and RUN[i - 1] not in ("--input-tokens", "--output-tokens"))


def test_cli_whole_run_jsonl_dataset(tmp_path):
    # the lengths come from the file: no --input-tokens / --output-tokens; each request takes the next line's
    f = tmp_path / "lengths.jsonl"
    f.write_text('{"input_tokens": 100, "output_tokens": 20}\n{"input_tokens": 300, "output_tokens": 40}\n')
    p = cli(*NO_LENGTHS, "--num-prompts", "10", "--dataset", "jsonl", str(f), "--format", "json")
    assert p.returncode == 0, p.stderr
    h20 = json.loads(p.stdout)[0]
    assert h20["requests"] == 10 and h20["output_tok_s"] * h20["duration_s"] == pytest.approx(5 * 20 + 5 * 40)
    table = cli(*NO_LENGTHS, "--num-prompts", "10", "--dataset", "jsonl", str(f))
    assert table.returncode == 0 and "means 200 in / 30 out" in " ".join(table.stdout.split())
    both = cli(*RUN, "--num-prompts", "10", "--dataset", "jsonl", str(f))
    assert both.returncode == 2 and "drop --input-tokens and --output-tokens" in both.stderr
    for text, msg in (('{"input_tokens": 1e15, "output_tokens": 20}\n', f"{f}:1: 'input_tokens' must be"),
                      ("not json\n", f"{f}:1: not valid JSON"), ("", "no lengths in it"),
                      ('{"input_tokens": 40000, "output_tokens": 1000}\n', "exceed the context")):
        f.write_text(text)
        bad = cli(*NO_LENGTHS, "--num-prompts", "10", "--dataset", "jsonl", str(f))
        assert bad.returncode == 2 and msg in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    gone = cli(*NO_LENGTHS, "--num-prompts", "10", "--dataset", "jsonl", "/dev/null/x")
    assert gone.returncode == 2 and "fix --dataset jsonl PATH" in gone.stderr
    lost = cli(*NO_LENGTHS, "--num-prompts", "10")
    assert lost.returncode == 2 and "project needs --input-tokens and --output-tokens" in lost.stderr


@pytest.mark.parametrize("extra,msg", [
    (["--num-prompts", "10", "--request-rate", "0"], "--request-rate must be"),
    (["--num-prompts", "10", "--request-rate", "fast"], "--request-rate 'fast'"),
    (["--num-prompts", "10", "--dataset", "sharegpt", "x"], "give 'random', 'sharegpt'"),
    (["--batch", "8", "--max-num-seqs", "4"], "add --num-prompts"),
    (["--num-prompts", "10", "--batch", "8"], "takes --concurrency"),
    (["--num-prompts", "0"], "--num-prompts must be a whole number"),
    ([], "needs --batch or --concurrency"),
])
def test_cli_whole_run_flags_read_or_refused(extra, msg):
    p = cli(*RUN, *extra)
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_published_finite_runs_are_validated_through_the_simulation():
    from bench.analysis import validate
    from bench.catalog import published

    rows = published.rows()
    finite = [r for r in rows if r.num_prompts]
    assert len(finite) >= 8 and all(r.usable is not None for r in finite)  # never fitted: their batch is the engine's
    doc = validate.finite_runs(rows, profs=profiles.catalog_profiles())
    by = {x["id"]: x for x in doc["rows"]}
    assert set(by) == {r.id for r in finite}
    r = by["gpustack-910b-qwen3-8b-vllm-4k"]
    assert r["projected"] > 0 and r["range"][0] < r["projected"] < r["range"][1]
    assert "max_num_seqs 256" in r["note"] and "v0.9.1" in r["note"]  # the row's engine version picks the limits
    # ShareGPT rows: outputs in ShareGPT's shape at the row's mean; a tail of long replies drains at a small batch,
    # so the same means in that shape take longer than every request at the mean
    sg = [dict(x) for x in doc["rows"] if x["id"] == "gpustack-910b-qwen3-8b-vllm-sharegpt"][0]
    flat = validate.finite_runs([next(r for r in rows if r.id == sg["id"]).model_copy(update={"dataset": "random"})],
                                profs=profiles.catalog_profiles())["rows"][0]
    assert sg["projected"] < flat["projected"]
    m = by["gpustack-910b-qwen3-8b-mindie-bf16-sharegpt"]  # MindIE's documented ScheduleConfig defaults
    assert m["projected"] > 0 and "max_num_seqs 200" in m["note"]
    # an engine without documented scheduler defaults is a row that says so, not a guess
    odd = next(r for r in rows if r.num_prompts and r.engine_class == "vllm-ascend")
    doc = validate.finite_runs([odd.model_copy(update={"engine": "chitu"})], profs=profiles.catalog_profiles())
    assert doc["rows"][0]["projected"] is None and "no scheduler defaults" in doc["rows"][0]["note"]


def test_a_run_too_large_to_simulate_is_refused_at_once():
    reqs = whole_run.requests(30_000, [(10, 1000)], None)
    with pytest.raises(InputError, match="more than the simulation takes"):
        whole_run.simulate(reqs, OneSecondSteps(), None, 10 ** 6, 10 ** 9)


def test_cli_engine_version_gives_validates_figure():
    # `project` with a published finite row's flags and its engine version projects what validate's finite-run
    # check does (one simulation, one set of defaults)
    from bench.analysis import validate
    from bench.catalog import published

    rows = published.rows()
    row = next(r for r in rows if r.id == "gpustack-910b-qwen3-8b-vllm-4k")
    want = validate.finite_runs([row], profs=profiles.catalog_profiles())["rows"][0]["projected"]
    p = cli("project", "--model", row.model, "--hardware", row.hardware, "--dtype", row.dtype, "--input-tokens",
            str(row.input_tokens), "--output-tokens", str(row.output_tokens), "--num-prompts", str(row.num_prompts),
            "--engine", "vllm-ascend", "--engine-version", row.engine_version, "--format", "json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)[0]
    assert r["output_tok_s_per_accelerator"] == pytest.approx(want, rel=1e-9)
    assert r["prefill_first"] and "v0.9.1" in r["scheduler_limits"]
    for extra, msg in ((["--engine", "field"], "add --engine NAME"), (["--engine", "vllm-ascend", "--batch", "4"],
                                                                       "add --num-prompts")):
        bad = cli("project", "--model", "Qwen3-8B", "--hardware", "910b", "--dtype", "bf16", "--input-tokens", "10",
                  "--output-tokens", "10", *(["--num-prompts", "5"] if "--batch" not in extra else []),
                  "--engine-version", "0.9.1", *extra)
        assert bad.returncode == 2 and msg in bad.stderr, bad.stderr


def test_finite_runs_check_the_latencies_and_only_output_rates():
    from bench.analysis import validate
    from bench.catalog import published

    rows = published.rows()
    row = next(r for r in rows if r.id == "gpustack-910b-qwen3-8b-mindie-bf16-sharegpt")
    doc = validate.finite_runs([row], profs=profiles.catalog_profiles())
    lat = doc["rows"][0]["latency"]
    assert lat["ttft_mean_ms"]["published"] == row.ttft_ms and lat["tpot_mean_ms"]["published"] == row.tpot_ms
    t = lat["ttft_mean_ms"]
    assert t["error"] == pytest.approx(t["projected"] / t["published"] - 1)
    assert doc["latency_summary"]["ttft_mean_ms"] == {"rows": 1, "median_abs_error": abs(t["error"])}
    # a finite row stated in another unit is a row that says why, not an output rate compared with a TPOT
    odd = validate.finite_runs([row.model_copy(update={"unit": "tpot_ms", "value": 50.0})],
                               profs=profiles.catalog_profiles())["rows"][0]
    assert odd["projected"] is None and "this row states tpot_ms" in odd["note"]
