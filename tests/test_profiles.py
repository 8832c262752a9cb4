"""Efficiency profiles: the fast row projection equals the roofline, fits recover known efficiencies, bands hold
the point estimate, and the profile a chip gets (its own fit, an engine's, or the pooled fit with a wider band)."""
from dataclasses import replace

import pytest

from bench.analysis import profiles as PR
from bench.analysis import projection as P
from bench.catalog import hardware
from bench.catalog import models as catalog
from bench.errors import InputError

H100 = hardware.get_chip("h100-sxm")
LLAMA8 = catalog.get_model("Llama-3.1-8B")
MOE = catalog.get_model("Qwen3-30B-A3B")


def _terms(m, unit, phase, batch, n_in=512, n_out=256, k=1, dtype="bf16"):
    t, why = PR.terms_for(m, H100, dtype, n_in, n_out, batch, k, unit, phase, f"{m.id}-{unit}-{batch}")
    assert t is not None, why
    return t


def test_fast_prediction_equals_the_roofline():
    eff = P.Efficiency(mbu=0.6, mfu=0.45, step_overhead_per_layer_s=2e-4, mbu_half_batch=3.0)
    for m, b in ((LLAMA8, 1), (LLAMA8, 64), (MOE, 16)):
        r = P.project(m, H100, P.Shape(1000, 500, b, 1, "bf16"), eff)
        assert PR.predict(_terms(m, "output_tok_s_total", "e2e", b, 1000, 500), eff) == pytest.approx(
            r["output_tok_s_per_accelerator"], rel=1e-12)
        assert PR.predict(_terms(m, "tpot_ms", "decode", b, 1000, 500), eff) == pytest.approx(r["tpot_s"] * 1e3, rel=1e-12)
        assert PR.predict(_terms(m, "input_tok_s_total", "prefill", b, 1000, 500), eff) == pytest.approx(
            r["input_tok_s_per_accelerator"], rel=1e-12)


def test_mbu_saturates_with_batch_by_hand():
    e = P.Efficiency(mbu=0.8, mbu_half_batch=4.0)
    assert e.mbu_at(4) == pytest.approx(0.4) and e.mbu_at(12) == pytest.approx(0.6)
    assert P.Efficiency(mbu=0.8).mbu_at(1) == 0.8  # 0 = flat, the old behaviour


def test_fit_recovers_known_efficiencies_from_synthetic_rows():
    truth = P.Efficiency(mbu=0.55, mfu=0.35, step_overhead_per_layer_s=1.5e-4, mbu_half_batch=2.0,
                         collective_hop_s=8e-6, step_overhead_per_decoder_layer_s=5e-6, moe_mbu_factor=0.5,
                         kv_mbu_factor=0.4)
    terms = []
    for m in (LLAMA8, MOE):
        for b in (1, 2, 4, 16, 64, 128):
            terms.append(_terms(m, "tpot_ms", "decode", b))
            terms.append(_terms(m, "output_tok_s_total", "e2e", b))
        terms.append(_terms(m, "input_tok_s_total", "prefill", 16, 4096, 1))
        terms += [_terms(m, "tpot_ms", "decode", b, 8192, 2048) for b in (8, 32)]  # long contexts: the KV read
        terms += [_terms(m, "tpot_ms", "decode", b, k=k) for b in (1, 32) for k in (2, 4, 8)]
    values = [PR.predict(t, truth) for t in terms]
    got = PR.fit(terms, values, prior_sigma=(10.0,) * 9)  # a flat prior: the rows alone
    assert got.collective_hop_s == pytest.approx(truth.collective_hop_s, rel=0.1)
    assert got.mbu == pytest.approx(truth.mbu, rel=0.05)
    assert got.mfu == pytest.approx(truth.mfu, rel=0.05)
    assert got.step_overhead_per_layer_s == pytest.approx(truth.step_overhead_per_layer_s, rel=0.1)
    assert got.mbu_half_batch == pytest.approx(truth.mbu_half_batch, rel=0.15)
    assert got.step_overhead_per_decoder_layer_s == pytest.approx(truth.step_overhead_per_decoder_layer_s, rel=0.15)
    assert got.moe_mbu_factor == pytest.approx(truth.moe_mbu_factor, rel=0.1)
    assert got.kv_mbu_factor == pytest.approx(truth.kv_mbu_factor, rel=0.1)
    assert max(abs(r) for r in PR.residuals(terms, values, got)) < 0.02
    # with the default prior (datasheet defaults, no overhead, experts as efficient as dense) the overhead is shrunk
    # towards 0 and the rows are still reproduced within 20 % (one row-sigma is 0.3)
    shrunk = PR.fit(terms, values)
    assert 0 <= shrunk.step_overhead_per_layer_s < truth.step_overhead_per_layer_s
    assert max(abs(r) for r in PR.residuals(terms, values, shrunk)) < 0.2


