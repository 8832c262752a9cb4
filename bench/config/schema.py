"""Benchmark configuration: pydantic models (pure validation) and their expansion into cases.

Validators touch no environment, network or device; ``bench.preflight`` checks the machine. The parts
live beside what they configure or in their own module: the model base and bounded number types in
``config/types.py``, the backend specs in ``config/backends.py``, the energy sources' specs in
``config/energy.py`` (each beside its source, named in ``bench/measure/energy_registry.py``), each dataset spec
in its ``bench/workloads/<kind>.py`` (composed here from ``bench/workloads/registry.py``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (ConfigDict, Field, field_validator,
                      model_validator)

from bench.config import limits
from bench.config.backends import DEVICE_RE, Backend, OpenAIBackend, TransformersBackend, VllmBackend  # noqa: F401
from bench.config.energy import SOURCE_KINDS, Energy, default_energy, energy_spec  # noqa: F401
from bench.measure.trackers.prometheus_spec import PrometheusEnergy  # noqa: F401
from bench.config.types import BatchSize, Count, Seconds, Seed, Strict as _Strict, Tokens
from bench.catalog import models as catalog
from bench.workloads import registry as workload_registry

def _no_repeats(name: str, v):
    """A sweep list naming one value twice would run the same case twice: refused with the value."""
    if isinstance(v, list):
        seen = set()
        for x in v:
            if x in seen:
                raise ValueError(f"{name} lists {x} twice; remove the repeat")
            seen.add(x)
    return v


class ModelSpec(_Strict):
    """One model to benchmark: ``tiny:<arch>``, a catalog id with ``weights: random``, or a local ``path``."""

    id: str | None = Field(default=None, min_length=1, max_length=limits.MAX_ID_CHARS)
    path: str | None = Field(default=None, min_length=1, max_length=4096)
    weights: Literal["random", "local"] | None = None
    seed: Seed = 0  # weight-initialisation seed for random weights

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v.startswith(("/", "./", "../", "~")):
                return {"path": v}
            return {"id": v}
        return v

    @model_validator(mode="after")
    def _check(self) -> "ModelSpec":
        if (self.id is None) == (self.path is None):
            raise ValueError("give exactly one of 'id' (tiny:<arch> or a catalog id) or 'path' (a local directory)")
        if self.path is not None:
            if self.weights == "random":
                raise ValueError("'weights: random' needs a catalog 'id', not a 'path'")
            self.weights = "local"
            return self
        if self.id.startswith("tiny:"):
            arch = self.id.split(":", 1)[1]
            if arch not in catalog.TINY:
                raise ValueError(f"tiny architecture '{arch}' is unknown; known: {', '.join(catalog.TINY)}")
            self.weights = "random"
            return self
        entry = catalog.models().get(self.id)
        if entry is None:
            raise ValueError(f"model id '{self.id}' is unknown; known: tiny:<{'|'.join(catalog.TINY)}> or "
                             f"{', '.join(catalog.models())}")
        if self.weights != "random":
            raise ValueError(f"catalog model '{self.id}' needs 'weights: random' (nothing is downloaded) "
                             "or use 'path:' for local real weights")
        if entry.model_type not in catalog.BUILDABLE:
            raise ValueError(f"'{self.id}' ({entry.model_type}) cannot be built with random weights; "
                             f"buildable architectures: {', '.join(catalog.BUILDABLE)}")
        return self

    @property
    def label(self) -> str:
        return self.id if self.id is not None else Path(self.path).name

    @property
    def kind(self) -> str:
        if self.path is not None:
            return "local"
        return "tiny" if self.id.startswith("tiny:") else "catalog-random"

    def entry(self) -> catalog.ModelEntry | None:
        """The catalog (or tiny) architecture of this model; None for a local directory."""
        return catalog.resolve_model(self.id) if self.path is None else None


# Latency limits used by MLPerf Inference (p99 TTFT and TPOT of its LLM benchmarks).
SLO_PRESETS = {
    "mlperf-llama2-70b": {"ttft_ms": 2000, "tpot_ms": 200},
    "mlperf-llama3.1-8b": {"ttft_ms": 2000, "tpot_ms": 100},
    "mlperf-llama3.1-8b-interactive": {"ttft_ms": 500, "tpot_ms": 30},
    "mlperf-deepseek-r1": {"ttft_ms": 2000, "tpot_ms": 80},
}


class Slo(_Strict):
    preset: Literal[tuple(SLO_PRESETS)] | None = None  # type: ignore[valid-type]
    ttft_ms: float | None = Field(default=None, gt=0, le=limits.MAX_SECONDS * 1000)
    tpot_ms: float | None = Field(default=None, gt=0, le=limits.MAX_SECONDS * 1000)
    e2e_ms: float | None = Field(default=None, gt=0, le=limits.MAX_SECONDS * 1000)

    def limits_ms(self) -> dict[str, float]:
        base = dict(SLO_PRESETS.get(self.preset, {})) if self.preset else {}
        for k in ("ttft_ms", "tpot_ms", "e2e_ms"):
            if getattr(self, k) is not None:
                base[k] = getattr(self, k)
        return base

    @model_validator(mode="after")
    def _some(self) -> "Slo":
        if not self.limits_ms():
            raise ValueError("give a preset or at least one of ttft_ms, tpot_ms, e2e_ms")
        return self


class SloSearch(_Strict):
    over: Literal["rate", "concurrency"] = "rate"
    lo: float = Field(gt=0, le=1e9)
    hi: float = Field(gt=0, le=1e9)
    target_fraction: float = Field(default=0.9, gt=0, le=1)  # goodput / throughput that must meet the SLO
    tolerance: float = Field(default=0.1, gt=0.001, le=100)  # stop when hi/lo - 1 < tolerance
    budget_s: Seconds = 300.0
    num_prompts: Count = 32

    @model_validator(mode="after")
    def _order(self) -> "SloSearch":
        if self.hi <= self.lo:
            raise ValueError(f"hi ({self.hi:g}) must be above lo ({self.lo:g})")
        if self.over == "rate" and self.lo < limits.MIN_RATE_RPS:
            raise ValueError(f"lo: a rate of {self.lo:g} is below the floor of {limits.MIN_RATE_RPS:g} requests/s; "
                             "give a higher lo")
        return self

IntOrList = Union[Tokens, Annotated[list[Tokens], Field(max_length=limits.MAX_CASES)]]
SweepList = Annotated[list[BatchSize] | None, Field(default=None, min_length=1, max_length=limits.MAX_CASES)]


class Until(_Strict):
    """Adaptive trials: stop once the 95 % CI half-width of output tok/s is within ``ci_rel`` of its mean."""

    ci_rel: float = Field(default=0.05, gt=0, lt=1)
    min_trials: int = Field(default=3, ge=2, le=1000)
    max_trials: Annotated[int, Field(gt=0, le=1000)] = 10

    @model_validator(mode="after")
    def _order(self) -> "Until":
        if self.max_trials < self.min_trials:
            raise ValueError(f"max_trials ({self.max_trials}) must be >= min_trials ({self.min_trials})")
        return self


# ---------------------------------------------------------------------------- datasets (workload.dataset)
# One module per kind holds its spec beside its sampler (bench/workloads/<kind>.py); the registry names them.
DATASET_KINDS = tuple(workload_registry.DATASETS)
Dataset = Annotated[Union[workload_registry.specs()], Field(discriminator="kind")]


class RateRamp(_Strict):
    """Online load: the request rate moves linearly from ``from`` to ``to`` (requests/s) over ``over_s``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_rps: float = Field(alias="from", ge=limits.MIN_RATE_RPS, le=1e9)
    to_rps: float = Field(alias="to", ge=limits.MIN_RATE_RPS, le=1e9)
    over_s: float = Field(gt=0, le=86400)


