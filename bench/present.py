"""The one place that formats numbers for people (tables, Markdown, HTML), lays out tables that fit the
terminal (``render_table``: names wrap between words, never cut), and the console they go to.

A value that was not measured (None, or NaN from pandas) is shown as "—", never as 0. Numbers stay SI
inside the package (seconds, W, bytes); conversion for display (ms, MW, %) happens here.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import sys
from dataclasses import dataclass

MISSING = "—"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _not_finite(v) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def fmt(v, digits: int = 4) -> str:
    """A number for people: ``digits`` (3–4) significant digits, thousands separators, never scientific
    notation; integers >= 1,000 shown whole. 0.0008544 -> '0.0008544', 1234.5 -> '1,235', 33.66 -> '33.66',
    12.0 -> '12', None/NaN/inf -> '—'. A bool or text is shown as written."""
    if _not_finite(v):
        return MISSING
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) and abs(v) < 10_000:  # a count, a year, a batch size: as written
        return str(v)
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    decimals = max(0, digits - 1 - mag)
    if isinstance(v, int) and abs(v) >= 1:
        decimals = 0
    text = f"{v:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_pm(v, half_width, digits: int = 4) -> str:
    """'1,234 ± 12': a value with its 95 % interval half-width (both in display units)."""
    base = fmt(v, digits)
    if base == MISSING or _not_finite(half_width):
        return base
    return f"{base} ± {fmt(abs(half_width), 2)}"


def fixed(v, digits: int = 2) -> str:
    """A number with thousands separators and ``digits`` decimals: 1234.5 -> '1,234.50'; one that is not 0 but
    rounds to it says so ('<0.01'), never '0.00' (a price of $1e-9/h is not free)."""
    if _missing(v):
        return MISSING
    step = 10.0 ** -digits
    if v != 0 and abs(v) < step / 2:
        return f"{'<' if v > 0 else '>-'}{step:.{digits}f}"
    return f"{v:,.{digits}f}"


FLAT_HALF_BATCH = 0.05  # an MBU half-batch below this is the fit's lower bound: MBU does not vary with the batch


def half_batch_cell(v) -> str:
    """A fitted MBU half-batch: 'flat' where the fit sits at its bound 0 (the evidence shows no small-batch MBU
    loss, so MBU is the same at every batch), else the batch at which half of the MBU is reached."""
    return MISSING if _missing(v) else ("flat" if v < FLAT_HALF_BATCH else fixed(v, 1))


def half_batch_words(v) -> str:
    """The footnote's words for a fitted MBU half-batch (``half_batch_cell``)."""
    cell_ = half_batch_cell(v)
    return "flat with batch" if cell_ == "flat" else f"half at batch {cell_}"


def cell(v, digits: int = 2) -> str:
    """A table cell: floats as ``fixed``, anything else (ints, ids, labels) as written."""
    if _missing(v):
        return MISSING
    return fixed(v, digits) if isinstance(v, float) else str(v)


def ms(seconds, digits: int = 2) -> str:
    """Seconds shown as milliseconds."""
    return MISSING if _missing(seconds) else fixed(seconds * 1000, digits)


def pct(fraction, digits: int = 0) -> str:
    """A fraction shown as a percentage: 0.62 -> '62%'."""
    return MISSING if _missing(fraction) else f"{100 * fraction:.{digits}f}%"


def signed_pct(fraction, digits: int = 1) -> str:
    """A relative change: -0.2308 -> '-23.1 %'."""
    return MISSING if _missing(fraction) else f"{100 * fraction:+.{digits}f} %"


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
        return fixed(value, digits)
    return f"{fixed(value, digits)} ({fixed(rng[0], digits)}–{fixed(rng[1], digits)})"


# ------------------------------------------------------------------------------------ tables that fit
# Tables for people are laid out here, as plain text: every line fits the terminal, names are never cut
# inside a word (they wrap at '_', '-', '/' or a space), and columns that do not fit go to a second block
# that repeats the key columns. Rich markup is never interpreted, so user text prints as written.

_BREAK = re.compile(r"(?<=[A-Za-z0-9][_\-])|(?<= )")  # wrap after _ or - that follow a letter or digit, or a space
GAP = 2  # spaces between columns
MAX_HEADER_LINES = 3  # a layout whose headers wrap more than this moves columns to the next block instead
MAX_CELL_LINES = 2  # ... and the same for a cell


@dataclass
class Col:
    header: str
    align: str = "right"  # right (numbers) | left (names, marks)
    key: bool = False  # repeated in every block when the table is split
    group: str | None = None  # a label over consecutive columns (a metric over its runs); kept in one block
    wrap: bool = True  # False: the cells stay on one line (short names such as 'vllm-ascend'); the header may wrap


