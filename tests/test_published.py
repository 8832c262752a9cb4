"""The published-measurements catalog: coverage, refusal of bad rows with one line, de-rating by hand, CLI."""
import json

import pytest

from bench.catalog import published
from bench.errors import ConfigError
from conftest import run_cli

GOOD = """
rows:
  - id: r1
    model: Qwen3-32B
    dtype: int8
    hardware: 910b
    accelerators: 4
    parallelism: TP4
    engine: sglang
    input_tokens: 2000
    output_tokens: 2000
    dataset: random
    batch: 120
    spec: {method: EAGLE3, acceptance_length: 1.6}
    value: 2048
    unit: output_tok_s_total
    phase: e2e
    source: "sgl-project/sglang docs/platforms/ascend_npu_best_practice.md"
    ds: D
"""


def test_catalog_coverage():
    rows = published.rows()
    assert len(rows) >= 40
    assert sum(r.hardware == "h20" for r in rows) >= 8
    assert sum(r.hardware in ("910b", "910c") for r in rows) >= 8
    assert {r.phase for r in rows} == {"e2e", "decode", "prefill"}
    assert any(r.batch == 1 for r in rows) and any(r.batch == "max" for r in rows)
    for r in rows:
        assert r.source and r.unit and r.ds[0] in "DS"
        if r.spec is not None:
            assert r.spec.method  # speculative rows name their method; acceptance length or kept out of fits
            assert r.usable is not None or r.spec.acceptance_length


def test_good_row_per_accelerator_by_hand():
    (r,) = published.parse(GOOD, "t.yaml")
    # 2048 tok/s over 4 chips: 512 tok/s per chip, as published (the speculation is projected, not de-rated)
    assert r.per_accelerator_value() == pytest.approx(512.0)
    assert r.spec.width == 2.0  # no draft_tokens stated: ceil(1.6), the fewest that could accept 1.6
    assert r.usable is None and r.profile_key == "910b/sglang"


def test_acceptance_above_draft_tokens_is_refused():
    from bench.errors import BenchError

    bad = GOOD.replace("acceptance_length: 1.6}", "acceptance_length: 3.5, draft_tokens: 3}")
    assert bad != GOOD
    with pytest.raises(BenchError, match="draft_tokens"):
        published.parse(bad, "t.yaml")
    for odd, field in (("acceptance_length: .inf}", "acceptance_length"), ("acceptance_length: .nan}", "acceptance_length"),
                       ("acceptance_length: 1e300}", "acceptance_length"),
                       ("acceptance_length: 2, draft_tokens: 100000}", "draft_tokens")):
        with pytest.raises(BenchError, match=f"spec.{field}"):
            published.parse(GOOD.replace("acceptance_length: 1.6}", odd), "t.yaml")


@pytest.mark.parametrize("edit,msg", [
    (("    unit: output_tok_s_total\n", ""), "rows[0] (r1): unit: missing"),
    (("    source: \"sgl-project/sglang docs/platforms/ascend_npu_best_practice.md\"\n", ""), "rows[0] (r1): source: missing"),
    (("hardware: 910b", "hardware: 910x"), "hardware '910x' is unknown"),
    (("model: Qwen3-32B", "model: Qwen9-1T"), "model 'Qwen9-1T' is unknown"),
    (("unit: output_tok_s_total", "unit: tok/s"), "rows[0] (r1): unit:"),
    (("ds: D", "ds: X"), "must start with D"),
    (("batch: 120", "batch: 0"), "rows[0] (r1): batch"),
    (("accelerators: 4\n", "accelerators: 4\n    decode_accelerators: 4\n"), "decode_accelerators 4 must be fewer"),
    (("accelerators: 4\n", "accelerators: 4\n    decode_accelerators: 0\n"), "rows[0] (r1): decode_accelerators"),
    (("dtype: int8\n", "dtype: int8\n    kv_dtype: fp4\n"), "rows[0] (r1): kv_dtype"),
    (("dtype: int8\n", "dtype: int8\n    kv_dtype: .nan\n"), "rows[0] (r1): kv_dtype"),
    (("value: 2048", "value: .inf"), "rows[0] (r1): value: Input should be a finite number"),
    (("value: 2048", "value: .nan"), "rows[0] (r1): value: Input should be a finite number"),
    (("value: 2048", "value: 1e18"), "rows[0] (r1): value: Input should be less than or equal to"),
    (("value: 2048", "value: '2048 tok/s'"), "rows[0] (r1): value:"),
    (("accelerators: 4\n", "accelerators: 1000000000000000000\n"), "rows[0] (r1): accelerators"),
    (("batch: 120", "batch: 1000000000"), "rows[0] (r1): batch"),
    (("input_tokens: 2000", "input_tokens: 1000000000000000000"), "rows[0] (r1): input_tokens"),
    (("phase: e2e\n", "phase: e2e\n    ttft_ms: .inf\n"), "rows[0] (r1): ttft_ms"),
])
def test_bad_rows_are_refused_with_one_line(edit, msg):
    text = GOOD.replace(*edit)
    with pytest.raises(ConfigError) as e:
        published.parse(text, "t.yaml")
    line = str(e.value)
    assert msg in line and line.startswith("t.yaml: ") and "\n" not in line


