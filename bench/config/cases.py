from __future__ import annotations
import itertools
import re
from collections import Counter
from typing import Literal
from pydantic import (BaseModel, ConfigDict)
from bench.errors import ConfigError
from bench.config.limits import MAX_CASES
from bench.config.schema import BenchConfig, ModelSpec


class Case(BaseModel):
    """One point of the sweep: a model under one workload shape."""

    model_config = ConfigDict(frozen=True)
    case_id: str
    model: ModelSpec
    input_tokens: int | None  # None: per request, from workload.dataset
    output_tokens: int | None
    num_batches: int
    batch_size: int | None = None  # offline cases: requests per batch; None for online cases
    concurrency: int | None = None  # online cases: the cap on requests in flight; None = no cap
    request_rate: float | None = None  # requests/s; inf = all at once; None with a rate ramp
    kind: Literal["load", "slo-search"] = "load"
    dataset: str = "random"  # the dataset's label: its kind (kind + index when a sweep repeats a kind)
    dataset_index: int = 0  # which of workload.datasets() the case draws from


def _as_list(v) -> list[int]:
    return list(v) if isinstance(v, list) else [v]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def _rate_id(rate: float) -> str:
    return "inf" if rate == float("inf") else f"{rate:g}"


def _labels(cfg: BenchConfig) -> list[str]:
    kinds = [d.kind for d in cfg.workload.datasets()]
    return [k if kinds.count(k) == 1 else f"{k}{i}" for i, k in enumerate(kinds)]


def expand(cfg: BenchConfig) -> list[Case]:
    """Cartesian product of the models and every list-valued sweep field, in a stable order:
    offline backends sweep batch sizes; the openai backend sweeps concurrency x request rate; a list of
    datasets repeats that for each."""
    n = sweep_size(cfg)
    if n > MAX_CASES:
        raise ConfigError(f"workload: the sweep has {n:,} cases, more than the limit of {MAX_CASES:,}; split it into "
                          "several configs or shorten its lists")
    cases = []
    for di, ds in enumerate(_labels(cfg)):
        cases += _expand_one(cfg, ds, di)
    counts = Counter(c.case_id for c in cases)  # linear: a set, never list.count
    dupes = sorted(i for i, k in counts.items() if k > 1)
    if dupes:  # e.g. two model paths with the same directory name
        raise ConfigError(f"two cases get the same id {dupes[0]}" + (f" (and {len(dupes) - 1} more)" if dupes[1:] else "")
                          + "; give the models different labels (directory names) or remove the repeat")
    return cases


def _lengths(cfg: BenchConfig, di: int) -> list[tuple]:
    w = cfg.workload
    if w.datasets()[di].kind != "random":
        return [(None, None)]  # the dataset carries each request's lengths
    return list(itertools.product(_as_list(w.input_tokens), _as_list(w.output_tokens)))


def _expand_one(cfg: BenchConfig, ds: str, di: int) -> list[Case]:
    w = cfg.workload
    lengths = _lengths(cfg, di)
    cases: list[Case] = []

    def shape(n_in, n_out) -> str:
        return f"in{n_in}_out{n_out}" if n_in is not None else ds
    for m in cfg.models:
        if cfg.backend.kind != "openai":
            for bs, (n_in, n_out) in itertools.product(w.batch_sizes, lengths):
                cid = f"{_slug(m.label)}_bs{bs}_{shape(n_in, n_out)}"
                cases.append(Case(case_id=cid, model=m, batch_size=bs, input_tokens=n_in, output_tokens=n_out,
                                  num_batches=w.batches_for(bs), dataset=ds, dataset_index=di))
            continue
        concs = w.concurrency or ([] if w.slo_search and not w.request_rates else [None])
        ramp = w.request_rate_ramp
        rates = [None] if ramp else [float(r) for r in (w.request_rates or ["inf"])]
        if w.concurrency or w.request_rates or ramp or not w.slo_search:
            for c, r, (n_in, n_out) in itertools.product(concs, rates, lengths):
                rid = f"ramp{ramp.from_rps:g}-{ramp.to_rps:g}" if ramp else _rate_id(r)
                cid = f"{_slug(m.label)}_c{c or 'max'}_r{rid}_{shape(n_in, n_out)}"
                cases.append(Case(case_id=cid, model=m, input_tokens=n_in, output_tokens=n_out,
                                  num_batches=1, concurrency=c, request_rate=r, dataset=ds, dataset_index=di))
        if w.slo_search:
            for n_in, n_out in lengths:
                cid = f"{_slug(m.label)}_slo-search-{w.slo_search.over}_{shape(n_in, n_out)}"
                cases.append(Case(case_id=cid, model=m, input_tokens=n_in, output_tokens=n_out,
                                  num_batches=1, kind="slo-search", dataset=ds, dataset_index=di))
    return cases


def sweep_size(cfg: BenchConfig) -> int:
    """How many cases ``expand`` makes, counted without building them."""
    w = cfg.workload
    total = 0
    for di in range(len(w.datasets())):
        lengths = len(_lengths(cfg, di))
        if cfg.backend.kind != "openai":
            per_model = len(w.batch_sizes or []) * lengths
        else:
            per_model = 0
            if w.concurrency or w.request_rates or w.request_rate_ramp or not w.slo_search:
                per_model += len(w.concurrency or [None]) * (1 if w.request_rate_ramp else len(w.request_rates or ["inf"])) * lengths
            if w.slo_search:
                per_model += lengths
        total += len(cfg.models) * per_model
    return total
