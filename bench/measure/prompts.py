"""The one source of requests for every backend: random-token prompts from a seeded generator.

- offline backends get batches of token-id prompts (:func:`offline_batches`);
- online backends get :class:`~bench.measure.endpoint.loadgen.Request` objects whose prompt is token ids
  or text that the server's tokenizer turns back into the intended length (:func:`online_requests`).

Every run of the same config sees the same prompts, and no special tokens.
"""
from __future__ import annotations

import math
import random
from typing import Callable

from bench.measure.endpoint.loadgen import Request


def make_prompts(seed: int, case_id: str, batch: int, batch_size: int, input_tokens: int, vocab_size: int,
                 excluded: set[int]) -> list[list[int]]:
    """Fixed-length random-token prompts from a generator seeded by (seed, case, batch)."""
    rng = random.Random(f"{seed}:{case_id}:{batch}")
    allowed = [i for i in range(vocab_size) if i not in excluded] if excluded else None
    pick = (lambda: rng.choice(allowed)) if allowed else (lambda: rng.randrange(vocab_size))
    return [[pick() for _ in range(input_tokens)] for _ in range(batch_size)]


def offline_batches(workload, vocab_size: int, excluded: set[int]) -> list[list[list[int]]]:
    """The case's ``num_batches`` batches of ``batch_size`` prompts (empty for an online case)."""
    if not workload.batch_size:
        return []
    first = workload.trial * workload.num_batches  # trial k: fresh prompts, no prefix-cache hits from trial k-1
    return [make_prompts(workload.seed, workload.case_id, first + b, workload.batch_size, workload.input_tokens,
                         vocab_size, excluded) for b in range(workload.num_batches)]


def round_trip_vocab(tokenizer) -> list[int]:
    """Non-special token ids that decode to text which encodes back to the same single id (no partial
    UTF-8 bytes): random prompts built from them keep their length through the server's tokenizer.
    All non-special ids when fewer than 64 survive."""
    special = set(tokenizer.all_special_ids)
    ids = [i for i in range(len(tokenizer)) if i not in special]
    back = tokenizer(tokenizer.batch_decode([[i] for i in ids]), add_special_tokens=False)["input_ids"]
    clean = [i for i, b in zip(ids, back) if b == [i]]
    return clean if len(clean) >= 64 else ids


def text_of_length(ids: list[int], target: int, encode: Callable[[str], list[int]], decode: Callable[[list[int]], str],
                   pick: Callable[[], int], rounds: int = 20) -> tuple[str, int]:
    """Text whose re-encoding is ``target`` tokens long, from random token ids (as vLLM's random dataset
    does): decoded random ids seldom re-encode to as many tokens, so decode, re-encode, cut or pad with
    random ids, and repeat. Returns the text and the length it re-encodes to (``target`` unless the
    tokenizer never settles within ``rounds``)."""
    text = decode(ids)
    best: tuple[int, str, int] | None = None  # (miss, text, its length), the closest seen
    for _ in range(rounds + 1):
        enc = encode(text)
        miss = abs(len(enc) - target)
        if best is None or miss < best[0]:
            best = (miss, text, len(enc))
        if miss == 0:
            break
        over = max(len(enc) - target, 0)
        # too long: cut, and redraw as many tail tokens as it was over (a fixed cut can merge back the same way)
        enc = enc[:target - over] + [pick() for _ in range(over)] if over else enc + [
            pick() for _ in range(target - len(enc))]
        text = decode(enc)
    return best[1], best[2]


def online_requests(workload, n: int, tag: str, vocab: list[int], tokenizer, as_text: bool) -> list[Request]:
    """``n`` requests of random tokens: fixed length, or uniform in [min_ratio x ISL, ISL] (seeded by
    seed, case and ``tag``). ``as_text``: the prompt is text that ``tokenizer`` re-encodes to the drawn
    length; else the token ids themselves."""
    rng = random.Random(f"{workload.seed}:{workload.case_id}:{tag}")
    lo = max(1, math.ceil(workload.input_len_min_ratio * workload.input_tokens))
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    pick = lambda: rng.choice(vocab)  # noqa: E731
    out = []
    for i in range(n):
        length = rng.randint(lo, workload.input_tokens)
        prompt: str | list[int] = [pick() for _ in range(length)]
        if as_text:
            prompt, length = text_of_length(prompt, length, encode, tokenizer.decode, pick)
        out.append(Request(f"{workload.case_id}/{tag}{i}", prompt, length, workload.output_tokens))
    return out
