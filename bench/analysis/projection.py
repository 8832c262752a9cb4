"""Cross-hardware projection: a roofline model of prefill and decode, calibrated by measurement.

All pure functions over the model and hardware catalogs (see README "Projection" for the maths):
- memory fit: weights + KV cache (batch x context, GQA/MLA aware) + a reserved fraction <= memory x K
- ov(a, b) = (a^p + b^p)^(1/p), p = ROOFLINE_P (3): one kernel's time from its memory and compute times (the max
  where one dominates, above it where they are close; ``overlap``)
- prefill  = ov(FLOPs / (peak x MFU x K), bytes / (bandwidth x MBU x K)) + TP communication
- decode step = ov((dense weights + routed experts touched / moe_mbu_factor) / (bandwidth x MBU x K),
                   linear FLOPs / (peak x MFU x K))
               + ov(KV read / (bandwidth x MBU x kv_mbu_factor x K), attention FLOPs / (peak x MFU x K))
               + fixed per-step overhead + a cost per decoder layer + a cost per MoE layer + TP communication  (a roofline per operator, summed: ``decode_step_s``)
- MoE: active parameters for FLOPs; for bytes, the experts that a batch actually touches:
  E x (1 - (1 - k/E)^B) per MoE layer, plus the token routing traffic (``moe_activation_bytes``).
- MLA decode attention in its weight-absorbed form (over the cached latent), prefill decompressed.
- Tensor parallel over K accelerators: two all-reduces of the activations per layer,
  2 (K-1)/K x bytes / interconnect bandwidth + 2 ceil(log2 K) hops x ``Efficiency.collective_hop_s`` each.
- A replica larger than one server (``Chip.accelerators_per_node``) sends its collectives' inter-server share over
  the scale-out network (``Chip.scale_out_gbs``, per accelerator): ``nodes_spanned``.
- Expert parallel (attention DP, experts spread): a dispatch and a combine per MoE layer instead of the all-reduces,
  their bandwidth time from DeepEP's published kernels (``catalog.collectives``, ``_ep_comm_s``), their latency
  ceil(log2 K) fitted hops each; both at the fitted share of DeepEP's speed that the engine reaches (``ep_efficiency``).
The ideal times (``terms_for``) and the step maths (``step_times``) are shared with the
profile fits (``profiles``), so a projection and a fitted row can never disagree.
Every projected number is labelled ``projected`` with the efficiencies it used.

Above 400 lines because it is one model: the memory fit, the prefill and decode rooflines, MoE routing and the
collectives are terms of one step time, shared with the profile fits (``terms_for``, ``step_times``,
``predict``); split up, one formula would be read across several files.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

from bench.catalog import collectives, engines
from bench.catalog import models as catalog
from bench.catalog.dtypes import kv_dtype
from bench.catalog.models import ModelEntry
from bench.errors import InputError
from bench.catalog.hardware import Chip
from bench.summary.metrics import tok_s_per_user

DEFAULT_MBU = 0.75  # memory-bandwidth utilisation of a tuned serving engine (vLLM / TensorRT-LLM class)
DEFAULT_MFU = 0.5  # model-FLOPs utilisation of large GEMMs
DEFAULT_OVERHEAD_S = 0.0  # per decode step (kernel launches, scheduling); calibration fits it
COLLECTIVE_HOP_S = 2.5e-6  # latency of one hop of a collective (an all-reduce over K takes 2 ceil(log2 K) hops: 5 us at
# K = 2); the profiles fit it per chip (NVLink and HCCS differ), this is the prior


# How far a kernel overlaps its memory traffic with its arithmetic: its time is the p-norm of the two times,
# (mem^p + cmp^p)^(1/p): the larger one where the other is small (the roofline), above it where they are close (a GEMM
# of a few dozen rows neither streams at full bandwidth nor computes at full rate). Chosen by `validate` over the
# catalog (docs/guides/projection.md): 3 against the sharp max (None) and 2. ``IDEAL`` (the roofline limits) keeps the max.
ROOFLINE_P = 3.0


def overlap(mem_s: float, cmp_s: float, p: float | None = ROOFLINE_P) -> float:
    """Time of one kernel that moves ``mem_s`` worth of bytes and does ``cmp_s`` worth of FLOPs: their p-norm
    (``ROOFLINE_P``), the max when ``p`` is None."""
    big = max(mem_s, cmp_s)
    if p is None or big <= 0:
        return max(big, 0.0)
    return big * ((mem_s / big) ** p + (cmp_s / big) ** p) ** (1 / p)


def decode_step_s(w_s: float, kv_s: float, lin_s: float, attn_s: float, eff: "Efficiency", batch: int,
                  width: float = 1.0, expert_w_s: float = 0.0) -> float:
    """One decode step, a roofline per operator, summed: the linear layers stream the weights (``w_s``: their
    bytes at 100 % bandwidth) while doing their GEMMs (``lin_s``: FLOPs at 100 % peak), which overlap in one kernel
    (the max); attention then reads the KV cache (``kv_s``) for its FLOPs (``attn_s``), a kernel of its own, so its
    time adds. ``width``: tokens per sequence in the step (speculative verification), which multiplies the FLOPs
    but not the bytes. ``expert_w_s``: the routed experts' share of ``w_s``, streamed by grouped GEMMs of a few
    tokens per expert (about batch x top-k / E) at ``Efficiency.moe_mbu_factor`` of the dense layers' MBU; the KV
    cache is read by the decode-attention kernel at ``Efficiency.kv_mbu_factor`` of it."""
    mbu = eff.mbu_at(batch)
    w = w_s + expert_w_s * (1 / eff.moe_mbu_factor - 1)
    p = eff.roofline_p
    return overlap(w / mbu, width * lin_s / eff.mfu, p) + overlap(kv_s / (mbu * eff.kv_mbu_factor), width * attn_s / eff.mfu, p)


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
    # cost of every decoder layer, dense or MoE, in a decode step (kernel launches and host-side scheduling of the
    # layer's operators); the per-MoE-layer cost above comes on top for MoE layers
    step_overhead_per_decoder_layer_s: float = 0.0
    # the routed experts' grouped GEMMs (b x top-k / E tokens per expert in decode) stream the expert weights a step
    # reads at this share of the dense layers' MBU (1: as efficient as a dense GEMM); fitted to published rows
    moe_mbu_factor: float = 1.0
    # the decode-attention kernel (paged attention over each sequence's blocks) reads the KV cache at this share of the
    # dense layers' MBU (1: as efficient as streaming the weights); fitted to published rows: it is what makes a step
    # grow with batch x context where the FLOPs are far from the peak (Ascend's paged attention, eager engines)
    kv_mbu_factor: float = 1.0
    # an expert-parallel row's all-to-alls (dispatch and combine: bandwidth and hop latency) reach this share of the
    # speed of DeepEP's published kernels (``catalog.collectives``; 1: as fast); fitted to published EP rows
    ep_efficiency: float = 1.0
    # a kernel's time from its memory and compute times: their p-norm (``overlap``); None: the sharp roofline (max)
    roofline_p: float | None = ROOFLINE_P

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
    parallelism: str | None = None  # how the accelerators work together, read as a published row's ('TP4 PP2')
    engine: str | None = None  # the serving engine's class ('vllm', 'trtllm' ...): its KV-cache default


def kv_dtype_for(w: Shape) -> str:
    """The KV cache's dtype of ``w``: ``catalog.dtypes.kv_dtype``, the one rule."""
    return kv_dtype(w.dtype, w.kv_dtype, w.engine)


