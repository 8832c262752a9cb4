"""Serving engines' default scheduler limits (``bench/catalog/data/engines.yaml``), each with its source."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from bench.errors import InputError


@functools.cache
def _doc() -> dict:
    return yaml.safe_load(resources.files("bench.catalog.data").joinpath("engines.yaml").read_text())


def data() -> dict:
    return _doc()["engines"]


@dataclass(frozen=True)
class Limits:
    """A scheduler's limits: requests in flight (None: the KV cache decides), tokens per step, and how it schedules
    prefill (``prefill_first``: a step that admits prompts runs only prefills, at most ``max_prefill_seqs``)."""

    max_num_seqs: int | None
    max_num_batched_tokens: int
    chunked_prefill: bool
    source: str
    label: str = ""  # engine and version, for tables
    prefill_first: bool = False
    max_prefill_seqs: int | None = None
    decode_cap_only: bool = False  # max_num_seqs caps the decode batch only (MindIE's maxBatchSize), not admission


MAX_MODEL_LEN = "max_model_len"  # a tier's max_num_batched_tokens that is the model's context (no chunked prefill)


def _entry(engine: str, version: str | None, mla: bool = False) -> dict:
    """The engine's entry, with the fields of the ``versions`` block that lists ``version`` laid over it."""
    e = data().get(engine)
    if e is None:
        raise InputError(f"no scheduler defaults for engine '{engine}' (known: {', '.join(data())}); give "
                         "--max-num-seqs and --max-num-batched-tokens")
    v = str(version).strip().lstrip("vV") if version is not None else None
    for block in e.get("versions", []):
        if v is not None and v in [str(x) for x in block["match"]] and not (mla and block.get("non_mla_only")):
            return {**{k: x for k, x in e.items() if k != "versions"}, **{k: x for k, x in block.items()
                                                                            if k != "match"}}
    return e


def defaults(engine: str, chip, version: str | None = None, context_length: int | None = None,
             mla: bool = False) -> Limits:
    """``engine``'s default limits on ``chip`` (the tier of its memory), for ``version`` where the data tells
    versions apart; an InputError for an engine with none. ``context_length``: the model's, for a tier whose token
    budget is the model's context (``max_model_len``); ``mla``: the model uses MLA attention (a ``non_mla_only`` version
    block does not apply to it)."""
    e = _entry(engine, version, mla)
    tier = None
    for t in e["tiers"]:
        if chip.memory_gb >= t["min_memory_gb"] and chip.id not in t.get("except", []):
            tier = t
    toks = tier["max_num_batched_tokens"]
    if toks == MAX_MODEL_LEN:
        if context_length is None:
            raise InputError(f"{engine} {e['version']}: the step's token budget is the model's context; give "
                             "--max-num-batched-tokens")
        toks = int(context_length)
    # a version asked for that no `versions` block lists runs on the engine's own defaults, and says so
    unlisted = ""
    if version is not None and e is data().get(engine):
        v = str(version).strip().lstrip("vV")
        mla_only = any(v in [str(x) for x in b["match"]] for b in e.get("versions", []))  # skipped: an MLA model
        unlisted = f"; version {version}: " + ("its engines.yaml defaults are for non-MLA models, this one keeps the "
                                               "engine's" if mla_only else "engines.yaml lists no other defaults for it")
    return Limits(tier["max_num_seqs"], toks, bool(e["chunked_prefill"]),
                  f"{engine} {e['version']}{unlisted}: {e['source']}", f"{engine} defaults, {e['version']}{unlisted}",
                  bool(e.get("prefill_first", False)), tier.get("max_prefill_seqs"),
                  e.get("max_num_seqs_caps", "requests") == "decode batch")


@dataclass(frozen=True)
class MaxLoad:
    """How an engine sizes the batch of a maximum-throughput run (``engines.yaml`` ``max_load``): its KV cache gets
    ``kv_memory_fraction`` of the replica's memory (``kv_memory_of`` "total": the fraction bounds weights and KV
    together; "free": the fraction of what the weights leave), each request holds ``kv_tokens_per_request`` of it,
    ``kv_head_copies``: a model with fewer KV heads than tensor-parallel ranks stores copies (``projection.kv_replicas``);
    the batch is at most ``max_batch`` and ``max_num_tokens`` / (1 + input/output) (None: no such cap)."""

    engine: str
    label: str
    kv_memory_fraction: float
    kv_memory_of: str
    kv_per_request: str
    kv_head_copies: bool
    max_batch: int
    max_num_tokens: int | None
    source: str

    def kv_tokens_per_request(self, input_tokens: int, output_tokens: int) -> float:
        """KV-cache tokens one request holds in a steady state: its whole sequence when the scheduler reserves it at
        admission ("full"), else the input and half the output, the mean over a request's life ("mean")."""
        return input_tokens + (output_tokens if self.kv_per_request == "full" else output_tokens / 2)


FIELD_MAX_LOAD = "field"


def max_load(engine: str | None, chip, version: str | None = None) -> MaxLoad:
    """``engine``'s rule for sizing a maximum-throughput batch on ``chip``; the field rule (the projection's own)
    for None or an engine the data has no rule for. A ``max_batch`` of "max_num_seqs" is the engine's scheduler tier
    for ``chip`` (``defaults``)."""
    rules = _doc()["max_load"]
    name = engine if engine in rules else FIELD_MAX_LOAD
    r = rules[name]
    cap = r["max_batch"]
    if cap == "max_num_seqs":
        cap = defaults(name, chip, version).max_num_seqs
    return MaxLoad(name, r["label"], float(r["kv_memory_fraction"]), r["kv_memory_of"], r["kv_per_request"],
                   bool(r["kv_head_copies"]), int(cap), r["max_num_tokens"], f"{r['label']}: {r['source']}")