class Workload(_Strict):
    input_tokens: IntOrList | None = None  # required by the random dataset; the others carry their own lengths
    output_tokens: IntOrList | None = None
    dataset: Union[Dataset, Annotated[list[Dataset], Field(max_length=64)]] = workload_registry.module("random").SPEC()  # a list: one set of cases each
    request_rate_ramp: RateRamp | None = None  # online: instead of request_rates
    batch_sizes: SweepList = None  # transformers, vllm
    num_batches: Count | None = None
    num_requests: Count | None = None
    warmup: int = Field(default=1, ge=0, le=1000)  # warm-up batches per case, not measured
    repeats: Annotated[int, Field(gt=0, le=1000)] = 1  # the measured batches run this many times
    seed: Seed = 0
    # online load (backend kind openai)
    concurrency: SweepList = None  # max requests in flight
    request_rates: list[Union[Annotated[float, Field(le=1e9)], Literal["inf"]]] | None = Field(
        default=None, min_length=1, max_length=limits.MAX_CASES)  # requests/s
    num_prompts: Count = 64
    warmup_requests: int = Field(default=2, ge=0, le=limits.MAX_COUNT)
    arrival: Literal["poisson", "gamma", "constant"] = "poisson"
    burstiness: float = Field(default=1.0, gt=0, le=1000)  # gamma shape: < 1 burstier than Poisson, > 1 smoother
    input_len_min_ratio: float = Field(default=1.0, gt=0, le=1)  # InferenceX: 0.8 (ISL varies 80-100 %)
    slo: Slo | None = None
    slo_search: SloSearch | None = None
    trials: Annotated[int, Field(gt=0, le=1000)] = 1  # the measured part of each case runs this many times (CI and CV over trials)
    until: Until | None = None  # adaptive trials instead of a fixed count
    # online load from several client processes (backend kind openai): request i goes to client i mod N
    clients: Annotated[int, Field(gt=0, le=256)] = 1
    client_placement: Literal["local", "spread"] = "local"  # spread: Ray actors over the cluster (--executor ray)

    @field_validator("request_rates")
    @classmethod
    def _rates(cls, v):
        for r in v or []:
            if r != "inf" and r <= 0:
                raise ValueError("request rates must be > 0 (requests/s) or 'inf'")
            if r != "inf" and r < limits.MIN_RATE_RPS:
                raise ValueError(f"request rate {r:g} is below the floor of {limits.MIN_RATE_RPS:g} requests/s "
                                 "(one request per 1,000 s); give a higher rate")
        return v

    @field_validator("input_tokens", "output_tokens")
    @classmethod
    def _nonempty(cls, v, info):
        if isinstance(v, list) and not v:
            raise ValueError("must be a positive integer or a non-empty list of them")
        return _no_repeats(info.field_name, v)

    @field_validator("batch_sizes", "concurrency", "request_rates")
    @classmethod
    def _unique(cls, v, info):
        return _no_repeats(info.field_name, v)

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_short(cls, v):
        """``dataset: random`` and ``dataset: {sharegpt: {path: ...}}`` mean ``{kind: ..., ...}``."""
        def one(x):
            if isinstance(x, str):
                return {"kind": x}
            if isinstance(x, dict) and "kind" not in x and len(x) == 1:
                (kind, body), = x.items()
                return {"kind": kind, **(body or {})}
            return x
        if isinstance(v, list):
            if not v:
                raise ValueError("give at least one dataset")
            return [one(x) for x in v]
        return one(v)

    def datasets(self) -> list:
        """The dataset specs this workload sweeps (one unless ``dataset`` is a list)."""
        return list(self.dataset) if isinstance(self.dataset, list) else [self.dataset]

    @model_validator(mode="after")
    def _one_count(self) -> "Workload":
        if self.num_batches is not None and self.num_requests is not None:
            raise ValueError("give 'num_batches' or 'num_requests', not both")
        trials = self.until.max_trials if self.until is not None else self.trials
        for bs in self.batch_sizes or []:
            n = self.batches_for(bs) * bs * self.repeats * trials
            if n > limits.MAX_REQUESTS_PER_CASE:
                raise ValueError(f"batch size {bs} makes {n:,} measured requests per case (batches x batch size x "
                                 f"repeats x trials), more than {limits.MAX_REQUESTS_PER_CASE:,}; lower num_batches, "
                                 "num_requests, repeats or trials")
        if self.num_prompts * trials > limits.MAX_REQUESTS_PER_CASE:
            raise ValueError(f"num_prompts x trials = {self.num_prompts * trials:,} requests per case, more than "
                             f"{limits.MAX_REQUESTS_PER_CASE:,}; lower num_prompts or trials")
        kinds = [d.kind for d in self.datasets()]
        if "random" in kinds:
            if self.input_tokens is None or self.output_tokens is None:
                raise ValueError("input_tokens and output_tokens are required for the random dataset "
                                 "(or choose workload.dataset: sharegpt, jsonl, prefix, conversation or trace)")
            self._random_tokens_bounded(trials)
        elif self.input_tokens is not None or self.output_tokens is not None:
            raise ValueError(f"input_tokens/output_tokens are for the random dataset; dataset "
                             f"'{kinds[0]}' takes its lengths from its own data: remove them")
        if self.request_rate_ramp is not None and self.request_rates:
            raise ValueError("give request_rates or request_rate_ramp, not both")
        return self

    @model_validator(mode="after")
    def _trials(self) -> "Workload":
        if self.until is not None and "trials" in self.model_fields_set:
            raise ValueError("give 'trials' (a fixed count) or 'until' (adaptive), not both")
        return self

    def _random_tokens_bounded(self, trials: int) -> None:
        """The random prompts a case draws (batches x batch size, or num_prompts, x the longest input x
        trials) within ``limits.MAX_CASE_PROMPT_TOKENS``: all are built in memory before the case runs."""
        longest = max(self.input_tokens) if isinstance(self.input_tokens, list) else self.input_tokens
        if self.batch_sizes:
            per, what = max((self.batches_for(bs) * bs, bs) for bs in self.batch_sizes), "batches x batch size"
            n, what = per[0], f"{what} {per[1]}"
        else:
            n, what = self.num_prompts, "num_prompts"
        total = n * longest * trials
        if total > limits.MAX_CASE_PROMPT_TOKENS:
            raise ValueError(f"random prompts: {what} ({n:,}) x input_tokens {longest:,} x trials {trials:,} = "
                             f"{total:,} prompt tokens per case, more than {limits.MAX_CASE_PROMPT_TOKENS:,} "
                             "(bench/config/limits.py MAX_CASE_PROMPT_TOKENS); lower input_tokens, the batch "
                             "count, num_prompts or trials")

    def batches_for(self, batch_size: int) -> int:
        """Measured batches per repeat: num_batches, or enough batches to cover num_requests."""
        if self.num_requests is not None:
            return -(-self.num_requests // batch_size)
        return self.num_batches or 1


class Executor(_Strict):
    """Where the cases run: ``local`` (in this process, the default) or ``ray`` (tasks on a Ray cluster;
    ``address`` joins a running one, else a local Ray runtime is started and stopped by the run)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(default=None, min_length=1, max_length=2048)
    # ray: one task per model (its cases share the loaded model or managed server) or one task per case (more
    # parallel, each case loads its model)
    group: Literal["model", "case"] = "model"


class BenchConfig(_Strict):
    name: str = Field(min_length=1, max_length=limits.MAX_NAME_CHARS, pattern=r"^[A-Za-z0-9._-]+$")
    models: list[ModelSpec] = Field(min_length=1, max_length=1000)
    backend: Backend
    workload: Workload
    energy: Energy = Field(default_factory=default_energy)  # a union keyed by source (bench/config/energy.py)
    executor: Executor = Executor()
    output_dir: str = Field(default="results", min_length=1, max_length=4096)

    @field_validator("models")
    @classmethod
    def _models_unique(cls, v):
        seen = set()
        for m in v:
            key = m.model_dump_json()
            if key in seen:
                raise ValueError(f"models lists '{m.label}' twice; remove the repeat")
            seen.add(key)
        return v

    @model_validator(mode="after")
    def _shape_fits_backend(self) -> "BenchConfig":
        w = self.workload
        if self.backend.kind == "openai":
            if w.batch_sizes:
                raise ValueError("workload.batch_sizes is for the transformers and vllm backends; an openai "
                                 "backend sweeps workload.concurrency and/or workload.request_rates")
        elif not w.batch_sizes:
            raise ValueError(f"workload.batch_sizes is required for backend.kind '{self.backend.kind}'")
        elif w.concurrency or w.request_rates or w.slo_search or w.request_rate_ramp or w.clients > 1:
            raise ValueError("workload.concurrency, request_rates, request_rate_ramp, slo_search and clients "
                             "need backend.kind: openai")
        return self


