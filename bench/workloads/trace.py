"""``trace``: replay a recorded production trace with its arrival times (scaled by ``speedup``) and
lengths. Formats:

- ``mooncake``: JSON lines ``{"timestamp": ms, "input_length", "output_length", "hash_ids": [...]}``
  (the published Mooncake/Kimi traces). Each hash id stands for one block of ``block_tokens`` tokens
  (512 in those traces); requests naming the same id get the very same tokens there, so a prefix cache
  sees the reuse production saw.
- ``burstgpt``: the BurstGPT CSV (``Timestamp`` in s, ``Request tokens``, ``Response tokens``, ...);
  rows with 0 response tokens (failed requests in the log) are skipped.
- ``jsonl``: the project's jsonl format, with ``timestamp_s`` on every row.

Timestamps must not decrease; the first request is sent at 0."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

from pydantic import Field

from bench.config import limits
from bench.config.types import Count, Tokens
from bench.workloads import files, jsonl
from bench.workloads.request import DatasetError, TokenSource, WorkRequest, random_ids
from bench.workloads.spec import DatasetSpec


class TraceDataset(DatasetSpec):
    kind: Literal["trace"]
    path: str
    format: Literal["mooncake", "burstgpt", "jsonl"] = "mooncake"
    speedup: float = Field(default=1.0, gt=0, le=1e6)  # 2.0 replays twice as fast
    max_requests: Count | None = None
    block_tokens: Tokens = 512  # mooncake: tokens per hash_id block (512 in the published traces)


SPEC = TraceDataset

SAMPLED = False  # load_dataset samples its requests down to n


def requests(spec, tok: TokenSource, seed: int, n, input_tokens, output_tokens):
    return load(spec, tok, seed)


def _check_order(path: Path, stamps: list[tuple[int, float]]) -> None:
    """Timestamps (s) never decrease, and no two consecutive rows are more than MAX_TRACE_GAP_S apart."""
    for (_, a), (line, b) in zip(stamps, stamps[1:]):
        if b < a:
            raise DatasetError(f"{path}:{line}: timestamp {b:g} is before the previous row's {a:g}; a trace must be "
                               "sorted by time (sort it, e.g. `sort -t, -k1 -n` or by the timestamp key)")
        if b - a > limits.MAX_TRACE_GAP_S:
            raise DatasetError(f"{path}:{line}: {b - a:,.0f} s after the previous row, more than the "
                               f"{limits.MAX_TRACE_GAP_S:,.0f} s a trace may pause (bench/config/limits.py "
                               "MAX_TRACE_GAP_S); cut the trace at the gap")


def _mooncake_rows(path: Path) -> list[tuple[int, float, int, int, list[int]]]:
    """(line, time s, input tokens, output tokens, hash ids) of every row, each checked; nothing generated."""
    out = []
    for n, obj in files.json_lines(path, "trace file"):
        where = f"{path}:{n}"
        for key in ("timestamp", "input_length", "output_length"):
            if key not in obj:
                raise DatasetError(f"{where}: mooncake rows need 'timestamp' (ms), 'input_length' and "
                                   f"'output_length'; '{key}' is missing")
        t = files.timestamp(obj["timestamp"], "timestamp", where, scale=1e-3)
        n_in = files.length(obj["input_length"], "input_length", where)
        n_out = files.length(obj["output_length"], "output_length", where)
        hashes = obj.get("hash_ids", [])
        if not isinstance(hashes, list) or not all(isinstance(h, int) and not isinstance(h, bool)
                                                   and abs(h) < 2**63 for h in hashes):
            raise DatasetError(f"{where}: 'hash_ids' must be a list of integers")
        if len(hashes) > limits.MAX_TOKENS:
            raise DatasetError(f"{where}: 'hash_ids' lists {len(hashes):,} blocks, more than the prompt can hold")
        out.append((n, t, n_in, n_out, hashes))
    return out


def _mooncake(rows, spec, tok: TokenSource, seed: int) -> list[tuple[int, float, WorkRequest]]:
    out = []
    blocks: dict[int, list[int]] = {}
    for n, t, n_in, n_out, hashes in rows:
        if tok.count_only:
            out.append((n, t, WorkRequest([], n_out)))
            continue
        n_in = tok.spend(n_in)  # the whole prompt counts against the budget, shared blocks included
        spent = tok.generated
        ids: list[int] = []
        for h in hashes:
            if len(ids) >= n_in:
                break
            if h not in blocks:
                blocks[h] = random_ids(tok, spec.block_tokens, f"{seed}:mooncake-block:{h}")
            ids += blocks[h]
        ids = ids[:n_in] + random_ids(tok, max(0, n_in - len(ids)), f"{seed}:mooncake-tail:{n}")
        tok.generated = spent
        out.append((n, t, WorkRequest(ids, n_out)))
    return out


def _burstgpt_rows(path: Path) -> tuple[list[tuple[int, float, int, int]], int]:
    """(line, time s, input tokens, output tokens) of every row, each checked, and how many rows were
    skipped (0 tokens: a failed request in the log)."""
    text = files.read_text(path, "trace file")
    out, skipped = [], 0
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        need = ("Timestamp", "Request tokens", "Response tokens")
        if not reader.fieldnames or any(k not in reader.fieldnames for k in need):
            raise DatasetError(f"{path}:1: a BurstGPT CSV needs the columns {', '.join(need)}; found "
                               f"{', '.join(reader.fieldnames or [])[:200]}")
        for row in reader:
            n = reader.line_num
            where = f"{path}:{n}"
            t = files.timestamp(row["Timestamp"], "Timestamp", where, text=True)
            n_in = files.length(row["Request tokens"], "Request tokens", where, 0, text=True)
            n_out = files.length(row["Response tokens"], "Response tokens", where, 0, text=True)
            if n_out < 1 or n_in < 1:
                skipped += 1
                continue
            out.append((n, t, n_in, n_out))
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a CSV file ({exc}); give the BurstGPT CSV") from None
    return out, skipped


def load(spec, tok: TokenSource, seed: int) -> tuple[list[WorkRequest], list[str]]:
    """Every row is read and checked (lengths, times, order, gaps) before any token is drawn; then only
    the first ``max_requests`` rows get their prompts."""
    path = Path(spec.path).expanduser()
    notes = []
    if spec.format == "mooncake":
        parsed = _mooncake_rows(path)
        _check_order(path, [(n, t) for n, t, *_ in parsed])
        rows = _mooncake(parsed[:spec.max_requests] if spec.max_requests else parsed, spec, tok, seed)
    elif spec.format == "burstgpt":
        parsed, skipped = _burstgpt_rows(path)
        if skipped:
            notes.append(f"{skipped} BurstGPT rows with 0 request or response tokens (failed in the log) skipped")
        _check_order(path, [(n, t) for n, t, *_ in parsed])
        rows = [(n, t, WorkRequest(random_ids(tok, n_in, f"{seed}:burstgpt:{n}"), n_out))
                for n, t, n_in, n_out in (parsed[:spec.max_requests] if spec.max_requests else parsed)]
    else:
        objs = list(jsonl.rows(path))
        for n, obj in objs:  # the times first: a bad or unsorted one is found before any prompt is drawn
            if obj.get("timestamp_s") is None:
                raise DatasetError(f"{path}:{n}: a jsonl trace needs 'timestamp_s' on every row")
        _check_order(path, [(n, files.timestamp(obj["timestamp_s"], "timestamp_s", f"{path}:{n}")) for n, obj in objs])
        rows = []
        for n, obj in (objs[:spec.max_requests] if spec.max_requests else objs):
            r = jsonl.request(obj, f"{path}:{n}", tok, seed, f"{seed}:trace:{n}")
            rows.append((n, r.arrival_s, r))
    if not rows:
        return [], notes
    t0 = rows[0][1]
    out = []
    for _, t, r in rows:
        r.arrival_s = (t - t0) / spec.speedup
        out.append(r)
    if spec.speedup != 1.0:
        notes.append(f"arrival times scaled by 1/{spec.speedup:g} (speedup {spec.speedup:g})")
    return out, notes
