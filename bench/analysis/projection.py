"""Cross-hardware projection: a roofline model of prefill and decode, calibrated by measurement.

All pure functions over the model and hardware catalogs (see README "Projection" for the maths):
- memory fit: weights + KV cache (batch x context, GQA/MLA aware) + a reserved fraction <= memory x K
- prefill  = max(FLOPs / (peak x MFU x K), bytes / (bandwidth x MBU x K)) + TP communication
- decode step = max((weights touched + KV read) / (bandwidth x MBU x K), FLOPs / (peak x MFU x K))
               + fixed per-step overhead + TP communication
- MoE: active parameters for FLOPs; for bytes, the experts that a batch actually touches:
  E x (1 - (1 - k/E)^B) per MoE layer.
- Tensor parallel over K accelerators: two ring all-reduces of the activations per layer,
  2 (K-1)/K x bytes / interconnect bandwidth + 5 us latency each.
Every projected number is labelled ``projected`` with the efficiencies it used.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bench.catalog import models as catalog
from bench.catalog.models import ModelEntry
from bench.errors import InputError
from bench.catalog.hardware import Chip

DEFAULT_MBU = 0.75  # memory-bandwidth utilisation of a tuned serving engine (vLLM / TensorRT-LLM class)
DEFAULT_MFU = 0.5  # model-FLOPs utilisation of large GEMMs
DEFAULT_OVERHEAD_S = 0.0  # per decode step (kernel launches, scheduling); calibration fits it
RESERVED_FRACTION = 0.10  # memory kept back for activations, the runtime and fragmentation
ALLREDUCE_LATENCY_S = 5e-6


@dataclass(frozen=True)
class Efficiency:
    mbu: float = DEFAULT_MBU
    mfu: float = DEFAULT_MFU
    step_overhead_s: float = DEFAULT_OVERHEAD_S
    source: str = "defaults"


@dataclass(frozen=True)
class Workload:
    input_tokens: int
    output_tokens: int
    batch: int
    accelerators: int = 1  # tensor-parallel degree of one replica
    dtype: str = "bf16"
    kv_dtype: str | None = None  # default: fp8 KV with fp8 weights, else 16-bit (fp32 with fp32)


def kv_dtype_for(w: Workload) -> str:
    if w.kv_dtype:
        return w.kv_dtype
    return {"fp8": "fp8", "fp32": "fp32", "float32": "fp32"}.get(w.dtype, "bf16")


def check_dtype(chip: Chip, dtype: str) -> float:
    """Peak TFLOPS of ``chip`` at ``dtype``; an InputError if the chip lacks it (fp8 on 910B or A100)."""
    return chip.peak_tflops(dtype)


def memory_fit(m: ModelEntry, chip: Chip, w: Workload) -> dict:
    weights = catalog.weight_bytes(m, w.dtype)
    kv_per_seq = catalog.kv_bytes_per_token(m, kv_dtype_for(w)) * (w.input_tokens + w.output_tokens)
    usable = chip.memory_gb * 1e9 * w.accelerators * (1 - RESERVED_FRACTION)
    max_batch = max(int((usable - weights) // kv_per_seq), 0) if usable > weights else 0
    return {"weights_bytes": weights, "kv_bytes_per_seq": kv_per_seq, "usable_bytes": usable,
            "max_batch": max_batch, "fits": max_batch >= w.batch}


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


def _tp_comm_s(m: ModelEntry, chip: Chip, tokens: int, k: int, dtype_bytes: float = 2.0) -> float:
    if k <= 1:
        return 0.0
    if not chip.interconnect_gbs:
        raise InputError(f"hardware '{chip.id}' has no interconnect bandwidth in the catalog; use --accelerators 1")
    size = tokens * m.arch.hidden * dtype_bytes
    per_allreduce = 2 * (k - 1) / k * size / (chip.interconnect_gbs * 1e9) + ALLREDUCE_LATENCY_S
    return m.arch.layers * 2 * per_allreduce


def project(m: ModelEntry, chip: Chip, w: Workload, eff: Efficiency = Efficiency(),
            sw_efficiency: float = 1.0) -> dict:
    """Project one replica of K accelerators; ``sw_efficiency`` scales throughput (a software-maturity
    discount, e.g. 0.7-0.75 for the report's 25-30 % domestic-GPU efficiency loss)."""
    peak = check_dtype(chip, w.dtype) * 1e12 * w.accelerators
    bw = chip.bandwidth_tbs * 1e12 * w.accelerators
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
    kv_tok = catalog.kv_bytes_per_token(m, kv_dtype_for(w))
    # prefill of the whole batch at once
    p_flops = w.batch * catalog.prefill_flops(m, w.input_tokens)
    p_bytes = fit["weights_bytes"] + w.batch * w.input_tokens * kv_tok
    ttft = max(p_flops / (peak * eff.mfu), p_bytes / (bw * eff.mbu)) + _tp_comm_s(m, chip, w.batch * w.input_tokens,
                                                                                  w.accelerators)
    # decode at the mean context over the generation
    ctx = w.input_tokens + w.output_tokens / 2
    d_bytes = decode_weight_bytes(m, w.dtype, w.batch) + w.batch * kv_tok * ctx
    d_flops = w.batch * catalog.decode_flops_per_token(m, ctx)
    t_mem, t_cmp = d_bytes / (bw * eff.mbu), d_flops / (peak * eff.mfu)
    tpot = max(t_mem, t_cmp) + eff.step_overhead_s + _tp_comm_s(m, chip, w.batch, w.accelerators)
    batch_time = ttft + (w.output_tokens - 1) * tpot
    out_rate = w.batch * w.output_tokens / batch_time * sw_efficiency
    total_rate = w.batch * (w.input_tokens + w.output_tokens) / batch_time * sw_efficiency
    out.update(ttft_s=ttft, tpot_s=tpot, output_tok_s_per_replica=out_rate,
               output_tok_s_per_accelerator=out_rate / w.accelerators,
               total_tok_s_per_accelerator=total_rate / w.accelerators,
               input_tok_s_per_accelerator=w.batch * w.input_tokens / ttft / w.accelerators * sw_efficiency,
               tok_s_per_user=1 / tpot, bound="memory" if t_mem >= t_cmp else "compute",
               mbu=d_bytes / tpot / bw, mfu=d_flops / tpot / peak)
    return out


def max_load(m: ModelEntry, chip: Chip, w: Workload, eff: Efficiency = Efficiency(), cap: int = 1024,
             sw_efficiency: float = 1.0) -> dict:
    """Project at the largest batch that fits (capped), i.e. 'maximum load'."""
    probe = memory_fit(m, chip, Workload(**{**asdict(w), "batch": 1}))
    b = min(probe["max_batch"], cap)
    if b < 1:
        raise InputError(f"model '{m.id}' ({probe['weights_bytes'] / 1e9:.0f} GB of {w.dtype} weights) does not fit "
                         f"on {w.accelerators} x {chip.id} ({chip.memory_gb:g} GB each) even at batch 1; "
                         "use more --accelerators or a smaller dtype")
    return project(m, chip, Workload(**{**asdict(w), "batch": b}), eff, sw_efficiency)


# ---------------------------------------------------------------------------- measured efficiency
def step_roofline(m: ModelEntry, chip: Chip, dtype: str, batch: int, ctx: float, accelerators: int = 1) -> tuple:
    """(ideal memory time, ideal compute time) of one decode step at 100 % MBU and MFU."""
    peak = check_dtype(chip, dtype) * 1e12 * accelerators
    bw = chip.bandwidth_tbs * 1e12 * accelerators
    d_bytes = decode_weight_bytes(m, dtype, batch) + batch * catalog.kv_bytes_per_token(m, dtype) * ctx
    return d_bytes / bw, batch * catalog.decode_flops_per_token(m, ctx) / peak


def measured_efficiency(m: ModelEntry, chip: Chip, case: dict) -> dict | None:
    """MBU and MFU of a measured case against its hardware's catalog peaks (decode from TPOT p50,
    prefill MFU from TTFT p50)."""
    tpot = (case.get("tpot_s") or {}).get("p50")
    ttft = (case.get("ttft_s") or {}).get("p50")
    wl = case.get("workload") or {}
    if not tpot or not wl:
        return None
    dtype = (case.get("backend") or {}).get("dtype", "bf16")
    dtype = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(dtype, dtype)
    acc = max(case.get("accelerators") or 1, 1)
    b, n_in, n_out = wl["batch_size"], wl["input_tokens"], wl["output_tokens"]
    t_mem, t_cmp = step_roofline(m, chip, dtype, b, n_in + n_out / 2, acc)
    prefill_mfu = None
    if ttft:
        prefill_mfu = b * catalog.prefill_flops(m, n_in) / ttft / (check_dtype(chip, dtype) * 1e12 * acc)
    return {"hardware": chip.id, "mbu": t_mem / tpot, "mfu": t_cmp / tpot, "prefill_mfu": prefill_mfu,
            "provenance": "measured", "note": f"against catalog peaks of {chip.id} ({dtype})"}


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


def calibration_points(m_lookup, chip: Chip, cases: list[dict]) -> list[dict]:
    pts = []
    for c in cases:
        m = m_lookup(c)
        wl = c.get("workload") or {}
        tpot, ttft = (c.get("tpot_s") or {}).get("p50"), (c.get("ttft_s") or {}).get("p50")
        if m is None or not tpot or c.get("status") != "ok":
            continue
        dtype = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(c["backend"]["dtype"], c["backend"]["dtype"])
        acc = max(c.get("accelerators") or 1, 1)
        t_mem, t_cmp = step_roofline(m, chip, dtype, wl["batch_size"], wl["input_tokens"] + wl["output_tokens"] / 2, acc)
        p_cmp = wl["batch_size"] * catalog.prefill_flops(m, wl["input_tokens"]) / (check_dtype(chip, dtype) * 1e12 * acc)
        pts.append({"t_mem": t_mem, "t_cmp": t_cmp, "tpot": tpot, "p_cmp": p_cmp, "ttft": ttft})
    return pts


def roofline_point(ttft: float, tpot: float) -> dict:
    return {"ttft_s": ttft, "tpot_s": tpot, "tok_s_per_user": 1 / tpot if tpot else None}


__all__ = ["Efficiency", "Workload", "project", "max_load", "memory_fit", "calibrate", "measured_efficiency",
           "math"]
