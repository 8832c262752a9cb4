"""Whole-run projection: a continuous-batching engine simulated step by step (pure functions).

A benchmark run sends N prompts, all at once or at a rate; the engine runs what its scheduler allows. Each step:
- the requests that have arrived queue in order; a request is admitted while fewer than ``max_num_seqs`` are in
  flight and the KV cache holds its whole prompt and output (reserved at admission: no preemption);
- every admitted request that has finished its prefill decodes one token; the rest of the step's token budget
  (``max_num_batched_tokens``) goes to prefill, in chunks (chunked prefill) or whole prompts only;
- a request's first token comes at the end of the step that completes its prefill; it leaves, freeing its KV
  cache, when its last output token is made.
Step times come from the projection kernel (``projection.kernel``) under the chip's efficiency profile: one step
reads the weights the step's tokens touch once, runs the GEMMs of every token (decode and prefill), reads each
decoding request's KV cache for attention, and pays the per-step overheads and collectives (``StepModel``).
Reported as a benchmark reports: output and total tok/s, TTFT / TPOT / E2E p50 and p99, the batch over time.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from bench.analysis import projection
from bench.catalog import models as catalog
from bench.errors import InputError

CTX_REF = 1024  # the context at which the kernel's per-token KV and attention terms are taken (they are linear)
MAX_STEPS = 2_000_000  # a simulation longer than this is refused (lower --num-prompts or the lengths)
MAX_OUTPUT_TOKENS = 20_000_000  # output tokens of a whole run (the simulation's work grows with them: ~30 s here)


@dataclass(frozen=True)
class Request:
    arrival_s: float
    input_tokens: int
    output_tokens: int


class StepModel:
    """Step times of one replica (``w``: dtype, accelerators, parallelism; its lengths unused) under ``eff``."""

    def __init__(self, m, chip, w: projection.Shape, eff: projection.Efficiency):
        self.m, self.chip, self.w, self.eff = m, chip, w, eff
        t1 = self._terms(1)
        self.lin1 = t1.d_cmp - t1.d_attn  # linear-layer FLOP time of one decoded token
        self.kv1 = t1.d_kv / CTX_REF  # KV read time per token of context
        self.attn1 = t1.d_attn / CTX_REF  # attention FLOP time per token of context
        slow = projection.ep_slowdown(t1, eff)
        self.comm1 = t1.d_comm * slow  # collective bandwidth time per token (linear in tokens)
        self.fixed = (eff.step_overhead_s + eff.step_overhead_per_layer_s * t1.layers + t1.hops * eff.collective_hop_s * slow
                      + eff.step_overhead_per_decoder_layer_s * t1.decoder_layers)
        self.prefill_peak = catalog.prefill_flops(m, CTX_REF) / t1.p_cmp  # FLOP/s the kernel gives prefill
        self._w: dict[int, float] = {}

    def _terms(self, batch: int):
        return projection.kernel(self.m, self.chip, replace(self.w, input_tokens=CTX_REF, output_tokens=0,
                                                            batch=batch), "step")

    def weights_s(self, tokens: int) -> tuple[float, float]:
        """Time to read the weights ``tokens`` touch at 100 % bandwidth (all of a dense model; the experts they reach
        in a MoE), and the routed experts' share of it (read at their own MBU in ``projection.decode_step_s``)."""
        n = min(tokens, 4096) if self.m.moe is not None else 1
        if n not in self._w:
            t = self._terms(n)
            self._w[n] = (t.d_mem - t.d_kv, t.d_exp)
        return self._w[n]

    def step_s(self, decode_seqs: int, decode_ctx_tokens: int, prefill_tokens: int, prefill_flops: float) -> float:
        """One step: ``decode_seqs`` requests decoding over ``decode_ctx_tokens`` of context in all, and
        ``prefill_tokens`` of prompts whose prefill costs ``prefill_flops``; ``projection.decode_step_s`` (the
        roofline per operator) with the prefill's FLOPs added to the linear layers'."""
        tokens = decode_seqs + prefill_tokens
        w, exp = self.weights_s(tokens)
        lin = decode_seqs * self.lin1 + prefill_flops / self.prefill_peak
        kv = self.kv1 * (decode_ctx_tokens + prefill_tokens)  # reads for decode, writes for the prompt
        attn = self.attn1 * decode_ctx_tokens
        return (projection.decode_step_s(w, kv, lin, attn, self.eff, max(tokens, 1), expert_w_s=exp)
                + self.fixed + self.comm1 * tokens)


