"""The one bounded reader of dataset and trace files (``workload.dataset.path``).

Every source that reads a file (ShareGPT, jsonl, Mooncake, BurstGPT, jsonl traces) goes through here, so
every file gets the same checks before any token is generated: a regular file (a FIFO, a device or a
directory would block, never end or make no sense), at most ``MAX_DATASET_BYTES`` and
``MAX_DATASET_LINES`` lines, strict UTF-8 with the line of the first bad byte, no NUL bytes (a binary
file), JSON nested at most ``MAX_JSON_DEPTH`` deep, and every JSON number finite (``NaN``, ``Infinity``
and ``1e999`` are refused where they are parsed). ``length`` and ``timestamp`` check one value's range.
Every problem is one ``DatasetError`` line naming the file, the line and the fix.
"""
from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path

from bench.config import limits
from bench.workloads.request import DatasetError


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 2**20 else f"{n / 2**20:,.0f} MiB"


def read_text(path: Path, what: str = "dataset file", field: str = "workload.dataset.path") -> str:
    """The whole text of a dataset file, checked: regular, bounded in bytes and lines, UTF-8, no NUL. ``field``:
    the config field or flag that named the file (where the user fixes it)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: {what} not found; fix {field}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror}); fix {field}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DatasetError(f"{path}: is a directory; {field} names one {what}")
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError(f"{path}: not a regular file (a FIFO, socket or device); {field} names "
                           f"one {what}")
    if st.st_size > limits.MAX_DATASET_BYTES:
        raise DatasetError(f"{path}: {_size(st.st_size)} is larger than the {_size(limits.MAX_DATASET_BYTES)} a "
                           f"{what} may be; cut it (e.g. `head -n 100000`) or sample it first")
    try:
        with open(path, "rb") as f:
            raw = f.read(limits.MAX_DATASET_BYTES + 1)  # bounded even where st_size lies (/proc, a growing file)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > limits.MAX_DATASET_BYTES:
        raise DatasetError(f"{path}: larger than the {_size(limits.MAX_DATASET_BYTES)} a {what} may be; cut it "
                           "or sample it first")
    lines = raw.count(b"\n")
    if lines > limits.MAX_DATASET_LINES:
        raise DatasetError(f"{path}: {lines:,} lines, more than the {limits.MAX_DATASET_LINES:,} a {what} may "
                           "have; cut it (e.g. `head -n 100000`) or sample it first")
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise DatasetError(f"{path}:{line}: a NUL byte (a binary file?); give a UTF-8 text {what}")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark (Notepad writes one) is no text
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the {what} as "
                           "UTF-8") from None


def _constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"{text[:20]} is too large for a number")
    return v


def _depth(obj, limit: int) -> bool:
    """True when ``obj`` nests lists/objects more than ``limit`` deep (iterative: no recursion)."""
    stack = [(obj, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > limit:
                return True
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def parse_json(text: str, where: str, hint: str) -> object:
    """One JSON document (a file or a line): finite numbers only, nested at most MAX_JSON_DEPTH deep."""
    # a cheap bound before the parser recurses: a document can nest no deeper than its count of '[' and '{'
    deep = text.count("[") + text.count("{") > limits.MAX_JSON_DEPTH
    try:
        obj = json.loads(text, parse_constant=_constant, parse_float=_finite_float)
    except RecursionError:
        raise DatasetError(f"{where}: JSON nested more than {limits.MAX_JSON_DEPTH} deep; {hint}") from None
    except json.JSONDecodeError as exc:
        line = f":{exc.lineno}" if where.count(":") == 0 else ""
        raise DatasetError(f"{where}{line}: not valid JSON ({exc.msg}); {hint}") from None
    except ValueError as exc:  # NaN/Infinity, 1e999, an integer of more than 4,300 digits
        msg = str(exc)
        if "integer string conversion" in msg:  # Python's own words name sys.set_int_max_str_digits: not the user's fix
            msg = f"an integer of more than {sys.get_int_max_str_digits():,} digits"
        raise DatasetError(f"{where}: {' '.join(msg.split())[:120]}; {hint}") from None
    if deep and _depth(obj, limits.MAX_JSON_DEPTH):
        raise DatasetError(f"{where}: JSON nested more than {limits.MAX_JSON_DEPTH} deep; {hint}")
    return obj


def json_lines(path: Path, what: str = "dataset file", field: str = "workload.dataset.path"):
    """(line number, object) for every non-blank line not starting with ``#``; each line one JSON object."""
    for n, line in enumerate(read_text(path, what, field).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        obj = parse_json(line, f"{path}:{n}", "each line is one JSON object")
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}:{n}: each line is one JSON object; found {type(obj).__name__}")
        yield n, obj


def length(v, key: str, where: str, minimum: int = 1, text: bool = False) -> int:
    """A token count from a file: a whole number (``12`` or ``12.0``) in [minimum, MAX_TOKENS]. ``text``: the
    value is a CSV cell, read as a number (JSON numbers must be numbers, not strings)."""
    if text and isinstance(v, str):
        try:
            v = float(v) if v.strip().lower().lstrip("+-") not in ("nan", "inf", "infinity") else math.nan
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise DatasetError(f"{where}: '{key}' must be a whole number of tokens from {minimum} to "
                           f"{limits.MAX_TOKENS:,}; found {_show(v)}")
    if v < minimum or v > limits.MAX_TOKENS:  # shown as written: 1e308 as 1e+308, not its 309 digits
        found = f"{v:,}" if isinstance(v, int) and abs(v) < 10**15 else _show(v)
        raise DatasetError(f"{where}: '{key}' must be a whole number of tokens from {minimum} to "
                           f"{limits.MAX_TOKENS:,} (bench/config/limits.py MAX_TOKENS); found {found}; fix or remove "
                           "that row")
    v = int(v)
    return v


def timestamp(v, key: str, where: str, scale: float = 1.0, text: bool = False) -> float:
    """A trace time in seconds (``v * scale``): finite, >= 0 and at most MAX_TRACE_TIMESTAMP_S. ``text``: a
    CSV cell, read as a number."""
    if text and isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
            or v * scale > limits.MAX_TRACE_TIMESTAMP_S:
        raise DatasetError(f"{where}: '{key}' must be a finite time >= 0 and at most "
                           f"{limits.MAX_TRACE_TIMESTAMP_S:g} s; found {_show(v)}")
    return v * scale


def _show(v) -> str:
    try:
        s = json.dumps(v)
    except (TypeError, ValueError):
        s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."
