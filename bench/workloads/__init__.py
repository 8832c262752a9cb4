"""Workloads: where the requests of a case come from (``workload.dataset``).

``load_dataset(spec, tokens, seed, n)`` turns one dataset spec into a ``Dataset``: a plain list of
``WorkRequest`` (prompt token ids, output length, and optionally text, session, turn, arrival time)
plus notes. One module per kind holds its spec and its sampler, named in ``registry``; ``sampling``
holds the filters, the seeded sampler, the context clip and the shape statistics. Every backend consumes the same list.
"""
from __future__ import annotations

from bench.workloads import registry
from bench.workloads.request import Dataset, DatasetError, TokenSource, WorkRequest
from bench.workloads.sampling import clip_to_context, describe, length_filter, sample

SOURCES = tuple(registry.DATASETS)


def load_dataset(spec, tokens: TokenSource, seed: int, n: int | None = None, *, input_tokens: int | None = None,
                 output_tokens: int | None = None) -> Dataset:
    """The requests of ``spec`` (a ``workload.dataset`` model): read or generated, filtered, sampled to
    ``n`` (seeded; None: all; conversations and traces keep all their requests, traces up to
    ``max_requests``) and clipped to the context. Raises DatasetError when nothing is left."""
    kind = spec.kind
    source = registry.module(kind)
    reqs, notes = source.requests(spec, tokens, seed, n, input_tokens, output_tokens)
    notes = list(notes)
    total = len(reqs)
    reqs, dropped = length_filter(reqs, spec)
    if dropped:
        notes.append(f"{dropped} of {total} requests outside the length filter dropped")
    if not reqs:
        where = getattr(spec, "path", None) or f"workload.dataset ({kind})"
        raise DatasetError(f"{where}: no requests left after filtering ({total} read, {dropped} outside "
                           "min/max_input_tokens or max_output_tokens); widen the filter or check the file")
    if source.SAMPLED:
        before = len(reqs)
        reqs = sample(reqs, n, seed)
        if n is not None and before < n:
            notes.append(f"the dataset has {before} requests, fewer than the {n} asked for: all are used once")
    clipped = clip_to_context(reqs, tokens.max_model_len)
    if clipped:
        notes.append(f"{clipped} prompts clipped to fit the model's context ({tokens.max_model_len} tokens "
                     "with the output)")
    return Dataset(kind, reqs, notes)


def preflight_datasets(specs, shapes: dict | None = None) -> list[str]:
    """Problems with dataset files, found before any model loads: a missing, special, oversized, binary or
    malformed file (with its line), a row without lengths or with a length, number or time out of range,
    unsorted or far-apart trace timestamps. Reads each file once through the bounded reader with a stand-in
    tokenizer (one token per word) that draws no tokens, and no length filter: the filter's outcome needs
    the real tokenizer and is checked when the case runs. ``shapes``, when given, gets each dataset's
    ``schedule.DatasetShape`` by its index (what the schedule bound needs)."""
    from bench.workloads.schedule import DatasetShape

    problems = []
    for i, spec in enumerate(specs):
        if spec.kind == "conversation" and shapes is not None:
            shapes[i] = DatasetShape(spec.sessions * spec.turns, spec.sessions, None,
                                     (spec.turns - 1) * spec.think_time_s)
        if getattr(spec, "path", None) is None:
            continue
        stub = TokenSource(vocab=[3], encode=lambda text: [3] * len(text.split()), count_only=True)
        try:
            ds = load_dataset(spec.model_copy(update={"min_input_tokens": None, "max_input_tokens": None,
                                                      "max_output_tokens": None}), stub, 0)
        except DatasetError as exc:
            problems.append(str(exc))
            continue
        if shapes is not None:
            reqs = ds.requests
            arrivals = [r.arrival_s for r in reqs if r.arrival_s is not None]
            sessions = {r.session_id for r in reqs if r.session_id is not None}
            firsts = len(sessions) + sum(1 for r in reqs if r.session_id is None)
            shapes[i] = DatasetShape(len(reqs), firsts, max(arrivals) if arrivals else None)
    return problems


__all__ = ["preflight_datasets", "Dataset", "DatasetError", "TokenSource", "WorkRequest", "SOURCES", "describe", "load_dataset"]
