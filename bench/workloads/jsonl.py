"""``jsonl``: the project's own format, one request per line, how a user brings their own logs.

Each line is a JSON object with ``prompt`` (text) or ``prompt_tokens`` (a length: random tokens are
drawn), ``output_tokens``, and optionally ``session_id``, ``turn``, ``timestamp_s``, ``prefix_id`` and
``prefix_tokens`` (rows with the same ``prefix_id`` share their first ``prefix_tokens`` tokens). Other
keys are ignored. Blank lines and lines starting with ``#`` are skipped."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from bench.config import limits
from bench.workloads import files
from bench.workloads.request import DatasetError, TokenSource, WorkRequest, random_ids
from bench.workloads.spec import DatasetSpec


class JsonlDataset(DatasetSpec):
    kind: Literal["jsonl"]
    path: str


SPEC = JsonlDataset

SAMPLED = True  # load_dataset samples its requests down to n


def requests(spec, tok: TokenSource, seed: int, n, input_tokens, output_tokens):
    return load(spec, tok, seed), []


def rows(path: Path):
    """(line number, object) for every request line, read through the bounded reader (``files``)."""
    return files.json_lines(path)


def request(obj: dict, where: str, tok: TokenSource, seed: int, key: str) -> WorkRequest:
    if "output_tokens" not in obj or ("prompt" not in obj and "prompt_tokens" not in obj):
        raise DatasetError(f"{where}: a row needs 'output_tokens' and either 'prompt' (text) or 'prompt_tokens' "
                           "(a length); add the missing lengths")
    out = files.length(obj["output_tokens"], "output_tokens", where)
    text = None
    prefix_id = obj.get("prefix_id")
    if "prompt" in obj:
        if not isinstance(obj["prompt"], str) or not obj["prompt"]:
            raise DatasetError(f"{where}: 'prompt' must be non-empty text")
        text = obj["prompt"]
        if len(text) > limits.MAX_PROMPT_CHARS:
            raise DatasetError(f"{where}: 'prompt' is {len(text):,} characters, more than {limits.MAX_PROMPT_CHARS:,} "
                               "(bench/config/limits.py MAX_PROMPT_CHARS); shorten it")
        ids = tok.need_encode("jsonl prompt")(text)
        if len(ids) > limits.MAX_TOKENS:
            raise DatasetError(f"{where}: 'prompt' is {len(ids):,} tokens, above {limits.MAX_TOKENS:,} "
                               "(bench/config/limits.py MAX_TOKENS); shorten it")
    else:
        n = files.length(obj["prompt_tokens"], "prompt_tokens", where)
        shared = min(files.length(obj["prefix_tokens"], "prefix_tokens", where, 0) if "prefix_tokens" in obj else 0, n)
        if shared and prefix_id is None:
            raise DatasetError(f"{where}: 'prefix_tokens' needs a 'prefix_id' naming the shared prefix")
    ts = obj.get("timestamp_s")
    if ts is not None:
        ts = files.timestamp(ts, "timestamp_s", where)
    turn = obj.get("turn")
    if turn is not None:
        turn = files.length(turn, "turn", where)
        if turn > limits.MAX_COUNT:
            raise DatasetError(f"{where}: 'turn' {turn:,} is above {limits.MAX_COUNT:,}; fix that row")
    sid = obj.get("session_id")
    if sid is not None and (isinstance(sid, (dict, list)) or len(str(sid)) > limits.MAX_ID_CHARS):
        raise DatasetError(f"{where}: 'session_id' must be a short text or number (at most "
                           f"{limits.MAX_ID_CHARS} characters)")
    if prefix_id is not None and (isinstance(prefix_id, (dict, list)) or len(str(prefix_id)) > limits.MAX_ID_CHARS):
        raise DatasetError(f"{where}: 'prefix_id' must be a short text or number (at most "
                           f"{limits.MAX_ID_CHARS} characters)")
    if text is None:  # every field checked: only now are tokens drawn
        ids = random_ids(tok, shared, f"{seed}:jsonl-prefix:{prefix_id}") + random_ids(tok, n - shared, key)
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
