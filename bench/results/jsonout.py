"""Strict JSON out: ``allow_nan=False`` everywhere, so a document is always valid JSON.

A non-finite number in a result is never printed as ``NaN``/``Infinity``: the command stops with one
line naming the field (the inputs that led there were out of range).
"""
from __future__ import annotations

import json
import math

from bench.errors import InputError


def non_finite_path(obj, path: str = "") -> str | None:
    """The dotted path of the first NaN/inf float in ``obj``, or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return path or "(top level)"
    if isinstance(obj, dict):
        for k, v in obj.items():
            found = non_finite_path(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found = non_finite_path(v, f"{path}[{i}]")
            if found:
                return found
    return None


def finite_or_none(obj):
    """A copy of ``obj`` with every NaN/inf float replaced by None (not measured)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def dumps(obj, **kw) -> str:
    try:
        return json.dumps(obj, allow_nan=False, default=str, **kw)
    except ValueError:
        where = non_finite_path(obj)
        raise InputError(f"result field {where} is not a finite number; the inputs are out of range, "
                         "give smaller or realistic values") from None
