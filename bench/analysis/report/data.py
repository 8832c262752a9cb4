"""The report's data: the runs' cases (``compare.case_rows``) grouped into series (one per run x model x backend
config, points in load order), the optional blocks a case may carry typed, and the looks every view shares
(one colour family per run, the legend, the summary's columns)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, ValidationError, conlist

from bench.analysis import compare
from bench.errors import InputError
from bench.results.registry import MISSING, fmt, get as metric


# ----------------------------------------------------------------------------------------- looks
# one colour family per run, in the order the runs were given; its series are shades of it
PALETTE = ("Blues", "Reds", "Greens", "Purples", "Oranges", "Greys", "YlOrBr", "PuRd")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")  # one per model × backend config within a run
LINESTYLE = {"measured": "-", "reference": "--", "projected": ":"}
VERDICTS = ("ok", "warn", "invalid")

LEGEND = ("measured: timed on the machine in the run's header · reference: measured on a reference machine "
          "(results/reference/) · projected: computed, not timed. ± is the 95 % interval over a case's trials "
          "(none with one trial). — was not measured. Chart lines: solid measured, dashed reference, dotted "
          "projected; one colour per run.")

# The summary table: the headline columns that fit a 1,400 px page (every metric is in the table below it).
SUMMARY_METRICS = ("output_tok_s_per_accelerator", "ttft_p50_s", "tpot_p50_s", "tpot_p99_s", "e2e_p50_s",
                   "j_per_output_tok", "usd_per_mtok_output", "mbu")
OPTIONAL_METRICS = ("prefix_cache_hit_rate",)  # shown only where some case has it


def _finite(v) -> float | None:
    """A number fit to plot: None for anything missing, not a number or not finite."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


# ------------------------------------------------------------- optional blocks a case may carry, typed here
class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Histogram(_Loose):
    counts: list[float] = []
    edges: list[float] = []


class _Lengths(_Loose):
    mean: float | None = None
    histogram: _Histogram | None = None


class DatasetShape(_Loose):
    """The part of a case's ``dataset`` block the report reads (bench/workloads/sampling.describe)."""

    requests: int | None = None
    input_tokens: _Lengths | None = None
    output_tokens: _Lengths | None = None
    shared_prefix_share: float | None = None
    sessions: int | None = None
    max_turn: int | None = None


class _TurnTtft(_Loose):
    p50: float | None = None


class Turn(_Loose):
    """One turn of a multi-turn case (bench/metrics.per_turn)."""

    turn: int
    input_tokens_mean: float | None = None
    ttft_s: _TurnTtft | None = None


class _Turns(_Loose):
    turns: conlist(Turn, max_length=100_000) | None = None
    dataset: DatasetShape | None = None


def case_extras(run, case) -> _Turns:
    """A case's ``turns`` and ``dataset`` blocks, typed; a damaged one is one InputError naming the case."""
    try:
        return _Turns.model_validate({"turns": case.at("turns"), "dataset": case.at("dataset")})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{run.path / 'cases.jsonl'}: case {case.case_id!r}: {where}: {err['msg']}; the file is "
                         "damaged: restore it or rerun the case") from None


# ------------------------------------------------------------------------------------------ the data
@dataclass
class Point:
    """One case of one series: its row of registry values (SI units, None: not measured)."""

    run: int
    row: object  # bench.analysis.compare.CaseRow
    extras: _Turns

    @property
    def case(self):
        return self.row.case

    def value(self, key: str):
        m = metric(key)
        v = self.row.values.get(key)
        if m.text:
            return v
        v = _finite(v)
        if v is None and key == "tok_s_per_user":  # results written before the case held it: 1 / TPOT p50
            from bench.summary.metrics import tok_s_per_user

            v = _finite(tok_s_per_user(self.value("tpot_p50_s")))
        return v

    def half_width(self, key: str) -> float | None:
        """Half the 95 % interval over trials of ``key`` (SI units), None with one trial or none."""
        return _finite(self.row.half.get(key))

    @property
    def x(self) -> float | None:
        """Where the case sits on a load axis: its concurrency, else its batch size, else its request rate."""
        for path in ("workload.concurrency", "workload.batch_size", "workload.request_rate"):
            v = _finite(self.case.at(path))
            if v:
                return v
        return None

    @property
    def x_text(self) -> str:
        wl = self.case.workload
        if wl is not None and wl.concurrency:
            return f"c{wl.concurrency}"
        if wl is not None and wl.batch_size:
            return f"b{wl.batch_size}"
        rate = _finite(self.case.at("workload.request_rate"))
        return f"{fmt(rate)} req/s" if rate else MISSING

    @property
    def ok(self) -> bool:
        return self.case.ok


@dataclass
class Series:
    """One run × model × backend config: its cases in load order (batch or concurrency), never zigzagging."""

    run: int
    run_label: str
    name: str  # model · backend dtype [· compile]
    provenance: str
    points: list[Point] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.run_label} · {self.name}"


def backend_config(case) -> str:
    ident = case.identity
    model = ident.model.label if ident.model is not None else MISSING
    be = ident.backend
    parts = [model, " ".join(x for x in ((be.kind if be else None), (be.dtype if be else None)) if x) or MISSING]
    mode = case.at("compile.mode")
    if isinstance(mode, str) and mode not in ("none", ""):
        parts.append(f"compile {mode}")
    return " · ".join(parts)


@dataclass
class Report:
    runs: list  # bench.results.Run, labelled
    series: list[Series]
    notes: list[str]
    pricing: str
    capacity: dict | None = None

    @property
    def points(self) -> list[Point]:
        return [p for s in self.series for p in s.points]

    def colour(self, run: int, shade: float = 0.75) -> str:
        """The run's colour (``shade`` 0.4 light .. 0.95 dark of its family), as #rrggbb."""
        import matplotlib
        from matplotlib.colors import to_hex

        return to_hex(matplotlib.colormaps[PALETTE[run % len(PALETTE)]](shade))


def _sort_key(p: Point):
    return (p.x is None, p.x or 0.0, p.case.case_id or "")


def build(runs, hourly_usd: float | None = None, pricing_label: str | None = None,
          capacity_doc: dict | None = None) -> Report:
    """The report's data: runs, their cases (``compare.case_rows``: every registry value, $/M included) grouped
    into series, the notes about the runs."""
    series: dict[tuple, Series] = {}
    for row in compare.case_rows(runs, hourly_usd, pricing_label):
        r_idx = next(i for i, r in enumerate(runs) if r is row.run)
        key = (r_idx, backend_config(row.case), row.provenance)
        s = series.setdefault(key, Series(r_idx, row.run.label, key[1], row.provenance))
        s.points.append(Point(r_idx, row, case_extras(row.run, row.case)))
    for s in series.values():
        s.points.sort(key=_sort_key)
    return Report(list(runs), sorted(series.values(), key=lambda s: (s.run, s.name)), compare.warnings(runs),
                  pricing_label or "each chip's own rate", capacity_doc)
