"""Reports: one self-contained HTML file (charts inline as PNG data URIs, nothing fetched when it is
opened) and a GitHub-friendly Markdown report with PNG charts beside it.

matplotlib, not plotly: static PNGs need no JavaScript library (a plotly page carries ~3.5 MB of JS
per file or fetches it from a CDN), render the same in a browser, on GitHub and in a PDF, and the
Markdown report can reuse the very same images.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from bench.analysis import compare, exhibit63
from bench.errors import InputError
from bench.present import MISSING, sig

PROVENANCE_STYLE = {"measured": "-", "reference": "--", "projected": ":"}
LEGEND = ("measured: timed on the machine named in the run's manifest · reference: measured on a "
          "reference machine (results/reference/) · projected: computed by the roofline model, not timed · "
          "reference-model: the report's published assumptions recomputed")


def _fig():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _groups(df):
    ok = df[df["status"] == "ok"]
    for (hw, model, prov), g in ok.groupby(["hardware", "model", "provenance"], sort=True):
        yield f"{hw} · {model} ({prov})", prov, g.sort_values("batch_size")


def _empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])


def chart_pareto(df) -> bytes:
    plt, fig, ax = _fig()
    if not (df["status"] == "ok").any():  # nothing to draw: a note, not an empty legend (a matplotlib warning)
        _empty(ax, "no successful case")
        ax.set_title("Throughput vs interactivity (Pareto)")
        return _png(plt, fig)
    for label, prov, g in _groups(df):
        ax.plot(g["tok_s_per_user"], g["output_tok_s_per_accelerator"].fillna(g["output_tok_s"]),
                PROVENANCE_STYLE.get(prov, "-"), marker="o", label=label)
        for _, r in g.iterrows():
            ax.annotate(f"b{r['batch_size']}", (r["tok_s_per_user"], r["output_tok_s_per_accelerator"] or r["output_tok_s"]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("interactivity: tokens/s per user (1 / TPOT p50)")
    ax.set_ylabel("output tokens/s per accelerator")
    ax.set_title("Throughput vs interactivity (Pareto)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(plt, fig)


def chart_latency(df) -> bytes:
    plt, fig, ax = _fig()
    ok = df[df["status"] == "ok"].reset_index(drop=True)
    if not len(ok):
        _empty(ax, "no successful case")
        ax.set_title("Latency percentiles")
        return _png(plt, fig)
    x = range(len(ok))
    for col, off, label in (("ttft_p50_ms", -0.3, "TTFT p50"), ("ttft_p99_ms", -0.1, "TTFT p99"),
                            ("tpot_p50_ms", 0.1, "TPOT p50"), ("tpot_p99_ms", 0.3, "TPOT p99")):
        ax.bar([i + off for i in x], ok[col].fillna(0), width=0.2, label=label)
    ax.set_xticks(list(x))
    ax.set_xticklabels([f"{r.hardware[:14]}\n{r.model[:16]} b{r.batch_size}" for r in ok.itertuples()], fontsize=6,
                       rotation=60, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ms (log)")
    ax.set_title("Latency percentiles")
    ax.legend(fontsize=7)
    return _png(plt, fig)


def _by_batch(df, col, ylabel, title, missing):
    plt, fig, ax = _fig()
    drawn = 0
    for label, prov, g in _groups(df):
        g = g[g[col].notna()]
        if len(g):
            ax.plot(g["batch_size"], g[col], PROVENANCE_STYLE.get(prov, "-"), marker="o", label=label)
            drawn += 1
    if drawn:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size (concurrent requests)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    else:
        _empty(ax, missing)
        ax.set_title(title)
    return _png(plt, fig)


def chart_cost(df) -> bytes:
    pricing = str(df["pricing"].iloc[0]).replace("$", r"\$") if len(df) else ""
    return _by_batch(df, "usd_per_mtok_output", f"\\$ per M output tokens\n{pricing}",
                     "\\$/M output tokens vs batch", "no successful case to price")


def chart_energy(df) -> bytes:
    return _by_batch(df, "j_per_output_tok", "J per output token", "Energy per output token",
                     "energy not measured (no power sensor on these runs: source 'none')")


def chart_capacity(doc: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=100)
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
    a2.set_xticklabels(models, fontsize=8)
    a2.set_yscale("log")
    a2.set_title("Output tokens/day, same fleet, 1k/1k chat (projected, 80 % band)")
    a2.legend()
    return _png(plt, fig)


def _timed_requests(runs) -> list[tuple[str, list[dict]]]:
    """(case, its request records) for every case whose requests were sent on a spread-out schedule (trace
    replay, a finite rate, a ramp, sessions): requests.jsonl rows with ``scheduled_s``, more than one time."""
    from bench.results.rundir import read_jsonl

    out: dict[str, list[dict]] = {}
    for p, _m, _cases in runs or []:
        f = Path(p) / "requests.jsonl"
        if not f.exists():
            continue
        for r in read_jsonl(f):
            if r.get("scheduled_s") is not None:
                out.setdefault(f"{Path(p).name} · {r['case_id']}", []).append(r)
    return [(k, v) for k, v in out.items() if len({r["scheduled_s"] for r in v}) > 1]


def chart_send_times(timed: list[tuple[str, list[dict]]]) -> bytes:
    """Intended vs actual send time of every request (trace replay): a point on the diagonal left on
    time; the lower panel shows how late (ms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, a2) = plt.subplots(2, 1, figsize=(8, 6), dpi=100, sharex=True)
    for label, recs in timed:
        t0 = min(r["scheduled_s"] for r in recs)
        x = [r["scheduled_s"] - t0 for r in recs]
        ax.plot(x, [r["submitted_s"] - t0 for r in recs], ".", label=label)
        a2.plot(x, [(r["submitted_s"] - r["scheduled_s"]) * 1e3 for r in recs], ".", label=label)
    ax.plot(ax.get_xlim(), ax.get_xlim(), ":", color="#888", label="on time")
    ax.set_ylabel("actual send time (s)")
    ax.set_title("Trace replay: intended vs actual send times (measured)")
    ax.legend(fontsize=7)
    a2.set_xlabel("intended send time (s after the first request)")
    a2.set_ylabel("late by (ms)")
    return _png(plt, fig)


