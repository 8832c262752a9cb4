"""``random``: fixed-length random-token prompts (the default, and what every config did before datasets)."""
from __future__ import annotations

from bench.workloads.request import TokenSource, WorkRequest, random_ids


def load(n: int, input_tokens: int, output_tokens: int, tok: TokenSource, seed: int, tag: str = "") -> list[WorkRequest]:
    return [WorkRequest(random_ids(tok, input_tokens, f"{seed}:random:{tag}:{i}"), output_tokens) for i in range(n)]
