from __future__ import annotations
import random


def make_prompts(seed: int, case_id: str, batch: int, batch_size: int, input_tokens: int, vocab_size: int,
                 excluded: set[int]) -> list[list[int]]:
    """Fixed-length random-token prompts from a generator seeded by (seed, case, batch): every run of
    the same config sees the same prompts, and no special tokens."""
    rng = random.Random(f"{seed}:{case_id}:{batch}")
    allowed = [i for i in range(vocab_size) if i not in excluded] if excluded else None
    pick = (lambda: rng.choice(allowed)) if allowed else (lambda: rng.randrange(vocab_size))
    return [[pick() for _ in range(input_tokens)] for _ in range(batch_size)]