def chart_dataset_lengths(runs) -> bytes | None:
    """Sampled input and output length histograms of every dataset case (from its ``dataset`` block)."""
    blocks = [(f"{c['case_id']}", c["dataset"]) for _p, _m, cases in runs or [] for c in cases
              if isinstance(c.get("dataset"), dict) and c["dataset"].get("input_tokens")]
    if not blocks:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=100)
    for label, ds in blocks:
        for ax, key in zip(axes, ("input_tokens", "output_tokens")):
            h = ds[key]["histogram"]
            if h["counts"]:
                ax.stairs(h["counts"], h["edges"], label=f"{label} (shared prefix "
                          f"{(ds.get('shared_prefix_share') or 0) * 100:.0f} %)" if key == "input_tokens" else label)
    for ax, key in zip(axes, ("input tokens per request", "output tokens per request")):
        ax.set_xlabel(key)
        ax.set_ylabel("requests")
    axes[0].legend(fontsize=7)
    fig.suptitle("Sampled workload lengths (dataset cases)")
    return _png(plt, fig)


def build_charts(df, capacity_doc: dict | None, runs=None) -> list[tuple[str, str, bytes]]:
    charts = [("pareto", "Throughput per accelerator vs tokens/s per user", chart_pareto(df)),
              ("latency", "Latency percentiles per case", chart_latency(df)),
              ("cost", "$/M output tokens against batch size", chart_cost(df)),
              ("energy", "Energy per output token", chart_energy(df))]
    if capacity_doc is not None:
        charts.append(("capacity", "H20 vs Ascend 910B: EFLOPS and tokens/day", chart_capacity(capacity_doc)))
    lengths = chart_dataset_lengths(runs)
    if lengths is not None:
        charts.append(("dataset-lengths", "Sampled input/output lengths of dataset cases", lengths))
    timed = _timed_requests(runs)
    if timed:
        charts.append(("send-times", "Intended vs actual send times (trace replay, rates)", chart_send_times(timed)))
    return charts