def term_width(default: int = 100) -> int:
    """The width to lay tables out for: $COLUMNS, else the terminal's, else ``default`` (a pipe or file)."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and 20 <= int(env) <= 10_000:
        return int(env)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((default, 24)).columns
    return default


def _pieces(text: str) -> list[str]:
    """The unbreakable pieces of a cell: a name splits after _ - and spaces; a number or a unit never splits."""
    return [p for p in _BREAK.split(text) if p] or [""]


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken only between pieces (a piece wider stays whole)."""
    lines: list[str] = []
    for para in str(text).split("\n"):
        cur = ""
        for piece in _pieces(para):
            if cur and len(cur) + len(piece.rstrip()) > width:
                lines.append(cur.rstrip())
                cur = piece.lstrip() if piece.strip() else ""
            else:
                cur += piece
        lines.append(cur.rstrip())
    return lines or [""]


def _min_width(texts: list[str]) -> int:
    return max((len(p.rstrip()) for t in texts for line in str(t).split("\n") for p in _pieces(line)), default=1)


def _nat_width(texts: list[str]) -> int:
    return max((len(line) for t in texts for line in str(t).split("\n")), default=1)


def _widths(cols: list[Col], rows: list[list[str]], width: int) -> list[int] | None:
    """Column widths that fit ``width``, or None when even the narrowest layout does not."""
    n = len(cols)
    cells = [[r[i] for r in rows] for i in range(n)]
    cell_nat = [_nat_width(c) for c in cells]
    cell_min = [_min_width(c) for c in cells]
    head_min = [_min_width([c.header]) for c in cols]
    nat = [max(cell_nat[i], len(cols[i].header)) for i in range(n)]
    least = [max(cell_min[i] if cols[i].wrap else cell_nat[i], head_min[i]) for i in range(n)]
    room = width - GAP * (n - 1)
    if sum(least) > room:
        return None
    w = list(nat)
    # first wrap headers down to their cells' width, the header that gains most first (so that one long header
    # wraps before several short ones do), then wrap the widest wrappable cells
    for i in sorted(range(n), key=lambda j: nat[j] - max(cell_nat[j], head_min[j]), reverse=True):
        if sum(w) <= room:
            return w
        w[i] = max(cell_nat[i], head_min[i])
    while sum(w) > room:  # wrap the other columns before the key (first) ones
        i = max(range(n), key=lambda j: (w[j] > least[j] and not cols[j].key, w[j] - least[j]))
        if w[i] <= least[i]:
            return None
        w[i] -= 1
    return w


def _readable(cols: list[Col], rows: list[list[str]], w: list[int]) -> bool:
    """Headers in at most MAX_HEADER_LINES lines and cells in at most MAX_CELL_LINES: else the layout
    squeezes too much, and columns move to the next block."""
    if any(len(wrap(c.header, wi)) > MAX_HEADER_LINES for c, wi in zip(cols, w)):
        return False
    return all(len(wrap(cell, wi)) <= MAX_CELL_LINES for r in rows for cell, wi in zip(r, w))


def _group_line(cols: list[Col], w: list[int]) -> list[str]:
    """The labels over groups of columns: '──── out tok/s ────' across the group's columns (wrapped, without
    the rule, when the label is wider than them); none when no column has a group."""
    if not any(c.group for c in cols):
        return []
    spans: list[tuple[str | None, int]] = []  # (group, width) of consecutive columns
    for i, (c, wi) in enumerate(zip(cols, w)):
        if spans and c.group is not None and spans[-1][0] == c.group:
            spans[-1] = (c.group, spans[-1][1] + GAP + wi)
        else:
            spans.append((c.group, wi))
    texts = []
    for g, span in spans:
        if g is None:
            texts.append([""])
        elif len(g) + 2 <= span:
            texts.append([f" {g} ".center(span, "─")])
        else:
            texts.append([t.center(span) for t in wrap(g, span)])
    height = max(len(t) for t in texts)
    return [(" " * GAP).join((t[k] if k < len(t) else "").ljust(span) for t, (_, span) in zip(texts, spans)).rstrip()
            for k in range(height)]


def _block(cols: list[Col], rows: list[list[str]], w: list[int]) -> list[str]:
    def line(cells_lines: list[list[str]]) -> list[str]:
        height = max(len(c) for c in cells_lines)
        out = []
        for k in range(height):
            parts = []
            for col, width, lines in zip(cols, w, cells_lines):
                text = lines[k] if k < len(lines) else ""
                parts.append(text.rjust(width) if col.align == "right" else text.ljust(width))
            out.append((" " * GAP).join(parts).rstrip())
        return out

    out = _group_line(cols, w) + line([wrap(c.header, wi) for c, wi in zip(cols, w)])
    out.append((" " * GAP).join("─" * wi for wi in w))
    for r in rows:
        out += line([wrap(cell, wi) for cell, wi in zip(r, w)])
    return out


