"""The base of every catalog entry: unknown fields are refused, NaN and infinities too, and an entry never changes
once loaded."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