def _table_html(df) -> str:
    cols = ["hardware", "model", "backend", "dtype", "batch_size", "input_tokens", "output_tokens", "output_tok_s",
            "output_tok_s_per_accelerator", "ttft_p50_ms", "tpot_p50_ms", "tpot_p99_ms", "tpot_limit_ms",
            "tpot_pct_of_limit", "prefill_pct_of_limit", "compile", "j_per_output_tok",
            "usd_per_mtok_output", "mbu", "provenance", "status", "validity"]
    return df[cols].to_html(index=False, na_rep=MISSING, float_format=sig, border=0,
                            classes="summary")


BADGE_COLOURS = {"ok": "#2e7d32", "warn": "#b26a00", "invalid": "#c62828"}


def validity_items(runs) -> list[tuple[str, str, list[str], str | None]]:
    """(case id, verdict, reasons, ± CI text) of every case that has a verdict, worst first."""
    order = {"invalid": 0, "warn": 1, "ok": 2}
    items = []
    for _, _, cases in runs:
        for c in cases:
            v = c.get("validity") or {}
            if v.get("verdict"):
                ci = compare.ci_rel(c)
                n = (c.get("trials") or {}).get("n", 1)
                items.append((c["case_id"], v["verdict"], v.get("reasons") or [],
                              f"output tok/s ± {100 * ci:.1f} % (95 % CI, {n} trials)" if ci is not None else None))
    return sorted(items, key=lambda i: (order.get(i[1], 3), i[0]))


def _validity_html(runs) -> str:
    items = validity_items(runs)
    if not items:
        return "<p>No validity verdicts (results written before verdicts existed).</p>"
    rows = []
    for cid, verdict, reasons, ci in items:
        badge = (f'<span class="badge" data-verdict="{verdict}" style="background:{BADGE_COLOURS.get(verdict, "#666")}">'
                 f"{html.escape(verdict)}</span>")
        detail = "; ".join(reasons) or "all checks passed"
        rows.append(f"<li>{badge} <code>{html.escape(cid)}</code> — {html.escape(detail)}"
                    + (f" <small>({html.escape(ci)})</small>" if ci else "") + "</li>")
    return '<ul class="validity">' + "".join(rows) + "</ul>"


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


CAPACITY_TOKEN_HEADER = ["fleet", "model", "workload", "out tok/s per chip", "output tokens/day (T)", "profile"]


def capacity_token_table_html(doc: dict) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in CAPACITY_TOKEN_HEADER)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in capacity_token_rows(doc))
    return (f'<table class="summary" id="capacity-tokens"><tr>{head}</tr>{body}</table>'
            "<p>PROJECTED with each chip's efficiency profile; the band is the profile's 80 % range "
            "(README, Projection and Validation).</p>")


