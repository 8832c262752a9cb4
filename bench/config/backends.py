"""The ``backend:`` specs, one per kind, composed into the ``Backend`` union by ``kind`` (pure validation;
the implementations are ``bench/measure/backends/``, which import these). ``bench/config/schema.py``
re-exports them.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator

from bench.config import limits
from bench.config.types import BatchSize, Parallel, Seconds, Seed, Strict as _Strict


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


class OpenAIBackend(_Strict):
    """``kind: openai``: a streaming load generator for any OpenAI-compatible server, either one
    already running (``server: external``) or a ``vllm serve`` the harness starts (``server: managed``)."""

    kind: Literal["openai"]
    server: Literal["external", "managed"] = "external"
    base_url: str = Field(default="http://127.0.0.1:8000/v1", max_length=2048)
    endpoint: Literal["completions", "chat"] = "completions"
    served_model_name: str | None = Field(default=None, max_length=limits.MAX_ID_CHARS)  # default: the model's id or directory
    tokenizer: str | None = Field(default=None, min_length=1, max_length=4096)  # builds the prompts: a local path or tiny:<arch> (default: the model)
    prompt_format: Literal["text", "token_ids"] = "text"
    ignore_eos: bool = True  # vLLM extension: every request yields exactly output_tokens
    extra_body: dict[str, Any] = {}
    api_key_env: str | None = Field(default=None, min_length=1, max_length=limits.MAX_ID_CHARS)  # name of the environment variable holding the key
    request_timeout_s: Seconds = 600.0
    accelerators: Annotated[int, Field(gt=0, le=limits.MAX_ACCELERATORS)] = 1  # accelerators behind the endpoint, to normalise tokens/s
    metrics_scrape_hz: float = Field(default=2.0, ge=0, le=50)  # /metrics scrapes during a case (0: before/after only)
    hardware: str | None = Field(default=None, min_length=1, max_length=limits.MAX_ID_CHARS)  # what serves it (a catalog id such as h20 or 910b, or a name); default: this machine
    serve_args: list[str] = []  # managed: extra `vllm serve` arguments
    startup_timeout_s: Seconds = 900.0
    kv_cache_space_gib: Annotated[int, Field(gt=0, le=1_000_000)] | None = None  # managed CPU server: VLLM_CPU_KVCACHE_SPACE

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        if not re.match(r"^https?://[^/\s]+", v) or re.search(r"\s", v):
            raise ValueError(f"base_url '{v}' is not an http(s) URL, e.g. http://127.0.0.1:8000/v1")
        try:
            parts = urlsplit(v)
            port = parts.port  # ValueError when out of range
        except ValueError as exc:
            raise ValueError(f"base_url '{v}' is not a valid URL ({exc}), e.g. http://127.0.0.1:8000/v1") from None
        if not parts.hostname or port == 0:
            raise ValueError(f"base_url '{v}' has no host or port 0, e.g. http://127.0.0.1:8000/v1")
        return v.rstrip("/")


Backend = Annotated[Union[TransformersBackend, VllmBackend, OpenAIBackend], Field(discriminator="kind")]
