"""A run directory: ``manifest.json``, ``cases.jsonl`` (one summary per finished case, appended
atomically), ``requests.jsonl`` (raw per-request records) and ``summary.csv``.

Nothing measured is lost: each case is on disk the moment it finishes, and ``--resume`` skips the
cases already complete.

Above 400 lines because the line readers (``read_manifest``, ``read_case``) and the writers
(atomic append, torn-tail repair, resume) must agree on one file format, and they are tested together
(tests/test_write_read_property.py).
"""
from __future__ import annotations

import errno
import json
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path

from bench.results import registry
from bench.results.schema import SCHEMA_VERSION, CaseResult
from bench.errors import InputError, StorageError
from bench.results.jsonout import finite_or_none
from bench.redact import redact_obj

log = logging.getLogger(__name__)

CASE_STATUSES = ("ok", "failed")

# summary.csv: who and what, then every metric of the registry (bench/results/registry.py) where it is read
# from, then a few more memory/energy figures and the verdict
SUMMARY_COLUMNS = {
    "case_id": "case_id", "status": "status", "provenance": "provenance", "hardware": "hardware",
    "model": "model.label", "backend": "backend.kind", "device": "backend.device", "dtype": "backend.dtype",
    "batch_size": "workload.batch_size", "input_tokens": "workload.input_tokens",
    "output_tokens": "workload.output_tokens",
    **{m.key: m.path for m in registry.METRICS if m.path is not None},
    "energy_j": "energy.total_j", "torch_peak_allocated_bytes": "memory.torch_peak_allocated_bytes",
    "error": "error", "validity": "validity.verdict", "trials": "trials.n",
}


_TEXT_COLUMNS = {"case_id", "status", "provenance", "hardware", "model", "backend", "device", "dtype",
                 "error", "validity"} | {m.key for m in registry.METRICS if m.text}
# every number a reader uses: a string or a boolean there is a damaged file, named with its line
NUMERIC_PATHS = tuple(p for c, p in SUMMARY_COLUMNS.items() if c not in _TEXT_COLUMNS) + (
    "accelerators", "window_s", "input_tokens", "output_tokens", "workload.concurrency", "workload.request_rate",
    "workload.num_batches", "requests.total", "requests.succeeded", "requests.failed")
INF_ALLOWED = {"workload.request_rate"}  # older runs wrote an unpaced rate as Infinity


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dig(d: dict, dotted: str):
    """``d["a"]["b"]`` for ``"a.b"``; None where a level is missing or not an object."""
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def _check_number(case: dict, dotted: str, where: str) -> None:
    v = dig(case, dotted)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where}: {dotted} is {json.dumps(v, default=str)[:40]}, not a number; the file is "
                         "damaged: restore it or rerun the case with --resume")
    if not math.isfinite(v) and dotted not in INF_ALLOWED:
        raise InputError(f"{where}: {dotted} is {v}, not a finite number; the file is damaged")


_MANIFEST_SHAPE = {  # dotted key: the type it must have when present (None allowed)
    "run_id": str, "status": str, "config_sha256": str, "config_path": str, "environment": dict,
    "environment.versions": dict, "environment.gpus": list, "cpu_pressure_start": dict, "cpu_pressure_end": dict,
    "cpu_pressure_start.some_avg10": (int, float), "cpu_pressure_end.some_avg10": (int, float),
    "energy_source": dict, "config": dict,
}


def read_manifest(m: dict, where) -> dict:
    """The manifest keys readers use, each of its type; one InputError naming the file otherwise."""
    for dotted, types in _MANIFEST_SHAPE.items():
        v = dig(m, dotted)
        if v is not None and (isinstance(v, bool) or not isinstance(v, types)):
            raise InputError(f"{where}: {dotted} is {json.dumps(v, default=str)[:40]}, not of the expected type; the "
                             "file is damaged: restore it or rerun")
    for k, v in ((dig(m, "environment.versions") or {}).items()):
        if v is not None and not isinstance(v, str):
            raise InputError(f"{where}: environment.versions.{k} must be a version string; the file is damaged")
    for dotted in ("cpu_pressure_start.some_avg10", "cpu_pressure_end.some_avg10"):
        v = dig(m, dotted)
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"{where}: {dotted} is not a finite number; the file is damaged")
    return m


