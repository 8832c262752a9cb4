"""Dtype names: every alias resolved in one place (``canonical``), and bytes per element.

Configs and backends speak torch's names (``bfloat16``, ``float16``, ``float32``); the catalogs and the
projection speak short ones (``bf16``, ``fp16``, ``fp32``, ``fp8``, ``int8``, ``int4``).
"""
from __future__ import annotations

from bench.errors import ConfigError

ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "float8": "fp8"}
BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


def canonical(name: str) -> str:
    """The short name of a dtype (``bfloat16`` -> ``bf16``); a name that is not an alias comes back as is,
    so a caller can say what its own catalog lacks (a chip without fp8, an unknown dtype)."""
    return ALIASES.get(name, name)


def bytes_per_element(name: str) -> float:
    try:
        return BYTES[canonical(name)]
    except KeyError:
        known = [*BYTES, *ALIASES]
        raise ConfigError(f"dtype '{name}' is unknown; known: {', '.join(known)}") from None


KV_FOLLOWS_WEIGHTS = ("trtllm",)  # engines whose KV cache follows an FP8 checkpoint's quantisation by default


def kv_dtype(weights: str, stated: str | None = None, engine: str | None = None) -> str:
    """The KV cache's dtype, the one rule every projection, fit and measured-run block uses: the stated one, else
    the engine's default. vLLM, SGLang and the others keep the cache in the activations' 16 bits unless told
    otherwise (``--kv-cache-dtype auto``), FP8 weights included; TensorRT-LLM follows an FP8 checkpoint
    (``KV_FOLLOWS_WEIGHTS``); with no engine named, FP8 weights get an FP8 cache (TensorRT-LLM's default) and FP32
    weights an FP32 one. Integer weights (int8, int4: weight-only quantisation) never shrink the cache."""
    if stated:
        return canonical(stated)
    d = canonical(weights)
    if d == "fp32":
        return d
    if d == "fp8" and (engine is None or engine in KV_FOLLOWS_WEIGHTS):
        return d
    return "bf16"
