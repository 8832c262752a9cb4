"""Published inference measurements (``bench/catalog/data/published.yaml``), validated on load.

A row is one number someone else measured, with the configuration they state: model, dtype, chips and
parallelism, engine, input/output lengths, batch, speculative decoding, the figure and its exact unit, latency
and the source. Loading refuses a row without a unit or source, or that names a chip or model the catalogs do
not know, with one line naming the row and the field.
"""
from __future__ import annotations

import functools
import math
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.catalog.base import Frozen
from bench.catalog.dtypes import canonical
from bench.config import limits
from bench.errors import ConfigError

Unit = Literal["output_tok_s_per_accelerator", "output_tok_s_total", "input_tok_s_per_accelerator",
               "input_tok_s_total", "tok_s_per_user", "tpot_ms"]

# Engines whose FP8 rows are taken to cache KV in FP8 too, where a row does not say. TensorRT-LLM's
# ``KvCacheConfig.dtype='auto'`` follows the checkpoint's quantisation metadata (NVIDIA/TensorRT-LLM PR 16240),
# and its published tables run ModelOpt FP8 checkpoints without stating the cache's dtype; the catalog's
# leave-one-out prefers FP8 for them (17.8 % vs 21.8 % with 16-bit). Every other engine's default is 16 bits:
# vLLM ``--kv-cache-dtype auto`` (the model's dtype), SGLang ("instead of the default model precision in BF16",
# docs.sglang.io advanced_features/quantized_kv_cache).
KV_FOLLOWS_WEIGHTS = ("trtllm",)


class Spec(Frozen):
    method: str
    acceptance_length: float | None = Field(default=None, ge=1, le=32)  # tokens per step; no method accepts ~32
    # tokens the target model verifies per sequence per step (SGLang --speculative-num-draft-tokens; MTP "1/1/2"
    # is steps/topk/draft-tokens). None: taken as ceil(acceptance_length), the fewest that could give it.
    draft_tokens: int | None = Field(default=None, ge=1, le=64)

    @model_validator(mode="after")
    def _fits(self) -> "Spec":
        if self.draft_tokens is not None and self.acceptance_length is not None \
                and self.acceptance_length > self.draft_tokens:
            raise ValueError(f"acceptance_length {self.acceptance_length} is more than draft_tokens "
                             f"{self.draft_tokens}: a step cannot accept more tokens than it verifies")
        return self

    @property
    def accept(self) -> float:
        return self.acceptance_length or 1.0

    @property
    def width(self) -> float:
        """Tokens verified per sequence per step."""
        return float(self.draft_tokens or math.ceil(self.accept))