def read_case(case, where: str) -> dict:
    """One case line as read back: an object with the keys every reader relies on, each of its type.
    ``where`` is ``file:line``; any problem is one InputError naming it."""
    if not isinstance(case, dict):
        raise InputError(f"{where}: a case line must be a JSON object; found {type(case).__name__}; the file is "
                         "damaged: restore it or rerun")
    if case.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{where}: case schema_version {json.dumps(case.get('schema_version'), default=str)[:20]} "
                         f"is not {SCHEMA_VERSION}; rerun with this version of bench")
    for key, types in (("case_id", str), ("status", str), ("model", dict), ("backend", dict)):
        if not isinstance(case.get(key), types):
            raise InputError(f"{where}: case has no {key} (or it is not a {types.__name__}); the file is damaged")
    if case["status"] not in CASE_STATUSES:
        raise InputError(f"{where}: status {case['status'][:40]!r} is unknown; known: {', '.join(CASE_STATUSES)}")
    if not isinstance(case["model"].get("label"), str) or not isinstance(case["backend"].get("kind"), str) \
            or not isinstance(case["backend"].get("dtype"), str):
        raise InputError(f"{where}: case has no model.label, backend.kind or backend.dtype (strings); the file is "
                         "damaged")
    for key in ("workload", "energy", "memory", "requests", "ttft_s", "tpot_s", "itl_s", "e2e_s", "efficiency"):
        if case.get(key) is not None and not isinstance(case[key], dict):
            raise InputError(f"{where}: {key} must be an object; found {type(case[key]).__name__}")
    for dotted in ("hardware", "provenance", "error", "energy.source", "backend.device", "model.kind",
                   "model.weights", "workload.kind", "validity.verdict"):
        v = dig(case, dotted)
        if v is not None and not isinstance(v, str):
            raise InputError(f"{where}: {dotted} must be a string; found {json.dumps(v, default=str)[:40]}; the file "
                             "is damaged")
    for dotted in NUMERIC_PATHS:
        _check_number(case, dotted, where)
    if case["status"] == "ok":  # what every price, projection and chart of a measured case divides by
        wl = case.get("workload") or {}
        for key, least in (("batch_size", 0), ("input_tokens", 1), ("output_tokens", 1)):
            v = wl.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v < least:
                raise InputError(f"{where}: an ok case needs workload.{key} (a whole number >= {least}); found "
                                 f"{json.dumps(v, default=str)[:40]}; the file is damaged")
    return case


def _lines(path: Path) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete lines of ``path`` (numbered from 1) and the torn fragment after the last newline."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file; the run directory is damaged")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise InputError(f"{path}: not a regular file; the run directory is damaged")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    *complete, torn = data.split(b"\n")
    return list(enumerate(complete, 1)), torn


def read_jsonl(path: Path, read_line=None) -> list[dict]:
    """Every line of a JSON-lines file. A torn last line (no newline: a killed process) is skipped with a
    warning; any other unreadable line is an InputError naming the file and line. ``read_line(obj, where)``
    checks each line as read (``read_case``)."""
    if not path.exists():
        return []
    lines, torn = _lines(path)
    out = []
    for n, raw in lines:
        if not raw.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InputError(f"{where}: not UTF-8 text; the file is damaged: restore it or rerun") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not a JSON line ({exc.msg}); the file is damaged in the middle (only a "
                             "torn last line is expected): restore it or rerun") from None
        out.append(read_line(obj, where) if read_line else obj)
    if torn.strip():
        log.warning("%s:%d: torn last line (%d bytes, a killed process) skipped", path, len(lines) + 1, len(torn))
    return out


