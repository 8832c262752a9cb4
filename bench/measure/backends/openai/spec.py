"""The ``backend: {kind: openai}`` spec (pure validation). A leaf: it imports pydantic and config's number types and
limits only, so the config schema composes it into the ``Backend`` union (bench/config/backends.py) without
importing the implementation beside it."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from bench.config import limits
from bench.config.types import Seconds, Strict as _Strict


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
