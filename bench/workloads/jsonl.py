"""``jsonl``: the project's own format, one request per line, how a user brings their own logs.

Each line is a JSON object with ``prompt`` (text) or ``prompt_tokens`` (a length: random tokens are
drawn), ``output_tokens``, and optionally ``session_id``, ``turn``, ``timestamp_s``, ``prefix_id`` and
``prefix_tokens`` (rows with the same ``prefix_id`` share their first ``prefix_tokens`` tokens). Other
keys are ignored. Blank lines and lines starting with ``#`` are skipped."""
from __future__ import annotations

import json
from pathlib import Path

from bench.workloads.request import DatasetError, TokenSource, WorkRequest, random_ids


def rows(path: Path):
    """(line number, object) for every request line; a missing file or a bad line is a DatasetError."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: dataset file not found; fix the path in workload.dataset") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{n}: not valid JSON ({exc.msg}); each line is one JSON object") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}:{n}: each line is one JSON object; found {type(obj).__name__}")
        yield n, obj


def _count(obj: dict, key: str, where: str, minimum: int = 1) -> int:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise DatasetError(f"{where}: '{key}' must be an integer >= {minimum}; found {json.dumps(v)}")
    return v


def request(obj: dict, where: str, tok: TokenSource, seed: int, key: str) -> WorkRequest:
    if "output_tokens" not in obj or ("prompt" not in obj and "prompt_tokens" not in obj):
        raise DatasetError(f"{where}: a row needs 'output_tokens' and either 'prompt' (text) or 'prompt_tokens' "
                           "(a length); add the missing lengths")
    out = _count(obj, "output_tokens", where)
    text = None
    prefix_id = obj.get("prefix_id")
    if "prompt" in obj:
        if not isinstance(obj["prompt"], str) or not obj["prompt"]:
            raise DatasetError(f"{where}: 'prompt' must be non-empty text")
        text = obj["prompt"]
        ids = tok.need_encode("jsonl prompt")(text)
    else:
        n = _count(obj, "prompt_tokens", where)
        shared = min(_count(obj, "prefix_tokens", where, 0) if "prefix_tokens" in obj else 0, n)
        if shared and prefix_id is None:
            raise DatasetError(f"{where}: 'prefix_tokens' needs a 'prefix_id' naming the shared prefix")
        ids = random_ids(tok, shared, f"{seed}:jsonl-prefix:{prefix_id}") + random_ids(tok, n - shared, key)
    ts = obj.get("timestamp_s")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, (int, float))):
        raise DatasetError(f"{where}: 'timestamp_s' must be a number of seconds; found {json.dumps(ts)}")
    turn = obj.get("turn")
    if turn is not None:
        turn = _count(obj, "turn", where)
    sid = obj.get("session_id")
    return WorkRequest(ids, out, text=text, session_id=None if sid is None else str(sid), turn=turn,
                       arrival_s=float(ts) if ts is not None else None,
                       prefix_id=None if prefix_id is None else str(prefix_id))


def load(spec, tok: TokenSource, seed: int) -> list[WorkRequest]:
    path = Path(spec.path).expanduser()
    out = [request(obj, f"{path}:{n}", tok, seed, f"{seed}:jsonl:{n}") for n, obj in rows(path)]
    if any(r.arrival_s is not None for r in out):
        if any(r.arrival_s is None for r in out):
            raise DatasetError(f"{path}: some rows have 'timestamp_s' and some do not; give it on every row or none")
        t0 = min(r.arrival_s for r in out)
        for r in out:
            r.arrival_s -= t0
    return out