def write_html(path: Path, df, runs, warnings: list[str], capacity_doc: dict | None = None) -> None:
    charts = build_charts(df, capacity_doc, runs)
    imgs = "\n".join(
        f'<figure><img class="chart" id="chart-{cid}" alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for cid, title, png in charts)
    manifests = "\n".join(
        f"<details><summary>{html.escape(m.get('run_id', p.name))} — {html.escape(str(m.get('hardware')))}</summary>"
        f"<pre>{html.escape(json.dumps({k: v for k, v in m.items() if k != 'config_text'}, indent=1, default=str))}</pre></details>"
        for p, m, _ in runs)
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in warnings) or "<li>none</li>"
    cap = ""
    if capacity_doc is not None:
        cap = ("<h2>Projected tokens of the Exhibit 63 fleets (with bands)</h2>" + capacity_token_table_html(capacity_doc)
               + "<h2>Exhibit 63 assumptions</h2><ul>" + "".join(
                   f"<li>{html.escape(a)}</li>" for a in capacity_doc["assumptions"]) + "</ul>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bench report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table.summary{{border-collapse:collapse;font-size:12px}}
table.summary td,table.summary th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}
figure{{display:inline-block;margin:1em}} .badge{{color:#fff;border-radius:3px;padding:0 6px;font-size:12px}} img.chart{{max-width:100%;border:1px solid #eee}}
.legend{{background:#f6f6f6;padding:.6em;border-left:4px solid #888}} pre{{font-size:11px;max-height:30em;overflow:auto}}
</style></head>
<body data-charts-expected="{len(charts)}">
<h1>Inference benchmark report</h1>
<p class="legend"><b>Legend.</b> {html.escape(LEGEND)}. Line styles in charts: solid = measured, dashed = reference,
dotted = projected. Blank cells (—) were not measured.</p>
<h2>Warnings</h2><ul>{warn}</ul>
<h2>Summary</h2>{_table_html(df)}
<h2>Validity</h2>{_validity_html(runs)}
<h2>Charts</h2>{imgs}
{cap}
<h2>Run manifests</h2>{manifests}
<script>
window.addEventListener('error', function(e) {{ document.body.dataset.errors = (+(document.body.dataset.errors||0)+1); }});
window.addEventListener('load', function() {{
  var imgs = document.querySelectorAll('img.chart'), ok = 0;
  imgs.forEach(function(i) {{ if (i.complete && i.naturalWidth > 0) ok++; }});
  document.body.dataset.chartsDrawn = ok;
}});
</script>
</body></html>
"""
    Path(path).write_text(page)


def write_markdown(path: Path, df, runs, warnings: list[str], capacity_doc: dict | None = None) -> list[Path]:
    path = Path(path)
    img_dir = path.parent / (path.stem + "_charts")
    img_dir.mkdir(parents=True, exist_ok=True)
    written = []
    parts = ["# Inference benchmark report", "", f"> {LEGEND}", "", "## Warnings", ""]
    parts += [f"- {w}" for w in warnings] or ["- none"]
    cols = ["hardware", "model", "batch_size", "output_tok_s_per_accelerator", "ttft_p50_ms", "tpot_p50_ms",
            "tpot_limit_ms", "tpot_pct_of_limit", "j_per_output_tok", "usd_per_mtok_output", "provenance", "status", "validity"]
    parts += ["", "## Summary", "", compare.to_markdown(df[cols]), "## Validity", ""]
    marks = {"ok": "✅ ok", "warn": "⚠️ warn", "invalid": "❌ invalid"}
    parts += [f"- {marks.get(v, v)} `{cid}`: {'; '.join(r) or 'all checks passed'}" + (f" ({ci})" if ci else "")
              for cid, v, r, ci in validity_items(runs)] or ["- no verdicts (older results)"]
    parts += ["", "## Charts", ""]
    for cid, title, png in build_charts(df, capacity_doc, runs):
        f = img_dir / f"{cid}.png"
        f.write_bytes(png)
        written.append(f)
        parts += [f"### {title}", "", f"![{title}]({img_dir.name}/{f.name})", ""]
    if capacity_doc is not None:
        parts += ["## Projected tokens of the Exhibit 63 fleets (with bands)", "",
                  "| " + " | ".join(CAPACITY_TOKEN_HEADER) + " |", "|" + "---|" * len(CAPACITY_TOKEN_HEADER)]
        parts += ["| " + " | ".join(r) + " |" for r in capacity_token_rows(capacity_doc)]
        parts += ["", "PROJECTED with each chip's efficiency profile; the band is the profile's 80 % range.", ""]
    parts += ["## Runs", ""] + [f"- `{m.get('run_id', p.name)}` on {m.get('hardware')} "
                                 f"({m.get('started_utc')}, config sha256 {str(m.get('config_sha256'))[:12]})"
                                 for p, m, _ in runs]
    path.write_text("\n".join(parts) + "\n")
    return [path, *written]


def write_reports(run_dirs: list[str], html_path: str | None = None, markdown_path: str | None = None,
                  capacity: bool = False, pricing: str | None = None,
                  rental_usd_per_hour: float | None = None) -> list[tuple[str, str]]:
    """Write the HTML and/or Markdown report of ``run_dirs``; returns (kind, path) of each file written."""
    runs, df, warns = compare.load(run_dirs, pricing, rental_usd_per_hour)
    cap = exhibit63.doc() if capacity else None
    written = []
    try:
        if html_path:
            Path(html_path).parent.mkdir(parents=True, exist_ok=True)
            write_html(Path(html_path), df, runs, warns, cap)
            written.append(("html", html_path))
        if markdown_path:
            Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
            write_markdown(Path(markdown_path), df, runs, warns, cap)
            written.append(("markdown", markdown_path))
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.filename}: {exc.strerror}") from None
    return written
