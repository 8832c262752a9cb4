"""Statistics over repeated trials (pure functions; the t distribution is scipy's).

- ``summary``: mean, sample stdev, Student-t 95 % interval, coefficient of variation, raw values.
- ``welch``: Welch's unequal-variance t-test (two-sided p-value).
- ``keep_going``: the adaptive stopping rule of ``workload.until``.

The Student t distribution is scipy's (``scipy.special.stdtr``/``stdtrit``, imported when first
needed); tests/test_stats.py checks every figure against hand-computed and printed-table values.
A statistic that cannot be computed (one trial has no stdev) is ``None``, never 0.
"""
from __future__ import annotations

import math

CONFIDENCE = 0.95  # two-sided confidence level of every interval (``ci95``)


# ---------------------------------------------------------------------------- the t distribution
def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (df may be fractional, as Welch's is)."""
    from scipy.special import stdtr  # scipy.special, not scipy.stats: a fraction of the import time

    return float(stdtr(df, -t))


def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be in (0, 1); got {q}")
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


# ---------------------------------------------------------------------------- trials
def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def stdev(values: list[float]) -> float | None:
    """Sample standard deviation (n - 1); None with fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


def cv(values: list[float]) -> float | None:
    """Coefficient of variation = stdev / |mean| (a fraction); None with < 2 values or a zero mean."""
    s = stdev(values)
    m = mean(values) if values else 0.0
    return None if s is None or m == 0 else s / abs(m)


def t_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval for the mean: mean ± t(1-α/2, n-1) · s / √n; None with < 2 values."""
    s = stdev(values)
    if s is None:
        return None
    n = len(values)
    half = t_ppf(0.5 + confidence / 2.0, n - 1) * s / math.sqrt(n)
    m = mean(values)
    return (m - half, m + half)


def summary(values: list[float | None]) -> dict | None:
    """``{mean, stdev, ci95: [lo, hi], cv, n, values}`` over the trials that measured the metric
    (None entries are trials where it was not measured: left out of the statistics, kept in values).
    None when no trial measured it."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    ci = t_interval(got)
    return {"mean": mean(got), "stdev": stdev(got), "ci95": list(ci) if ci else None, "cv": cv(got),
            "n": len(got), "values": list(values)}


def ci_rel_half_width(values: list[float]) -> float | None:
    """Half-width of the 95 % interval as a fraction of |mean| (None with < 2 values or a zero mean)."""
    ci = t_interval(values)
    m = mean(values) if values else 0.0
    if ci is None or m == 0:
        return None
    return (ci[1] - ci[0]) / 2.0 / abs(m)


def keep_going(values: list[float | None], ci_rel: float, min_trials: int, max_trials: int) -> bool:
    """The adaptive rule: run another trial while fewer than ``min_trials`` ran, or, below
    ``max_trials``, while the 95 % CI half-width of ``values`` is wider than ``ci_rel`` x its mean
    (a metric no trial measured never converges: the rule then stops at ``max_trials``)."""
    n = len(values)
    if n < min_trials:
        return True
    if n >= max_trials:
        return False
    rel = ci_rel_half_width([v for v in values if v is not None])
    return rel is None or rel > ci_rel


# ---------------------------------------------------------------------------- comparing two samples
def welch(a: list[float], b: list[float]) -> dict | None:
    """Welch's t-test of mean(b) vs mean(a): ``{t, df, p_value}`` (two-sided).

    t = (x̄b - x̄a) / √(sa²/na + sb²/nb); df by Welch–Satterthwaite. None with fewer than two values on
    a side. Both variances zero: p = 1 when the means are equal, else 0 (a deterministic difference)."""
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = mean(a), mean(b)
    va, vb = stdev(a) ** 2 / len(a), stdev(b) ** 2 / len(b)
    if va + vb == 0:
        same = ma == mb
        return {"t": 0.0 if same else math.copysign(math.inf, mb - ma), "df": None, "p_value": 1.0 if same else 0.0}
    t = (mb - ma) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return {"t": t, "df": df, "p_value": min(1.0, 2.0 * t_sf(abs(t), df))}

