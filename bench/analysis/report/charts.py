"""The report's charts: matplotlib PNGs (Agg, never mathtext), one series per run x model x backend config; a chart
with nothing to draw is one sentence saying why and what to pass instead."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.report.data import LINESTYLE, MARKERS, Point, Report, _finite, _Histogram
from bench.catalog import hardware as hw_catalog
from bench.results.registry import fmt


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
