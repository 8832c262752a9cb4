"""Cross-hardware projection: a roofline model of prefill and decode, calibrated by measurement.

All pure functions over the model and hardware catalogs (see README "Projection" for the maths):
- memory fit: weights + KV cache (batch x context, GQA/MLA aware) + a reserved fraction <= memory x K
- prefill  = max(FLOPs / (peak x MFU x K), bytes / (bandwidth x MBU x K)) + TP communication
- decode step = max(weights touched / (bandwidth x MBU x K), linear FLOPs / (peak x MFU x K))
               + max(KV read / (bandwidth x MBU x K), attention FLOPs / (peak x MFU x K))
               + fixed per-step overhead + TP communication  (a roofline per operator, summed: ``decode_step_s``)
- MoE: active parameters for FLOPs; for bytes, the experts that a batch actually touches:
  E x (1 - (1 - k/E)^B) per MoE layer.
- MLA decode attention in its weight-absorbed form (over the cached latent), prefill decompressed.
- Tensor parallel over K accelerators: two all-reduces of the activations per layer,
  2 (K-1)/K x bytes / interconnect bandwidth + 2 ceil(log2 K) hops x ``Efficiency.collective_hop_s`` each.
The ideal times (``profiles.terms_for``) and the step maths (``profiles.step_times``) are shared with the
profile fits, so a projection and a fitted row can never disagree.
Every projected number is labelled ``projected`` with the efficiencies it used.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from bench.catalog import models as catalog
from bench.catalog.dtypes import canonical
from bench.catalog.models import ModelEntry
from bench.errors import InputError
from bench.catalog.hardware import Chip
from bench.metrics import tok_s_per_user

DEFAULT_MBU = 0.75  # memory-bandwidth utilisation of a tuned serving engine (vLLM / TensorRT-LLM class)
DEFAULT_MFU = 0.5  # model-FLOPs utilisation of large GEMMs
DEFAULT_OVERHEAD_S = 0.0  # per decode step (kernel launches, scheduling); calibration fits it
RESERVED_FRACTION = 0.10  # memory kept back for activations, the runtime and fragmentation
COLLECTIVE_HOP_S = 2.5e-6  # latency of one hop of a collective (an all-reduce over K takes 2 ceil(log2 K) hops: 5 us at
# K = 2); the profiles fit it per chip (NVLink and HCCS differ), this is the prior


def decode_step_s(w_s: float, kv_s: float, lin_s: float, attn_s: float, eff: "Efficiency", batch: int,
                  width: float = 1.0) -> float:
    """One decode step, a roofline per operator, summed: the linear layers stream the weights (``w_s``: their
    bytes at 100 % bandwidth) while doing their GEMMs (``lin_s``: FLOPs at 100 % peak), which overlap in one kernel
    (the max); attention then reads the KV cache (``kv_s``) for its FLOPs (``attn_s``), a kernel of its own, so its
    time adds. ``width``: tokens per sequence in the step (speculative verification), which multiplies the FLOPs
    but not the bytes."""
    mbu = eff.mbu_at(batch)
    return max(w_s / mbu, width * lin_s / eff.mfu) + max(kv_s / mbu, width * attn_s / eff.mfu)


@dataclass(frozen=True)
class Efficiency:
    mbu: float = DEFAULT_MBU
    mfu: float = DEFAULT_MFU
    step_overhead_s: float = DEFAULT_OVERHEAD_S
    source: str = "defaults"
    # latency of one hop of a collective (TP all-reduce: 2 ceil(log2 K) hops; EP all-to-all: ceil(log2 K) hops)
    collective_hop_s: float = COLLECTIVE_HOP_S
    # MBU saturates with batch: MBU(b) = mbu x b / (b + mbu_half_batch); 0 = flat (the old behaviour)
    mbu_half_batch: float = 0.0
    # cost of each MoE layer in a decode step (routing, token dispatch, grouped GEMMs); fitted to published rows
    step_overhead_per_layer_s: float = 0.0

    def mbu_at(self, batch: int) -> float:
        return self.mbu * batch / (batch + self.mbu_half_batch)


@dataclass(frozen=True)
class Shape:
    """What one replica serves, for the roofline: tokens in and out per request, requests decoded together,
    accelerators per replica and the dtypes. (Not the config's ``workload``, which describes a sweep.)"""

    input_tokens: int
    output_tokens: int
    batch: int
    accelerators: int = 1  # tensor-parallel degree of one replica
    dtype: str = "bf16"
    kv_dtype: str | None = None  # default: fp8 KV with fp8 weights, else 16-bit (fp32 with fp32)
    compute_dtype: str | None = None  # peak used for FLOPs when it differs from the weights' dtype (w8a16 ...)


def kv_dtype_for(w: Shape) -> str:
    if w.kv_dtype:
        return w.kv_dtype
    d = canonical(w.dtype)
    return d if d in ("fp8", "fp32") else "bf16"


def check_dtype(chip: Chip, dtype: str) -> float:
    """Peak TFLOPS of ``chip`` at ``dtype``; an InputError if the chip lacks it (fp8 on 910B or A100)."""
    return chip.peak_tflops(dtype)


def memory_fit(m: ModelEntry, chip: Chip, w: Shape) -> dict:
    weights = catalog.weight_bytes(m, w.dtype)
    kv_per_seq = catalog.kv_bytes_per_token(m, kv_dtype_for(w)) * (w.input_tokens + w.output_tokens)
    usable = chip.memory_gb * 1e9 * w.accelerators * (1 - RESERVED_FRACTION)
    max_batch = max(int((usable - weights) // kv_per_seq), 0) if usable > weights else 0
    return {"weights_bytes": weights, "kv_bytes_per_seq": kv_per_seq, "usable_bytes": usable,
            "max_batch": max_batch, "fits": max_batch >= w.batch}


def does_not_fit(m: ModelEntry, chip: Chip, w: Shape, fix: str) -> InputError | None:
    """The one "does not fit" check: an InputError (to raise) when one request (batch 1) of ``w`` does not
    fit on ``w.accelerators`` x ``chip``, else None; ``fix`` names the flags that help."""
    fit = memory_fit(m, chip, replace(w, batch=1))
    if fit["fits"]:
        return None
    return InputError(f"model '{m.id}' ({fit['weights_bytes'] / 1e9:.0f} GB of {w.dtype} weights + KV) does not "
                      f"fit on {w.accelerators} x {chip.id} ({chip.memory_gb:g} GB each) even at batch 1; {fix}")


def require_fit(m: ModelEntry, chip: Chip, w: Shape, fix: str) -> None:
    err = does_not_fit(m, chip, w, fix)
    if err is not None:
        raise err


def _touched_expert_fraction(m: ModelEntry, batch: int) -> float:
    e = m.moe
    return 1 - (1 - e.top_k / e.experts) ** batch


def decode_weight_bytes(m: ModelEntry, dtype: str, batch: int) -> float:
    """Weights read per decode step: everything for dense models; for MoE, the dense part plus the
    experts the batch touches (expected distinct experts under uniform routing)."""
    b = catalog.bytes_per_element(dtype)
    if m.moe is None:
        return catalog.param_count(m) * b
    e = m.moe
    expert_params = 3 * m.arch.hidden * e.expert_intermediate
    n_moe = catalog._moe_layer_count(m)
    all_experts = n_moe * e.experts * expert_params
    touched = n_moe * e.experts * _touched_expert_fraction(m, batch) * expert_params
    return (catalog.param_count(m) - all_experts + touched) * b


def _tp_comm_s(m: ModelEntry, chip: Chip, tokens: int, k: int, dtype_bytes: float = 2.0,
               ranks: int | None = None) -> float:
    """Bandwidth time of a step's tensor-parallel all-reduces: two per layer, each 2 (R-1)/R x bytes over a rank's
    link (reduce-scatter + all-gather: ring or Rabenseifner alike). ``ranks`` R: the TP degree when it differs
    from the ``k`` accelerators (a 910C package is two dies, each its own rank, sharing the package's links)."""
    r = ranks or k
    if r <= 1:
        return 0.0
    if not chip.interconnect_gbs:
        raise InputError(f"hardware '{chip.id}' has no interconnect bandwidth in the catalog; use --accelerators 1")
    size = tokens * m.arch.hidden * dtype_bytes
    link = chip.interconnect_gbs * 1e9 * k / r
    return m.arch.layers * 2 * 2 * (r - 1) / r * size / link


def tp_hops(m: ModelEntry, k: int) -> int:
    """Collective latency hops of a step's tensor-parallel all-reduces: two per layer, 2 ceil(log2 K) hops each --
    the latency term of the reduce-scatter + all-gather algorithms that collective libraries pick for the small
    messages of decode (recursive halving and doubling, trees; Thakur, Rabenseifner and Gropp 2005), not a ring's
    2 (K-1)."""
    return 0 if k <= 1 else m.arch.layers * 2 * 2 * math.ceil(math.log2(k))


def project(m: ModelEntry, chip: Chip, w: Shape, eff: Efficiency = Efficiency(),
            sw_efficiency: float = 1.0) -> dict:
    """Project one replica of K accelerators; ``sw_efficiency`` scales throughput (a software-maturity
    discount, e.g. 0.7-0.75 for the report's 25-30 % domestic-GPU efficiency loss)."""
    check_dtype(chip, w.compute_dtype or w.dtype)  # a dtype the chip has no peak for is an error, fit or not
    fit = memory_fit(m, chip, w)
    out = {"hardware": chip.id, "model": m.id, "dtype": w.dtype, "kv_dtype": kv_dtype_for(w),
           "input_tokens": w.input_tokens, "output_tokens": w.output_tokens, "batch": w.batch,
           "accelerators": w.accelerators, "provenance": "projected", "efficiency": asdict(eff),
           "sw_efficiency": sw_efficiency, **fit}
    if not fit["fits"]:
        out.update(ttft_s=None, tpot_s=None, output_tok_s_per_accelerator=None, total_tok_s_per_accelerator=None,
                   output_tok_s_per_replica=None, bound=None, mbu=None, mfu=None,
                   note=f"does not fit: max batch {fit['max_batch']} on {w.accelerators} x {chip.id}")
        return out
    from bench.analysis import profiles  # the ideal times and the step maths live there, shared with the fits

    t, why = profiles.terms_for(m, chip, w.dtype, w.input_tokens, w.output_tokens, w.batch, w.accelerators,
                                "tpot_ms", "decode", "project", w.compute_dtype, kv_dtype=w.kv_dtype)
    if t is None:
        raise InputError(why)
    ttft, tpot = profiles.step_times(t, eff)  # prefill of the whole batch at once; decode at the mean context
    t_mem, t_cmp = t.d_mem / eff.mbu_at(w.batch), t.d_cmp / eff.mfu
    batch_time = ttft + (w.output_tokens - 1) * tpot
    out_rate = w.batch * w.output_tokens / batch_time * sw_efficiency
    total_rate = w.batch * (w.input_tokens + w.output_tokens) / batch_time * sw_efficiency
    out.update(ttft_s=ttft, tpot_s=tpot, output_tok_s_per_replica=out_rate,
               output_tok_s_per_accelerator=out_rate / w.accelerators,
               total_tok_s_per_accelerator=total_rate / w.accelerators,
               input_tok_s_per_accelerator=w.batch * w.input_tokens / ttft / w.accelerators * sw_efficiency,
               tok_s_per_user=tok_s_per_user(tpot), bound="memory" if t_mem >= t_cmp else "compute",
               mbu=t.d_mem / tpot, mfu=t.d_cmp / tpot)
    return out


def max_load(m: ModelEntry, chip: Chip, w: Shape, eff: Efficiency = Efficiency(), cap: int = 1024,
             sw_efficiency: float = 1.0) -> dict:
    """Project at the largest batch that fits (capped), i.e. 'maximum load'."""
    require_fit(m, chip, w, "use more --accelerators or a smaller dtype")
    b = min(memory_fit(m, chip, replace(w, batch=1))["max_batch"], cap)
    return project(m, chip, replace(w, batch=b), eff, sw_efficiency)


# ---------------------------------------------------------------------------- calibration
def calibrate(points: list[dict]) -> Efficiency:
    """Fit MBU, MFU and the per-step overhead from measured points.

    Each point: ``t_mem`` and ``t_cmp`` (ideal decode-step times at 100 %), ``tpot`` (measured),
    ``p_cmp`` (ideal prefill compute time) and ``ttft`` (measured). Decode: least squares of
    tpot = t_mem / MBU + overhead over the points (overhead >= 0); MFU: median of p_cmp / ttft.
    """
    if not points:
        raise InputError("nothing to calibrate from: the run has no successful cases with latencies")
    xs = [p["t_mem"] for p in points]
    ys = [p["tpot"] for p in points]
    n = len(points)
    if n >= 2 and max(xs) > min(xs):
        mx, my = sum(xs) / n, sum(ys) / n
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        overhead = my - slope * mx
        if overhead < 0 or slope <= 0:
            slope, overhead = sum(ys) / sum(xs), 0.0
    else:
        slope, overhead = sum(ys) / sum(xs), 0.0
    mbu = min(1.0, 1.0 / slope)
    mfus = sorted(p["p_cmp"] / p["ttft"] for p in points if p.get("ttft"))
    mfu = min(1.0, mfus[len(mfus) // 2]) if mfus else DEFAULT_MFU
    return Efficiency(mbu=mbu, mfu=mfu, step_overhead_s=max(overhead, 0.0), source=f"calibrated on {n} case(s)")


def with_overrides(eff: Efficiency, mbu: float | None = None, mfu: float | None = None) -> Efficiency:
    """``eff`` with MBU and/or MFU replaced by the user's figures (labelled in its source)."""
    if not mbu and not mfu:
        return eff
    return replace(eff, mbu=mbu or eff.mbu, mfu=mfu or eff.mfu, source=f"{eff.source} + overrides")


__all__ = ["Efficiency", "Shape", "project", "max_load", "memory_fit", "require_fit",
           "calibrate", "with_overrides"]
