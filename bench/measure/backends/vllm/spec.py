"""The ``backend: {kind: vllm}`` spec (pure validation). A leaf: it imports pydantic and config's number types and
limits only, so the config schema composes it into the ``Backend`` union (bench/config/backends.py) without
importing the implementation beside it."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from bench.config import limits
from bench.config.types import BatchSize, Parallel, Seed, Strict as _Strict


class VllmBackend(_Strict):
    """``kind: vllm``: the offline engine (``vllm.LLM``). Named engine options pass through, and
    ``engine_args`` passes any other ``vllm.EngineArgs`` option."""

    kind: Literal["vllm"]
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "auto"  # vLLM's choices
    max_model_len: Annotated[int, Field(gt=0, le=16 * limits.MAX_TOKENS)] | None = None
    max_num_seqs: BatchSize | None = None
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None  # None: the engine's default
    tensor_parallel_size: Parallel = 1
    pipeline_parallel_size: Parallel = 1
    data_parallel_size: Parallel = 1
    distributed_executor_backend: str | None = None
    quantization: str | None = None
    load_format: str = "auto"  # "dummy": random weights, nothing read but the config
    trust_remote_code: bool = False
    seed: Seed = 0
    kv_cache_space_gib: Annotated[int, Field(gt=0, le=1_000_000)] | None = None  # CPU engine: VLLM_CPU_KVCACHE_SPACE
    engine_args: dict[str, Any] = {}