def test_fit_is_robust_to_one_wrong_row():
    truth = P.Efficiency(mbu=0.6, mfu=0.4)
    terms = [_terms(LLAMA8, "output_tok_s_total", "e2e", b) for b in (1, 2, 4, 8, 16, 32, 64, 128)]
    values = [PR.predict(t, truth) for t in terms]
    values[3] *= 3  # a mis-stated configuration
    got = PR.fit(terms, values)
    assert got.mbu == pytest.approx(0.6, rel=0.15)


def test_sigma_by_hand():
    # robust RMS 1.4826 x median |r| = 1.4826 x 0.1, x sqrt(5/3) for 5 rows, with 0.15 in quadrature
    s = 1.4826 * 0.1 * (5 / 3) ** 0.5
    assert PR.sigma_of([0.1, -0.1, 0.05, -0.2, 0.1]) == pytest.approx((s * s + 0.15 ** 2) ** 0.5)
    assert PR.sigma_of([]) == PR.SIGMA_FLOOR


def test_band_contains_the_point_and_is_symmetric_in_log():
    prof = PR.Profile("x", P.Efficiency(), 5, 0.25)
    lo, hi = prof.band(1000.0)
    assert lo < 1000 < hi and lo * hi == pytest.approx(1000.0 ** 2)
    assert hi / lo == pytest.approx(prof.band_factor() ** 2)
    assert PR.defaults_profile().band(1000.0) is None


def test_projection_with_profile_adds_ranges_and_keeps_the_contract():
    prof = PR.Profile("h100-sxm", P.Efficiency(mbu=0.6, mfu=0.4), 7, 0.3)
    r = PR.project(LLAMA8, H100, P.Shape(1000, 1000, 16, 1, "bf16"), prof)
    base = P.project(LLAMA8, H100, P.Shape(1000, 1000, 16, 1, "bf16"), prof.efficiency)
    for k in ("output_tok_s_per_accelerator", "max_batch", "bound", "fits"):
        assert r[k] == base[k]
    for k in PR.RANGED:
        lo, hi = r[f"{k}_range"]
        assert lo <= r[k] <= hi
    assert r["profile"] == "h100-sxm" and r["profile_rows"] == 7 and "7 published row(s)" in r["evidence"]


