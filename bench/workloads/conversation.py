"""``conversation``: multi-turn sessions. Turn t's prompt is the whole history (every earlier user and
assistant message) plus the new user message; online, it is sent only after turn t-1's answer arrived
plus ``think_time_s``. The history's assistant messages are the dataset's own fixed tokens, not the
model's answers, so every prompt length is known before the run and identical across runs."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench.config.types import Count, Tokens
from bench.workloads.request import Message, TokenSource, WorkRequest, random_ids
from bench.workloads.spec import DatasetSpec


class ConversationDataset(DatasetSpec):
    kind: Literal["conversation"]
    sessions: Count = 4
    turns: Count = 3
    user_tokens: Tokens = 32
    assistant_tokens: Tokens = 32
    think_time_s: float = Field(default=0.0, ge=0, le=3600)


SPEC = ConversationDataset

SAMPLED = False  # load_dataset samples its requests down to n


def requests(spec, tok: TokenSource, seed: int, n, input_tokens, output_tokens):
    return load(spec, tok, seed), []


def load(spec, tok: TokenSource, seed: int) -> list[WorkRequest]:
    out = []
    for s in range(spec.sessions):
        history: list[Message] = []
        for t in range(1, spec.turns + 1):
            user = Message("user", random_ids(tok, spec.user_tokens, f"{seed}:conv:{s}:{t}:user"))
            msgs = [*history, user]
            out.append(WorkRequest([i for m in msgs for i in m.ids], spec.assistant_tokens, session_id=f"s{s}",
                                   turn=t, think_time_s=spec.think_time_s if t > 1 else 0.0, messages=msgs))
            history = [*msgs, Message("assistant", random_ids(tok, spec.assistant_tokens,
                                                              f"{seed}:conv:{s}:{t}:assistant"))]
    return out
