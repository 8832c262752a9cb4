"""A run directory: ``manifest.json``, ``cases.jsonl`` (one summary per finished case, appended
atomically), ``requests.jsonl`` (raw per-request records) and ``summary.csv``.

Nothing measured is lost: each case is on disk the moment it finishes, and ``--resume`` skips the
cases already complete.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from bench.results.schema import SCHEMA_VERSION, CaseResult
from bench.errors import InputError

SUMMARY_COLUMNS = {
    "case_id": "case_id", "status": "status", "provenance": "provenance", "hardware": "hardware",
    "model": "model.label", "backend": "backend.kind", "device": "backend.device", "dtype": "backend.dtype",
    "batch_size": "workload.batch_size", "input_tokens": "workload.input_tokens",
    "output_tokens": "workload.output_tokens", "output_tok_s": "output_tok_s", "total_tok_s": "total_tok_s",
    "output_tok_s_per_accelerator": "output_tok_s_per_accelerator", "prefill_tok_s": "prefill_tok_s",
    "requests_per_s": "requests_per_s", "ttft_p50_s": "ttft_s.p50", "ttft_p99_s": "ttft_s.p99",
    "tpot_p50_s": "tpot_s.p50", "tpot_p99_s": "tpot_s.p99", "itl_p50_s": "itl_s.p50", "e2e_p50_s": "e2e_s.p50",
    "energy_source": "energy.source", "energy_j": "energy.total_j", "avg_power_w": "energy.avg_power_w",
    "j_per_output_tok": "energy.j_per_output_tok", "weight_bytes": "memory.weight_bytes",
    "rss_peak_delta_bytes": "memory.rss_peak_delta_bytes",
    "torch_peak_allocated_bytes": "memory.torch_peak_allocated_bytes", "error": "error",
}


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dig(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def _append_line(path: Path, obj: dict) -> None:
    """One write() of one complete line on an O_APPEND descriptor, then fsync: a crash never leaves
    half a record."""
    data = (json.dumps(obj, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a killed process: skipped, never fatal
    return out


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest_path = self.path / "manifest.json"
        self.cases_path = self.path / "cases.jsonl"
        self.requests_path = self.path / "requests.jsonl"
        self.summary_path = self.path / "summary.csv"

    @classmethod
    def create(cls, output_dir: Path, name: str) -> "RunDir":
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = Path(output_dir) / f"{name}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = Path(output_dir) / f"{name}-{stamp}-{n}"
        path.mkdir(parents=True)
        return cls(path)

    @classmethod
    def open_existing(cls, path: Path) -> "RunDir":
        rd = cls(path)
        if not rd.manifest_path.exists():
            raise InputError(f"{path}: not a run directory (no manifest.json); pass a directory that "
                             "`run` created")
        manifest = rd.manifest()
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"{rd.manifest_path}: schema_version {manifest.get('schema_version')!r} is not "
                             f"{SCHEMA_VERSION}; rerun with this version of bench")
        return rd

    def manifest(self) -> dict:
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, manifest: dict) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def cases(self) -> list[dict]:
        return read_jsonl(self.cases_path)

    def completed_ids(self) -> set[str]:
        return {c["case_id"] for c in self.cases() if c.get("status") == "ok"}

    def append_case(self, summary: dict, records: list[dict]) -> None:
        for r in records:
            _append_line(self.requests_path, r)
        _append_line(self.cases_path, summary)
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

        rows = [{col: _dig(c, path) for col, path in SUMMARY_COLUMNS.items()} for c in self.latest_cases()]
        df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
        tmp = self.summary_path.with_suffix(".csv.tmp")
        df.to_csv(tmp, index=False)
        os.replace(tmp, self.summary_path)
