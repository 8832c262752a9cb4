"""Checks of command-line values shared by the commands: each bad value is one line naming the flag,
what was found and what is allowed (an ``InputError``, exit 2).

``check_namespace`` runs on every parsed command line before the command does anything, so a NaN, an
infinity or an absurd magnitude never reaches the maths; the per-command checks (``positive``,
``fraction``, ``whole``, ``pue``) say what each flag allows (their rules are in ``bench.analysis.requests``).
What a flag names in the catalog (chips, profiles, a parallelism, a model's context) is resolved by
``bench.analysis.asked``, not here.
"""
from __future__ import annotations

import math
import re

from bench.analysis import requests
from bench.config import limits
from bench.errors import InputError


def _raise(problem: str | None) -> None:
    if problem is not None:
        raise InputError(problem)


flag = requests.flag


def check_namespace(args) -> None:
    """Every numeric flag value is finite and at most ``limits.MAX_FLAG_NUMBER`` in size."""
    for name, value in sorted(vars(args).items()):
        if isinstance(value, str) and not value.strip():
            raise InputError(f"{flag(name)}: an empty value; give one or leave the flag out")
        if isinstance(value, list) and any(isinstance(v, str) and not v.strip() for v in value):
            raise InputError(f"{name.upper()}: an empty value; give a path")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{flag(name)}: {value!r} is not a finite number; give a plain number")
        if abs(value) > limits.MAX_FLAG_NUMBER or 0 < abs(value) < limits.MIN_FLAG_NUMBER:
            raise InputError(f"{flag(name)}: {value:g} is out of range (a size from {limits.MIN_FLAG_NUMBER:g} to "
                             f"{limits.MAX_FLAG_NUMBER:g}); give a realistic value")


def positive(name: str, value: float | None, allow_zero: bool = False, maximum: float | None = None) -> None:
    """``value`` > 0 (>= 0 with ``allow_zero``), at most ``maximum``; None passes (the rule: bench.analysis.requests)."""
    _raise(requests.positive_error(name, value, allow_zero, maximum))


def positives(args, *names: str) -> None:
    """``positive`` over several argparse attributes, each named by its flag."""
    for name in names:
        positive(flag(name), getattr(args, name))


def fraction(name: str, value: float | None) -> None:
    """``value`` in (0, 1]; None passes."""
    _raise(requests.fraction_error(name, value))


def pue(name: str, value: float | None) -> None:
    """A PUE is facility power / IT power: in [1, 10]."""
    _raise(requests.pue_error(name, value))


def whole(name: str, value: float | None, minimum: int = 1, maximum: float = limits.MAX_ACCELERATORS) -> None:
    """A count given as a number: a whole number in [minimum, maximum]; None passes."""
    _raise(requests.whole_error(name, value, minimum, maximum))


_LONG_WORD = re.compile(r"\S{%d,}" % (limits.MAX_ID_CHARS + 1))


def clip(line: str) -> str:
    """Cut every word longer than ``limits.MAX_ID_CHARS`` characters (a 100,000-character id is not echoed
    whole); the rest of the line, with its advice, is kept."""
    return _LONG_WORD.sub(lambda m: f"{m.group(0)[:60]}…({len(m.group(0))} chars)", line)


def engine_class(engine: str | None) -> str | None:
    """The engine a projection's KV-cache default follows: None for the field (``catalog.dtypes.kv_dtype``)."""
    return None if engine in (None, "field") else engine.strip().lower()
