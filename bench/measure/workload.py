"""What one case asks of a backend: the hand-off from the config to the measurement.

Backends receive a :class:`CaseWorkload`, never the whole ``BenchConfig``. (``config.schema.Workload``
is the sweep as the user wrote it; a ``CaseWorkload`` is one point of it.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.config.cases import Case


@dataclass(frozen=True)
class CaseWorkload:
    case_id: str
    kind: str  # load | slo-search
    input_tokens: int | None  # per request (online: the upper end when input_len_min_ratio < 1); None: dataset
    output_tokens: int | None  # per request; None: each request's own, from the dataset
    seed: int
    # offline (run_batch): batches of `batch_size` prompts, `num_batches` of them, `repeats` times
    batch_size: int = 0
    num_batches: int = 0
    warmup_batches: int = 0
    repeats: int = 1
    # online (run_load): `num_prompts` requests at `request_rate` with at most `concurrency` in flight
    concurrency: int | None = None  # None: no cap
    request_rate: float = float("inf")  # requests/s; inf = all at once
    num_prompts: int = 0
    warmup_requests: int = 0
    input_len_min_ratio: float = 1.0
    arrival: str = "poisson"
    burstiness: float = 1.0
    slo_limits_ms: dict[str, float] = field(default_factory=dict)
    slo_search: Any = None  # config.schema.SloSearch for a slo-search case
    trial: int = 0  # which trial of the case (workload.trials): each trial gets fresh prompts
    dataset: Any = None  # the case's workload.dataset spec; None for random prompts (the fields above)
    rate_ramp: tuple[float, float, float] | None = None  # online: (from rps, to rps, over s) for the measured load
    clients: int = 1  # online: client processes sending the measured load (workload.clients)
    client_placement: str = "local"  # local processes, or Ray actors spread over the cluster

    @classmethod
    def of(cls, case: Case, w) -> "CaseWorkload":
        """The workload of ``case`` under the config's workload section ``w``."""
        return cls(case_id=case.case_id, kind=case.kind, input_tokens=case.input_tokens,
                   output_tokens=case.output_tokens, seed=w.seed, batch_size=case.batch_size or 0,
                   num_batches=case.num_batches, warmup_batches=w.warmup, repeats=w.repeats,
                   concurrency=case.concurrency,
                   request_rate=case.request_rate if case.request_rate is not None else float("inf"),
                   num_prompts=w.num_prompts, warmup_requests=w.warmup_requests,
                   input_len_min_ratio=w.input_len_min_ratio, arrival=w.arrival, burstiness=w.burstiness,
                   slo_limits_ms=w.slo.limits_ms() if w.slo is not None else {}, slo_search=w.slo_search,
                   dataset=_dataset(case, w), rate_ramp=_ramp(w), clients=getattr(w, "clients", 1),
                   client_placement=getattr(w, "client_placement", "local"))


def _dataset(case: Case, w):
    spec = w.datasets()[case.dataset_index]
    return None if spec.kind == "random" else spec


def _ramp(w) -> tuple[float, float, float] | None:
    r = w.request_rate_ramp
    return (r.from_rps, r.to_rps, r.over_s) if r is not None else None
