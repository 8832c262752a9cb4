"""Projection and capacity: hand-computed rooflines, memory fit, Exhibit 63, calibration round trip, CLI."""
import json

import pytest

from bench.analysis import capacity, efficiency, exhibit63
from bench.catalog import models as catalog
from bench.catalog import engines, hardware
from bench.analysis import projection as P
from bench.errors import InputError
from conftest import ROOT, cli

LLAMA8 = catalog.get_model("Llama-3.1-8B")
H100 = hardware.get_chip("h100-sxm")


def test_batch1_decode_llama8b_bf16_h100_by_hand():
    # ~16.06 GB of bf16 weights read per token; KV at 1,000.5 tokens of context: 131,072 B x 1000.5 = 0.131 GB
    w = P.Shape(1, 2000, 1, 1, "bf16")
    r = P.project(LLAMA8, H100, w, P.Efficiency(mbu=0.8, mfu=0.5))
    weights = catalog.param_count(LLAMA8) * 2
    # each operator's memory and compute times overlap as their 3-norm (projection.overlap): the linear layers
    # (weights vs 2 x params FLOPs), then attention (KV read vs QK^T + AV over 1,000.5 tokens of context)
    w_s, lin_s = weights / (3.35e12 * 0.8), 2 * catalog.active_param_count(LLAMA8) / (989e12 * 0.5)
    kv_s = 131072 * (1 + 1000) / (3.35e12 * 0.8)
    attn_s = 2 * 32 * 32 * 2 * 128 * 1000.5 / (989e12 * 0.5)  # 32 layers x 32 heads x 2 (QK, AV) x head_dim 128
    expect = (w_s ** 3 + lin_s ** 3) ** (1 / 3) + (kv_s ** 3 + attn_s ** 3) ** (1 / 3)
    assert weights / 1e9 == pytest.approx(16.06, rel=0.01)
    assert r["tpot_s"] == pytest.approx(expect, rel=1e-9)
    assert r["tpot_s"] > (weights + 131072 * (1 + 1000)) / (3.35e12 * 0.8)  # above the sharp roofline, by a hair
    assert r["bound"] == "memory" and r["mbu"] == pytest.approx(0.8)
    assert r["provenance"] == "projected" and r["efficiency"]["mbu"] == 0.8


def test_compute_bound_prefill_by_hand():
    w = P.Shape(4096, 2, 8, 1, "bf16")
    r = P.project(LLAMA8, H100, w, P.Efficiency(mbu=0.8, mfu=0.5))
    flops = 8 * catalog.prefill_flops(LLAMA8, 4096)
    # the weights and the batch's KV writes (8 x 4,096 tokens x 131,072 B) against the FLOPs, as their 3-norm
    mem = (catalog.param_count(LLAMA8) * 2 + 8 * 4096 * 131072) / (3.35e12 * 0.8)
    assert r["ttft_s"] == pytest.approx(((flops / (989e12 * 0.5)) ** 3 + mem ** 3) ** (1 / 3), rel=1e-9)
    assert r["ttft_s"] == pytest.approx(flops / (989e12 * 0.5), rel=1e-6)  # compute-bound: the max, nearly