def storage_error(exc: OSError, path: Path, run_dir: Path | None = None) -> StorageError:
    """A failed write as one line: the path, why, and what to do (every case already written is kept)."""
    again = f"; then continue with --resume {run_dir}" if run_dir is not None else ""
    why = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free space on that file system (finished cases are kept){again}"
    elif exc.errno == errno.EROFS:
        fix = ("the file system is read-only: copy the run directory somewhere writable and resume it there, or "
               "choose a writable --output-dir")
    elif exc.errno in (errno.EACCES, errno.EPERM):
        fix = f"give this user write permission there or choose a writable --output-dir{again}"
    else:
        fix = f"check the disk and the file system{again}"
    return StorageError(f"{path}: cannot write ({why}); {fix}")


def _repair_tail(path: Path) -> int:
    """Cut a torn last line (bytes after the last newline) so appends start on a fresh line; returns the
    bytes removed."""
    if not path.is_file():
        return 0
    with path.open("rb") as f:  # a complete file needs no write (a read-only run directory can be read)
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
    try:
        return _cut_torn(path)
    except OSError as exc:
        raise storage_error(exc, path, path.parent) from None


def _cut_torn(path: Path) -> int:
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    log.warning("%s: cut a torn last line (%d bytes) before appending", path, size - keep)
    return size - keep


def _append_lines(path: Path, objs: list[dict]) -> int:
    """Complete lines in one write() on an O_APPEND descriptor, then fsync; a torn fragment left by a killed
    process is cut first, so a record is never joined to it. Returns the file size after. A failed or short
    write (a full disk) is cut back to the size before, so no partial line is left, and is a StorageError."""
    data = "".join(json.dumps(redact_obj(finite_or_none(o)), allow_nan=False, default=str) + "\n"
                   for o in objs).encode()
    _repair_tail(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise storage_error(exc, path, path.parent) from None
    try:
        before = os.fstat(fd).st_size
        try:
            done = 0
            while done < len(data):
                n = os.write(fd, data[done:])
                if n <= 0:
                    raise OSError(28, os.strerror(28))
                done += n
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, before)
            except OSError:
                pass
            raise storage_error(exc, path, path.parent) from None
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj: dict) -> None:
    _write_atomic(path, (json.dumps(redact_obj(finite_or_none(obj)), indent=2, allow_nan=False, default=str)
                         + "\n").encode())