@pytest.mark.parametrize("text,msg", [
    ("", "t.yaml: file: "), ("rows: 5", "t.yaml: rows: "), ("rows:\n  - {id: x", "t.yaml:2:11: YAML syntax error"),
    (GOOD.replace("    unit:", "    ds: D\n    unit:"), "key 'ds' is given twice"),
])
def test_empty_truncated_or_doubled_files_are_one_line(text, msg):
    with pytest.raises(ConfigError) as e:
        published.parse(text, "t.yaml")
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_kv_cache_dtype_is_the_stated_one_else_the_engines_default():
    fp8 = GOOD.replace("dtype: int8", "dtype: fp8").replace("hardware: 910b", "hardware: h20")
    (sg,) = published.parse(fp8, "t.yaml")
    (trt,) = published.parse(fp8.replace("engine: sglang", "engine: trtllm"), "t.yaml")
    (stated,) = published.parse(fp8.replace("dtype: fp8\n", "dtype: fp8\n    kv_dtype: fp8\n"), "t.yaml")
    (int8,) = published.parse(GOOD, "t.yaml")
    # SGLang/vLLM keep the cache in 16 bits with FP8 weights (--kv-cache-dtype auto); TensorRT-LLM follows the weights
    assert (sg.kv_cache_dtype, trt.kv_cache_dtype, stated.kv_cache_dtype, int8.kv_cache_dtype) == \
        ("bf16", "fp8", "fp8", "bf16")
    # and the projection reads it: a 16-bit cache is twice the KV bytes of an FP8 one
    from bench.analysis.profiles import row_terms

    t16, t8 = row_terms(sg)[0], row_terms(stated)[0]
    assert t16.d_kv == pytest.approx(2 * t8.d_kv, rel=1e-12) and t16.d_kv > 0


def test_duplicate_ids_are_refused():
    body = GOOD.split("rows:\n", 1)[1]
    with pytest.raises(ConfigError, match="'r1' appears twice"):
        published.parse("rows:\n" + body + body, "t.yaml")


def test_spec_rows_without_acceptance_are_kept_but_not_used():
    (r,) = published.parse(GOOD.replace("acceptance_length: 1.6", "acceptance_length: null"), "t.yaml")
    assert "without a stated acceptance length" in r.usable


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_list_published_cli():
    p = run_cli("list", "published", "--format", "json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert len(rows) == len(published.rows())
    assert {"id", "model", "hardware", "engine", "value", "unit", "source", "ds", "used_in_fits"} <= set(rows[0])


def test_h20_and_ascend_evidence_is_usable_and_covers_dense_models():
    from bench.catalog import models

    usable = [r for r in published.rows() if r.usable is None]
    h20 = [r for r in usable if r.hardware == "h20"]
    assert len(h20) >= 8
    assert any(models.get_model(r.model).moe is None for r in h20)  # a dense model on the H20
    assert any(r.phase == "prefill" for r in h20) and any(r.phase == "decode" for r in h20)
    ascend = [r for r in usable if r.hardware in ("910b", "910c")]
    assert {r.engine_class for r in ascend if r.hardware == "910b"} >= {"sglang", "vllm-ascend", "mindie"}
    # batch 1 and maximum load (a stated high concurrency: the 'max' rows with no stated limit are kept out)
    assert any(r.batch == 1 for r in ascend) and any(r.batch == "max" or r.batch >= 256 for r in ascend)


def test_acceptance_lengths_are_only_where_a_source_states_them():
    by_id = {r.id: r for r in published.rows()}
    # the LMSYS H20 post states 1.8-1.9 (MTP 1/1/2) and 2.4-2.7 (2/1/3); the rows carry the midpoints
    assert by_id["lmsys-h20-dsr1-decode-48pg"].spec.acceptance_length == pytest.approx(1.85)
    assert by_id["lmsys-h20-dsr1-decode-12pg"].spec.acceptance_length == pytest.approx(2.55)
    # the per-node figure names no MTP setting: no acceptance length, kept out of fits
    assert by_id["lmsys-h20-dsr1-output-node"].spec.acceptance_length is None
    assert by_id["lmsys-h20-dsr1-output-node"].usable is not None
    # MTP "1/1/2" is steps/topk/draft tokens: 2 tokens verified per step, at most 2 accepted
    assert by_id["lmsys-h20-dsr1-decode-48pg"].spec.width == 2.0
    assert by_id["lmsys-h20-dsr1-decode-12pg"].spec.width == 3.0


def test_small_batch_dense_910b_rows_agree_with_their_own_latencies():
    """The rows added for the small-batch dense question carry both a throughput and a TPOT; each must agree with
    the other by hand, so a mistyped figure fails here (the sources print both)."""
    by_id = {r.id: r for r in published.rows()}
    suffix = [r for r in by_id.values() if r.id.startswith("vllm-ascend-suffix-a2-qwen3-32b-")]
    assert len(suffix) == 18 and all(r.usable is None and r.spec is None for r in suffix)
    for r in suffix:
        if r.batch == 1:  # one stream: output tok/s ~ 1000 / TPOT (TTFT adds < 4 % at these lengths)
            assert r.value == pytest.approx(1000.0 / r.tpot_ms, rel=0.04), r.id
        else:  # c streams at 1000/TPOT tok/s each, less prefill and ramp-down (0.78-1.02 in this table: the mean
            # TPOT is per request, so with uneven output lengths the ratio can pass 1 by a few per cent)
            assert 0.75 <= r.value / (r.batch * 1000.0 / r.tpot_ms) <= 1.05, r.id
    # SGLang cookbook, 910B3 TP4, 18000/4000 at batch 1: 4000 / (2.889 s + 3999 x 32.96 ms) = 29.70 tok/s
    cb = by_id["sglang-cookbook-a2-qwen3-32b-bf16-b1"]
    assert cb.value == pytest.approx(4000 / (cb.ttft_ms / 1000 + 3999 * cb.tpot_ms / 1000), rel=0.005)
    assert cb.per_accelerator_value() == pytest.approx(29.69 / 4)
    # the rate-driven #1605 row is listed but held out (TP not stated, batch derived)
    assert by_id["vllm-ascend-1605-qwen3-32b-sharegpt-qps1"].usable is not None