def test_resolve_chip_engine_pooled_and_errors():
    pooled = PR.Profile("pooled", P.Efficiency(mbu=0.5), 40, 0.3)
    profs = {"pooled": pooled, "h20": PR.Profile("h20", P.Efficiency(mbu=0.3), 4, 0.2),
             "h20/sglang": PR.Profile("h20/sglang", P.Efficiency(mbu=0.25), 3, 0.2)}
    assert PR.resolve(profs, "h20").name == "h20"
    assert PR.resolve(profs, "h20", "sglang").name == "h20/sglang"
    assert PR.resolve(profs, "h20", "defaults").sigma_log is None
    nochip = PR.resolve(profs, "l20")  # no published rows, no NVIDIA fit here: the pooled fit, band widened 1.5x
    assert nochip.efficiency.mbu == 0.5 and nochip.sigma_log == pytest.approx(0.45) and "no published rows" in nochip.note
    profs["vendor:NVIDIA"] = PR.Profile("vendor:NVIDIA", P.Efficiency(mbu=0.7), 30, 0.2)
    l40s = PR.resolve(profs, "l40s")  # with rows on the vendor's other chips: their fit, band widened 1.5x
    assert l40s.efficiency.mbu == 0.7 and l40s.sigma_log == pytest.approx(0.3) and l40s.name.startswith("vendor:NVIDIA")
    with pytest.raises(InputError, match="h20=vllm: no such profile"):
        PR.resolve(profs, "h20", "vllm")
    from bench.catalog import hardware
    from bench.analysis.asked import profile_names

    asked = [hardware.get_chip("h20"), hardware.get_chip("910b")]
    assert profile_names("h20=sglang, 910B=all", asked) == {"h20": "sglang", "910b": "all"}
    with pytest.raises(InputError, match="expected CHIP=NAME"):
        profile_names("h20", asked)


def test_catalog_profiles_rest_on_rows():
    profs = PR.catalog_profiles()
    for chip in ("h20", "910b", "910c", "h100-sxm", "h200"):
        p = profs[chip]
        assert p.n_rows >= 2 and 0 < p.efficiency.mbu <= 1 and 0 < p.efficiency.mfu <= 1 and p.sigma_log > 0
    # the evidence puts the 910B's decode well below the H20's for a dense 32B model at batch 64
    m = catalog.get_model("Qwen3-32B")
    h20 = PR.project(m, hardware.get_chip("h20"), P.Shape(128, 1024, 64, 1, "bf16"), profs["h20"])
    b910 = PR.project(m, hardware.get_chip("910b"), P.Shape(128, 1024, 64, 2, "bf16"), profs["910b"])
    # (the issue's own measurement says more than 3x; the projection gives about 3.1x: see README "Accuracy")
    assert h20["output_tok_s_per_accelerator"] > 2.5 * b910["output_tok_s_per_accelerator"]


def test_expert_parallel_is_read_from_the_stated_parallelism():
    assert P.expert_parallel("decode EP320 (320 dies = 160 packages)")
    assert P.expert_parallel("TP8 EP8, attention DP")
    assert P.expert_parallel("decode pool: attention DP16 + MoE EP16 (PD disaggregated)")
    assert not P.expert_parallel("TP8 EP")  # TensorRT-LLM: TP attention, keeps the all-reduce
    assert not P.expert_parallel("TP8") and not P.expert_parallel(None)


def test_data_parallel_attention_replicas_are_read_from_the_stated_parallelism():
    assert P.attention_replicas("decode pool: attention DP16 + MoE EP16 (PD disaggregated)", 16) == 16
    # --tp 16 --dp-size 4: four attention groups of TP4, so four copies of the dense weights
    assert P.attention_replicas("attention DP4 + MoE EP16 (--tp 16 --dp-size 4 --enable-dp-attention)", 8) == 4
    assert P.attention_replicas("decode EP320 (320 dies = 160 packages)", 160) == 320  # one rank per die
    assert P.attention_replicas("TP8 EP8, attention DP", 8) == 8
    assert P.attention_replicas("TP8 EP", 8) == 1 and P.attention_replicas("TP8", 8) == 1
    assert P.attention_replicas(None, 4) == 1


def test_data_parallel_attention_reads_the_dense_weights_once_per_replica_by_hand():
    # DeepSeek-R1 on 16 H100s, batch 64: under attention DP16 each rank reads all dense (non-expert) weights, so
    # the step reads 15 more copies of them than with the same experts behind a TP16 attention
    m, chip = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h100-sxm")
    dense = P.decode_weight_bytes(m, "fp8", 0)  # no expert touched: the dense part only
    assert 10e9 < dense < 25e9
    tp = PR.terms_for(m, chip, "fp8", 1000, 1000, 64, 16, "tpot_ms", "decode", "tp", parallelism="TP16")[0]
    dp = PR.terms_for(m, chip, "fp8", 1000, 1000, 64, 16, "tpot_ms", "decode", "dp",
                      parallelism="attention DP16 + MoE EP16")[0]
    bw = chip.bandwidth_tbs * 1e12 * 16
    assert dp.d_mem - tp.d_mem == pytest.approx(15 * dense / bw, rel=1e-9)
    assert dp.p_mem - tp.p_mem == pytest.approx(15 * dense / bw, rel=1e-9)
    assert dp.d_kv == tp.d_kv and dp.d_cmp == tp.d_cmp


