"""The typed hand-off from a dataset to a backend: one ``WorkRequest`` per request to send."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from bench.errors import ConfigError


class DatasetError(ConfigError):
    """A dataset file or spec that cannot be used: the message names the file, the line and the fix."""


@dataclass
class Message:
    """One message of a multi-turn prompt, for chat endpoints: its role (``user``, ``assistant``,
    ``system``), and its token ids (synthetic sources) or its text (text sources; ``ids`` then empty)."""

    role: str
    ids: list[int]
    text: str | None = None


@dataclass
class WorkRequest:
    """One request of a workload. ``prompt_ids`` are always set (their length is the request's input
    tokens); ``text`` is set for text sources (ShareGPT, a jsonl ``prompt``) and is what an endpoint sends."""

    prompt_ids: list[int]
    output_tokens: int
    text: str | None = None
    session_id: str | None = None  # requests of one session are sent one after another (online)
    turn: int | None = None  # 1-based turn within the session
    arrival_s: float | None = None  # intended send time, seconds after the start (traces; scaled by speedup)
    think_time_s: float = 0.0  # online: pause after the previous turn's answer before this one is sent
    prefix_id: str | None = None
    # Multi-turn sources (conversation, sharegpt turns: all): the prompt as chat messages, history first
    # (alternating user/assistant); ``prompt_ids`` is their concatenation (text sources: the tokens of the
    # texts joined by newlines, what a completions endpoint gets). None: one user message.
    messages: list[Message] | None = None

    @property
    def input_tokens(self) -> int:
        return len(self.prompt_ids)


@dataclass
class TokenSource:
    """What a dataset needs from the model's tokenizer. ``vocab``: ids that synthetic prompts draw from
    (no special tokens); ``encode``/``decode``: None when the backend has no tokenizer (only synthetic
    sources work then); ``max_model_len``: the context, None when unknown."""

    vocab: list[int]
    encode: Callable[[str], list[int]] | None = None
    decode: Callable[[list[int]], str] | None = None
    max_model_len: int | None = None
    # preflight: only the file's rows are checked, no token is generated (``random_ids`` gives [])
    count_only: bool = False
    generated: int = 0  # prompt tokens generated so far, bounded by limits.MAX_DATASET_TOKENS

    def spend(self, n: int) -> int:
        """Count ``n`` prompt tokens about to be built (cut to the context, which the prompt is clipped to
        anyway); returns how many to build. Past MAX_DATASET_TOKENS in all: a DatasetError."""
        from bench.config import limits

        if self.max_model_len:
            n = min(n, self.max_model_len)
        self.generated += n
        if self.generated > limits.MAX_DATASET_TOKENS:
            raise DatasetError(f"the dataset asks for more than {limits.MAX_DATASET_TOKENS:,} prompt tokens in all "
                               "(bench/config/limits.py MAX_DATASET_TOKENS); use fewer or shorter rows, or "
                               "max_requests / max_input_tokens")
        return n

    def need_encode(self, source: str) -> Callable[[str], list[int]]:
        if self.encode is None:
            raise DatasetError(f"workload.dataset '{source}': this backend has no tokenizer to count the text's tokens; "
                               "use a model with a tokenizer, or a synthetic source (prefix, conversation, trace, "
                               "jsonl with prompt_tokens)")
        return self.encode


@dataclass
class Dataset:
    name: str
    requests: list[WorkRequest]
    notes: list[str] = field(default_factory=list)


def random_ids(tok: TokenSource, n: int, key: str) -> list[int]:
    """``n`` token ids drawn from the vocabulary by a generator seeded by ``key`` (same key, same ids)."""
    if tok.count_only:
        return []
    n = tok.spend(n)
    rng = random.Random(key)
    vocab = tok.vocab
    return [vocab[rng.randrange(len(vocab))] for _ in range(n)]
