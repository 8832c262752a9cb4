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

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError, create_model,
                      model_serializer, model_validator)

SCHEMA_VERSION = 1

Number = int | float  # smart union: a value keeps the JSON type it was written with (1 stays 1, 1.0 stays 1.0)


class Block(BaseModel):
    """A part of the case result: unknown keys kept, names or disk aliases accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


def block(name: str, doc: str, fields: str, base: type[Block] = Block, **types: Any) -> type[Block]:
    """A block of optional fields (None: not measured), named in their order on disk; each field is a
    ``Number`` unless ``types`` gives another type."""
    spec = {f: (types.get(f, Number) | None, None) for f in fields.split()}
    return create_model(name, __base__=base, __doc__=doc, __module__=__name__, **spec)


# ------------------------------------------------------------------------------------------- blocks
Distribution = block("Distribution", "One latency's distribution over the window, seconds (n 0 and None: not "
                     "measured).", "n mean p50 p90 p99 min max stdev", n=int)
Stat = block("Stat", "Mean and max of a sampled figure.", "mean max")
ModelInfo = block("ModelInfo", "The model a case ran.", "label kind weights model_type params",
                  label=str, kind=str, weights=str, model_type=str)


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


class Identity(block("IdentityFields", "", "case_id provenance hardware model backend accelerators",
                     case_id=str, provenance=str, hardware=str, model=ModelInfo, backend=BackendInfo,
                     accelerators=int)):
    """Which case, on what (flat on disk). ``provenance``: measured | reference | projected;
    ``accelerators``: 0 on the CPU."""

    @property
    def accelerator_count(self) -> int | None:
        """None where the case ran on no accelerator (``accelerators`` 0 on disk): "n/a", never 0."""
        return self.accelerators if self.accelerators else None


WorkloadInfo = block(
    "WorkloadInfo", "The workload shape, per request. ``batch_size`` is the offline batch; for an online case it "
    "holds the concurrency cap (0 = none), as schema_version 1 has always written it.",
    "batch_size input_tokens output_tokens num_batches concurrency request_rate kind repeats warmup seed",
    batch_size=int, input_tokens=int, output_tokens=int, num_batches=int, concurrency=int, kind=str, repeats=int,
    warmup=int, seed=int)
Requests = block("Requests", "Requests of the window.", "total succeeded failed", total=int, succeeded=int, failed=int)


class Latency(Block):
    """Flat on disk: ``ttft_s``, ``tpot_s``, ``itl_s``, ``e2e_s``."""

    ttft_s: Distribution | None = None
    tpot_s: Distribution | None = None
    itl_s: Distribution | None = None
    e2e_s: Distribution | None = None


class Throughput(block("ThroughputRates", "", "output_tok_s total_tok_s requests_per_s prefill_tok_s "
                       "tok_s_per_user output_tok_s_per_accelerator")):
    """Flat on disk. Totals over the measured window; rates per second of it; ``tok_s_per_user`` is
    1 / TPOT p50. The case totals are ``output_tokens`` / ``input_tokens`` on disk."""

    window_s: Number | None = None
    output_tokens_total: Number | None = Field(default=None, alias="output_tokens")
    input_tokens_total: Number | None = Field(default=None, alias="input_tokens")


Energy = block("Energy", "Energy over the window, J and W; ``source``: nvml-energy | nvml-sampled | rapl | "
               "estimate-tdp | none.", "source unit total_j per_device_j avg_power_w peak_power_w j_per_output_tok "
               "j_per_total_tok idle_baseline_w window_s cross_check note",
               source=str, unit=str, per_device_j=dict[str, Number | None], cross_check=dict[str, Any], note=str)
Telemetry = block("Telemetry", "Device telemetry over the window, averaged over the case's devices.",
                  "sm_clock_mhz mem_clock_mhz temperature_c utilization_pct power_w power_limit_w",
                  sm_clock_mhz=Stat, mem_clock_mhz=Stat, temperature_c=Stat, utilization_pct=Stat, power_w=Stat)
Memory = block("Memory", "Memory of the case, bytes.", "unit rss_peak_delta_bytes rss_peak_bytes weight_bytes "
               "kv_cache_bytes torch_peak_allocated_bytes torch_peak_reserved_bytes device_used_peak_bytes "
               "device_total_bytes headroom_bytes", unit=str)
Efficiency = block("Efficiency", "MBU and MFU against the case's own hardware's catalog peaks.",
                   "hardware mbu mfu prefill_mfu provenance note", hardware=str, provenance=str, note=str)
Compile = block("Compile", "Which decode loop ran (kind: transformers: none | static | compiled), the seconds its "
                "untimed compile warm-up took, the attention implementation the static loop ran (None: the eager "
                "loop's own), and why it fell back to eager, if it did.",
                "requested mode torch_compile_mode compile_s graphs_reused attention fallback_note", requested=str,
                mode=str, torch_compile_mode=str, graphs_reused=bool, attention=str, fallback_note=str)
Roofline = block("Roofline", "The physical limit of the case on its hardware (100 % of catalog peaks) and the "
                 "share of it reached (analysis/roofline.py).",
                 "hardware tpot_limit_s tpot_bound tpot_pct_of_limit prefill_limit_s prefill_bound "
                 "prefill_pct_of_limit limit_provenance note", hardware=str, tpot_bound=str, prefill_bound=str,
                 limit_provenance=str, note=str)
Server = block("Server", "A server's own counters over the case (/metrics): server-side figures.",
               "side prompt_tokens generation_tokens preemptions request_success kv_cache_usage_peak "
               "requests_running_peak requests_waiting_peak scrapes", side=str, scrapes=int)
Goodput = block("Goodput", "Requests/s meeting every latency limit.", "limits_ms good_requests total_requests "
                "good_fraction goodput_rps", limits_ms=dict[str, Number], good_requests=int, total_requests=int)
TrialStat = block("TrialStat", "One metric over a case's trials: each trial's value with their mean, stdev, "
                  "Student-t 95 % interval and CV.", "mean stdev ci95 cv n values", n=int, ci95=list[Number] | None,
                  values=list[Number | None])


class Trials(Block):
    """The ``trials`` block: how many trials ran, by which rule, and each headline metric over them."""

    n: int | None = None
    rule: dict[str, Any] | None = None
    metrics: dict[str, TrialStat] | None = None

    def stat(self, key: str) -> "TrialStat | None":
        return (self.metrics or {}).get(key)


class Validity(Block):
    """Was the measurement sound: ``verdict`` ok | warn | invalid, the reasons for anything not ok."""

    verdict: str | None = None
    reasons: list[str] | None = None
    checks: dict[str, Any] | None = None
    skipped: list[str] | None = None


PrefixCache = block("PrefixCache", "Prefix-cache hits over the case, from the server's counters.",
                    "hits queries hit_rate source note", source=str, note=str)
ItlCoalesced = block("ItlCoalesced", "Why ITL (and, where a request's whole output came in one event, its "
                     "TPOT) is not reported: the stream delivered several tokens per event.",
                     "requests of reason", requests=int, of=int, reason=str)
SloSearch = block("SloSearch", "The SLO search: the highest passing rate or concurrency, and every probe.",
                  "over target_fraction limits_ms best stopped_by_budget points", over=str,
                  limits_ms=dict[str, Number], stopped_by_budget=bool, points=list[dict[str, Any]])


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
    roofline: Roofline | None = None
    compile: Compile | None = None
    finished_utc: str | None = None
    duration_s: Number | None = None
    trials: Trials | None = None
    validity: Validity | None = None
    prefix_cache: PrefixCache | None = None
    itl_coalesced: ItlCoalesced | None = None
    dataset: dict[str, Any] | None = None

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
            result = cls.model_validate(d)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"case {d.get('case_id')!r}: {where}: {err['msg']}") from None
        result._disk_order = list(d)
        return result

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

    @property
    def verdict(self) -> str | None:
        """ok | warn | invalid; None for results written before validity existed."""
        return self.validity.verdict if self.validity is not None else None

    @property
    def reasons(self) -> list[str]:
        return list(self.validity.reasons or []) if self.validity is not None else []

    @property
    def n_trials(self) -> int:
        return self.trials.n if self.trials is not None and self.trials.n else 1

    def at(self, dotted: str):
        """The value at a dotted path of the case's line on disk (``ttft_s.p50``, ``energy.source``,
        ``model.label``): the flat blocks are read where they sit on disk. None where any level is missing."""
        head, _, rest = dotted.partition(".")
        obj: Any = None
        for name, blk in self.FLAT.items():
            part = getattr(self, name)
            if part is None:
                continue
            for key, f in blk.model_fields.items():
                if head in (key, f.alias):
                    obj = getattr(part, key)
                    break
            else:
                continue
            break
        else:
            if head in type(self).model_fields:
                obj = getattr(self, head)
            else:
                obj = (self.model_extra or {}).get(head)
        for part in rest.split(".") if rest else ():
            if obj is None:
                return None
            if isinstance(obj, BaseModel):
                if part in type(obj).model_fields:
                    obj = getattr(obj, part)
                    continue
                alias = next((k for k, f in type(obj).model_fields.items() if f.alias == part), None)
                obj = getattr(obj, alias) if alias else (obj.model_extra or {}).get(part)
            elif isinstance(obj, dict):
                obj = obj.get(part)
            else:
                return None
        return obj


@lru_cache(maxsize=None)
def _adapter(annotation) -> TypeAdapter:
    return TypeAdapter(annotation)