def test_speculative_verify_moves_its_draft_tokens_through_the_collectives():
    t = PR.Terms("x", "tpot_ms", "decode", 8, 100, 100, 8, 0, 0.0, 0.0, 0.0, d_mem=10e-3, d_cmp=0.0, d_comm=1e-3,
                 spec_accept=2.0, spec_width=4.0, draft_fraction=0.0)
    eff = P.Efficiency(mbu=1.0, mfu=1.0, collective_hop_s=0.0)
    # verify: 10 ms of weights + 4 tokens x 1 ms of all-reduce = 14 ms for 2 tokens accepted -> 7 ms a token
    assert PR.predict(t, eff) == pytest.approx(7.0)


def test_ep_all_to_all_by_hand():
    # DeepSeek-R1: top-8 of 256 experts, hidden 7168, 58 MoE layers; 1000 tokens on 8 H100s (one server, NVLink).
    # A rank sends 125 tokens x 8 copies x 7/8 to other ranks x 7168 = 6,272,000 elements a way; DeepEP's intranode
    # kernels reach 153 (dispatch) and 158 GB/s (combine) of the H800's catalog 400 GB/s: 344.25 and 355.5 GB/s of
    # the H100's 900. Dispatch FP8 (1 B): 18.219 us; combine BF16 (2 B): 35.286 us; x 58 layers = 3.1033 ms.
    # Latency: ceil(log2 8) = 3 hops per all-to-all, 2 x 58 x 3 = 348 hops
    m = catalog.get_model("DeepSeek-R1")
    got = P._ep_comm_s(m, hardware.get_chip("h100-sxm"), 1000, 8)
    assert got == pytest.approx(58 * (6_272_000 / 344.25e9 + 2 * 6_272_000 / 355.5e9), rel=1e-9)
    assert got == pytest.approx(3.1033e-3, rel=1e-4)
    assert P._ep_hops(m, 8) == 348 and P._ep_hops(m, 1) == 0
    assert P._ep_comm_s(catalog.get_model("Qwen3-32B"), hardware.get_chip("h100-sxm"), 1000, 8) == 0.0  # dense


def test_moe_only_rows_do_not_move_mbu():
    # rows from a MoE model that is slower than the prior's efficiencies: without a dense decode row the fit keeps
    # MBU near the prior and lets the per-layer overhead take the slack; with dense rows, MBU is free to move
    m, chip = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h100-sxm")
    prior = P.Efficiency(mbu=0.7, mfu=0.5, step_overhead_per_layer_s=1e-4, mbu_half_batch=1.0)
    slow = P.Efficiency(mbu=0.35, mfu=0.5, step_overhead_per_layer_s=1e-4, mbu_half_batch=1.0)
    ts = [PR.terms_for(m, chip, "fp8", 1000, 1000, b, 8, "tpot_ms", "decode", f"r{b}")[0] for b in (1, 8, 32)]
    sig = PR.identifiable_sigma(ts, PR.LEVEL_SIGMA)
    assert sig[0] == PR.MOE_ONLY_MBU_SIGMA and sig[2] == PR.POOLED_SIGMA[2]
    got = PR.fit(ts, [PR.predict(t, slow) for t in ts], prior, "moe-only", sig)
    assert got.mbu == pytest.approx(0.7, rel=0.15) and got.step_overhead_per_layer_s > 1.5e-4
    d = catalog.get_model("Qwen3-32B")
    dense = [PR.terms_for(d, chip, "bf16", 1000, 1000, b, 1, "tpot_ms", "decode", f"d{b}")[0] for b in (1, 8, 32)]
    assert PR.identifiable_sigma(ts + dense, PR.LEVEL_SIGMA) == PR.LEVEL_SIGMA


