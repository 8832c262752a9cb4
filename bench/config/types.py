"""The base of every config model and the bounded number types they share (pure; pydantic and
``config.limits`` only). The config schema and every dataset spec (``bench/workloads/<kind>.py``) build on
these, so a spec can live beside its code without importing the schema that composes it."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.config import limits


def _allows_bool(ann) -> bool:
    if ann is bool or ann is Any:
        return True
    return any(_allows_bool(a) for a in getattr(ann, "__args__", ()) or ())


class Strict(BaseModel):
    """Unknown keys, NaN/inf and booleans where numbers belong are refused (``true`` is not 1)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for name, f in cls.model_fields.items():
                x = v.get(name)
                if (isinstance(x, bool) or (isinstance(x, list) and any(isinstance(i, bool) for i in x))) \
                        and not _allows_bool(f.annotation):
                    raise ValueError(f"{name}: {str(x).lower()} is a boolean where a number or text belongs; "
                                     "give a number")
        return v


Seconds = Annotated[float, Field(gt=0, le=limits.MAX_SECONDS)]
Tokens = Annotated[int, Field(gt=0, le=limits.MAX_TOKENS)]
BatchSize = Annotated[int, Field(gt=0, le=limits.MAX_BATCH)]
Count = Annotated[int, Field(gt=0, le=limits.MAX_COUNT)]
Seed = Annotated[int, Field(ge=0, le=limits.MAX_SEED)]
Parallel = Annotated[int, Field(gt=0, le=4096)]