def _write_atomic(path: Path, data: bytes) -> None:
    """``data`` replaces ``path`` whole (a temporary file, fsync, rename): a crash leaves the old or the new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise storage_error(exc, path, path.parent) from None
        raise


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(os.path.expanduser(str(path)))
        self.manifest_path = self.path / "manifest.json"
        self.cases_path = self.path / "cases.jsonl"
        self.requests_path = self.path / "requests.jsonl"
        self.summary_path = self.path / "summary.csv"
        self.lock_path = self.path / ".lock"
        self._lock_fd: int | None = None

    @classmethod
    def create(cls, output_dir: Path, name: str) -> "RunDir":
        """A new, empty run directory ``<name>-<UTC stamp>[-n]``; parallel runs never get the same one."""
        output_dir = Path(os.path.expanduser(str(output_dir)))
        output_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for n in range(1, 10_000):
            path = output_dir / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
            try:
                path.mkdir()
            except FileExistsError:  # another run took this name first: try the next
                continue
            except OSError as exc:
                raise storage_error(exc, path) from None
            rd = cls(path)
            try:
                rd.cases_path.touch()
            except OSError as exc:
                raise storage_error(exc, rd.cases_path) from None
            return rd
        raise InputError(f"{output_dir}: cannot create a run directory ({name}-{stamp}-n all taken)")

    @classmethod
    def open_existing(cls, path: Path) -> "RunDir":
        rd = cls(path)
        try:
            rd.path.stat()
        except OSError as exc:  # a name too long, a loop of links: stat's reason, not a traceback
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise InputError(f"{str(path)[:120]}: {exc.strerror}; pass a directory that `run` created") from None
        if not rd.path.is_dir():
            what = "does not exist" if not rd.path.exists() else "is a file"
            raise InputError(f"{path}: not a run directory ({what}); pass a directory that `run` created")
        if not rd.manifest_path.exists():
            raise InputError(f"{path}: not a run directory (no manifest.json); pass a directory that "
                             "`run` created")
        manifest = rd.manifest()
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"{rd.manifest_path}: schema_version "
                             f"{json.dumps(manifest.get('schema_version'), default=str)[:20]} is not "
                             f"{SCHEMA_VERSION}; rerun with this version of bench")
        if not isinstance(manifest.get("hardware"), str):
            raise InputError(f"{rd.manifest_path}: no hardware (a string naming the machine); the file is "
                             "damaged: restore it or rerun")
        if not rd.cases_path.exists():
            if manifest.get("status") == "complete":
                raise InputError(f"{rd.cases_path}: missing, but the manifest says the run is complete; the run "
                                 "directory is damaged: restore it or rerun")
            log.warning("%s: no case finished in this run (status %s)", rd.path, manifest.get("status"))
        return rd

    def manifest(self) -> dict:
        where = self.manifest_path
        if where.is_dir():
            raise InputError(f"{where}: is a directory, not a file; the run directory is damaged")
        if where.exists() and not where.is_file():
            raise InputError(f"{where}: not a regular file; the run directory is damaged")
        try:
            text = where.read_bytes().decode("utf-8")
            m = json.loads(text)
        except OSError as exc:
            raise InputError(f"{where}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise InputError(f"{where}: not UTF-8 text; the file is damaged: restore it or rerun") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}:{exc.lineno}: not valid JSON ({exc.msg}); the file is damaged "
                             "(empty or truncated?): restore it or rerun") from None
        if not isinstance(m, dict):
            raise InputError(f"{where}: must be a JSON object; found {type(m).__name__}; the file is damaged")
        # redacted when read too: a run written before redaction may hold secrets, and no view shows one
        return redact_obj(read_manifest(m, where))

    def write_manifest(self, manifest: dict) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def cases(self) -> list[dict]:
        """Every case summary, redacted (secrets an older run stored never reach a view; the manifest's
        are registered first so that their values are cut from a summary's free text too)."""
        if self.manifest_path.is_file():
            try:
                self.manifest()
            except InputError:  # a damaged manifest is reported by whoever reads it
                pass
        return [redact_obj(c) for c in read_jsonl(self.cases_path, read_case)]

    def completed_ids(self) -> set[str]:
        return {c["case_id"] for c in self.cases() if c.get("status") == "ok"}

    # ------------------------------------------------------------------ one writer at a time
    def lock(self) -> None:
        """Hold an exclusive lock on the run directory while a run or resume writes to it."""
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(exc, self.lock_path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(f"{self.path}: another bench process is writing to this run directory; wait for it "
                             "or resume another") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def prepare_resume(self) -> None:
        """Before appending to an existing run: cut torn last lines, then recount the request records by
        parsing them (LF or CRLF; a stored byte offset is never trusted: a CRLF conversion, an editor or a
        damaged ``requests_end_bytes`` would lose records). Every record that parses and belongs to a case
        with a summary is kept, at most as many per case as its summaries committed (more: a kill between a
        retried case's records and its summary); the rest are dropped. When anything changed, both files are
        rewritten (LF, atomically) and each summary's ``records`` index says where its records now end."""
        for f in (self.cases_path, self.requests_path, self.summary_path):
            if f.exists() and not f.is_file():
                raise InputError(f"{f}: not a regular file; the run directory is damaged: restore it or start a new run")
        cases = self.cases()
        _repair_tail(self.cases_path)
        _repair_tail(self.requests_path)
        lines, _ = _lines(self.requests_path) if self.requests_path.is_file() else ([], b"")
        allowed: dict[str, int | None] = {}  # case id -> records its summaries committed (None: not counted)
        for c in cases:
            n = (c.get("records") or {}).get("count") if isinstance(c.get("records"), dict) else None
            ok = isinstance(n, int) and not isinstance(n, bool) and n >= 0
            prev = allowed.get(c["case_id"], 0)
            allowed[c["case_id"]] = None if prev is None or not ok else prev + n
        for c in cases:  # a case whose last summary is ok is not rerun: every record of it that parses is kept
            if c["status"] == "ok":
                allowed[c["case_id"]] = None
        kept: list[bytes] = []
        owner: list[str] = []
        seen: dict[str, int] = {}
        dropped = 0
        for _, raw in lines:
            raw = raw.rstrip(b"\r")
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                dropped += 1
                continue
            cid = rec.get("case_id") if isinstance(rec, dict) else None
            if not isinstance(cid, str) or cid not in allowed:
                dropped += 1
                continue
            cap = allowed[cid]
            if cap is not None and seen.get(cid, 0) >= cap:
                dropped += 1
                continue
            seen[cid] = seen.get(cid, 0) + 1
            kept.append(raw)
            owner.append(cid)
        # each summary's index in the rewritten file: its own records' count, and where they end
        ends_by_case: dict[str, list[int]] = {}
        pos = 0
        for raw, cid in zip(kept, owner):
            pos += len(raw) + 1
            ends_by_case.setdefault(cid, []).append(pos)
        fixed, used, changed = [], {}, False
        last = {c["case_id"]: i for i, c in enumerate(cases)}
        for i, c in enumerate(cases):
            cid, rec = c["case_id"], c.get("records")
            ends = ends_by_case.get(cid, [])
            left = len(ends) - used.get(cid, 0)
            n = rec.get("count") if isinstance(rec, dict) else None
            n = left if last[cid] == i or not isinstance(n, int) or isinstance(n, bool) or n < 0 else min(n, left)
            used[cid] = used.get(cid, 0) + n
            want = {"requests_end_bytes": ends[used[cid] - 1] if used[cid] else 0, "count": n}
            if rec != want:
                changed = True
            fixed.append({**c, "records": want})
        if dropped or changed or self._has_crlf():
            if dropped:
                log.warning("%s: dropped %d request record(s) that no case summary committed", self.requests_path,
                            dropped)
            _write_atomic(self.requests_path, b"".join(k + b"\n" for k in kept))
            _write_atomic(self.cases_path, "".join(json.dumps(redact_obj(finite_or_none(c)), allow_nan=False,
                                                              default=str) + "\n" for c in fixed).encode())
            log.warning("%s: %d request record(s) recounted by parsing and the case index repaired", self.path,
                        len(kept))

    def _has_crlf(self) -> bool:
        for f in (self.cases_path, self.requests_path):
            if f.is_file():
                with open(f, "rb") as fh:
                    if b"\r\n" in fh.read():
                        return True
        return False

    def append_case(self, summary: dict, records: list[dict]) -> None:
        """The case's request records, then its summary saying where they end: on resume, records past the
        last summary's end are uncommitted and dropped."""
        end = _append_lines(self.requests_path, records) if records else (
            self.requests_path.stat().st_size if self.requests_path.is_file() else 0)
        summary["records"] = {"requests_end_bytes": end, "count": len(records)}
        _append_lines(self.cases_path, [summary])
        self.write_summary_csv()

    def latest_cases(self) -> list[dict]:
        """The last summary of each case (a resumed run may have retried a failed case)."""
        latest: dict[str, dict] = {}
        for c in self.cases():
            latest[c["case_id"]] = c
        return list(latest.values())

    def case_results(self) -> list[CaseResult]:
        """The latest result of each case, typed. A line of the wrong shape is an InputError naming the file."""
        out = []
        for c in self.latest_cases():
            try:
                out.append(CaseResult.from_json(c))
            except ValueError as exc:
                raise InputError(f"{self.cases_path}: {exc}; the file was not written by `run`, or was edited") from None
        return out

    def write_summary_csv(self) -> None:
        import pandas as pd

        rows = [{col: dig(c, path) for col, path in SUMMARY_COLUMNS.items()} for c in self.latest_cases()]
        df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
        _write_atomic(self.summary_path, df.to_csv(index=False).encode())