def requests(n: int, lengths: list[tuple[int, int]], rate: float | None, seed: int = 0) -> list[Request]:
    """``n`` requests cycling through ``lengths`` (input, output); all at t = 0 when ``rate`` is None (inf), else
    Poisson arrivals at ``rate`` per second (seeded, as a benchmark client sends them)."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for i in range(n):
        if rate is not None and i:
            t += rng.expovariate(rate)
        n_in, n_out = lengths[i % len(lengths)]
        out.append(Request(t, n_in, n_out))
    return out


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def simulate(reqs: list[Request], model: StepModel, max_num_seqs: int | None, max_num_batched_tokens: int,
             kv_capacity_tokens: int, chunked_prefill: bool = True, prefill_first: bool = False,
             max_prefill_seqs: int | None = None, decode_cap_only: bool = False) -> dict:
    """Run ``reqs`` through a continuous-batching scheduler; per-request times and the batch over time.

    ``prefill_first`` (vLLM V0 without chunked prefill, vLLM-Ascend's AscendScheduler, MindIE without split fuse):
    a step that admits new prompts runs only those prefills (whole prompts, at most ``max_num_batched_tokens`` of
    them and ``max_prefill_seqs`` requests); the requests already decoding wait for it. Otherwise (vLLM V1, SGLang)
    every step decodes the running requests and fills the rest of its token budget with prefill.
    ``decode_cap_only`` (MindIE's maxBatchSize, "the largest decode batch"): ``max_num_seqs`` caps the requests a
    decode step carries, first admitted first, not the requests admitted; those wait, prefilled, for a place."""
    m = model.m
    total_out = sum(r.output_tokens for r in reqs)
    if total_out > MAX_OUTPUT_TOKENS:
        raise InputError(f"the run would generate {total_out:,} output tokens, more than the simulation takes "
                         f"({MAX_OUTPUT_TOKENS:,}); lower --num-prompts or --output-tokens")
    for r in reqs:
        if r.input_tokens + r.output_tokens > kv_capacity_tokens:
            raise InputError(f"one request of {r.input_tokens} + {r.output_tokens} tokens does not fit the KV cache "
                             f"({kv_capacity_tokens:,} tokens); raise --accelerators or shorten the lengths")
        if (not chunked_prefill or prefill_first) and r.input_tokens > max_num_batched_tokens:
            raise InputError(f"a prompt of {r.input_tokens} tokens exceeds --max-num-batched-tokens "
                             f"{max_num_batched_tokens} without chunked prefill")
    cap = len(reqs) if decode_cap_only or not max_num_seqs else max_num_seqs
    decode_cap = max_num_seqs or len(reqs)
    n = len(reqs)
    # the fewest steps the run can take: a step prefills at most max_num_batched_tokens prompt tokens and decodes
    # one token for each of at most decode_cap requests (a prompt's last prefill step gives its first token); a run
    # that needs more than MAX_STEPS is refused now, not after simulating two million steps
    least = max(-(-sum(r.input_tokens for r in reqs) // max_num_batched_tokens), -(-(total_out - n) // decode_cap))
    if least > MAX_STEPS:
        raise InputError(f"the simulation would take at least {least:,} engine steps, more than {MAX_STEPS:,}; lower "
                         "--num-prompts or the lengths, or raise --max-num-seqs / --max-num-batched-tokens")
    prefilled = [0] * n
    generated = [0] * n
    first = [None] * n
    done = [None] * n
    queue, running = 0, []  # queue: index of the next request not yet admitted (they arrive in order)
    kv_used = 0
    t, steps, finished = 0.0, 0, 0
    series = []  # (t, requests in flight)
    while finished < n:
        if not running and queue < n and reqs[queue].arrival_s > t:
            t = reqs[queue].arrival_s  # idle until the next arrival
        budget = max_num_batched_tokens
        decoding = [i for i in running if prefilled[i] == reqs[i].input_tokens][:decode_cap]
        if not prefill_first:
            budget -= len(decoding)  # running requests first: each decoding one takes a token of the step
        chunks, p_tokens, p_flops = [], 0, 0.0

        def chunk(i: int, room: int) -> int:
            left = reqs[i].input_tokens - prefilled[i]
            return min(left, room) if chunked_prefill and not prefill_first else (left if left <= room else 0)

        for i in running:  # prompts already admitted, part-prefilled
            if prefilled[i] < reqs[i].input_tokens and budget > 0:
                c = chunk(i, budget)
                if c > 0:
                    chunks.append((i, c))
                    budget -= c
        while queue < n and reqs[queue].arrival_s <= t and len(running) < cap and budget > 0 \
                and (max_prefill_seqs is None or len(chunks) < max_prefill_seqs):
            r = reqs[queue]  # then new requests, in order, while the limits and the KV cache allow
            if kv_used + r.input_tokens + r.output_tokens > kv_capacity_tokens:
                break
            c = chunk(queue, budget)
            if c <= 0:
                break
            kv_used += r.input_tokens + r.output_tokens
            running.append(queue)
            chunks.append((queue, c))
            budget -= c
            queue += 1
        if prefill_first and chunks:
            decoding = []  # a prefill step: the decoding requests wait for it
        for i, c in chunks:
            p_flops += catalog.prefill_flops(m, prefilled[i] + c) - catalog.prefill_flops(m, prefilled[i])
            p_tokens += c
        ctx = sum(reqs[i].input_tokens + generated[i] for i in decoding)
        if not decoding and not chunks:
            raise InputError("the scheduler cannot make progress (a limit admits nothing); raise --max-num-seqs or "
                             "--max-num-batched-tokens")
        t += model.step_s(len(decoding), ctx, p_tokens, p_flops)
        steps += 1
        if steps > MAX_STEPS:
            raise InputError(f"the simulation would take more than {MAX_STEPS:,} engine steps; lower --num-prompts "
                             "or the lengths")
        for i in decoding:
            generated[i] += 1
        for i, c in chunks:
            prefilled[i] += c
            if prefilled[i] == reqs[i].input_tokens:
                generated[i] += 1  # the step that ends the prefill samples the first token
                first[i] = t
        still = []
        for i in running:
            if generated[i] >= reqs[i].output_tokens:
                done[i] = t
                finished += 1
                kv_used -= reqs[i].input_tokens + reqs[i].output_tokens
            else:
                still.append(i)
        running = still
        series.append((t, len(running)))
    start = min(r.arrival_s for r in reqs)
    span = max(done) - start
    out_tok = sum(r.output_tokens for r in reqs)
    in_tok = sum(r.input_tokens for r in reqs)
    ttft = [first[i] - reqs[i].arrival_s for i in range(n)]
    e2e = [done[i] - reqs[i].arrival_s for i in range(n)]
    tpot = [(done[i] - first[i]) / (reqs[i].output_tokens - 1) for i in range(n) if reqs[i].output_tokens > 1]
    return {"requests": n, "steps": steps, "duration_s": span, "output_tok_s": out_tok / span,
            "total_tok_s": (in_tok + out_tok) / span,
            "ttft_s": {"p50": _pct(ttft, 0.5), "p99": _pct(ttft, 0.99), "mean": _mean(ttft)},
            "tpot_s": {"p50": _pct(tpot, 0.5), "p99": _pct(tpot, 0.99), "mean": _mean(tpot)},
            "e2e_s": {"p50": _pct(e2e, 0.5), "p99": _pct(e2e, 0.99), "mean": _mean(e2e)},
            "max_batch": max(b for _, b in series), "batch_over_time": _sample(series, 20)}


def _sample(series: list[tuple[float, int]], points: int) -> list[dict]:
    """The batch in flight at ``points`` evenly spaced times of the run."""
    if not series:
        return []
    end = series[-1][0]
    out, j = [], 0
    for k in range(points):
        at = end * k / (points - 1) if points > 1 else end
        while j + 1 < len(series) and series[j][0] < at:
            j += 1
        out.append({"t_s": at, "batch": series[j][1]})
    return out


def kv_capacity_tokens(m, chip, w: projection.Shape) -> int:
    """KV-cache tokens one replica holds: (usable memory - weights) / KV bytes per token (``memory_fit``'s rule)."""
    fit = projection.memory_fit(m, chip, replace(w, input_tokens=1, output_tokens=0, batch=1))
    per_tok = fit["kv_bytes_per_seq"]
    return max(int((fit["usable_bytes"] - fit["weights_bytes"]) // per_tok), 0)


def project_run(m, chip, w: projection.Shape, profile, reqs: list[Request], max_num_seqs: int | None,
                max_num_batched_tokens: int, chunked_prefill: bool = True, limits_source: str = "given",
                prefill_first: bool = False, max_prefill_seqs: int | None = None,
                decode_cap_only: bool = False) -> dict:
    """The whole run projected on one replica of ``w.accelerators`` x ``chip`` with ``profile``: per accelerator
    throughputs and the latencies, each with the profile's band."""
    kv = kv_capacity_tokens(m, chip, w)
    sim = simulate(reqs, StepModel(m, chip, w, profile.efficiency), max_num_seqs, max_num_batched_tokens, kv,
                   chunked_prefill, prefill_first, max_prefill_seqs, decode_cap_only)
    f = profile.band_factor()
    band = (lambda v: None if f is None or v is None else [v / f, v * f])  # noqa: E731
    k = w.accelerators
    out = {"hardware": chip.id, "model": m.id, "dtype": w.dtype, "accelerators": k, "provenance": "projected",
           "max_num_seqs": max_num_seqs, "max_num_batched_tokens": max_num_batched_tokens,
           "chunked_prefill": chunked_prefill and not prefill_first, "prefill_first": prefill_first,
           "max_prefill_seqs": max_prefill_seqs, "max_num_seqs_caps": "decode batch" if decode_cap_only else
           "requests in flight", "scheduler_limits_source": limits_source,
           "kv_capacity_tokens": kv, **sim,
           "output_tok_s_per_accelerator": sim["output_tok_s"] / k, "total_tok_s_per_accelerator": sim["total_tok_s"] / k,
           "profile": profile.name, "profile_rows": profile.n_rows, "profile_band_factor": f,
           "evidence": profile.evidence()}
    for key in ("output_tok_s", "total_tok_s", "output_tok_s_per_accelerator", "total_tok_s_per_accelerator"):
        out[f"{key}_range"] = band(out[key])
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        out[key] = {**out[key], **{f"{q}_range": band(out[key][q]) for q in ("p50", "p99", "mean")}}
    return out
