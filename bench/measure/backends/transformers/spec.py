"""The ``backend: {kind: transformers}`` spec (pure validation). A leaf: it imports pydantic and config's number types and
limits only, so the config schema composes it into the ``Backend`` union (bench/config/backends.py) without
importing the implementation beside it."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from bench.config.types import Parallel, Strict as _Strict


# the device names the harness knows (bench.measure.devices resolves them at run time)
DEVICE_RE = re.compile(r"^(auto|cpu|cuda|npu)(?::(\d+))?$")


class TransformersBackend(_Strict):
    kind: Literal["transformers"]
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    threads: Parallel | None = None
    trust_remote_code: bool = False
    # none: the eager loop over a growing cache | static: a fixed-size StaticCache, eager | compiled:
    # StaticCache + torch.compile (CUDA graphs on CUDA). auto: compiled on CUDA, none on the CPU,
    # resolved by the backend on the machine (validation stays pure).
    compile: Literal["auto", "none", "static", "compiled"] = "auto"

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not DEVICE_RE.match(v):
            raise ValueError(f"device '{v}' is not one of auto, cpu, cuda, cuda:N, npu, npu:N")
        return v
