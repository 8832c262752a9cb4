"""The one place that formats numbers for people (tables, Markdown, HTML), and the console they go to.

A value that was not measured (None, or NaN from pandas) is shown as "—", never as 0. Numbers stay SI
inside the package (seconds, W, bytes); conversion for display (ms, MW, %) happens here.
"""
from __future__ import annotations

import math
import sys

MISSING = "—"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fixed(v, digits: int = 2) -> str:
    """A number with thousands separators and ``digits`` decimals: 1234.5 -> '1,234.50'."""
    return MISSING if _missing(v) else f"{v:,.{digits}f}"


def cell(v, digits: int = 2) -> str:
    """A table cell: floats as ``fixed``, anything else (ints, ids, labels) as written."""
    if _missing(v):
        return MISSING
    return fixed(v, digits) if isinstance(v, float) else str(v)


def sig(v, digits: int = 4) -> str:
    """A table cell with ``digits`` significant figures for floats: 0.0005204, 1,024, 33.66."""
    if _missing(v):
        return MISSING
    return f"{v:,.{digits}g}" if isinstance(v, float) else str(v)


def ms(seconds, digits: int = 2) -> str:
    """Seconds shown as milliseconds."""
    return MISSING if _missing(seconds) else fixed(seconds * 1000, digits)


def pct(fraction, digits: int = 0) -> str:
    """A fraction shown as a percentage: 0.62 -> '62%'."""
    return MISSING if _missing(fraction) else f"{100 * fraction:.{digits}f}%"


def signed_pct(fraction, digits: int = 1) -> str:
    """A relative change: -0.2308 -> '-23.1 %'."""
    return MISSING if _missing(fraction) else f"{100 * fraction:+.{digits}f} %"


def plus_minus(text: str, ci_rel) -> str:
    """'1,234' -> '1,234 ± 2.1 %' when the relative 95 % CI half-width is known (else unchanged)."""
    return text if _missing(ci_rel) else f"{text} ± {100 * ci_rel:.1f} %"


VERDICT_MARKS = {"ok": "✓", "warn": "!", "invalid": "✗"}


def verdict_mark(verdict) -> str:
    """A case's validity verdict as a table mark: ✓ ok, ! warn, ✗ invalid, — none (older results)."""
    return VERDICT_MARKS.get(verdict, MISSING)


def verdict_cell(verdict) -> str:
    """'✗ invalid'; — when there is no verdict."""
    return MISSING if verdict not in VERDICT_MARKS else f"{VERDICT_MARKS[verdict]} {verdict}"


def console(stderr: bool = False):
    """The one rich Console every command prints through; wide when the output is not a terminal (files, CI
    logs, pipes). Markup is off: every string printed, table cell and title included, is shown as written,
    so user text (a path ``o[/b]``, a model label ``[/]``) can never be read as markup or break it. A
    styled cell is a ``styled(text, style)``, never a markup string."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 200, markup=False, emoji=False)


def styled(text: str, style: str):
    """``text`` shown in ``style`` (e.g. ``red``) as a rich ``Text``: styled without markup, so the text stays
    exactly as written."""
    from rich.text import Text

    return Text(str(text), style=style)


def with_range(value: float | None, rng: list[float] | None, digits: int = 0) -> str:
    """'1,010 (850–1,200)': a projected number with its band; '—' when not available."""
    if _missing(value):
        return MISSING
    if not rng:
        return f"{value:,.{digits}f}"
    return f"{value:,.{digits}f} ({rng[0]:,.{digits}f}–{rng[1]:,.{digits}f})"
