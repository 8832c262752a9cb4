"""One projection kernel: every command gives the same tok/s for the same inputs, and the KV dtype rule is one."""
import json

import pytest

from bench.analysis import efficiency, profiles, roofline
from bench.analysis import projection as P
from bench.catalog import hardware, published
from bench.catalog import models as catalog
from bench.catalog.dtypes import kv_dtype
from conftest import cli

QWEN32 = ("--model", "Qwen3-32B", "--input-tokens", "1024", "--output-tokens", "256", "--dtype", "bf16")


def _json(*args):
    p = cli(*args, "--format", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_project_and_cost_project_agree_on_the_issue_example():
    # Qwen3-32B BF16 on one H20, 1,024 in / 256 out, batch 32: `project` printed 252 output tok/s per accelerator and
    # `cost --project` 599 under the same label (its decode-phase rate)
    (proj,) = _json("project", "--hardware", "h20", "--batch", "32", *QWEN32)
    priced = _json("cost", "--hardware", "h20", "--project", "--batch", "32", *QWEN32)
    assert priced["output_tok_s_per_accelerator"] == pytest.approx(proj["output_tok_s_per_accelerator"], rel=1e-9)
    assert priced["total_tok_s_per_accelerator"] == pytest.approx(proj["total_tok_s_per_accelerator"], rel=1e-9)
    # the decode-phase rate that output tokens are charged at is named for what it is: batch / TPOT
    assert priced["decode_tok_s_per_accelerator"] == pytest.approx(32 / proj["tpot_s"], rel=1e-9)
    assert proj["decode_tok_s_per_accelerator"] == pytest.approx(32 / proj["tpot_s"], rel=1e-9)
    # whole run: the batch's prefill, then 255 more decode steps
    run_s = proj["ttft_s"] + 255 * proj["tpot_s"]
    assert proj["output_tok_s_per_accelerator"] == pytest.approx(32 * 256 / run_s, rel=1e-9)


def test_capacity_and_project_agree():
    (row,) = _json("capacity", "--hardware", "h20", "--model", "Qwen3-32B", "--accelerators", "100",
                   "--input-tokens", "1024", "--output-tokens", "256", "--dtype", "bf16")["rows"]
    (proj,) = _json("project", "--hardware", "h20", "--batch", str(row["batch"]), "--accelerators",
                    str(row["replica_accelerators"]), *QWEN32)
    assert row["output_tok_s_per_accelerator"] == pytest.approx(proj["output_tok_s_per_accelerator"], rel=1e-9)
    assert row["tpot_s"] == pytest.approx(proj["tpot_s"], rel=1e-9)


def test_exhibit63_token_rows_and_project_agree():
    doc = _json("capacity", "--scenario", "exhibit63")
    r = next(t for t in doc["token_rows"] if t["model"] == "Llama-3.1-70B" and t["scenario"] == "910b")
    wl = {"chat-1k-1k": (1000, 1000), "prefill-heavy-8k-1k": (8000, 1000)}[r["workload"]]
    (proj,) = _json("project", "--hardware", "910b", "--model", "Llama-3.1-70B", "--input-tokens", str(wl[0]),
                    "--output-tokens", str(wl[1]), "--dtype", r["dtype"], "--batch", str(r["batch"]),
                    "--accelerators", str(r["replica_accelerators"]))
    assert r["output_tok_s_per_accelerator"] == pytest.approx(proj["output_tok_s_per_accelerator"], rel=1e-9)


def test_profile_fit_predicts_what_project_projects():
    # a published row projected by the fit (terms -> predict) and by `project` with the same inputs: one number
    def shape(r):
        return P.Shape(r.input_tokens, r.output_tokens, r.batch, r.accelerators, r.dtype, r.kv_cache_dtype,
                       parallelism=r.parallelism, engine=r.engine_class)

    def fits(r):
        return P.memory_fit(catalog.get_model(r.model), hardware.get_chip(r.hardware), shape(r))["fits"]

    rows = [r for r in published.rows() if r.usable is None and isinstance(r.batch, int) and r.accelerators > 1
            and r.unit == "output_tok_s_total" and r.phase == "e2e" and r.spec is None
            and r.decode_accelerators is None and r.compute_dtype is None and fits(r)]
    assert len(rows) >= 5
    for row in rows[:5]:
        prof = profiles.resolve(profiles.catalog_profiles(), row.hardware)
        t, why = profiles.row_terms(row)
        assert why is None
        m, chip, w = catalog.get_model(row.model), hardware.get_chip(row.hardware), shape(row)
    P.predict(t, prof.efficiency) == pytest.approx(
            P.project(m, chip, w, prof.efficiency)["output_tok_s_per_accelerator"], rel=1e-9), row.id


def test_roofline_and_efficiency_blocks_use_the_kernel_and_its_kv_rule():
    # Llama-3.1-8B int8 weights (weight-only quantisation) at batch 8: the KV cache stays 16-bit, as `project` sizes
    # it; the blocks once read the KV cache at the weights' 1 byte
    m, chip = catalog.get_model("Llama-3.1-8B"), hardware.get_chip("h100-sxm")
    case = {"workload": {"batch_size": 8, "input_tokens": 2048, "output_tokens": 256}, "backend": {"dtype": "int8"},
            "accelerators": 1, "tpot_s": {"p50": 0.02}, "ttft_s": {"p50": 0.5}}
    block = roofline.roofline_block(m, chip, case)
    kv = 8 * catalog.kv_bytes_per_token(m, "bf16") * (2048 + 128)
    weights = catalog.param_count(m) * 1.0
    assert block["tpot_bound"] == "memory"
    assert block["tpot_limit_s"] == pytest.approx((weights + kv) / (chip.bandwidth_tbs * 1e12), rel=1e-9)
    t = P.kernel(m, chip, P.Shape(2048, 256, 8, 1, "int8"))
    assert block["tpot_limit_s"] == pytest.approx(P.limits_s(t)["tpot_limit_s"], rel=1e-12)
    assert block["prefill_limit_s"] == pytest.approx(P.limits_s(t)["prefill_limit_s"], rel=1e-12)
    point = efficiency.case_point(m, chip, case)
    assert point["t_mem"] == pytest.approx(t.d_mem, rel=1e-12) and point["p_cmp"] == pytest.approx(t.p_cmp)


@pytest.mark.parametrize("weights,stated,engine,expected", [
    ("int4", None, None, "bf16"), ("int8", None, "vllm", "bf16"), ("fp8", None, None, "fp8"),
    ("fp8", None, "trtllm", "fp8"), ("fp8", None, "vllm", "bf16"), ("fp8", None, "sglang", "bf16"),
    ("bfloat16", None, None, "bf16"), ("fp32", None, None, "fp32"), ("fp8", "bf16", "trtllm", "bf16"),
    ("bf16", "fp8", "vllm", "fp8"),
])
def test_kv_dtype_rule_in_one_place(weights, stated, engine, expected):
    assert kv_dtype(weights, stated, engine) == expected
    assert P.kv_dtype_for(P.Shape(1, 1, 1, 1, weights, stated, engine=engine)) == expected


def test_moe_token_routing_traffic_by_hand():
    # DeepSeek-V3: 58 MoE layers, top-8 of 256 experts, hidden 7168, expert intermediate 2048: per token
    # 58 x 8 x (4 x 7168 + 3 x 2048) x 2 bytes = 32.3 MB; dense models carry none
    m = catalog.get_model("DeepSeek-V3")
    assert P.moe_activation_bytes(m, 1) == pytest.approx(58 * 8 * (4 * 7168 + 3 * 2048) * 2)
    assert P.moe_activation_bytes(m, 10) == pytest.approx(10 * P.moe_activation_bytes(m, 1))
    assert P.moe_activation_bytes(catalog.get_model("Qwen3-32B"), 64) == 0
    h20 = hardware.get_chip("h20")
    t = P.kernel(m, h20, P.Shape(1000, 1000, 64, 8, "fp8", parallelism="TP8"))
    t0 = P.kernel(catalog.get_model("Qwen3-32B"), h20, P.Shape(1000, 1000, 64, 8, "fp8", parallelism="TP8"))
    assert t.d_mem > t.d_kv and t0.d_mem > t0.d_kv
