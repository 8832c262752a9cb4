"""``prefix``: synthetic shared system prompts. Each request is one of ``num_prefixes`` fixed prefixes
(chosen by a seeded generator) followed by its own random suffix: a prefix cache can reuse the prefix."""
from __future__ import annotations

import random
from typing import Literal

from bench.config.types import Count, Tokens
from bench.workloads.request import TokenSource, WorkRequest, random_ids
from bench.workloads.spec import DatasetSpec


class PrefixDataset(DatasetSpec):
    kind: Literal["prefix"]
    num_prefixes: Count = 4
    prefix_tokens: Tokens = 128
    suffix_tokens: Tokens = 32
    output_tokens: Tokens = 32


SPEC = PrefixDataset

SAMPLED = False  # load_dataset samples its requests down to n


def requests(spec, tok: TokenSource, seed: int, n, input_tokens, output_tokens):
    return load(spec, n, tok, seed), []


def load(spec, n: int | None, tok: TokenSource, seed: int) -> list[WorkRequest]:
    n = n or spec.num_prefixes * 8
    rng = random.Random(f"{seed}:prefix-choice")
    prefixes = [random_ids(tok, spec.prefix_tokens, f"{seed}:prefix:{p}") for p in range(spec.num_prefixes)]
    out = []
    for i in range(n):
        p = rng.randrange(spec.num_prefixes)
        ids = prefixes[p] + random_ids(tok, spec.suffix_tokens, f"{seed}:suffix:{i}")
        out.append(WorkRequest(ids, spec.output_tokens, prefix_id=f"p{p}"))
    return out