def test_decode_step_is_a_roofline_per_operator_by_hand():
    # linear layers: weights 10 ms at 100 % bandwidth, GEMMs 4 ms at peak; attention: KV 2 ms, FLOPs 1 ms
    eff = P.Efficiency(mbu=0.5, mfu=0.5, roofline_p=None)  # the sharp roofline
    # max(10/0.5, 4/0.5) + max(2/0.5, 1/0.5) = 20 + 4 ms
    assert P.decode_step_s(10e-3, 2e-3, 4e-3, 1e-3, eff, 8) == pytest.approx(24e-3)
    # verifying 4 tokens a sequence: FLOPs x4, bytes once: max(20, 32) + max(4, 8) = 40 ms
    assert P.decode_step_s(10e-3, 2e-3, 4e-3, 1e-3, eff, 8, width=4) == pytest.approx(40e-3)
    # the fitted profiles' overlap, the 3-norm: (20^3 + 8^3)^(1/3) + (4^3 + 2^3)^(1/3) = 20.4179 + 4.1602 ms
    soft = P.Efficiency(mbu=0.5, mfu=0.5)
    assert soft.roofline_p == 3.0
    assert P.decode_step_s(10e-3, 2e-3, 4e-3, 1e-3, soft, 8) == pytest.approx(24.5780e-3, rel=1e-5)
    # the KV cache read at kv_mbu_factor 0.25 of MBU: (16^3 + 2^3)^(1/3) = 16.0104 ms for attention
    slow_kv = P.Efficiency(mbu=0.5, mfu=0.5, kv_mbu_factor=0.25)
    assert P.decode_step_s(10e-3, 2e-3, 4e-3, 1e-3, slow_kv, 8) == pytest.approx(36.4283e-3, rel=1e-5)


def test_overlap_is_the_p_norm_by_hand():
    assert P.overlap(3.0, 4.0, 2) == pytest.approx(5.0)
    assert P.overlap(1.0, 1.0, 3) == pytest.approx(2 ** (1 / 3))
    assert P.overlap(1.0, 1.0, None) == 1.0 and P.overlap(0.0, 0.0) == 0.0
    assert P.overlap(100.0, 1.0) == pytest.approx(100.0, rel=1e-6)  # one side dominates: the roofline
    # IDEAL (the roofline limits of measured runs) keeps the sharp max: a limit no run can beat
    assert P.IDEAL.roofline_p is None


def test_ep_all_to_alls_run_at_the_ep_efficiency_by_hand():
    """An expert-parallel row's all-to-alls (bandwidth and hop latency) take 1 / ep_efficiency as long; a
    tensor-parallel row's all-reduces do not move."""
    moe = catalog.get_model("DeepSeek-R1")
    chip = hardware.get_chip("h20")
    ep, _ = PR.terms_for(moe, chip, "fp8", 128, 1024, 256, 32, "tpot_ms", "decode", "ep",
                         parallelism="DP32 EP32")
    tp, _ = PR.terms_for(moe, chip, "fp8", 128, 1024, 16, 8, "tpot_ms", "decode", "tp", parallelism="TP8")
    assert ep.ep and not tp.ep and ep.d_comm > 0 and ep.hops > 0
    e1 = P.Efficiency(mbu=0.6, mfu=0.5, collective_hop_s=1e-5)
    e4 = replace(e1, ep_efficiency=0.25)
    (_, a), (_, b) = P.step_times(ep, e1), P.step_times(ep, e4)
    assert b - a == pytest.approx(3 * (ep.d_comm + ep.hops * 1e-5), rel=1e-9)
    assert P.step_times(tp, e4) == P.step_times(tp, e1)