def render_table(cols: list[Col], rows: list[list[str]], width: int | None = None, title: str | None = None,
                 notes: list[str] | None = None) -> str:
    """A plain-text table whose every line fits ``width``: headers and names wrap between words; columns
    that do not fit are laid out in further blocks that repeat the key columns."""
    width = width or term_width()
    rows = [[MISSING if c is None else str(c) for c in r] for r in rows]
    out: list[str] = []
    if title:  # prose: broken at spaces, so a run directory's name stays on one line where it can
        out += wrap_words(title, width)
    keys = [i for i, c in enumerate(cols) if c.key]
    rest = [i for i in range(len(cols)) if i not in keys]
    if not rest:  # only key columns: they are the one block
        keys, rest = [], keys
    while True:
        for whole_keys in (True, False):  # first: the names (key columns) on one line each; else wrapped
            take = list(rest)
            while take:
                idx = keys + take
                w = _widths([cols[i] for i in idx], [[r[i] for i in idx] for r in rows], width)
                if w is not None and _readable([cols[i] for i in idx], [[r[i] for i in idx] for r in rows], w) and \
                        (not whole_keys or all(w[k] >= _nat_width([r[i] for r in rows]) for k, i in enumerate(keys))):
                    break
                g = cols[take.pop()].group  # a group of columns moves to the next block whole
                while take and g is not None and cols[take[-1]].group == g:
                    take.pop()
            if take:
                break
        if not take:  # not even one more column (group) fits beside the keys: one a block
            g = cols[rest[0]].group
            take = [i for i in rest if g is not None and cols[i].group == g] or rest[:1]
            if _widths([cols[i] for i in keys + take], [[r[i] for i in keys + take] for r in rows], width) is None:
                take = rest[:1]
            idx = keys + take
            w = _widths([cols[i] for i in idx], [[r[i] for i in idx] for r in rows], width)
            if w is None:  # a value with its band wider than the room beside the keys: the band breaks at its dash
                split = [[c.replace("–", "–\n") if i in take and cols[i].wrap else c for i, c in enumerate(r)]
                         for r in rows]
                w = _widths([cols[i] for i in idx], [[r[i] for i in idx] for r in split], width)
                rows = split if w is not None else rows
            w = w or [min(width, _nat_width([cols[i].header] + [r[i] for r in rows])) for i in idx]
        out += _block([cols[i] for i in idx], [[r[i] for i in idx] for r in rows], w)
        rest = [i for i in rest if i not in take]
        if not rest:
            break
        out.append("")
    for n in notes or []:
        out += wrap_words(n, width, indent="  ")  # a footnote's next lines indented: only its first names its chip
    return "\n".join(out) + "\n"


def wrap_words(text: str, width: int, indent: str = "") -> list[str]:
    """Prose (a note, a title) in lines of at most ``width``, broken at spaces so that no name is split; a
    word wider than the line is broken after its '_' or '-' (:func:`wrap`). ``indent`` starts every line of a
    paragraph but its first (a hanging indent); those lines are that much narrower."""
    rest = max(width - len(indent), 1)
    lines: list[str] = []
    for para in str(text).split("\n"):
        start, cur = len(lines), ""
        for word in para.split(" "):
            room = width if len(lines) == start else rest  # the line ``cur`` is building
            joined = f"{cur} {word}" if cur else word
            if len(joined) <= room:
                cur = joined
            elif cur and len(word) <= rest:
                lines.append(cur)
                cur = word
            else:  # a word wider than a line
                parts = wrap(joined, rest)
                lines += parts[:-1]
                cur = parts[-1]
        lines.append(cur)
        lines[start + 1:] = [indent + line for line in lines[start + 1:]]
    return lines


def shorten_names(names: list[str], sep: str = "_", what: str = "case") -> tuple[list[str], str | None]:
    """Names with the parts that all of them share dropped: ('tiny-llama_c4_rinf_prefix', …) ->
    ('prefix', …) and the legend line 'every case: tiny-llama, c4, rinf'. Names are never cut inside a part;
    with one name, or where nothing is shared, the names are kept whole and the legend is None."""
    if len(names) < 2:
        return list(names), None
    split = [n.split(sep) for n in names]
    common = set(split[0]).intersection(*split[1:])
    if not common:
        return list(names), None
    short = [sep.join(p for p in parts if p not in common) for parts in split]
    if any(not s for s in short) or len(set(short)) < len(set(names)):
        return list(names), None
    shared = [p for p in split[0] if p in common]
    return short, f"every {what}: " + ", ".join(shared)


def md_text(text) -> str:
    """Text for a Markdown line or table cell: inline HTML escaped (a renderer, e.g. a CI job summary, would
    run it), pipes and line breaks that would break a table cut."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(headers: list[str], rows: list[list[str]], footnotes: dict[str, str] | None = None,
             left: int = 1) -> str:
    """A GitHub Markdown table (cells escaped for '|' and line breaks; the first ``left`` columns aligned
    left, the rest right), then each footnote once (``[^key]`` in a header refers to it)."""
    def esc(v) -> str:
        return md_text(MISSING if v is None else v)

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |",
             "|" + "|".join("---" if i < left else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    if footnotes:
        lines.append("")
        lines += [f"[^{k}]: {esc(v)}" for k, v in footnotes.items()]
    return "\n".join(lines) + "\n"
