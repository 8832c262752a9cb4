"""Checks of command-line values shared by the commands: each bad value is one line naming the flag,
what was found and what is allowed (an ``InputError``, exit 2)."""
from __future__ import annotations

import math

from bench.errors import InputError


def positive(flag: str, value: float | None, allow_zero: bool = False) -> None:
    """``value`` is > 0 (>= 0 with ``allow_zero``), or not given."""
    if value is None:
        return
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{flag} must be {'>= 0' if allow_zero else '> 0'}; found {value:g}")


def positives(args, *names: str) -> None:
    """``positive`` over several argparse attributes, each named by its flag."""
    for name in names:
        positive("--" + name.replace("_", "-"), getattr(args, name))


def fraction(flag: str, value: float | None) -> None:
    """``value`` is in (0, 1], or not given."""
    if value is not None and not 0 < value <= 1:
        raise InputError(f"{flag} must be in (0, 1]; found {value:g}")


def pue(flag: str, value: float | None) -> None:
    """A PUE is facility power / IT power: >= 1."""
    if value is not None and value < 1:
        raise InputError(f"{flag} must be >= 1 (facility power / IT power); found {value:g}")


def sw_efficiency(spec: str | None) -> dict[str, float]:
    """``--sw-efficiency 910b=0.725,h20=0.9`` as {chip id: factor in (0, 1]}."""
    out = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--sw-efficiency '{part}': expected CHIP=FACTOR, e.g. 910b=0.725")
        k, v = part.split("=", 1)
        try:
            out[k.strip().lower()] = float(v)
        except ValueError:
            raise InputError(f"--sw-efficiency '{part}': factor must be a number") from None
        fraction(f"--sw-efficiency {k}", out[k.strip().lower()])
    return out


def chips(ids: str) -> list:
    """``--hardware h100-sxm,h20``: the catalog chips, in order; an unknown id is an error listing the known."""
    from bench.catalog import hardware

    return [hardware.get_chip(i.strip()) for i in ids.split(",") if i.strip()]
