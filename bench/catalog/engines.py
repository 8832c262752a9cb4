"""Serving engines' default scheduler limits (``bench/catalog/data/engines.yaml``), each with its source."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from bench.errors import InputError


@functools.cache
def data() -> dict:
    return yaml.safe_load(resources.files("bench.catalog.data").joinpath("engines.yaml").read_text())["engines"]


@dataclass(frozen=True)
class Limits:
    """A scheduler's limits: requests in flight (None: the KV cache decides) and tokens per step."""

    max_num_seqs: int | None
    max_num_batched_tokens: int
    chunked_prefill: bool
    source: str
    label: str = ""  # engine and version, for tables


def defaults(engine: str, chip) -> Limits:
    """``engine``'s default limits on ``chip`` (the tier of its memory); an InputError for an engine with none."""
    e = data().get(engine)
    if e is None:
        raise InputError(f"no scheduler defaults for engine '{engine}' (known: {', '.join(data())}); give "
                         "--max-num-seqs and --max-num-batched-tokens")
    tier = None
    for t in e["tiers"]:
        if chip.memory_gb >= t["min_memory_gb"] and chip.id not in t.get("except", []):
            tier = t
    return Limits(tier["max_num_seqs"], tier["max_num_batched_tokens"], bool(e["chunked_prefill"]),
                  f"{engine} {e['version']}: {e['source']}", f"{engine} defaults, {e['version']}")
