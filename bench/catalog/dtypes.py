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