def test_collective_latency_hops_by_hand():
    # Llama-3.1-8B has 32 layers: two all-reduces a layer, each 2 ceil(log2 K) hops (reduce-scatter + all-gather)
    assert P.tp_hops(LLAMA8, 1) == 0
    assert P.tp_hops(LLAMA8, 4) == 32 * 2 * 2 * 2
    assert P.tp_hops(LLAMA8, 16) == 32 * 2 * 2 * 4 and P.tp_hops(LLAMA8, 6) == 32 * 2 * 2 * 3
    base = P.Efficiency(collective_hop_s=0.0)
    slow = P.Efficiency(collective_hop_s=1e-5)
    w = P.Shape(1000, 500, 1, 4, "bf16")
    extra = P.project(LLAMA8, H100, w, slow)["tpot_s"] - P.project(LLAMA8, H100, w, base)["tpot_s"]
    assert extra == pytest.approx(32 * 2 * 2 * 2 * 1e-5)


def test_pd_disaggregated_row_runs_its_pools_side_by_side_by_hand():
    # 8 chips, decode pool 6, prefill pool 2: prefill terms on 2 chips' peak and bandwidth, decode on 6
    mixed = PR.terms_for(LLAMA8, H100, "bf16", 2000, 1000, 64, 8, "output_tok_s_total", "e2e", "m")[0]
    pd = PR.terms_for(LLAMA8, H100, "bf16", 2000, 1000, 64, 8, "output_tok_s_total", "e2e", "pd",
                      decode_accelerators=6)[0]
    assert pd.pd_split and not mixed.pd_split
    assert pd.p_cmp == pytest.approx(mixed.p_cmp * 8 / 2, rel=1e-12)
    assert pd.d_mem == pytest.approx(mixed.d_mem * 8 / 6, rel=1e-12)
    assert pd.d_cmp == pytest.approx(mixed.d_cmp * 8 / 6, rel=1e-12)
    # throughput: the pools work at the same time, so batch x n_out / max(prefill, decode), not their sum
    eff = P.Efficiency(mbu=0.5, mfu=0.5, collective_hop_s=0.0)
    from dataclasses import replace
    # with a zero prefill the two agree; a decode-bound PD row is paced by its decode pool alone
    ttft0 = replace(pd, p_cmp=0.0, p_mem=0.0, p_comm=0.0, hops=0)
    tpot_ms = PR.predict(replace(ttft0, unit="tpot_ms", phase="decode"), eff)
    assert PR.predict(ttft0, eff) == pytest.approx(64 * 1000 / (999 * tpot_ms / 1e3) / 8, rel=1e-9)
    slow_prefill = replace(pd, p_cmp=1e3, p_comm=0.0, hops=0)  # 1000 s at 100 % peak: 2000 s at MFU 0.5, prefill-bound
    assert PR.predict(slow_prefill, eff) == pytest.approx(64 * 1000 / 2000.0 / 8, rel=1e-6)


def test_source_weights_by_hand():
    # four rows from one page and one from another: loss weights 1/sqrt(4) and 1/sqrt(1) at the shipped exponent
    sel = [(None, 1.0, "h20", "h20/x", f"r{i}", "page A") for i in range(4)] + [(None, 1.0, "h20", "h20/x", "r4", "B")]
    assert PR.SOURCE_WEIGHT_EXP == 0.5
    assert PR.source_weights(sel) == [0.5, 0.5, 0.5, 0.5, 1.0]


def test_fit_weights_decide_which_rows_count():
    # two rows of one shape that disagree (MBU 0.3 vs 0.8): the fit follows the one with the weight
    m = catalog.get_model("Qwen3-32B")
    t = PR.terms_for(m, H100, "bf16", 1000, 1000, 1, 1, "tpot_ms", "decode", "a")[0]
    lo, hi = P.Efficiency(mbu=0.3), P.Efficiency(mbu=0.8)
    vals = [PR.predict(t, lo), PR.predict(t, hi)]
    loose = (3.0,) * 5
    # (MBU and its half-batch trade off at one batch, so compare what the fit projects, not the parameter)
    for w, want in (([1.0, 1e-6], vals[0]), ([1e-6, 1.0], vals[1]), ([1.0, 1.0], (vals[0] * vals[1]) ** 0.5)):
        got = PR.predict(t, PR.fit([t, t], vals, P.Efficiency(), "w", loose, w))
        assert got == pytest.approx(want, rel=0.1)


