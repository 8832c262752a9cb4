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
import json
from pathlib import Path

from bench.workloads import jsonl
from bench.workloads.request import DatasetError, TokenSource, WorkRequest, random_ids


def _check_order(path: Path, stamps: list[tuple[int, float]]) -> None:
    for (_, a), (line, b) in zip(stamps, stamps[1:]):
        if b < a:
            raise DatasetError(f"{path}:{line}: timestamp {b:g} is before the previous row's {a:g}; a trace must be "
                               "sorted by time (sort it, e.g. `sort -t, -k1 -n` or by the timestamp key)")


def _mooncake(path: Path, spec, tok: TokenSource, seed: int) -> list[tuple[int, float, WorkRequest]]:
    out = []
    blocks: dict[int, list[int]] = {}
    for n, obj in jsonl.rows(path):
        where = f"{path}:{n}"
        for key in ("timestamp", "input_length", "output_length"):
            v = obj.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < (0 if key == "timestamp" else 1):
                raise DatasetError(f"{where}: mooncake rows need '{key}' (a number"
                                   f"{'' if key == 'timestamp' else ' >= 1'}); found {json.dumps(v)}")
        hashes = obj.get("hash_ids", [])
        if not isinstance(hashes, list) or not all(isinstance(h, int) for h in hashes):
            raise DatasetError(f"{where}: 'hash_ids' must be a list of integers")
        n_in = int(obj["input_length"])
        ids: list[int] = []
        for h in hashes:
            if len(ids) >= n_in:
                break
            if h not in blocks:
                blocks[h] = random_ids(tok, spec.block_tokens, f"{seed}:mooncake-block:{h}")
            ids += blocks[h]
        ids = ids[:n_in] + random_ids(tok, max(0, n_in - len(ids)), f"{seed}:mooncake-tail:{n}")
        out.append((n, obj["timestamp"] / 1000.0, WorkRequest(ids, int(obj["output_length"]))))
    return out


def _burstgpt(path: Path, tok: TokenSource, seed: int) -> tuple[list[tuple[int, float, WorkRequest]], int]:
    try:
        f = path.open(newline="")
    except FileNotFoundError:
        raise DatasetError(f"{path}: trace file not found; fix workload.dataset.path") from None
    out, skipped = [], 0
    with f:
        reader = csv.DictReader(f)
        need = ("Timestamp", "Request tokens", "Response tokens")
        if not reader.fieldnames or any(k not in reader.fieldnames for k in need):
            raise DatasetError(f"{path}:1: a BurstGPT CSV needs the columns {', '.join(need)}; found "
                               f"{', '.join(reader.fieldnames or [])}")
        for row in reader:
            n = reader.line_num
            try:
                t, n_in, n_out = float(row["Timestamp"]), int(row["Request tokens"]), int(row["Response tokens"])
            except (TypeError, ValueError):
                raise DatasetError(f"{path}:{n}: Timestamp, Request tokens and Response tokens must be numbers") from None
            if n_out < 1 or n_in < 1:
                skipped += 1
                continue
            out.append((n, t, WorkRequest(random_ids(tok, n_in, f"{seed}:burstgpt:{n}"), n_out)))
    return out, skipped


def load(spec, tok: TokenSource, seed: int) -> tuple[list[WorkRequest], list[str]]:
    path = Path(spec.path).expanduser()
    notes = []
    if spec.format == "mooncake":
        rows = _mooncake(path, spec, tok, seed)
    elif spec.format == "burstgpt":
        rows, skipped = _burstgpt(path, tok, seed)
        if skipped:
            notes.append(f"{skipped} BurstGPT rows with 0 request or response tokens (failed in the log) skipped")
    else:
        rows = []
        for n, obj in jsonl.rows(path):
            r = jsonl.request(obj, f"{path}:{n}", tok, seed, f"{seed}:trace:{n}")
            if r.arrival_s is None:
                raise DatasetError(f"{path}:{n}: a jsonl trace needs 'timestamp_s' on every row")
            rows.append((n, r.arrival_s, r))
    _check_order(path, [(n, t) for n, t, _ in rows])
    if spec.max_requests:
        rows = rows[:spec.max_requests]
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
