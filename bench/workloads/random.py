"""``random``: fixed-length random-token prompts (the default, and what every config did before datasets)."""
from __future__ import annotations

from typing import Literal

from bench.workloads.request import TokenSource, WorkRequest, random_ids
from bench.workloads.spec import DatasetSpec


class RandomDataset(DatasetSpec):
    """Today's behaviour: random tokens of workload.input_tokens / output_tokens."""

    kind: Literal["random"] = "random"


SPEC = RandomDataset

SAMPLED = False  # load_dataset samples its requests down to n


def requests(spec, tok: TokenSource, seed: int, n, input_tokens, output_tokens):
    return load(n or 1, input_tokens, output_tokens, tok, seed), []


def load(n: int, input_tokens: int, output_tokens: int, tok: TokenSource, seed: int, tag: str = "") -> list[WorkRequest]:
    return [WorkRequest(random_ids(tok, input_tokens, f"{seed}:random:{tag}:{i}"), output_tokens) for i in range(n)]