def test_memory_fit_70b():
    m = catalog.get_model("Llama-3.1-70B")
    one = P.memory_fit(m, H100, P.Shape(1000, 1000, 1, 1, "bf16"))
    two = P.memory_fit(m, H100, P.Shape(1000, 1000, 1, 2, "bf16"))
    assert not one["fits"] and one["max_batch"] == 0
    assert two["fits"] and two["max_batch"] >= 1
    # 2 x 80 GB x 0.9 usable - 141.1 GB weights = 2.9 GB for KV at 327,680 B/token x 2,000 tokens
    assert two["max_batch"] == int((144e9 - catalog.param_count(m) * 2) // (327680 * 2000))


def test_no_throughput_made_up_when_it_does_not_fit():
    m = catalog.get_model("Llama-3.1-70B")
    r = P.project(m, H100, P.Shape(1000, 1000, 4, 1, "bf16"))
    assert r["fits"] is False and r["output_tok_s_per_accelerator"] is None and "does not fit" in r["note"]


def test_moe_touches_fewer_experts_at_small_batch():
    ds = catalog.get_model("DeepSeek-V3")
    b1 = P.decode_weight_bytes(ds, "fp8", 1)
    b512 = P.decode_weight_bytes(ds, "fp8", 512)
    assert b1 / 1e9 == pytest.approx(catalog.active_param_count(ds, True) / 1e9 + 0, rel=0.05)
    assert b512 == pytest.approx(catalog.param_count(ds), rel=0.01)


def test_tp_adds_communication():
    w1 = P.project(LLAMA8, H100, P.Shape(100, 100, 1, 1, "bf16"))
    w2 = P.project(LLAMA8, H100, P.Shape(100, 100, 1, 2, "bf16"))
    assert w2["tpot_s"] > w1["tpot_s"] / 2  # halving bytes per chip is partly eaten by the all-reduces


def test_public_sanity_point_trtllm_llama8b_fp8_h100():
    # TensorRT-LLM: ~15,200 output tok/s, Llama-3.1-8B FP8, one H100, 1000/1000, maximum load (aim: within 25 %)
    r = P.max_load(LLAMA8, H100, P.Shape(1000, 1000, 1, 1, "fp8"))
    assert r["output_tok_s_per_accelerator"] == pytest.approx(15200, rel=0.25)


def test_calibration_round_trip():
    truth = P.Efficiency(mbu=0.6, mfu=0.4, step_overhead_s=0.002, roofline_p=None)  # calibrate's sharp roofline
    h200 = hardware.get_chip("h200")
    cases = []
    for b in (1, 8, 32):
        r = P.project(LLAMA8, h200, P.Shape(512, 128, b, 1, "bf16"), truth)
        cases.append({"status": "ok", "model": {"label": "Llama-3.1-8B"}, "backend": {"dtype": "bfloat16"},
                      "accelerators": 1, "workload": {"batch_size": b, "input_tokens": 512, "output_tokens": 128},
                      "tpot_s": {"p50": r["tpot_s"]}, "ttft_s": {"p50": r["ttft_s"]}})
    eff = P.calibrate(efficiency.calibration_points(lambda c: LLAMA8, h200, cases))
    assert eff.mbu == pytest.approx(0.6, rel=1e-6) and eff.mfu == pytest.approx(0.4, rel=1e-6)
    assert eff.step_overhead_s == pytest.approx(0.002, rel=1e-6)
    for c in cases:
        b = c["workload"]["batch_size"]
        back = P.project(LLAMA8, h200, P.Shape(512, 128, b, 1, "bf16"), eff)
        assert back["tpot_s"] == pytest.approx(c["tpot_s"]["p50"], rel=1e-6)
        assert back["ttft_s"] == pytest.approx(c["ttft_s"]["p50"], rel=1e-6)


def test_measured_efficiency_of_the_h200_reference_run():
    from bench.results.rundir import RunDir

    rd = RunDir.open_existing(ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z")
    h200 = hardware.get_chip("h200")
    for c in rd.latest_cases():
        e = efficiency.measured_efficiency(catalog.models()[c["model"]["label"]], h200, c)
        assert 0 < e["mbu"] < 1 and 0 < e["mfu"] < 1 and e["provenance"] == "measured"


# ---------------------------------------------------------------------------- capacity
def test_fleet_by_hand():
    f = capacity.fleet(1000, 1140.0, 148.0, 500.0, pue=1.25, utilisation=0.5)
    assert f["it_power_w"] == 1.14e6 and f["facility_power_w"] == pytest.approx(1.425e6)
    assert f["compute_eflops"] == pytest.approx(0.148)
    assert f["electricity_twh_per_year"] == pytest.approx(1.425e6 * 8760 * 0.5 / 1e12)
    assert f["tokens_s"] == 500000 and f["tokens_per_day"] == pytest.approx(500000 * 86400 * 0.5)
    assert f["tokens_s_per_mw_it"] == pytest.approx(500 * 1e6 / 1140)
    assert capacity.accelerators_for_power(1.425e6, 1140, 1.25) == pytest.approx(1000)
    assert capacity.accelerators_for_demand(500000 * 86400 * 0.5, 500, 0.5) == pytest.approx(1000)


def test_exhibit63_all_24_numbers_within_2pct():
    check = exhibit63.check(exhibit63.rows())
    assert len(check) == 24
    for c in check:
        assert abs(c["rel_error"]) <= 0.02, c


def test_exhibit63_is_computed_not_looked_up():
    x = dict(exhibit63.inputs())
    x["chips_added_millions"] = {**x["chips_added_millions"], 2025: 2 * x["chips_added_millions"][2025]}
    rows = exhibit63.rows(x)
    r = [r for r in rows if r["scenario"] == "h20" and r["year"] == 2025][0]
    assert r["power_mw"] == pytest.approx(2 * 2.91e6 * 1.14 / 1e3, rel=1e-9)


# ---------------------------------------------------------------------------- CLI contracts
def test_cli_project_json_contract():
    p = cli("project", "--model", "Llama-3.1-8B", "--hardware", "h100-sxm,h20,910b", "--input-tokens", "1000",
                "--output-tokens", "1000", "--batch", "16", "--dtype", "bf16", "--format", "json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["hardware"] for r in rows] == ["h100-sxm", "h20", "910b"]
    for r in rows:
        for k in ("hardware", "fits", "max_batch", "ttft_s", "tpot_s", "output_tok_s_per_accelerator",
                  "total_tok_s_per_accelerator", "bound", "mbu", "mfu"):
            assert k in r
        assert r["provenance"] == "projected"
    # decode is bandwidth bound: the H20 (4.0 TB/s) beats the 910B (1.6 TB/s) per user
    assert rows[1]["tpot_s"] < rows[2]["tpot_s"]


def test_cli_project_parallelism():
    # Llama-3.1-70B on 8 H100s as TP4 PP2: each step runs on one stage group of 4 in turn, so TPOT is a TP4
    # replica's (plus one hop between the stages) and the tokens are shared by 8 chips: half the tok/s per chip
    base = ("project", "--model", "Llama-3.1-70B", "--hardware", "h100-sxm", "--input-tokens", "1000", "--output-tokens",
            "1000", "--batch", "16", "--dtype", "bf16", "--mbu", "0.6", "--mfu", "0.5", "--format", "json")
    (tp4,) = json.loads(cli(*base, "--accelerators", "4").stdout)
    (pp,) = json.loads(cli(*base, "--accelerators", "8", "--parallelism", "TP4 PP2").stdout)
    hop = pp["efficiency"]["collective_hop_s"]
    assert (tp4["parallelism"], pp["parallelism"]) == ("TP4", "TP4 PP2")
    assert pp["tpot_s"] == pytest.approx(tp4["tpot_s"] + hop, rel=1e-9)
    assert pp["output_tok_s_per_accelerator"] == pytest.approx(tp4["output_tok_s_per_accelerator"] / 2, rel=1e-3)
    for bad, msg in (("PP3", "3 pipeline stages do not split 8"), ("TP0", "degree 0 is out of range"),
                     ("EP8", "expert parallelism needs a MoE model"), ("--pp-size 0", "0 pipeline stages is out of range")):
        p = cli(*base, "--accelerators", "8", "--parallelism", bad)
        assert p.returncode == 2 and msg in p.stderr and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_cli_project_calibrate():
    # --calibrate adds the run's cases to its own chip's fit (an H200 run: the h200 profile gains 6 points)
    args = ("project", "--model", "Qwen2.5-7B", "--hardware", "h200,h20", "--input-tokens", "512", "--output-tokens",
            "128", "--concurrency", "8", "--dtype", "bf16", "--format", "json")
    p = cli(*args, "--calibrate", ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z")
    assert p.returncode == 0, p.stderr
    h200, h20 = json.loads(p.stdout)
    base = json.loads(cli(*args).stdout)[0]
    assert h200["profile_rows"] == base["profile_rows"] + 6 and "6 local case(s)" in h200["calibration"]
    assert "calibration" not in h20 and 0 < h200["efficiency"]["mbu"] <= 1


def test_cli_capacity_exhibit63_json():
    p = cli("capacity", "--scenario", "exhibit63", "--format", "json")
    d = json.loads(p.stdout)
    assert len(d["rows"]) == 8 and {r["scenario"] for r in d["rows"]} == {"h20", "910b"}
    r = d["rows"][0]
    assert set(r) >= {"scenario", "year", "power_mw", "electricity_twh", "compute_eflops_fp16"}
    assert d["max_abs_rel_error"] <= 0.02
    models = {t["model"] for t in d["token_rows"]}
    assert models == {"DeepSeek-V3", "Llama-3.1-70B", "Qwen2.5-7B"}
    assert {t["workload"] for t in d["token_rows"]} == {"chat-1k-1k", "prefill-heavy-8k-1k"}
    assert all(t["output_tokens_per_day"] > 0 and t["provenance"] == "projected" for t in d["token_rows"])
    assert any("DERIVED" in a for a in d["assumptions"])


def test_cli_capacity_compare_and_reverse():
    p = cli("capacity", "--compare", "h20,910b", "--model", "Llama-3.1-8B", "--power-mw", "10",
                "--input-tokens", "1000", "--output-tokens", "1000", "--format", "json")
    rows = json.loads(p.stdout)["rows"]
    assert [r["hardware"] for r in rows] == ["h20", "910b"]
    assert rows[0]["facility_power_w"] == pytest.approx(10e6)
    assert rows[1]["dtype"] == "int8"  # the 910B's best dtype: it has no fp8
    p = cli("capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--tokens-per-day", "1e12",
                "--input-tokens", "1000", "--output-tokens", "1000", "--format", "json")
    r = json.loads(p.stdout)["rows"][0]
    assert r["tokens_per_day"] == pytest.approx(1e12, rel=1e-9)


@pytest.mark.parametrize("args,msg", [
    (["project", "--model", "Llama-3.1-8B", "--hardware", "910b", "--input-tokens", "10", "--output-tokens", "10",
      "--batch", "1", "--dtype", "fp8"], "no fp8 peak"),
    (["project", "--model", "Llama-3.1-8B", "--hardware", "a100", "--input-tokens", "10", "--output-tokens", "10",
      "--batch", "1", "--dtype", "fp8"], "no fp8 peak"),
    (["project", "--model", "Nope-1B", "--hardware", "h20", "--input-tokens", "10", "--output-tokens", "10",
      "--batch", "1", "--dtype", "bf16"], "'Nope-1B' is not in the catalog"),
    (["project", "--model", "Llama-3.1-8B", "--hardware", "x9", "--input-tokens", "10", "--output-tokens", "10",
      "--batch", "1", "--dtype", "bf16"], "hardware 'x9' is unknown"),
    (["project", "--model", "Llama-3.1-405B", "--hardware", "h100-sxm", "--input-tokens", "10", "--output-tokens",
      "10", "--batch", "1", "--dtype", "bf16"], "does not fit on 1 x h100-sxm"),
    (["capacity", "--hardware", "h20", "--model", "Llama-3.1-8B", "--power-mw", "-1", "--input-tokens", "1",
      "--output-tokens", "1"], "--power-mw must be > 0"),
])
def test_cli_bad_input(args, msg):
    p = cli(*args)
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr


def test_sw_efficiency_discount():
    base = P.project(LLAMA8, hardware.get_chip("910b"), P.Shape(1000, 1000, 8, 1, "bf16"))
    cut = P.project(LLAMA8, hardware.get_chip("910b"), P.Shape(1000, 1000, 8, 1, "bf16"), sw_efficiency=0.725)
    assert cut["output_tok_s_per_accelerator"] == pytest.approx(0.725 * base["output_tok_s_per_accelerator"])
    with pytest.raises(InputError):
        from bench.analysis.asked import sw_efficiency
        sw_efficiency("910b=1.5")


# ---------------------------------------------------------------------------- the batch of a maximum-load run, per engine
H200 = hardware.get_chip("h200")
QWEN235 = catalog.get_model("Qwen3-235B-A22B")


# trtllm-bench's documented sizing (engines.yaml records it; measured, not applied: the published runs are finite)
TRTLLM_BENCH = engines.MaxLoad("trtllm", "trtllm-bench", 0.90, "free", "full", True, 4096, 32768, "tuning.py")


def test_load_batch_field_rule_is_todays_max_batch():
    # no engine, and an engine without a rule of its own (trtllm, sglang): 0.9 x 141 GB - 8.03 GB of fp8 weights over
    # fp8 KV 65,536 B/token x 2,000 tokens a request = 906 (capped at 1,024): memory_fit's batch, as before
    for engine in (None, "trtllm", "sglang"):
        f = P.load_batch(LLAMA8, H200, P.Shape(1000, 1000, 1, 1, "fp8", "fp8", engine=engine))
        assert f["max_batch"] == int((0.9 * 141e9 - 8_029_995_008) // (65536 * 2000)) == 906
        assert f["bound"] == "memory" and f["rule"] == "the projection's field rule"
    assert P.memory_fit(LLAMA8, H200, P.Shape(1000, 1000, 1, 1, "fp8"))["max_batch"] == 906
    # the field caps at 1,024 and counts KV heads once (Qwen3-235B's 4 KV heads over TP8: no copies)
    qw = P.load_batch(QWEN235, H200, P.Shape(1000, 1000, 1, 8, "fp8", parallelism="TP8 EP"))
    assert qw["batch_by_memory"] == int((0.9 * 8 * 141e9 - 235_092_836_352) // (96256 * 2000)) == 4052
    assert qw["max_batch"] == 1024 and qw["bound"] == "batch cap"


def test_load_batch_trtllm_bench_rule_by_hand():
    # KV = 0.90 x (141 GB - 8.03 GB) = 119.67 GB / (65,536 x 2,000) = 913 requests (4,096 and 16,384 do not bind)
    w = P.Shape(1000, 1000, 1, 1, "fp8", engine="trtllm")
    assert P.load_batch(LLAMA8, H200, w, rule=TRTLLM_BENCH)["max_batch"] == int(0.90 * (141e9 - 8_029_995_008)
                                                                                 // (65536 * 2000)) == 913
    # 8 x H200, 2048/128: memory holds 0.9 x (1128 - 8.03) GB / (65,536 x 2,176) = 7,068 requests, but a step carries
    # at most 32,768 tokens: 32,768 / (1 + 2048/128) = 1,927 requests sustained
    r = P.load_batch(LLAMA8, H200, P.Shape(2048, 128, 1, 8, "fp8", parallelism="TP8"), rule=TRTLLM_BENCH)
    assert r["batch_by_memory"] == int(0.9 * (8 * 141e9 - 8_029_995_008) // (65536 * 2176)) == 7068
    assert r["max_batch"] == 32768 // 17 == 1927 and r["bound"] == "token cap"
    # Qwen3-235B TP8: 2 copies of the KV heads -> 0.9 x (1128 - 235.09) GB / (96,256 x 2 x 2,000) = 2,087;
    # attention DP: no copies, 4,174 by memory, the 4,096 cap binds
    kv = 0.90 * (8 * 141e9 - 235_092_836_352)
    tp = P.Shape(1000, 1000, 1, 8, "fp8", parallelism="TP8 EP")
    dp = P.Shape(1000, 1000, 1, 8, "fp8", parallelism="attention DP8 + MoE EP8")
    assert P.load_batch(QWEN235, H200, tp, rule=TRTLLM_BENCH)["max_batch"] == int(kv // (96256 * 2 * 2000)) == 2087
    assert P.load_batch(QWEN235, H200, dp, rule=TRTLLM_BENCH)["max_batch"] == 4096


def test_kv_replicas_under_tp():
    tp8 = P.Shape(1, 1, 1, 8, "fp8", parallelism="TP8 EP")
    assert P.kv_replicas(QWEN235, tp8) == 2.0  # 4 KV heads over 8 ranks: each rank keeps one
    assert P.kv_replicas(QWEN235, P.Shape(1, 1, 1, 8, "fp8", parallelism="attention DP8 + MoE EP8")) == 1.0
    assert P.kv_replicas(QWEN235, P.Shape(1, 1, 1, 4, "fp8", parallelism="TP4")) == 1.0
    assert P.kv_replicas(LLAMA8, P.Shape(1, 1, 1, 8, "fp8", parallelism="TP8")) == 1.0  # 8 KV heads over 8 ranks
    assert P.kv_replicas(LLAMA8, P.Shape(1, 1, 1, 16, "fp8", parallelism="TP16")) == 2.0
    assert P.kv_replicas(catalog.get_model("DeepSeek-R1"), P.Shape(1, 1, 1, 8, "fp8", parallelism="TP8")) == 8.0  # MLA


def test_load_batch_vllm_mean_kv_max_num_seqs_and_copies():
    # vLLM allocates KV blocks as tokens come: a steady state holds input + output/2 = 1,500 tokens a request;
    # 0.9 x 80 GB - 16.06 GB of bf16 weights = 55.94 GB / (131,072 B x 1,500) = 284 (max_num_seqs 1,024 above)
    r = P.load_batch(LLAMA8, H100, P.Shape(1000, 1000, 1, 1, "bf16", engine="vllm"))
    assert r["max_batch"] == int((0.9 * 80e9 - 2 * 8_029_995_008) // (131072 * 1500)) == 284
    assert "vLLM" in r["rule"]
    # a short sequence: the batch stops at max_num_seqs (1,024 on a >= 70 GiB GPU; 256 on an A100)
    short = P.Shape(100, 100, 1, 1, "bf16", engine="vllm")
    assert P.load_batch(LLAMA8, H100, short)["max_batch"] == 1024
    assert P.load_batch(LLAMA8, hardware.get_chip("a100"), short)["max_batch"] == 256
    # Qwen3-235B bf16 TP8 on H200: 2 copies of its 4 KV heads -> (0.9 x 1128 - 470.19) GB / (192,512 x 2 x 1,500)
    qw = P.load_batch(QWEN235, H200, P.Shape(1000, 1000, 1, 8, "bf16", parallelism="TP8", engine="vllm"))
    assert qw["max_batch"] == int((0.9 * 8 * 141e9 - 2 * 235_092_836_352) // (192512 * 2 * 1500)) == 943
    # MindIE: maxBatchSize 200
    assert P.load_batch(LLAMA8, H100, P.Shape(100, 100, 1, 1, "bf16", engine="mindie"))["max_batch"] == 200


def test_max_load_uses_the_engines_batch():
    field = P.max_load(LLAMA8, H100, P.Shape(1000, 1000, 1, 1, "bf16"))
    vllm = P.max_load(LLAMA8, H100, P.Shape(1000, 1000, 1, 1, "bf16", engine="vllm"))
    assert (field["batch"], vllm["batch"]) == (213, 284) and vllm["load_batch_bound"] == "memory"
    # 284 requests at input + output/2 fit by vLLM's rule, though not at the field's whole-sequence rule (213)
    assert vllm["fits"] and vllm["max_batch"] == 284 and vllm["output_tok_s_per_accelerator"] > 0
    assert P.max_load(LLAMA8, H100, P.Shape(1000, 1000, 1, 1, "bf16", engine="vllm"), cap=64)["batch"] == 64
