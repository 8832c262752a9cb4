"""The typed case result: one line of ``cases.jsonl``.

A case result is built once, in ``measure/runner.py``, as a :class:`CaseResult` and written with
:meth:`CaseResult.to_json`. The JSON on disk keeps exactly the keys ``schema_version`` 1 has always
had, so every run already written (``results/reference/*``, ``tests/data/runs/*``) loads with
:meth:`CaseResult.from_json` and dumps back to the same dict:

- ``identity``, ``latency`` and ``throughput`` are blocks in Python but *flat* on disk (their keys sit
  at the top level of the line, as they always did);
- every other block is a nested object on disk under its own key;
- a key written only by some runs is omitted again when it was absent (``exclude_unset``);
- unknown keys, at the top level and inside every block, are kept and written back
  (``extra="allow"``): blocks that newer code adds (``trials``, ``validity``, ``window``,
  ``prefix_cache``, ``device``…) survive a round trip through older code.

Two names differ between Python and disk, because one name meant two things: the case totals
``throughput.output_tokens_total`` / ``input_tokens_total`` are the top-level ``output_tokens`` /
``input_tokens`` on disk, while ``workload.output_tokens`` / ``input_tokens`` are per request.
``identity.backend.runs_on`` is ``backend.device`` on disk.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError, model_serializer,
                      model_validator)

SCHEMA_VERSION = 1

Number = int | float  # smart union: a value keeps the JSON type it was written with (1 stays 1, 1.0 stays 1.0)


class Block(BaseModel):
    """A part of the case result: unknown keys kept, names or disk aliases accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


# ------------------------------------------------------------------------------------------- blocks
class Distribution(Block):
    """One latency's distribution over the measured window, in seconds (n = 0 and None: not measured)."""

    n: int | None = None
    mean: Number | None = None
    p50: Number | None = None
    p90: Number | None = None
    p99: Number | None = None
    min: Number | None = None
    max: Number | None = None
    stdev: Number | None = None


class ModelInfo(Block):
    label: str | None = None
    kind: str | None = None
    weights: str | None = None
    model_type: str | None = None
    params: Number | None = None


class BackendInfo(Block):
    kind: str | None = None
    runs_on: str | None = Field(default=None, alias="device")  # cpu | cuda:N | endpoint (an external server)
    dtype: str | None = None
    threads: int | None = None


def accelerators_on_disk(runs_on: str | None, accelerators: int) -> int:
    """The ``accelerators`` value a case records: 0 on the CPU (no accelerator), else the backend's count."""
    return 0 if runs_on == "cpu" else accelerators


def rate_divisor(accelerators: int | None) -> int:
    """The one clamp: per-accelerator rates divide by the accelerator count, by 1 where there is none
    (0 or None: the CPU, whose whole machine counts as one)."""
    return accelerators if accelerators and accelerators > 0 else 1


class Identity(Block):
    """Which case, on what (flat on disk)."""

    case_id: str | None = None
    provenance: str | None = None  # measured | reference | projected
    hardware: str | None = None
    model: ModelInfo | None = None
    backend: BackendInfo | None = None
    accelerators: int | None = None  # 0 on the CPU

    @property
    def accelerator_count(self) -> int | None:
        """None where the case ran on no accelerator (``accelerators`` 0 on disk): "n/a", never 0."""
        return self.accelerators if self.accelerators else None


class WorkloadInfo(Block):
    """The workload shape, per request. ``batch_size`` is the offline batch; for an online case it holds
    the concurrency cap (0 = none), as ``schema_version`` 1 has always written it."""

    batch_size: int | None = None
    input_tokens: int | None = None  # per request
    output_tokens: int | None = None  # per request
    num_batches: int | None = None
    concurrency: int | None = None
    request_rate: Number | None = None
    kind: str | None = None
    repeats: int | None = None
    warmup: int | None = None
    seed: int | None = None


class Requests(Block):
    total: int | None = None
    succeeded: int | None = None
    failed: int | None = None


class Latency(Block):
    """Flat on disk: ``ttft_s``, ``tpot_s``, ``itl_s``, ``e2e_s``."""

    ttft_s: Distribution | None = None
    tpot_s: Distribution | None = None
    itl_s: Distribution | None = None
    e2e_s: Distribution | None = None


class Throughput(Block):
    """Flat on disk. Totals over the measured window; rates per second of it."""

    window_s: Number | None = None
    output_tokens_total: Number | None = Field(default=None, alias="output_tokens")  # the case total
    input_tokens_total: Number | None = Field(default=None, alias="input_tokens")  # the case total
    output_tok_s: Number | None = None
    total_tok_s: Number | None = None
    requests_per_s: Number | None = None
    prefill_tok_s: Number | None = None
    tok_s_per_user: Number | None = None  # 1 / TPOT p50
    output_tok_s_per_accelerator: Number | None = None


class Energy(Block):
    source: str | None = None  # nvml-energy | nvml-sampled | rapl | estimate-tdp | none
    unit: str | None = None
    total_j: Number | None = None
    per_device_j: dict[str, Number | None] | None = None
    avg_power_w: Number | None = None
    peak_power_w: Number | None = None
    j_per_output_tok: Number | None = None
    j_per_total_tok: Number | None = None
    idle_baseline_w: Number | None = None
    window_s: Number | None = None
    cross_check: dict[str, Any] | None = None
    note: str | None = None


