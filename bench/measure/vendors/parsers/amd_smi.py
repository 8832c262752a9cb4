"""Parsers of what ``amdsmi`` answers (pure: its dicts in, values out; the code that calls amdsmi is in
``vendors/amd.py``). amdsmi writes 'N/A' for a field a GPU lacks: ``None`` here, never 0.
Units: W, µJ (the energy accumulator times its resolution).
"""
from __future__ import annotations


def num(v) -> float | None:
    """amdsmi writes 'N/A' for a field the GPU lacks; None here (never 0)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def power_w(info: dict) -> float | None:
    """Socket power in W: the instantaneous value where the GPU has it, else the average (MI300X)."""
    for key in ("current_socket_power", "average_socket_power", "socket_power"):
        v = num(info.get(key))
        if v is not None:
            return v
    return None


def counter_uj(reading: dict) -> tuple[int, float] | None:
    """(accumulator, resolution µJ) from amdsmi_get_energy_count; 'power' is its pre-6.4 key."""
    acc = reading.get("energy_accumulator", reading.get("power"))
    res = num(reading.get("counter_resolution"))
    if not isinstance(acc, int) or res is None or res <= 0:
        return None
    return acc, res


def counter_delta(a: int, b: int) -> int:
    """Ticks from a to b, unwrapping one wrap of a 32-bit (both values fit in 32 bits) or 64-bit counter."""
    d = b - a
    if d < 0:
        d += 2**32 if a < 2**32 and b < 2**32 else 2**64
    return d
