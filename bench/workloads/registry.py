"""The dataset kinds, keyed by ``workload.dataset.kind``: one line each, naming the module that holds the
kind's spec and its sampler (lazy, as lm-evaluation-harness registers its tasks). ``bench/config/schema.py``
composes the specs into the ``workload.dataset`` union from here; ``load_dataset`` looks the sampler up
here. Adding a kind: one module (see ``bench/workloads/spec.py``) and one line below.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from bench.workloads.request import DatasetError

DATASETS = {
    "random": "bench.workloads.random",
    "sharegpt": "bench.workloads.sharegpt",
    "jsonl": "bench.workloads.jsonl",
    "prefix": "bench.workloads.prefix",
    "conversation": "bench.workloads.conversation",
    "trace": "bench.workloads.trace",
}


def module(kind: str) -> ModuleType:
    """The module of a dataset kind; an unknown kind is a DatasetError listing the known ones."""
    if kind not in DATASETS:
        raise DatasetError(f"workload.dataset.kind '{kind}' is unknown; known: {', '.join(DATASETS)}")
    return importlib.import_module(DATASETS[kind])


def specs() -> tuple[type, ...]:
    """Every kind's spec class, in registry order (the config schema's union)."""
    return tuple(module(kind).SPEC for kind in DATASETS)