def test_collective_ranks_are_read_from_the_stated_parallelism():
    assert P.collective_ranks("TP16 over dies = 8 packages", 8) == 16
    assert P.collective_ranks("TP8", 8) == 8 and P.collective_ranks("1 GPU", 1) == 1
    assert P.collective_ranks("attention DP16 + MoE EP32 (--tp-size 32 --dp-size 16)", 16) == 32
    assert P.collective_ranks(None, 4) == 4


def test_pipeline_stages_are_read_from_the_stated_parallelism():
    assert P.pipeline_stages("16 x H20 (96GB), TP8 PP2", 16) == 2
    assert P.pipeline_stages("--tp 4 --pp-size 4", 16) == 4 and P.pipeline_stages("--pipeline-parallel-size 2", 8) == 2
    assert P.pipeline_stages("TP8", 8) == 1 and P.pipeline_stages(None, 8) == 1
    assert P.pipeline_stages("PP8", 4) == 4  # never more stages than accelerators


def test_pipeline_parallel_row_by_hand():
    # Llama-3.1-8B on 4 x H100 as TP2 PP2: a step passes both stages in turn, each stage's 2 chips holding half
    # the layers, so the step's memory and compute time are those of 2 chips for the whole model (twice a TP4
    # row's), its all-reduces run over 2 ranks on 2 chips, and one extra hop carries the activations across
    tp4 = PR.terms_for(LLAMA8, H100, "bf16", 1000, 500, 8, 4, "tpot_ms", "decode", "tp4", parallelism="TP4")[0]
    pp = PR.terms_for(LLAMA8, H100, "bf16", 1000, 500, 8, 4, "tpot_ms", "decode", "pp", parallelism="TP2 PP2")[0]
    tp2 = PR.terms_for(LLAMA8, H100, "bf16", 1000, 500, 8, 2, "tpot_ms", "decode", "tp2", parallelism="TP2")[0]
    assert pp.d_mem == pytest.approx(2 * tp4.d_mem, rel=1e-12) and pp.d_mem == pytest.approx(tp2.d_mem, rel=1e-12)
    assert pp.d_cmp == pytest.approx(tp2.d_cmp, rel=1e-12) and pp.p_cmp == pytest.approx(tp2.p_cmp, rel=1e-12)
    assert pp.d_comm == pytest.approx(tp2.d_comm, rel=1e-12) and pp.hops == tp2.hops + 1
    # the same step time as the TP2 pair, but over 4 chips: half the tokens/s per chip
    eff = P.Efficiency(mbu=0.6, mfu=0.5, collective_hop_s=0.0)
    t_pp = replace(pp, unit="output_tok_s_per_accelerator")
    t_tp2 = replace(tp2, unit="output_tok_s_per_accelerator")
    assert PR.predict(t_pp, eff) == pytest.approx(PR.predict(t_tp2, eff) / 2, rel=1e-9)


def test_collectives_over_dies_by_hand():
    # Qwen3-32B (64 layers, hidden 5120) on 8 x 910C packages at TP16 over dies: 16 ranks share 8 packages'
    # 784 GB/s, i.e. 392 GB/s a rank. 10 tokens: 10 x 5120 x 2 B = 102,400 B per all-reduce, x 2 x 15/16 each,
    # two a layer: 64 x 2 x 2 x 15/16 x 102,400 / 392e9 s; hops: 64 x 2 x 2 x ceil(log2 16)
    m, chip = catalog.get_model("Qwen3-32B"), hardware.get_chip("910c")
    got = P._tp_comm_s(m, chip, 10, 8, ranks=16)
    assert got == pytest.approx(64 * 2 * 2 * 15 / 16 * 102_400 / 392e9, rel=1e-9)
    t = PR.terms_for(m, chip, "bf16", 100, 100, 10, 8, "tpot_ms", "decode", "x",
                     parallelism="TP16 over dies = 8 packages")[0]
    assert t.hops == 64 * 2 * 2 * 4 and t.d_comm == pytest.approx(got, rel=1e-12)
    # stated ranks equal to the packages: the same as no statement
    assert P._tp_comm_s(m, chip, 10, 8, ranks=8) == P._tp_comm_s(m, chip, 10, 8)


