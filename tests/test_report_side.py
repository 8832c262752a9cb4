"""The report of several runs: its summary puts the runs side by side per case (bench/analysis/report/side.py).

Fixtures: two committed reference runs of configs/gpu-8b.yaml (H100 and H200), the H200's compiled Llama run (two
of the six cases), the fake A100/H20 runs, and two real runs of configs/ci-smoke-cpu.yaml on this project's
2-core CPU machine (5 trials per case, so every value has its 95 % interval), committed without their raw
requests under tests/data/runs/ci-smoke-cpu-*."""
import json
import re
import shutil

import pytest

from conftest import ROOT, cli
from test_report_html import CHROMIUM, PAYLOAD, Page, _chromium

REF = [ROOT / "results" / "reference" / "h100" / "gpu-8b-20261127T121344Z",
       ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z"]
H200_COMPILED = ROOT / "results" / "reference" / "h200" / "gpu-8b-c-llama-20261128T195152Z"
CPU = [ROOT / "tests" / "data" / "runs" / "ci-smoke-cpu-20261207T053222Z",
       ROOT / "tests" / "data" / "runs" / "ci-smoke-cpu-20261207T053318Z"]
FAKE = [ROOT / "tests" / "data" / "runs" / "fake-a100-run", ROOT / "tests" / "data" / "runs" / "fake-h20-run"]


def cases(run) -> dict:
    return {c["case_id"]: c for c in (json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines())}


def side(*runs, **kw):
    from bench.analysis import compare, report
    from bench.analysis.report import tables

    return tables.side_summary(report.build(compare.load_runs([str(r) for r in runs]), **kw))


def write(tmp_path, *runs, extra=(), name="r"):
    html, md = tmp_path / f"{name}.html", tmp_path / f"{name}.md"
    p = cli("report", *runs, "--html", html, "--markdown", md, *extra)
    assert p.returncode == 0, p.stderr
    return html.read_text(), md.read_text()


def summary_md(md: str) -> str:
    return md.split("## Summary")[1].split("## Charts")[0]


class Cells(Page):
    """The side-by-side tables of a page: per block, per row (data-case), the cells' text by (metric, run, kind)."""

    def __init__(self, text: str):
        self.blocks: list[dict[str, dict]] = []
        self.heads: list[dict] = []
        self._row = self._cell = None
        self._in_side = False
        super().__init__(text)

    def handle_starttag(self, tag, attrs):
        super().handle_starttag(tag, attrs)
        a = dict(attrs)
        if tag == "table" and "side" in (a.get("class") or "").split():
            self._in_side = True
            self.blocks.append({})
        elif self._in_side and tag == "tr" and "data-case" in a:
            self._row = self.blocks[-1].setdefault(a["data-case"], {"attrs": a, "cells": {}, "first": ""})
            self._first = True
        elif self._in_side and tag == "td" and self._row is not None:
            if "data-metric" in a:
                kind = "ratio" if "ratio" in a.get("class", "") else "value"
                key = (a["data-metric"], a["data-run"], kind)
                self._cell = self._row["cells"].setdefault(key, {"attrs": a, "text": ""})
            elif "data-run" in a:
                key = ("validity", a["data-run"], "badge")
                self._cell = self._row["cells"].setdefault(key, {"attrs": a, "text": ""})
            elif self._first:
                self._cell = self._row["cells"].setdefault(("case", None, "text"), {"attrs": a, "text": ""})
            else:
                self._cell = None
            self._first = False
        elif self._in_side and tag == "th" and "data-run" in a:
            self.heads.append(dict(a, text=""))

    def handle_endtag(self, tag):
        super().handle_endtag(tag)
        if tag == "table":
            self._in_side = False
        if tag in ("td",):
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        super().handle_data(data)
        if self._cell is not None:
            self._cell["text"] += data
        elif self._in_side and self.heads and self._row is None:
            self.heads[-1]["text"] += data

    def row(self, case_id: str) -> dict:
        """Every cell of one case over all blocks."""
        out = {}
        for b in self.blocks:
            if case_id in b:
                out.update(b[case_id]["cells"])
        return out


# ---------------------------------------------------------------------------------------------- the layout
def test_two_runs_are_one_row_per_case_with_each_run_side_by_side_and_the_ratio_to_the_first(tmp_path):
    html, _ = write(tmp_path, *REF)
    page = Cells(html)
    h100, h200 = cases(REF[0]), cases(REF[1])
    assert len(page.blocks) >= 2  # the headline metrics do not fit one block at 1,400 px
    for b in page.blocks:  # one row per case in each block, the six cases of both runs
        assert sorted(b) == sorted(h100) == sorted(h200)
    assert "<tr data-run=" not in html  # no row per (case, run) (nor a Warnings row: no case has a verdict)
    for cid in h100:
        cells = page.row(cid)
        a, b = h100[cid]["output_tok_s_per_accelerator"], h200[cid]["output_tok_s_per_accelerator"]
        assert cells[("output_tok_s_per_accelerator", "gpu-8b h100-sxm", "value")]["text"] == _fmt(a)
        assert cells[("output_tok_s_per_accelerator", "gpu-8b h200", "value")]["text"] == _fmt(b)
        assert cells[("output_tok_s_per_accelerator", "gpu-8b h200", "ratio")]["text"] == "×" + _fmt(b / a, 3)
        ta, tb = h100[cid]["ttft_s"]["p50"], h200[cid]["ttft_s"]["p50"]
        assert cells[("ttft_p50_s", "gpu-8b h200", "ratio")]["text"] == "×" + _fmt(tb / ta, 3)
        assert ("output_tok_s_per_accelerator", "gpu-8b h100-sxm", "ratio") not in cells  # the baseline has none
    # by hand, from the README's compare table: llama bs1 33.66 vs 39.77 tok/s, ×1.18; bs8 343.9 vs 202.2, ×0.588
    bs1 = page.row("llama-3.1-8b_bs1_in512_out128")
    assert bs1[("output_tok_s_per_accelerator", "gpu-8b h200", "ratio")]["text"] == "×1.18"
    assert page.row("llama-3.1-8b_bs8_in512_out128")[("output_tok_s_per_accelerator", "gpu-8b h200", "ratio")][
        "text"] == "×0.588"
    text = page.visible
    assert "6 case(s) side by side across 2 runs, matched by case id" in text
    assert "the baseline's (gpu-8b h100-sxm, the first run)" in text
    assert "2 runs of 6 case(s), 12 results" in text  # the lead line
    # every number says where it comes from: both runs are committed reference runs
    provs = {h["data-run"]: h["text"] for h in page.heads if "ratio" not in h.get("class", "")}
    assert all("reference" in t for t in provs.values()) and len(provs) == 2
    assert "numbers: h100-sxm: reference (baseline) · h200: reference" in text


def _fmt(v, digits=4):
    from bench.present import fmt

    return fmt(v, digits)


def test_each_value_keeps_its_interval_and_each_run_its_own_validity(tmp_path):
    """Two real runs of configs/ci-smoke-cpu.yaml (5 trials): the side-by-side value is the one-run report's
    value, ± included; each run's badge is that run's verdict of the case."""
    html, _ = write(tmp_path, *CPU)
    page = Cells(html)
    one = Page(write(tmp_path, CPU[1], name="one")[0])
    a, b = cases(CPU[0]), cases(CPU[1])
    labels = [h["data-run"] for h in page.heads[:2]]
    assert labels == ["ci-smoke-cpu Xeon 2026-12-07 0532", "ci-smoke-cpu Xeon 2026-12-07 0533"]
    n_pm = 0
    for cid in a:
        cells = page.row(cid)
        for label, run in zip(labels, (a, b)):
            assert cells[("validity", label, "badge")]["text"] == run[cid]["validity"]["verdict"]
        ci = b[cid]["trials"]["metrics"]["output_tok_s_per_accelerator"]["ci95"]
        value = cells[("output_tok_s_per_accelerator", labels[1], "value")]["text"]
        assert value == f"{_fmt(b[cid]['output_tok_s_per_accelerator'])} ± {_fmt((ci[1] - ci[0]) / 2, 2)}"
        assert value in one.visible  # as the one-run report shows it
        n_pm += sum("±" in c["text"] for k, c in cells.items() if k[2] == "value")
    assert n_pm >= len(a) * 5  # every trial metric of every case keeps its interval
    assert {"warn", "ok"} <= {c["text"] for cid in a for k, c in page.row(cid).items() if k[0] == "validity"}
    assert "numbers: 0532: Xeon, measured (baseline) · 0533: Xeon, measured" in page.visible


def test_a_case_in_one_run_only_is_a_row_that_says_so(tmp_path):
    """The H100's gpu-8b run has six cases; the H200's compiled Llama run two of them."""
    html, md = write(tmp_path, REF[0], H200_COMPILED)
    page = Cells(html)
    h100, h200 = cases(REF[0]), cases(H200_COMPILED)
    assert set(h200) < set(h100)
    for b in page.blocks:
        assert sorted(b) == sorted(h100)
    for cid in h100:
        cells, row = page.row(cid), page.blocks[0][cid]
        if cid in h200:
            assert "partial" not in row["attrs"].get("class", "")
            assert "gpu-8b-c-llama: compile compiled" in cells[("case", None, "text")]["text"]
            assert "| Llama-3.1-8B (1) | b" in md and "- (1) gpu-8b-c-llama: compile compiled" in md  # said once
            continue
        assert "only in gpu-8b" in cells[("case", None, "text")]["text"] and row["attrs"]["class"] == "partial"
        assert cells[("validity", "gpu-8b-c-llama", "badge")]["text"] == "absent"
        assert cells[("output_tok_s_per_accelerator", "gpu-8b-c-llama", "value")]["text"] == "—"
        assert cells[("output_tok_s_per_accelerator", "gpu-8b-c-llama", "ratio")]["text"] == "—"
        assert cells[("output_tok_s_per_accelerator", "gpu-8b", "value")]["text"] == _fmt(
            h100[cid]["output_tok_s_per_accelerator"])
    assert "4 case(s) are not in every run" in page.visible
    text = summary_md(md)
    assert text.count("(only in gpu-8b)") == 4 * text.count("| case | load | valid |")
    assert "| Qwen2.5-7B (only in gpu-8b) | b8 | — · | 374 | — |" in text
    # the baseline is the run given first: the other way round, the H100's cases are "only in gpu-8b"
    s = side(H200_COMPILED, REF[0])
    assert s["baseline"] == "gpu-8b-c-llama" and [r["where"] for r in s["rows"]].count("only in gpu-8b") == 4


def test_three_runs_name_whose_ratio_each_column_is():
    s = side(REF[0], REF[1], H200_COMPILED)
    heads = [h["text"] for h in s["blocks"][0]["groups"][0]["heads"]]
    assert heads == ["gpu-8b h100-sxm", "gpu-8b h200", "gpu-8b-c-llama", "gpu-8b h200 ×", "gpu-8b-c-llama ×"]
    row = next(r for r in s["rows"] if r["case_id"] == "qwen2.5-7b_bs1_in512_out128")
    assert row["where"] == "not in gpu-8b-c-llama"
    for b in s["blocks"]:  # each cell under its own header: every run's value, then each other run's ratio
        for g in b["groups"]:
            heads = [(h["run"], h["ratio"]) for h in g["heads"]]
            assert all([(c["run"], c["ratio"]) for c in r["groups"][g["key"]]] == heads for r in s["rows"])
    bs1 = next(r for r in s["rows"] if r["case_id"] == "llama-3.1-8b_bs1_in512_out128")["groups"]
    texts = [c["text"] for c in bs1["output_tok_s_per_accelerator"]]
    h100, h200, compiled = (cases(r)["llama-3.1-8b_bs1_in512_out128"]["output_tok_s_per_accelerator"]
                            for r in (REF[0], REF[1], H200_COMPILED))
    assert texts == [_fmt(h100), _fmt(h200), _fmt(compiled), "×" + _fmt(h200 / h100, 3),
                     "×" + _fmt(compiled / h100, 3)]


def test_a_run_with_several_provenances_labels_each_cell(tmp_path):
    run = tmp_path / "mixed"
    shutil.copytree(FAKE[1], run)
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    lines[1]["provenance"] = "projected"
    (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    html, md = write(tmp_path, FAKE[0], run)
    page = Cells(html)
    measured, projected = (page.row(lines[i]["case_id"]) for i in (0, 1))
    label = page.heads[1]["data-run"]
    key = ("output_tok_s_per_accelerator", label, "value")
    assert measured[key]["attrs"]["data-provenance"] == "measured" and measured[key]["text"].endswith("measured")
    assert projected[key]["attrs"]["data-provenance"] == "projected" and projected[key]["text"].endswith("projected")
    a100 = ("output_tok_s_per_accelerator", "fake-a100-run", "value")
    assert "data-provenance" not in measured[a100]["attrs"]  # one provenance: said once, in its column header
    assert "mixed (each cell says)" in page.visible
    assert f"{_fmt(lines[1]['output_tok_s_per_accelerator'])} (projected)" in summary_md(md)


def test_the_ratio_by_hand_and_where_it_cannot_be_computed():
    from bench.analysis.report.side import ratio, ratio_text

    assert ratio(39.77, 33.66) == pytest.approx(1.18152, rel=1e-5) and ratio_text(39.77 / 33.66) == "×1.18"
    assert ratio(202.2, 343.9) == pytest.approx(0.58796, rel=1e-4) and ratio_text(202.2 / 343.9) == "×0.588"
    assert ratio(-2.0, 4.0) == -0.5
    for v, base in [(1.0, 0.0), (1.0, None), (None, 1.0), (float("nan"), 1.0), (1.0, float("inf")), (True, 1.0),
                    (1e308, 1e-300), ("1", 1.0)]:
        assert ratio(v, base) is None, (v, base)
    assert ratio_text(None) == "—"


def test_extreme_values_on_two_runs_are_numbers_or_dashes(tmp_path):
    runs = []
    for i, value in enumerate((1e-300, 1e308)):
        run = tmp_path / f"run{i}"
        shutil.copytree(FAKE[i], run)
        lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
        lines[0].update(output_tok_s_per_accelerator=value, ttft_s={"p50": 0.0})
        (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        runs.append(run)
    html, md = write(tmp_path, *runs)
    row = Cells(html).row(lines[0]["case_id"])
    label = Cells(html).heads[1]["data-run"]
    assert row[("output_tok_s_per_accelerator", label, "ratio")]["text"] == "—"  # 1e308 / 1e-300 overflows
    assert row[("ttft_p50_s", label, "ratio")]["text"] == "—"  # ÷ 0
    assert not re.search(r"\b(None|nan|NaN|inf)\b|×—", Page(html).visible + summary_md(md))


# ---------------------------------------------------------------------------------------------- Markdown
@pytest.mark.parametrize("runs", [REF, CPU, [REF[0], H200_COMPILED]], ids=["h100-h200", "cpu", "partial"])
def test_markdown_side_by_side_reads_at_80_columns(tmp_path, runs):
    from rich.console import Console
    from rich.markdown import Markdown

    _, md = write(tmp_path, *runs)
    text = summary_md(md)
    tables = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert tables and all(len(ln) <= 80 for ln in tables), max(tables, key=len)
    n_cases = len(set(cases(runs[0])) | set(cases(runs[1])))
    heads = [ln for ln in tables if ln.startswith("| case |")]
    assert len(tables) == len(heads) * (n_cases + 2)  # one row per case in each table
    assert re.search(r"\| [\d,.]+( ± [\d,.]+)? \| [\d,.]+( ± [\d,.]+)? ×[\d,.]+ \|", text)  # the ratio by the value
    assert "valid: each run's mark, in run order" in text
    for width in (80, 120):  # rendered in a terminal: no cell cut to '…'
        console = Console(width=width, record=True, color_system=None)
        console.print(Markdown(text))
        assert "…" not in console.export_text()


def test_one_run_keeps_its_summary():
    from bench.analysis import compare, report
    from bench.analysis.report import tables, writing

    rep = report.build(compare.load_runs([str(CPU[0])]))
    assert tables.side_summary(rep) is None
    html = writing.render_html(rep, [])
    assert 'class="summary side"' not in html and "table.side" not in html  # nor its CSS
    summary = html.split('<section id="summary">')[1].split("</section>")[0]
    assert summary.count('<tr data-run="ci-smoke-cpu">') == 12  # one row per case, as before


# ---------------------------------------------------------------------------------------------- escaping
def test_markup_in_run_labels_and_case_names_stays_escaped(tmp_path):
    runs = []
    for i, src in enumerate(FAKE):
        run = tmp_path / f"run{i}"
        shutil.copytree(src, run)
        lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
        for c in lines:
            c["case_id"] = c["case_id"] + PAYLOAD
            c["model"]["label"] = "<b>model</b>"
        (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        runs.append(run)
    html, md = write(tmp_path, *runs, extra=("--label", f"{runs[0]}=<i>a</i>{PAYLOAD}", "--label",
                                             f"{runs[1]}=<script>alert(1)</script>"))
    page = Cells(html)
    assert page.blocks and all(len(b) == 2 for b in page.blocks)
    assert "<img src=x" not in html and "<b>model" not in html and "<i>a" not in html
    assert "alert(1)</script>" not in html
    assert not any(k.startswith("on") for _, a in page.tags for k in a)
    assert sum(1 for t, _ in page.tags if t == "script") == 1
    assert f"<i>a</i>{PAYLOAD}" in page.visible and "<b>model</b>" in page.visible  # read as written
    assert any(h["data-run"] == f"<i>a</i>{PAYLOAD}" for h in page.heads)  # attributes too
    text = summary_md(md)
    assert "<img" not in text and "<script" not in text and "<b>" not in text and "&lt;b&gt;model" in text


# ---------------------------------------------------------------------------------------------- Chromium
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (`make chromium` installs it): the "
                                         "headless-browser check of the HTML report was skipped")
@pytest.mark.parametrize("runs", [CPU, [REF[0], REF[1], H200_COMPILED]], ids=["cpu", "three"])
def test_side_by_side_fits_1400px_in_headless_chromium(tmp_path, runs):
    from PIL import Image

    html = tmp_path / "report.html"
    p = cli("report", *runs, "--html", html)
    assert p.returncode == 0, p.stderr
    dom = _chromium(tmp_path, html.as_uri(), "--window-size=1400,900", "--virtual-time-budget=5000", "--dump-dom")
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stderr[-2000:]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert "errors" not in attrs and int(attrs["page-width"]) <= int(attrs["view-width"]) <= 1400
    page = Cells(dom.stdout)
    summary = page.visible.split("Summary", 1)[1].split("Every metric of every case")[0]
    assert page.blocks and not re.search(r"\b(None|nan|NaN)\b", summary)
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, html.as_uri(), "--window-size=1400,900", f"--screenshot={shot}")
    img = Image.open(shot).convert("L")
    assert img.getextrema()[1] - img.getextrema()[0] > 100