class Row(Frozen):
    id: str
    model: str
    dtype: str
    compute_dtype: str | None = None  # peak used for FLOPs when the chip has no sourced peak at `dtype`
    kv_dtype: Literal["bf16", "fp16", "fp8", "int8"] | None = None  # the KV cache's, where the source states it
    hardware: str
    accelerators: int = Field(gt=0, le=limits.MAX_REPLICA_ACCELERATORS)
    figure_accelerators: int | None = Field(default=None, gt=0, le=limits.MAX_REPLICA_ACCELERATORS)
    decode_accelerators: int | None = Field(default=None, gt=0, le=limits.MAX_REPLICA_ACCELERATORS)  # PD-disaggregated: the decode pool's chips
    parallelism: str
    engine: str
    engine_version: str | None = None
    input_tokens: int | None = Field(default=None, gt=0, le=limits.MAX_TOKENS)
    output_tokens: int | None = Field(default=None, gt=0, le=limits.MAX_TOKENS)
    dataset: str
    batch: int | Literal["max"]
    batch_note: str | None = None
    spec: Spec | None = None
    value: float = Field(gt=0, le=limits.MAX_PUBLISHED_FIGURE)
    unit: Unit
    phase: Literal["e2e", "decode", "prefill"]
    ttft_ms: float | None = Field(default=None, gt=0, le=limits.MAX_PUBLISHED_FIGURE)
    tpot_ms: float | None = Field(default=None, gt=0, le=limits.MAX_PUBLISHED_FIGURE)
    latency_note: str | None = None
    source: str = Field(min_length=5)
    ds: str
    note: str | None = None
    exclude: str | None = None

    @field_validator("ds")
    @classmethod
    def _ds(cls, v: str) -> str:
        if not v.startswith(("D", "S")):
            raise ValueError(f"'{v}' must start with D (read in the primary source) or S (second-hand)")
        return v

    @field_validator("batch", mode="before")
    @classmethod
    def _batch(cls, v):
        if isinstance(v, int) and not 0 < v <= limits.MAX_BATCH:
            raise ValueError(f"must be from 1 to {limits.MAX_BATCH} or 'max'")
        return v

    @model_validator(mode="after")
    def _known(self) -> "Row":
        from bench.catalog import hardware, models

        if self.hardware not in hardware.chips():
            raise ValueError(f"hardware '{self.hardware}' is unknown; add it to the hardware catalog or fix the id")
        if self.model not in models.models():
            raise ValueError(f"model '{self.model}' is unknown; add it to bench/catalog/data/models.yaml with its source")
        if self.decode_accelerators is not None and self.decode_accelerators >= self.accelerators:
            raise ValueError(f"decode_accelerators {self.decode_accelerators} must be fewer than accelerators "
                             f"{self.accelerators} (the prefill pool is the rest); leave it out without a PD split")
        return self

    # ------------------------------------------------------------------ derived
    @property
    def engine_class(self) -> str:
        return self.engine.split()[0].lower()

    @property
    def profile_key(self) -> str:
        return f"{self.hardware}/{self.engine_class}"

    @property
    def usable(self) -> str | None:
        """None when the row can calibrate and validate projections, else the reason it cannot."""
        if self.exclude:
            return self.exclude
        if self.spec is not None and self.spec.acceptance_length is None:
            return f"speculative decoding ({self.spec.method}) without a stated acceptance length"
        if self.input_tokens is None or self.output_tokens is None:
            return "input/output lengths not stated"
        return None

    @property
    def kv_cache_dtype(self) -> str:
        """The KV cache's dtype: the stated one, else the engine's default. vLLM, SGLang and the others keep the
        cache in the activations' 16 bits unless told otherwise (``--kv-cache-dtype auto``), FP8 weights
        included; TensorRT-LLM follows the checkpoint's quantisation (``KV_FOLLOWS_WEIGHTS``)."""
        if self.kv_dtype:
            return self.kv_dtype
        d = canonical(self.dtype)
        return d if d == "fp8" and self.engine_class in KV_FOLLOWS_WEIGHTS else "bf16"

    @property
    def source_key(self) -> str:
        """The publication a row comes from (its source up to the first section or comment): rows of one page,
        post or issue share it, however many configurations they report."""
        return self.source.split(" (")[0].split(", ")[0].strip().strip('"')

    @property
    def held_out(self) -> bool:
        """Kept out of the fits on purpose, to check the projection out of sample (``exclude: "held out: ..."``)."""
        return bool(self.exclude) and self.exclude.lower().startswith("held out")

    def per_accelerator_value(self) -> float:
        """The figure as published, per accelerator for *_total units (what the projection predicts: speculative
        rows are projected with their speculation, see ``profiles.predict``)."""
        v = self.value
        if self.unit.endswith("_total"):
            v /= self.figure_accelerators or self.accelerators
        return v


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict]


def parse(text: str, where: str) -> list[Row]:
    """Rows from YAML text; the first bad row raises a ConfigError naming the file, the row and the field."""
    from bench.config.yaml_reader import parse_yaml  # one-line YAML errors and duplicate keys, as for every other file

    try:
        doc = _File.model_validate(parse_yaml(text, where))
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(map(str, e["loc"])) or "file"
        raise ConfigError(f"{where}: {field}: {e['msg']}; the file is a mapping with a 'rows:' list") from None
    out, seen = [], set()
    for i, raw in enumerate(doc.rows):
        label = f"rows[{i}] ({raw.get('id', 'no id')})"
        try:
            row = Row.model_validate(raw)
        except ValidationError as exc:
            e = exc.errors()[0]
            field = ".".join(map(str, e["loc"])) or "row"
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "missing":
                msg = f"missing; every row needs {field} (see README 'Published measurements')"
            raise ConfigError(f"{where}: {label}: {field}: {msg}") from None
        if row.id in seen:
            raise ConfigError(f"{where}: {label}: id: '{row.id}' appears twice; ids must be unique")
        seen.add(row.id)
        out.append(row)
    return out


@functools.cache
def rows(path: str | None = None) -> tuple[Row, ...]:
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        return tuple(parse(text, path))
    text = resources.files("bench.catalog.data").joinpath("published.yaml").read_text()
    return tuple(parse(text, "bench/catalog/data/published.yaml"))


def table_rows() -> list[dict]:
    """Flat dicts for ``list published``."""
    out = []
    for r in rows():
        out.append({"id": r.id, "model": r.model, "dtype": r.dtype, "hardware": r.hardware,
                    "accelerators": r.accelerators, "engine": r.engine, "input_tokens": r.input_tokens,
                    "output_tokens": r.output_tokens, "batch": r.batch, "value": r.value, "unit": r.unit,
                    "phase": r.phase, "spec": r.spec.model_dump() if r.spec else None, "ds": r.ds,
                    "source": r.source, "used_in_fits": r.usable is None, "why_not_used": r.usable})
    return out
