"""Energy from power samples: the trapezoid rule (pure; shared by the sampled-power energy sources and
the steady-state window). Units: s, W, J."""
from __future__ import annotations


def trapezoid_j(samples: list[tuple[float, float]]) -> float | None:
    """Energy in J from (time_s, power_w) samples by the trapezoid rule; None with < 2 samples."""
    if len(samples) < 2:
        return None
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))
