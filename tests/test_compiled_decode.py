"""backend.compile: none | static | compiled for kind: transformers.

- "auto" resolves on the machine (compiled on CUDA, none on the CPU), not in validation;
- the static cache (eager) and the compiled path are token-identical to the eager loop (greedy);
- compilation happens in the warm-up, is recorded as compile_s, and a later case at the same shape
  reuses the graphs;
- a model that cannot compile falls back to the eager loop with a note in the result;
- the roofline block: hand-computed limits and % of limit.

Compile tests are slow on 2 cores (tens of seconds per architecture): few, small shapes.
"""

import pytest
from pydantic import ValidationError

from bench.analysis import roofline
from bench.catalog import hardware
from bench.catalog import models as catalog
from bench.catalog.models import TINY
from bench.config.schema import ModelSpec, TransformersBackend
from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend
from bench.measure.backends.transformers.static_decode import GQA_DECODE_ATTENTION, gqa_decode_attention
from bench.measure.workload import CaseWorkload
from conftest import run_cli, write_config

PROMPTS = [[(7 * i + 3 * j) % 500 + 1 for j in range(8)] for i in range(2)]


def _backend(compile_: str, arch: str = "llama") -> DecodeLoopBackend:
    b = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cpu", dtype="float32", compile=compile_))
    b._loaded = b.load(ModelSpec(id=f"tiny:{arch}"))
    return b


def _run_case(b: DecodeLoopBackend, case_id: str, output_tokens: int, warmup: int = 0):
    """Warm up and measure one case of 2 prompts x 8 tokens through the backend contract; returns
    (Measured, the batch that ran)."""
    loaded = b.load(ModelSpec(id="tiny:llama")) if b.model is None else b._loaded
    w = CaseWorkload(case_id=case_id, kind="load", input_tokens=8, output_tokens=output_tokens, seed=0,
                     batch_size=2, num_batches=1, warmup_batches=warmup, repeats=1)
    b.warmup(w, loaded)
    measured = b.measure(w, loaded)
    return measured, b._batches(w, loaded)[0]


def _eager_tokens(arch: str, prompts, n: int) -> list[list[int]]:
    b = _backend("none", arch)
    b.run_batch(prompts, n, "ref")
    return b.last_tokens


# ---------------------------------------------------------------------------- config and resolution
def test_compile_field_is_validated_and_auto_by_default():
    assert TransformersBackend(kind="transformers").compile == "auto"
    with pytest.raises(ValidationError, match="compile"):
        TransformersBackend(kind="transformers", compile="graphs")


