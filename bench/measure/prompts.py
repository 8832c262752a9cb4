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


# ---------------------------------------------------------------------------- workload.dataset
class PromptSet(list):
    """One offline batch of prompt token ids, with each request's output length (a dataset's lengths
    differ per request; the random workload's batches are plain lists and use the case's length), and
    each request's session and turn (None where the dataset has none)."""

    def __init__(self, prompt_ids, output_tokens: list[int], session_ids: list | None = None,
                 turns: list | None = None):
        super().__init__(prompt_ids)
        self.output_tokens = list(output_tokens)
        self.session_ids = list(session_ids) if session_ids is not None else [None] * len(self)
        self.turns = list(turns) if turns is not None else [None] * len(self)


def label_records(records, batch) -> None:
    """Give each record of an offline batch its request's session and turn (per-turn TTFT): records come
    back in the batch's order. Plain batches (random prompts) have neither."""
    for rec, sid, turn in zip(records, getattr(batch, "session_ids", ()), getattr(batch, "turns", ())):
        rec.session_id, rec.turn = sid, turn


def output_tokens_of(batch, case_output_tokens):
    """The output length(s) a batch asks for: per request for a dataset batch, else the case's."""
    return getattr(batch, "output_tokens", None) or case_output_tokens


def token_source(backend, loaded, vocab: list[int] | None = None):
    """What a dataset needs from the loaded model: its prompt vocabulary, tokenizer and context."""
    from bench.workloads import TokenSource

    tok = backend.tokenizer
    if vocab is None:
        excluded = set(loaded.special_token_ids)
        vocab = [i for i in range(loaded.vocab_size) if i not in excluded]
    return TokenSource(vocab=vocab,
                       encode=(lambda text: tok.encode(text, add_special_tokens=False)) if tok is not None else None,
                       decode=tok.decode if tok is not None else None, max_model_len=backend.max_model_len)


def _block(ds, reqs) -> dict:
    from bench.workloads import describe

    return {"name": ds.name, "notes": list(ds.notes), **describe(reqs)}


def dataset_batches(workload, tokens) -> tuple[list[PromptSet], dict]:
    """Offline batches of ``batch_size`` requests from the case's dataset (earlier turns first), and the
    ``dataset`` block of the case's result (name, notes, sampled lengths, shared-prefix share)."""
    from bench.workloads import load_dataset

    ds = load_dataset(workload.dataset, tokens, workload.seed, n=workload.batch_size * workload.num_batches)
    reqs = sorted(ds.requests, key=lambda r: r.turn or 0)  # stable: a turn's history was sent before it
    bs = workload.batch_size
    sets = [PromptSet([r.prompt_ids for r in reqs[i:i + bs]], [r.output_tokens for r in reqs[i:i + bs]],
                      [r.session_id for r in reqs[i:i + bs]], [r.turn for r in reqs[i:i + bs]])
            for i in range(0, min(len(reqs), bs * workload.num_batches), bs)]
    if len(sets) < workload.num_batches:
        ds.notes.append(f"{len(sets)} batches, not {workload.num_batches}: the dataset has {len(reqs)} requests")
    return sets, _block(ds, reqs[:bs * len(sets)])


def dataset_requests(workload, n: int, tag: str, tokens, tokenizer, as_text: bool,
                     chat: bool = False) -> tuple[list[Request], dict]:
    """The case's dataset as the load generator sends it, and its ``dataset`` block. Only the measured load
    (tag "r") keeps sessions and arrival times; warm-up and SLO-search probes send the first ``n`` prompts
    as plain requests. Synthetic prompts become text that ``tokenizer`` re-encodes to their length.
    ``chat``: a multi-turn prompt also gets its history as alternating chat messages (``Request.messages``),
    each message's text built once, so that every later turn of the session repeats it word for word."""
    from bench.workloads import load_dataset

    ds = load_dataset(workload.dataset, tokens, workload.seed, n=n)
    keep = tag == "r"
    reqs = ds.requests if keep else ds.requests[:n]
    rng = random.Random(f"{workload.seed}:{workload.case_id}:{tag}")
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    pick = lambda: rng.choice(tokens.vocab)  # noqa: E731
    out = []
    texts: dict = {}
    for i, r in enumerate(reqs):
        msgs = chat_messages(r.messages, texts, encode, tokenizer.decode, pick) if chat and as_text and r.messages \
            else None
        if msgs is not None:  # what was built is each message's tokens (the server adds its chat template)
            prompt = "\n".join(m["content"] for m in msgs)
            length = sum(len(encode(m["content"])) for m in msgs)
        elif not as_text:
            prompt, length = r.prompt_ids, r.input_tokens
        elif r.text is not None:
            prompt, length = r.text, r.input_tokens
        else:  # text that the server's tokenizer turns back into the dataset's length
            prompt, length = text_of_length(r.prompt_ids, r.input_tokens, encode, tokenizer.decode, pick)
        out.append(Request(f"{workload.case_id}/{tag}{i}", prompt, length, r.output_tokens,
                           arrival_s=r.arrival_s if keep else None, session_id=r.session_id if keep else None,
                           turn=r.turn if keep else None, think_time_s=r.think_time_s if keep else 0.0,
                           messages=msgs))
    return out, _block(ds, reqs)


def chat_messages(messages, texts: dict, encode, decode, pick) -> list[dict]:
    """A request's history as chat messages: each message's own text, or, for token ids, text that
    re-encodes to their length, built once per distinct message (``texts`` caches it), so the same
    history message is the same text in every later turn (a prefix cache can reuse it)."""
    out = []
    for m in messages:
        if m.text is not None:
            content = m.text
        else:
            key = tuple(m.ids)
            if key not in texts:
                texts[key] = text_of_length(m.ids, len(m.ids), encode, decode, pick)[0]
            content = texts[key]
        out.append({"role": m.role, "content": content})
    return out
