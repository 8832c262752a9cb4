"""Writing the report: the HTML page (Jinja2, autoescape on) and the Markdown report with its PNG charts beside it."""
from __future__ import annotations

from pathlib import Path

from bench.analysis import compare, exhibit63
from bench.analysis.report import side
from bench.analysis.report.charts import Chart, build_charts
from bench.analysis.report.data import LEGEND, Report, build
from bench.analysis.report.tables import CAPACITY_TOKEN_HEADER, WORKLOAD_HEADER, context
from bench.errors import InputError


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


def markdown_side(s: dict) -> list[str]:
    """Two or more runs: the summary side by side per case (``side.markdown``), then what no case measured."""
    out = side.markdown(s, _md)
    if s["left_out"]:
        out.append(f"- not measured in any case: {_md(', '.join(s['left_out']))} (the charts below say why)")
    return out


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
    summary = markdown_side(ctx["side"]) if ctx["side"] else markdown_summary(ctx["summary"])
    parts += ["", "## Summary", ""] + summary + ["", f"> {LEGEND}", "", "## Charts", ""]
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