def test_speculative_row_is_projected_with_its_speculation_by_hand():
    from bench.catalog.published import Spec

    eff = P.Efficiency(mbu=0.6, mfu=0.4, roofline_p=None)  # batch 1: the max is exactly the memory side
    plain = _terms(LLAMA8, "tpot_ms", "decode", 1)
    t, _ = PR.terms_for(LLAMA8, H100, "bf16", 512, 256, 1, 1, "tpot_ms", "decode", "spec",
                        spec=Spec(method="EAGLE3", acceptance_length=2.5, draft_tokens=4))
    assert (t.spec_accept, t.spec_width, t.draft_fraction) == (2.5, 4.0, P.DRAFT_LAYERS / 32)
    step = PR.predict(plain, eff) / 1e3
    parts = (plain.d_mem - plain.d_kv, plain.d_kv, plain.d_cmp - plain.d_attn, plain.d_attn, eff, 1)
    verify = P.decode_step_s(*parts, width=4)  # batch 1: memory-bound, so about one plain step
    assert verify == pytest.approx(step, rel=1e-6)
    # per token: (verify + 3 draft steps of 2/32 of a step) / 2.5 accepted
    assert PR.predict(t, eff) / 1e3 == pytest.approx((verify + 3 * (2 / 32) * step) / 2.5)
    # a spec without draft tokens verifies ceil(acceptance) tokens, the fewest that could give it
    assert Spec(method="MTP", acceptance_length=1.7).width == 2.0


def test_a_half_batch_at_the_fits_bound_reads_flat():
    # every catalog fit sits at the half-batch's lower bound (~1e-13): MBU does not fall at small batch in the
    # evidence; the table says so instead of printing 0.0 as if it were a batch
    from bench.present import MISSING, half_batch_cell, half_batch_words

    assert half_batch_cell(1.5e-13) == "flat" and half_batch_words(1.5e-13) == "flat with batch"
    assert half_batch_cell(3.0) == "3.0" and half_batch_words(3.0) == "half at batch 3.0"
    assert half_batch_cell(None) == MISSING


def test_expert_weights_are_read_at_the_moe_mbu_factor_by_hand():
    """A MoE decode step reads its dense weights at MBU and the routed experts it touches at MBU x moe_mbu_factor:
    with the factor 0.5 the expert bytes take twice as long, the dense part and the KV cache as before; a dense model
    has no expert bytes, so the factor leaves it alone."""
    t = _terms(MOE, "tpot_ms", "decode", 4)
    assert 0 < t.d_exp < t.d_mem - t.d_kv
    # Qwen3-30B-A3B: 48 MoE layers x 128 experts x 3 x 2048 x 768 params, a batch of 4 touching 1 - (1 - 8/128)^4
    touched = 48 * 128 * (1 - (1 - 8 / 128) ** 4) * 3 * 2048 * 768 * 2  # bf16 bytes
    assert t.d_exp == pytest.approx(touched / (H100.bandwidth_tbs * 1e12), rel=1e-9)
    e1 = P.Efficiency(mbu=0.6, mfu=0.5, roofline_p=None)  # the sharp roofline: the difference is exact
    e2 = replace(e1, moe_mbu_factor=0.5)
    (_, slow), (_, fast) = P.step_times(t, e2), P.step_times(t, e1)
    assert slow - fast == pytest.approx(t.d_exp / 0.6, rel=1e-9)  # the expert bytes at 0.3 instead of 0.6
    dense = _terms(LLAMA8, "tpot_ms", "decode", 4)
    assert dense.d_exp == 0 and P.step_times(dense, e2) == P.step_times(dense, e1)