def check_dtype(chip: Chip, dtype: str) -> float:
    """Peak TFLOPS of ``chip`` at ``dtype``; an InputError if the chip lacks it (fp8 on 910B or A100)."""
    return chip.peak_tflops(dtype)


def memory_fit(m: ModelEntry, chip: Chip, w: Shape) -> dict:
    weights = catalog.weight_bytes(m, w.dtype)
    kv_per_seq = catalog.kv_bytes_per_token(m, kv_dtype_for(w)) * (w.input_tokens + w.output_tokens)
    # the field rule's share of memory (engines.yaml max_load.field: 10 % kept back for activations, the runtime and
    # fragmentation); an engine's own share sizes only its maximum-load batch (``load_batch``)
    usable = chip.memory_gb * 1e9 * w.accelerators * engines.max_load(None, chip).kv_memory_fraction
    max_batch = max(int((usable - weights) // kv_per_seq), 0) if usable > weights else 0
    return {"weights_bytes": weights, "kv_bytes_per_seq": kv_per_seq, "usable_bytes": usable,
            "max_batch": max_batch, "fits": max_batch >= w.batch}


def kv_replicas(m: ModelEntry, w: Shape) -> float:
    """Copies of the KV cache a replica stores under tensor-parallel attention over T ranks: each rank keeps
    max(1, kv_heads // T) heads (vLLM ``ModelConfig.get_num_kv_heads``; TensorRT-LLM's build heuristic, "Each GPU in
    TP group has at least 1 kv head"), so T x max(1, kv_heads // T) / kv_heads copies; an MLA latent is one head
    (every rank holds all of it: T copies). 1 for data-parallel attention (expert-parallel rows) and for T = 1."""
    if expert_parallel(w.parallelism):
        return 1.0
    t = collective_ranks(w.parallelism, w.accelerators) // pipeline_stages(w.parallelism, w.accelerators)
    heads = 1 if m.mla is not None else m.arch.kv_heads
    return max(1.0, max(t, 1) * max(1, heads // max(t, 1)) / heads)


def load_batch(m: ModelEntry, chip: Chip, w: Shape, cap: int | None = None, rule=None) -> dict:
    """The batch a maximum-throughput run of ``w`` holds on its replica under its engine's rule (``w.engine``;
    ``catalog.engines.max_load``, the field rule when none is named): KV memory = fraction x (memory - weights) or
    fraction x memory - weights, over the KV bytes one request holds (its whole sequence, or its input and half its
    output, as the engine schedules) x the KV cache's copies under TP where the engine keeps them (``kv_replicas``);
    then at most the engine's batch cap
    (``cap`` when given) and max_num_tokens / (1 + input/output). ``max_batch`` 0: not even one request fits.
    ``rule``: a ``catalog.engines.MaxLoad`` to use instead of the engine's (a rule measured but not applied)."""
    rule = rule or engines.max_load(w.engine, chip)
    weights = catalog.weight_bytes(m, w.dtype)
    memory = chip.memory_gb * 1e9 * w.accelerators
    kv_mem = rule.kv_memory_fraction * (memory - weights) if rule.kv_memory_of == "free" \
        else rule.kv_memory_fraction * memory - weights
    copies = kv_replicas(m, w) if rule.kv_head_copies else 1.0
    per_req = (catalog.kv_bytes_per_token(m, kv_dtype_for(w)) * copies
               * rule.kv_tokens_per_request(w.input_tokens, w.output_tokens))
    by_memory = max(int(kv_mem // per_req), 0) if kv_mem > 0 else 0
    caps = {"memory": by_memory, "batch cap": cap or rule.max_batch}
    if rule.max_num_tokens:
        caps["token cap"] = int(rule.max_num_tokens // (1 + w.input_tokens / max(w.output_tokens, 1)))
    b = min(caps.values()) if by_memory >= 1 else 0
    return {"max_batch": b, "bound": next(k for k, v in caps.items() if v == b) if b else "memory",
            "batch_by_memory": by_memory, "kv_bytes_per_request": per_req, "rule": rule.label,
            "rule_source": rule.source}


def does_not_fit(m: ModelEntry, chip: Chip, w: Shape, fix: str) -> InputError | None:
    """The one "does not fit" check: an InputError (to raise) when one request (batch 1) of ``w`` does not
    fit on ``w.accelerators`` x ``chip``, else None; ``fix`` names the flags that help."""
    fit = memory_fit(m, chip, replace(w, batch=1))
    if fit["fits"]:
        return None
    return InputError(f"model '{m.id}' ({fit['weights_bytes'] / 1e9:.0f} GB of {w.dtype} weights + KV) does not "
                      f"fit on {w.accelerators} x {chip.id} ({chip.memory_gb:g} GB each) even at batch 1; {fix}")


def fewest_accelerators(m: ModelEntry, chip: Chip, w: Shape, most: int = 4096) -> int | None:
    """The fewest accelerators (a power of two, up to ``most``) on which ``w`` fits at its batch; None if none. A chip
    without an interconnect in the catalog is one accelerator a replica (``tp_allreduce_s`` refuses more)."""
    most = most if chip.interconnect_gbs else 1
    k = 1
    while k <= most:
        if memory_fit(m, chip, replace(w, accelerators=k))["fits"]:
            return k
        k *= 2
    return None


def require_fit(m: ModelEntry, chip: Chip, w: Shape, fix: str) -> None:
    err = does_not_fit(m, chip, w, fix)
    if err is not None:
        raise err


def _touched_expert_fraction(m: ModelEntry, batch: int) -> float:
    e = m.moe
    return 1 - (1 - e.top_k / e.experts) ** batch


def moe_activation_bytes(m: ModelEntry, tokens: int) -> float:
    """HBM traffic of the MoE layers' token routing for ``tokens`` tokens: each (token, expert) pair's hidden state is
    gathered and scattered (dispatch and combine: 4 x hidden elements) and its expert's intermediate activations are
    written and read between the grouped GEMMs (3 x the expert's intermediate size), in 16 bits, on every MoE layer.
    0 for dense models. It grows with the batch where the weights read do not: large-batch MoE decode streams it."""
    if m.moe is None:
        return 0.0
    e = m.moe
    per_pair = (4 * m.arch.hidden + 3 * e.expert_intermediate) * 2.0
    return tokens * catalog._moe_layer_count(m) * e.top_k * per_pair


def expert_weight_bytes(m: ModelEntry, dtype: str, batch: int) -> float:
    """Bytes of the routed experts' weights a decode step of ``batch`` tokens reads: the experts it touches
    (expected distinct experts under uniform routing, E x (1 - (1 - k/E)^B) per MoE layer); 0 for dense models."""
    if m.moe is None:
        return 0.0
    e = m.moe
    expert_params = 3 * m.arch.hidden * e.expert_intermediate
    return (catalog._moe_layer_count(m) * e.experts * _touched_expert_fraction(m, batch) * expert_params
            * catalog.bytes_per_element(dtype))


def decode_weight_bytes(m: ModelEntry, dtype: str, batch: int) -> float:
    """Weights read per decode step: everything for dense models; for MoE, the dense part plus the
    experts the batch touches (``expert_weight_bytes``)."""
    b = catalog.bytes_per_element(dtype)
    if m.moe is None:
        return catalog.param_count(m) * b
    e = m.moe
    all_experts = catalog._moe_layer_count(m) * e.experts * 3 * m.arch.hidden * e.expert_intermediate
    return (catalog.param_count(m) - all_experts) * b + expert_weight_bytes(m, dtype, batch)


def nodes_spanned(chip: Chip, k: int) -> int:
    """Servers a replica of ``k`` accelerators spans: 1 when it fits one server or the catalog states no server size
    or no scale-out network for ``chip`` (then its collectives are priced on the scale-up link alone)."""
    n = chip.accelerators_per_node
    if not n or not chip.scale_out_gbs or k <= n:
        return 1
    return math.ceil(k / n)


def _tp_comm_s(m: ModelEntry, chip: Chip, tokens: int, k: int, dtype_bytes: float = 2.0,
               ranks: int | None = None) -> float:
    """Bandwidth time of a step's tensor-parallel all-reduces: two per layer, each 2 (R-1)/R x bytes over a rank's
    link (reduce-scatter + all-gather: ring or Rabenseifner alike). ``ranks`` R: the TP degree when it differs
    from the ``k`` accelerators (a 910C package is two dies, each its own rank, sharing the package's links).
    A replica over N > 1 servers (``nodes_spanned``) reduces hierarchically: 2 (n-1)/n x bytes within each server
    of n ranks over the scale-up link, then 2 (N-1)/N x bytes/n between servers over each accelerator's scale-out
    network (``Chip.scale_out_gbs``), one phase after the other."""
    r = ranks or k
    if r <= 1:
        return 0.0
    if not chip.interconnect_gbs:
        raise InputError(f"hardware '{chip.id}' has no interconnect bandwidth in the catalog; use --accelerators 1")
    size = tokens * m.arch.hidden * dtype_bytes
    link = chip.interconnect_gbs * 1e9 * k / r
    nodes = nodes_spanned(chip, k)
    if nodes == 1:
        return m.arch.layers * 2 * 2 * (r - 1) / r * size / link
    n = r / nodes  # ranks in one server
    network = chip.scale_out_gbs * 1e9 * k / r
    per_reduce = 2 * (n - 1) / n * size / link + 2 * (nodes - 1) / nodes * size / n / network
    return m.arch.layers * 2 * per_reduce


def tp_hops(m: ModelEntry, k: int) -> int:
    """Collective latency hops of a step's tensor-parallel all-reduces: two per layer, 2 ceil(log2 K) hops each --
    the latency term of the reduce-scatter + all-gather algorithms that collective libraries pick for the small
    messages of decode (recursive halving and doubling, trees; Thakur, Rabenseifner and Gropp 2005), not a ring's
    2 (K-1)."""
    return 0 if k <= 1 else m.arch.layers * 2 * 2 * math.ceil(math.log2(k))


IDEAL = Efficiency(mbu=1.0, mfu=1.0, step_overhead_s=0.0, collective_hop_s=0.0, roofline_p=None,
                   source="100 % of the catalog peaks")


def kernel(m: ModelEntry, chip: Chip, w: Shape, ident: str = "project") -> "Terms":
    """THE projection kernel: one step of ``w`` (weights and KV read, GEMMs, attention, communication, the per-layer
    count) reduced to its ideal times at 100 % of ``chip``'s peaks. Every command projects through it (``project``,
    ``cost --project``, ``capacity``, the exhibit's token rows, the efficiency and roofline blocks of measured runs,
    the profile fits); ``step_times`` then turns it into TTFT and TPOT under an ``Efficiency``. An InputError when
    it cannot be projected (a dtype the chip lacks, no interconnect for TP)."""
    t, why = terms_for(m, chip, w.dtype, w.input_tokens, w.output_tokens, w.batch, w.accelerators, "tpot_ms",
                       "decode", ident, w.compute_dtype, w.parallelism, kv_dtype=kv_dtype_for(w), engine=w.engine)
    if t is None:
        raise InputError(why)
    return t


def limits_s(t: "Terms") -> dict:
    """The roofline limits of a kernel step at 100 % MBU and MFU (no overheads, no collective latency): the batch's
    prefill and one decode step, each with what bounds it."""
    ttft, tpot = step_times(t, IDEAL)
    return {"prefill_limit_s": ttft, "prefill_bound": "compute" if t.p_cmp >= t.p_mem else "memory",
            "tpot_limit_s": tpot, "tpot_bound": "memory" if t.d_mem >= t.d_cmp else "compute"}


def rates(t: "Terms", eff: Efficiency, sw_efficiency: float = 1.0) -> dict:
    """Every throughput and latency of a kernel step under ``eff``, named for what it divides: the whole batch's
    run (prefill of the batch, then its decode) for ``output_tok_s_per_accelerator`` and ``total_...``; each phase
    alone for ``decode_tok_s_per_accelerator`` (batch / TPOT) and ``input_tok_s_per_accelerator`` (the batch's
    prompt tokens / TTFT), the rates that price input and output tokens apart (``cost``)."""
    ttft, tpot = step_times(t, eff)
    batch_time = ttft + (t.n_out - 1) * tpot
    out_rate = t.batch * t.n_out / batch_time * sw_efficiency
    return {"ttft_s": ttft, "tpot_s": tpot, "output_tok_s_per_replica": out_rate,
            "output_tok_s_per_accelerator": out_rate / t.k,
            "total_tok_s_per_accelerator": t.batch * (t.n_in + t.n_out) / batch_time * sw_efficiency / t.k,
            "decode_tok_s_per_accelerator": t.batch / tpot * sw_efficiency / t.k,
            "input_tok_s_per_accelerator": t.batch * t.n_in / ttft / t.k * sw_efficiency,
            "tok_s_per_user": tok_s_per_user(tpot)}


def project(m: ModelEntry, chip: Chip, w: Shape, eff: Efficiency = Efficiency(),
            sw_efficiency: float = 1.0, load: dict | None = None) -> dict:
    """Project one replica of K accelerators; ``sw_efficiency`` scales throughput (a software-maturity
    discount, e.g. 0.7-0.75 for the report's 25-30 % domestic-GPU efficiency loss). ``load``: the engine's
    maximum-load sizing (``load_batch``), whose batch fits by the engine's rule (``max_load``), not the field's."""
    check_dtype(chip, w.compute_dtype or w.dtype)  # a dtype the chip has no peak for is an error, fit or not
    fit = memory_fit(m, chip, w)
    if load is not None:
        fit.update(max_batch=load["max_batch"], fits=w.batch <= load["max_batch"])
    out = {"hardware": chip.id, "model": m.id, "dtype": w.dtype, "kv_dtype": kv_dtype_for(w),
           "input_tokens": w.input_tokens, "output_tokens": w.output_tokens, "batch": w.batch,
           "accelerators": w.accelerators, "parallelism": w.parallelism or f"TP{w.accelerators}",
           "provenance": "projected", "efficiency": asdict(eff),
           "sw_efficiency": sw_efficiency, **fit}
    if not fit["fits"]:
        out.update(ttft_s=None, tpot_s=None, output_tok_s_per_accelerator=None, total_tok_s_per_accelerator=None,
                   output_tok_s_per_replica=None, decode_tok_s_per_accelerator=None, input_tok_s_per_accelerator=None, bound=None, mbu=None, mfu=None,
                   note=f"does not fit: max batch {fit['max_batch']} on {w.accelerators} x {chip.id}")
        return out
    t = kernel(m, chip, w)  # prefill of the whole batch at once; decode at the mean context
    r = rates(t, eff, sw_efficiency)
    t_mem, t_cmp = t.d_mem / eff.mbu_at(w.batch), t.d_cmp / eff.mfu
    out.update(r, bound="memory" if t_mem >= t_cmp else "compute", mbu=t.d_mem / r["tpot_s"],
               mfu=t.d_cmp / r["tpot_s"])
    return out


def max_load(m: ModelEntry, chip: Chip, w: Shape, eff: Efficiency = Efficiency(), cap: int | None = None,
             sw_efficiency: float = 1.0) -> dict:
    """Project at 'maximum load': the batch its engine holds (``load_batch``: ``w.engine``'s memory share, KV per
    request and caps; the field rule when no engine is named; ``cap`` replaces the engine's batch cap)."""
    require_fit(m, chip, w, "use more --accelerators or a smaller dtype")
    lb = load_batch(m, chip, w, cap)
    if lb["max_batch"] < 1:
        raise InputError(f"model '{m.id}' leaves no KV memory for one request on {w.accelerators} x {chip.id} under "
                         f"{lb['rule']}; use more --accelerators or a smaller dtype")
    out = project(m, chip, replace(w, batch=lb["max_batch"]), eff, sw_efficiency, lb)
    out.update(load_batch_bound=lb["bound"], load_batch_rule=lb["rule"])
    return out


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
    # its closed form is the sharp roofline (tpot = t_mem / MBU + overhead): the efficiency it returns says so
    return Efficiency(mbu=mbu, mfu=mfu, step_overhead_s=max(overhead, 0.0), roofline_p=None,
                      source=f"calibrated on {n} case(s)")


def with_overrides(eff: Efficiency, mbu: float | None = None, mfu: float | None = None) -> Efficiency:
    """``eff`` with MBU and/or MFU replaced by the user's figures (labelled in its source)."""
    if not mbu and not mfu:
        return eff
    return replace(eff, mbu=mbu or eff.mbu, mfu=mfu or eff.mfu, source=f"{eff.source} + overrides")


# ---------------------------------------------------------------------------- ideal times of one configuration
# (shared by ``project`` above and the profile fits in ``profiles``: one copy of the maths)


@dataclass(frozen=True)
class Terms:
    """One row's ideal times (s) at 100 % MBU and MFU, and what the row measured."""

    row_id: str
    unit: str
    phase: str
    batch: int
    n_in: int
    n_out: int
    k: int  # accelerators
    layers: int  # MoE layers (the per-layer overhead is a cost of each MoE layer: routing, dispatch, grouped GEMMs)
    p_cmp: float
    p_mem: float
    p_comm: float
    d_mem: float  # decode step: weights + KV bytes at 100 % bandwidth
    d_cmp: float  # ... all FLOPs at 100 % peak
    d_comm: float
    hops: int = 0  # collective latency hops per step (prefill and decode alike), x Efficiency.collective_hop_s
    d_kv: float = 0.0  # the KV-cache part of d_mem
    d_attn: float = 0.0  # the attention part of d_cmp
    spec_accept: float = 1.0  # speculative decoding: tokens accepted per sequence per step (1 = plain decoding)
    spec_width: float = 1.0  # ... and tokens verified per sequence per step (the draft tokens)
    draft_fraction: float = 0.0  # cost of one draft step as a fraction of a plain decode step
    pd_split: bool = False  # prefill and decode on separate pools that work at the same time (PD disaggregated)
    decoder_layers: int = 0  # all decoder layers, dense and MoE (x ``Efficiency.step_overhead_per_decoder_layer_s``)
    d_exp: float = 0.0  # the routed experts' share of d_mem (the expert weights the step touches)
    ep: bool = False  # expert parallel: the collectives are all-to-alls (their speed x ``Efficiency.ep_efficiency``)


def ep_slowdown(t: Terms, eff: Efficiency) -> float:
    """How many times longer ``t``'s all-to-alls take than DeepEP's published kernels: 1 / ``ep_efficiency`` for an
    expert-parallel row, 1 for any other (its collectives are all-reduces)."""
    return 1 / eff.ep_efficiency if t.ep else 1.0


def step_times(t: Terms, eff: Efficiency) -> tuple[float, float]:
    """(TTFT of the whole batch, time per output token) under ``eff``: the projection's maths, in one place
    (``projection.project`` calls it too)."""
    slow = ep_slowdown(t, eff)
    hops_s = t.hops * eff.collective_hop_s * slow
    ttft = overlap(t.p_mem / eff.mbu, t.p_cmp / eff.mfu, eff.roofline_p) + t.p_comm * slow + hops_s
    fixed = (eff.step_overhead_s + eff.step_overhead_per_layer_s * t.layers + eff.step_overhead_per_decoder_layer_s * t.decoder_layers
             + t.d_comm * slow + hops_s)
    parts = (t.d_mem - t.d_kv, t.d_kv, t.d_cmp - t.d_attn, t.d_attn, eff, t.batch)
    tpot = decode_step_s(*parts, expert_w_s=t.d_exp) + fixed
    if t.spec_width > 1 or t.spec_accept > 1:
        # the verify step moves spec_width tokens per sequence through the collectives too
        verify = decode_step_s(*parts, width=t.spec_width, expert_w_s=t.d_exp) + fixed + (t.spec_width - 1) * t.d_comm * slow
        tpot = (verify + (t.spec_width - 1) * t.draft_fraction * tpot) / t.spec_accept
    return ttft, tpot


def predict(t: Terms, eff: Efficiency) -> float:
    """The row's observable under ``eff``, per accelerator, in the row's unit (``projection.project``'s maths).

    Speculative decoding: a step verifies ``spec_width`` tokens per sequence (the weights and KV cache are read
    once, the FLOPs are ``spec_width`` times a plain step's), runs ``spec_width - 1`` draft steps of
    ``draft_fraction`` of a plain step each, and yields ``spec_accept`` tokens per sequence."""
    ttft, tpot = step_times(t, eff)
    if t.unit.startswith("input_"):
        return t.batch * t.n_in / ttft / t.k
    if t.unit == "tok_s_per_user":
        return 1.0 / tpot
    if t.unit == "tpot_ms":
        return tpot * 1e3
    if t.phase == "decode":
        return t.batch / tpot / t.k
    if t.pd_split:  # the pools work at the same time: the slower one sets the pace
        return t.batch * t.n_out / max(ttft, (t.n_out - 1) * tpot) / t.k
    return t.batch * t.n_out / (ttft + (t.n_out - 1) * tpot) / t.k


def expert_parallel(parallelism: str | None) -> bool:
    """True when a row's stated parallelism runs attention data-parallel with experts spread (EP): no tensor-parallel
    all-reduce over all its accelerators, but an all-to-all per MoE layer ('EP320', 'attention DP16 + MoE EP16',
    'TP8 EP8, attention DP'). Plain 'TP8' or 'TP8 EP' (TensorRT-LLM: TP attention) keep the TP all-reduce."""
    if not parallelism or not re.search(r"\bEP\d+", parallelism):
        return False
    return bool(re.search(r"\bDP\b|\bDP\d+|attention DP", parallelism)) or not re.search(r"\bTP\d+", parallelism)


def attention_replicas(parallelism: str | None, k: int) -> int:
    """Copies of the dense (non-expert) weights that an expert-parallel row reads each step: attention runs data
    parallel, so every DP rank holds, and reads, all of attention, the shared experts and the LM head. The DP degree
    is the stated one ('attention DP16 + MoE EP32': 16; '--dp-size 4' inside a TP16 group: 4, attention TP4), else
    the EP degree ('decode EP320': 320 ranks, one per die), else ``k``. 1 for rows that are not expert parallel."""
    if not expert_parallel(parallelism):
        return 1
    for pat in (r"\bDP(\d+)", r"--dp(?:-size)?[ =](\d+)", r"\bEP(\d+)"):
        hit = re.search(pat, parallelism)
        if hit:
            return max(1, int(hit.group(1)))
    return max(1, k)


def stated_pipeline_stages(parallelism: str | None) -> int | None:
    """The PP degree a parallelism text states ('TP8 PP2', '--pp-size 2', '--pipeline-parallel-size 2'), or None."""
    for pat in (r"\bPP ?(\d+)", r"--pp(?:-size)?[ =](\d+)", r"--pipeline-parallel-size[ =](\d+)"):
        hit = re.search(pat, parallelism or "")
        if hit:
            return int(hit.group(1))
    return None


def pipeline_stages(parallelism: str | None, k: int) -> int:
    """Pipeline-parallel stages of a row (1 when none is stated), from 1 to ``k``. A step passes the stages one
    after another, each stage's k/PP accelerators holding 1/PP of the layers: the step takes what one group of
    k/PP accelerators would take for the whole model, plus a hop between stages. The latency view: no
    micro-batches overlap across stages (an engine that interleaves them fills the pipeline at large batch, up
    to PP x the throughput)."""
    return max(1, min(stated_pipeline_stages(parallelism) or 1, k))


_PAR_DEGREE = re.compile(r"(tp|pp|ep|dp)(\d+)", re.I)
_PAR_WORDS = {"attention": "attention", "moe": "MoE", "dp": "DP", "ep": "EP", "+": "+", "over": "over",
              "dies": "dies"}
_PAR_FLAGS = {"--tp": "TP", "--tp-size": "TP", "--pp": "PP", "--pp-size": "PP", "--pipeline-parallel-size": "PP",
              "--dp": "DP", "--dp-size": "DP", "--ep": "EP", "--ep-size": "EP"}


def read_parallelism(text: str | None, k: int) -> str | None:
    """A user's ``--parallelism`` read strictly, in the published rows' words: degrees TPn, PPn, EPn, DPn (any case;
    engine flags ``--tp-size N``, ``--pp N``, ``--dp-size N``, ``--ep N`` too), and the words 'attention', 'MoE',
    'DP', 'EP', '+', 'over dies' (a 910C's two dies per package, each its own rank). Returns the canonical text
    ('tp4 pp2' -> 'TP4 PP2'); an InputError for any other word, for text that states no degree, or for degrees that
    do not multiply to ``k`` accelerators (TP x PP, or EP x PP for expert parallelism; x 2 over dies) -- never
    echoed and then computed as something else."""
    if text is None:
        return None
    words = re.split(r"[\s,]+", text.replace("=", " ").replace("+", " + ").strip())
    out, i = [], 0
    while i < len(words):
        w = words[i]
        low = w.lower()
        hit = _PAR_DEGREE.fullmatch(w)
        if hit:
            out.append(f"{hit.group(1).upper()}{int(hit.group(2))}")
        elif low in _PAR_FLAGS and i + 1 < len(words) and words[i + 1].isdigit():
            out.append(f"{_PAR_FLAGS[low]}{int(words[i + 1])}")
            i += 1
        elif low in _PAR_WORDS:
            out.append(_PAR_WORDS[low])
        elif w:
            raise InputError(f"--parallelism '{text}': '{w}' is not understood; write degrees as TP, PP, EP or DP with "
                             "a number, e.g. 'TP4 PP2' or 'attention DP8 + EP8'")
        i += 1
    canon = " ".join(out)
    if not _PAR_DEGREE.search(canon):
        raise InputError(f"--parallelism '{text}': no degree stated; write e.g. 'TP{k}', 'TP{max(k // 2, 1)} PP2' "
                         "or 'attention DP8 + EP8'")
    pp = stated_pipeline_stages(canon) or 1
    dies = 2 if "dies" in out else 1
    kind = "EP" if expert_parallel(canon) else "TP"
    hit = re.search(rf"\b{kind}(\d+)", canon)
    if hit and int(hit.group(1)) * pp != k * dies:
        raise InputError(f"--parallelism '{text}': {kind}{hit.group(1)} x PP{pp}"
                         + (" over 2 dies a package" if dies > 1 else "")
                         + f" does not make {k} accelerator(s); give --accelerators "
                         f"{int(hit.group(1)) * pp // dies if int(hit.group(1)) * pp % dies == 0 else '?'} or change "
                         "the degrees")
    if not hit and k % pp:
        raise InputError(f"--parallelism '{text}': PP{pp} does not split {k} accelerators evenly")
    return canon


def collective_ranks(parallelism: str | None, k: int) -> int:
    """Ranks of a row's collectives: the stated EP degree for expert-parallel rows ('EP32'), else the stated TP
    degree ('TP16 over dies = 8 packages': 16), else ``k``. They differ from ``k`` where a package holds two dies,
    each its own rank (910C)."""
    hit = re.search(r"\bEP(\d+)" if expert_parallel(parallelism) else r"\bTP(\d+)", parallelism or "")
    return max(1, int(hit.group(1))) if hit else max(1, k)


def _reached(groups: int, top_k: int) -> float:
    """Expected groups (servers, ranks) of ``groups`` that a token's top-k experts reach under uniform routing."""
    return groups * (1 - (1 - 1 / groups) ** top_k)


def _ep_comm_s(m, chip, tokens: int, k: int, ranks: int | None = None, prefill: bool = False) -> float:
    """Bandwidth time of an expert-parallel MoE step's all-to-alls on ``k`` accelerators (``ranks`` R, default k):
    each token's hidden state goes to its experts (dispatch, FP8) and comes back (combine, BF16) on every MoE layer,
    built from DeepEP's published kernels (``catalog.collectives``; the latency floor is ``_ep_hops``, fitted).
    Decode runs the low-latency kernels (one copy per expert, top-k a token), prefill (``prefill``) the normal ones
    (one copy per server, or per rank within a server, that holds one of its experts: ``_reached``):
    - a replica over several servers (``nodes_spanned``), decode: the low-latency kernels' dispatch + combine latency
      at R ranks (H800, one 400 Gb/s NIC a GPU; 128 tokens a rank, hidden 7168, top-8), scaled by the tokens a rank
      sends (tokens / R), the model's hidden size and top-k against the table's, and by the table's NIC over the
      chip's (``Chip.scale_out_gbs`` per accelerator, shared by the ranks of a package); prefill: a rank's copies
      over the normal kernels' RDMA bandwidth at R, scaled by the NIC alike;
    - within one server (or a scale-up domain without a catalog network): a rank's copies to the other ranks over
      the share of the catalog's ``interconnect_gbs`` that DeepEP's intranode kernels reach on the H800 (153 and 158
      of 400 GB/s: the catalog figure is bidirectional and nominal)."""
    r = ranks or k
    if r <= 1 or m.moe is None or not chip.interconnect_gbs:
        return 0.0
    ep = collectives.deepep()
    layers, top_k, hidden = catalog._moe_layer_count(m), m.moe.top_k, m.arch.hidden
    n = tokens / r  # tokens a rank sends
    nodes = nodes_spanned(chip, k)
    if nodes > 1:
        nic = chip.scale_out_gbs * k / r / ep.scale_out_gbs  # the chip's NIC per rank over the table's
        if not prefill:
            d_us, c_us = ep.latency_us(r)
            share = n * top_k * hidden / (ep.tokens_per_rank * ep.top_k * ep.hidden)  # of the table's conditions
            return layers * (d_us + c_us) * 1e-6 * share / nic
        d_gbs, c_gbs = ep.normal_gbs(r)
        sent = n * _reached(nodes, top_k) * hidden
        return layers * (sent * 1.0 / (d_gbs * 1e9 * nic) + sent * 2.0 / (c_gbs * 1e9 * nic))
    link = chip.interconnect_gbs * 1e9 * k / r
    copies = _reached(r, top_k) * (r - 1) / r if prefill else top_k * (r - 1) / r
    sent = n * copies * hidden
    return layers * sent * (1.0 / (link * ep.intranode_dispatch_share) + 2.0 / (link * ep.intranode_combine_share))


def _ep_hops(m, k: int) -> int:
    """Latency hops of an expert-parallel step: dispatch and combine per MoE layer, ceil(log2 K) hops each."""
    return 0 if k <= 1 or m.moe is None else catalog._moe_layer_count(m) * 2 * math.ceil(math.log2(k))


DRAFT_LAYERS = 2.0  # an EAGLE3 / MTP draft step: one transformer layer plus the LM head, about two layers' worth


def terms_for(m, chip, dtype: str, n_in: int, n_out: int, batch, k: int, unit: str, phase: str, ident: str,
              compute_dtype: str | None = None, parallelism: str | None = None,
              spec=None, decode_accelerators: int | None = None,
              kv_dtype: str | None = None, engine: str | None = None) -> tuple[Terms | None, str | None]:
    """Ideal times of one configuration (``batch`` an int or 'max'); (None, why) when it cannot be projected.
    ``spec``: the row's speculative decoding (``published.Spec``), or None for plain decoding.
    ``decode_accelerators``: a PD-disaggregated deployment's decode pool (prefill gets the other k - kd chips).
    ``engine``: the row's engine class, whose rule sizes a 'max' batch (``load_batch``)."""
    from bench.errors import BenchError

    w = Shape(n_in, n_out, 1, k, dtype, kv_dtype, compute_dtype, parallelism, engine)
    try:
        chip_peak = check_dtype(chip, w.compute_dtype or w.dtype) * 1e12  # FLOP/s of one accelerator
        probe = memory_fit(m, chip, w)
        # a stated batch ran, whatever the memory model's reserve says; only 'max' needs the memory model
        b = load_batch(m, chip, w)["max_batch"] if batch == "max" else batch
    except BenchError as exc:
        return None, str(exc)
    if b < 1:
        return None, (f"does not fit in the projection's memory model (max batch {b} on {k} x {chip.id} at "
                      f"{dtype})")
    # PD-disaggregated: prefill runs on its own pool (kp chips), decode on the rest (kd); else both on all k
    kd = decode_accelerators if decode_accelerators and decode_accelerators < k else k
    kp = k - kd if kd < k else k
    # pipeline stages run one after another: the work of a step on one stage's accelerators (k/PP)
    pp = pipeline_stages(parallelism, min(kd, kp))
    peak, bw = chip_peak * kd / pp, chip.bandwidth_tbs * 1e12 * kd / pp
    p_peak, p_bw = chip_peak * kp / pp, chip.bandwidth_tbs * 1e12 * kp / pp
    kv_tok = catalog.kv_bytes_per_token(m, kv_dtype_for(w))
    p_flops = b * catalog.prefill_flops(m, n_in)
    p_bytes = probe["weights_bytes"] + b * n_in * kv_tok
    ctx = n_in + n_out / 2
    kv_bytes = b * kv_tok * ctx
    # data-parallel attention: each DP rank reads its own copy of the dense weights (0 extra for TP rows)
    replicated = (attention_replicas(parallelism, k) - 1) * decode_weight_bytes(m, dtype, 0)
    p_bytes += replicated
    act = moe_activation_bytes(m, 1)  # token routing traffic of the MoE layers, per token
    p_bytes += b * n_in * act
    d_bytes = decode_weight_bytes(m, dtype, b) + replicated + kv_bytes + b * act
    d_flops = b * catalog.decode_flops_per_token(m, ctx)
    attn_flops = d_flops - b * 2 * catalog.active_param_count(m)
    try:
        r = collective_ranks(parallelism, kd)  # the stated ranks are the decode pool's in a PD split
        pr = r if kp == kd == k else None
        if expert_parallel(parallelism):
            p_comm = _ep_comm_s(m, chip, b * n_in, kp // pp, ranks=pr, prefill=True)
            d_comm = _ep_comm_s(m, chip, b, kd // pp, ranks=r)
            hops = _ep_hops(m, r)
        else:
            p_comm = _tp_comm_s(m, chip, b * n_in, kp // pp, ranks=pr)
            d_comm = _tp_comm_s(m, chip, b, kd // pp, ranks=r)
            hops = tp_hops(m, r)
        hops += pp - 1  # the activations pass from stage to stage
    except BenchError as exc:
        return None, str(exc)
    sp = {} if spec is None or spec.acceptance_length is None else {
        "spec_accept": spec.accept, "spec_width": spec.width, "draft_fraction": DRAFT_LAYERS / m.arch.layers}
    return Terms(ident, unit, phase, b, n_in, n_out, k, catalog._moe_layer_count(m), p_flops / p_peak, p_bytes / p_bw,
                 p_comm, d_bytes / bw, d_flops / peak, d_comm, hops, kv_bytes / bw, attn_flops / peak,
                 pd_split=kd < k, decoder_layers=m.arch.layers, d_exp=expert_weight_bytes(m, dtype, b) / bw,
                 ep=expert_parallel(parallelism) and m.moe is not None, **sp), None


__all__ = ["Efficiency", "Shape", "kernel", "limits_s", "rates", "IDEAL", "kv_dtype_for", "fewest_accelerators", "project", "max_load", "memory_fit", "require_fit",
           "calibrate", "with_overrides", "Terms", "terms_for", "step_times", "predict", "expert_parallel",
           "attention_replicas", "collective_ranks", "read_parallelism", "pipeline_stages", "stated_pipeline_stages"]


def fit_error(m, chip, w) -> str | None:
    """Why one request of ``w`` cannot run on the replica (a dtype the chip lacks, it does not fit), or None."""
    try:
        check_dtype(chip, w.dtype)
    except InputError as exc:
        return str(exc)
    err = does_not_fit(m, chip, w, "raise --accelerators or use a smaller --dtype")
    return None if err is None else str(err)
