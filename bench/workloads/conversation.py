"""``conversation``: multi-turn sessions. Turn t's prompt is the whole history (every earlier user and
assistant message) plus the new user message; online, it is sent only after turn t-1's answer arrived
plus ``think_time_s``. The history's assistant messages are the dataset's own fixed tokens, not the
model's answers, so every prompt length is known before the run and identical across runs."""
from __future__ import annotations

from bench.workloads.request import TokenSource, WorkRequest, random_ids


def load(spec, tok: TokenSource, seed: int) -> list[WorkRequest]:
    out = []
    for s in range(spec.sessions):
        history: list[int] = []
        for t in range(1, spec.turns + 1):
            user = random_ids(tok, spec.user_tokens, f"{seed}:conv:{s}:{t}:user")
            out.append(WorkRequest(history + user, spec.assistant_tokens, session_id=f"s{s}", turn=t,
                                   think_time_s=spec.think_time_s if t > 1 else 0.0))
            history = history + user + random_ids(tok, spec.assistant_tokens, f"{seed}:conv:{s}:{t}:assistant")
    return out