class Stat(Block):
    mean: Number | None = None
    max: Number | None = None


class Telemetry(Block):
    """Device telemetry over the window, averaged over the case's devices (None: no device sensor)."""

    sm_clock_mhz: Stat | None = None
    mem_clock_mhz: Stat | None = None
    temperature_c: Stat | None = None
    utilization_pct: Stat | None = None
    power_w: Stat | None = None
    power_limit_w: Number | None = None


class Memory(Block):
    unit: str | None = None
    rss_peak_delta_bytes: Number | None = None
    rss_peak_bytes: Number | None = None
    weight_bytes: Number | None = None
    kv_cache_bytes: Number | None = None
    torch_peak_allocated_bytes: Number | None = None
    torch_peak_reserved_bytes: Number | None = None
    device_used_peak_bytes: Number | None = None
    device_total_bytes: Number | None = None
    headroom_bytes: Number | None = None


class Efficiency(Block):
    hardware: str | None = None
    mbu: Number | None = None
    mfu: Number | None = None
    prefill_mfu: Number | None = None
    provenance: str | None = None
    note: str | None = None


class Server(Block):
    """A server's own counters over the case (``/metrics``), server-side figures."""

    side: str | None = None
    prompt_tokens: Number | None = None
    generation_tokens: Number | None = None
    preemptions: Number | None = None
    request_success: Number | None = None
    kv_cache_usage_peak: Number | None = None
    requests_running_peak: Number | None = None
    requests_waiting_peak: Number | None = None
    scrapes: int | None = None


class Goodput(Block):
    limits_ms: dict[str, Number] | None = None
    good_requests: int | None = None
    total_requests: int | None = None
    good_fraction: Number | None = None
    goodput_rps: Number | None = None


class SloSearch(Block):
    over: str | None = None  # rate | concurrency
    target_fraction: Number | None = None
    limits_ms: dict[str, Number] | None = None
    best: Number | None = None
    stopped_by_budget: bool | None = None
    points: list[dict[str, Any]] | None = None


# ------------------------------------------------------------------------------------------- the case
class CaseResult(Block):
    """One case's result. See the module docstring for the disk layout."""

    FLAT: ClassVar[dict[str, type[Block]]] = {"identity": Identity, "latency": Latency, "throughput": Throughput}

    schema_version: int = SCHEMA_VERSION
    identity: Identity = Field(default_factory=Identity)
    status: str = "ok"  # ok | failed
    error: str | None = None
    workload: WorkloadInfo | None = None
    notes: list[str] | None = None
    load_s: Number | None = None  # seconds to load the model this case ran on (shared by its cases)
    started_utc: str | None = None
    requests: Requests | None = None
    latency: Latency | None = None
    throughput: Throughput | None = None
    server: Server | None = None
    slo_search: SloSearch | None = None
    notes_backend: list[str] | None = None
    goodput: Goodput | None = None
    energy: Energy | None = None
    telemetry: Telemetry | None = None
    memory: Memory | None = None
    failed_reasons: list[str] | None = None
    efficiency: Efficiency | None = None
    finished_utc: str | None = None
    duration_s: Number | None = None

    _disk_order: list[str] = PrivateAttr(default_factory=list)  # the key order of the line read, kept on write

    @model_validator(mode="before")
    @classmethod
    def _gather_flat_blocks(cls, data: Any) -> Any:
        """On disk the flat blocks' keys sit at the top level: gather them into their blocks."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, block in cls.FLAT.items():
            if name in data:
                continue
            keys = {f.alias or k for k, f in block.model_fields.items()} | set(block.model_fields)
            part = {k: data.pop(k) for k in list(data) if k in keys}
            if part:
                data[name] = part
        return data

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler) -> "CaseResult":
        result = handler(data)
        if isinstance(data, dict):
            result._disk_order = list(data)
        return result

    @model_serializer(mode="wrap")
    def _flatten(self, handler) -> dict:
        """Lift the flat blocks' keys back to the top level, where the block stands."""
        out: dict = {}
        for key, value in handler(self).items():
            if key in self.FLAT and isinstance(value, dict):
                out.update(value)
            else:
                out[key] = value
        order = {k: i for i, k in enumerate(self._disk_order)}
        if not order:
            return out
        return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))

    # ------------------------------------------------------------------ disk
    @classmethod
    def from_json(cls, d: dict) -> "CaseResult":
        """A ``cases.jsonl`` line (as a dict) as a typed result. Raises ValueError on wrong types."""
        try:
            return cls.model_validate(d)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"case {d.get('case_id')!r}: {where}: {err['msg']}") from None

    def to_json(self) -> dict:
        """The ``cases.jsonl`` line: the keys ``schema_version`` 1 defines, plus any extra blocks."""
        return self.model_dump(by_alias=True, exclude_unset=True)

    def update(self, **blocks: Any) -> "CaseResult":
        """Set fields (blocks as models or as their dicts), validated like a line read from disk."""
        for key, value in blocks.items():
            field = type(self).model_fields.get(key)
            setattr(self, key, _adapter(field.annotation).validate_python(value) if field else value)
        return self

    # ------------------------------------------------------------------ reading
    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def case_id(self) -> str | None:
        return self.identity.case_id


@lru_cache(maxsize=None)
def _adapter(annotation) -> TypeAdapter:
    return TypeAdapter(annotation)