def test_auto_resolves_at_backend_construction_not_in_validation():
    cpu = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cpu"))
    assert (cpu.compile, cpu.compile_mode) == ("none", None)
    # constructing for CUDA touches no device (preflight does): the default there is compiled, graphs
    gpu = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cuda"))
    assert (gpu.compile, gpu.compile_mode) == ("compiled", "reduce-overhead")
    asked = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cpu", compile="compiled"))
    assert (asked.compile, asked.compile_mode) == ("compiled", None)


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_bad_compile_value_in_a_config_is_one_line_exit_2(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", """
name: t
models: [tiny:llama]
backend: {kind: transformers, device: cpu, compile: cuda-graphs}
workload: {input_tokens: 4, output_tokens: 2, batch_sizes: [1]}
""")
    p = run_cli("run", cfg, "--output-dir", tmp_path)
    assert p.returncode == 2
    assert "backend" in p.stderr and "compile" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------------------- token identity
@pytest.mark.parametrize("arch", sorted(TINY))
def test_static_cache_is_token_identical_to_eager(arch):
    b = _backend("static", arch)
    recs = b.run_batch(PROMPTS, 12, "s")
    assert b.last_tokens == _eager_tokens(arch, PROMPTS, 12)
    assert all(len(r.token_times_s) == 12 for r in recs)
    assert all(x < y for x, y in zip(recs[0].token_times_s, recs[0].token_times_s[1:]))
    # the same cache is reused (reset in place) for the next batch at this shape
    b.run_batch(PROMPTS, 12, "s2")
    assert len(b._decoder.shapes) == 1 and b.last_tokens == _eager_tokens(arch, PROMPTS, 12)


@pytest.mark.slow  # compiles tiny Llama: about a minute here
@pytest.mark.parametrize("arch", ["llama"])
def test_compiled_is_token_identical_to_eager_and_reuses_its_graphs(arch):
    b = _backend("compiled", arch)
    measured, batch = _run_case(b, "c1", 10)
    block = measured.blocks["compile"]
    assert block["mode"] == "compiled" and block["torch_compile_mode"] == "default"
    assert block["compile_s"] > 0 and block["graphs_reused"] is False and block["fallback_note"] is None
    assert block["attention"] == GQA_DECODE_ATTENTION  # tiny llama: 4 query heads over 2 KV heads
    assert b.last_tokens == _eager_tokens(arch, batch, 10)
    assert len(measured.records) == 2 and all(len(r.token_times_s) == 10 for r in measured.records)
    # a second case at the same shape (other prompts) compiles nothing: no compile_s, graphs reused
    measured, batch2 = _run_case(b, "c2", 10)
    again = measured.blocks["compile"]
    assert batch2 != batch
    assert again["compile_s"] is None and again["graphs_reused"] is True and again["fallback_note"] is None
    assert b.last_tokens == _eager_tokens(arch, batch2, 10)


def test_a_model_that_cannot_compile_falls_back_to_eager_with_a_note(monkeypatch):
    b = _backend("compiled")

    def broken(fn):
        def call(*a, **k):
            raise RuntimeError("simulated: this architecture cannot be traced")
        return call

    monkeypatch.setattr(b._decoder, "_compile", broken)
    measured, batch = _run_case(b, "c", 6, warmup=1)
    block = measured.blocks["compile"]
    assert block["requested"] == "compiled" and block["mode"] == "none" and block["compile_s"] is None
    assert "simulated: this architecture cannot be traced" in block["fallback_note"]
    assert "eager" in block["fallback_note"]
    assert b.last_tokens == _eager_tokens("llama", batch, 6)


def test_a_step_that_recompiles_every_token_stops_the_warmup_and_falls_back(monkeypatch):
    """A guard that changes each step (say a Python int in a sliding-window cache) would recompile the
    step token after token; the first batch stops after a few graphs and the model runs eagerly."""
    from torch._dynamo.utils import counters

    b = _backend("compiled")

    def recompiling(fn):  # eager, but counts a new graph at every call, like a failing guard would
        def call(*a, **k):
            counters["stats"]["unique_graphs"] += 1
            return fn(*a, **k)
        return call

    monkeypatch.setattr(b._decoder, "_compile", recompiling)
    measured, batch = _run_case(b, "c", 12)
    block = measured.blocks["compile"]
    assert block["mode"] == "none" and "CompileUnstable" in block["fallback_note"]
    assert "recompiles as the cache fills" in block["fallback_note"]
    assert b.last_tokens == _eager_tokens("llama", batch, 12)


# ---------------------------------------------------------------------------- roofline
def test_roofline_limits_by_hand():
    m = catalog.models()["Llama-3.1-8B"]
    chip = hardware.get_chip("h100-sxm")
    case = {"workload": {"batch_size": 1, "input_tokens": 512, "output_tokens": 128},
            "backend": {"dtype": "bfloat16"}, "accelerators": 1,
            "tpot_s": {"p50": 0.0298}, "ttft_s": {"p50": 0.05}}
    r = roofline.roofline_block(m, chip, case)
    params = catalog.param_count(m)
    kv = catalog.kv_bytes_per_token(m, "bf16") * (512 + 64)
    bw = chip.bandwidth_tbs * 1e12
    assert r["tpot_bound"] == "memory"
    assert r["tpot_limit_s"] == pytest.approx((2 * params + kv) / bw)
    # Llama-3.1-8B bf16 on an H100 (3.35 TB/s): about 4.8 ms (issue 14), so 29.8 ms is about 16 %
    assert r["tpot_limit_s"] == pytest.approx(4.8e-3, rel=0.03)
    assert r["tpot_pct_of_limit"] == pytest.approx(100 * r["tpot_limit_s"] / 0.0298)
    flops = catalog.prefill_flops(m, 512)
    assert r["prefill_bound"] == "compute"
    assert r["prefill_limit_s"] == pytest.approx(flops / (chip.peak_tflops("bf16") * 1e12))
    assert r["prefill_pct_of_limit"] == pytest.approx(100 * r["prefill_limit_s"] / 0.05)


def test_roofline_block_is_none_without_latencies():
    m = catalog.models()["Llama-3.1-8B"]
    assert roofline.roofline_block(m, hardware.get_chip("h100-sxm"), {"workload": {}}) is None


# ---------------------------------------------------------------------------- GQA decode attention
class _Layer:
    num_key_value_groups = 4
    is_causal = True
    training = False


def _qkv(q_len: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    q = torch.randn(3, 8, q_len, 16, generator=g)  # 8 query heads over 2 KV heads
    k, v = torch.randn(3, 2, 10, 16, generator=g), torch.randn(3, 2, 10, 16, generator=g)
    return q, k, v


def test_gqa_decode_attention_equals_repeated_kv_heads():
    """The folded one-token step gives what transformers' sdpa (KV heads repeated) gives, with a boolean
    mask (unwritten slots, a padded prefix), an additive float mask and a scale."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q, k, v = _qkv(1)
    mask = torch.ones(3, 1, 1, 10, dtype=torch.bool)
    mask[:, :, :, 7:] = False
    mask[1, :, :, :3] = False
    additive = torch.zeros(3, 1, 1, 10).masked_fill(~mask, float("-inf"))
    for m in (mask, additive, None):
        got, _ = gqa_decode_attention(_Layer(), q, k, v, m, scaling=0.3)
        want, _ = sdpa_attention_forward(_Layer(), q, k, v, m, scaling=0.3)
        assert got.shape == want.shape == (3, 1, 8, 16)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # head h reads KV head h // 4: perturbing KV head 1 leaves query heads 0-3 unchanged
    k2 = k.clone()
    k2[:, 1] += 1.0
    a, _ = gqa_decode_attention(_Layer(), q, k, v, mask)
    b, _ = gqa_decode_attention(_Layer(), q, k2, v, mask)
    assert torch.equal(a[:, :, :4], b[:, :, :4]) and not torch.equal(a[:, :, 4:], b[:, :, 4:])


def test_gqa_decode_attention_folds_only_one_token_grouped_steps(monkeypatch):
    """Prefill (several query tokens) and a layer without grouping go through transformers' sdpa."""
    import transformers.integrations.sdpa_attention as sdpa

    calls = []
    monkeypatch.setattr(sdpa, "sdpa_attention_forward", lambda *a, **k: calls.append(a[1].shape) or ("sdpa", None))
    q, k, v = _qkv(1)
    assert not isinstance(gqa_decode_attention(_Layer(), q, k, v, None)[0], str) and calls == []
    q3, _, _ = _qkv(3)
    assert gqa_decode_attention(_Layer(), q3, k, v, None)[0] == "sdpa"

    class Plain(_Layer):
        num_key_value_groups = 1

    assert gqa_decode_attention(Plain(), q[:, :2], k, v, None)[0] == "sdpa"
    assert len(calls) == 2


def test_a_model_that_refuses_custom_attention_keeps_sdpa(monkeypatch):
    from bench.measure.backends.transformers import static_decode

    b = _backend("none")
    model = b.model

    def refuse(name):
        raise ValueError("custom attention is not supported")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    assert static_decode.use_gqa_decode_attention(model) is False
    assert static_decode.StaticDecoder(model, "cpu", compiled=False, compile_mode=None).attention == "sdpa"
