"""compare: golden files over fixed result directories from two fake hardware names.
report: the Markdown report and the capacity bands (the HTML report: tests/test_report_html.py)."""
import json
import os
import shutil

import pytest

from conftest import ROOT, cli, run_cli

RUNS = [ROOT / "tests" / "data" / "runs" / "fake-a100-run", ROOT / "tests" / "data" / "runs" / "fake-h20-run"]
GOLDEN = ROOT / "tests" / "golden"


def golden(name: str, text: str):
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; if intended, rerun with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("fmt", ["csv", "md"])
def test_compare_golden(fmt):
    p = cli("compare", *RUNS, "--format", fmt)
    assert p.returncode == 0, p.stderr
    golden(f"compare.{fmt}", p.stdout)


def test_compare_json_rows_and_warnings():
    p = cli("compare", *RUNS, "--format", "json")
    d = json.loads(p.stdout)
    assert len(d["rows"]) == 4
    assert {r["hardware"] for r in d["rows"]} == {"NVIDIA A100-SXM4-80GB (fake)", "NVIDIA H20 (fake)"}
    a100 = d["rows"][0]
    # by default each chip is priced at its own rate: the A100 has none in pricing.yaml, so no $/M (not $0)
    assert a100["usd_per_mtok_output"] is None and "no price for 'a100'" in a100["pricing"]
    # rows are aligned by case: each case's runs together (a100 bs1, h20 bs1, a100 bs8, h20 bs8)
    assert [(r["run"], r["batch_size"]) for r in d["rows"]] == [("fake-a100-run", 1), ("fake-h20-run", 1),
                                                                ("fake-a100-run", 8), ("fake-h20-run", 8)]
    assert "h20 TCO h20-china-tco" in d["rows"][1]["pricing"] and d["rows"][1]["usd_per_mtok_output"] > 0
    # --pricing still overrides: $2/h at a decode rate of 128 / (2.56 s - 0.04 s prefill) = 50.79 tok/s
    a100 = json.loads(cli("compare", *RUNS, "--format", "json", "--pricing", "h800-deepseek").stdout)["rows"][0]
    assert a100["usd_per_mtok_output"] == pytest.approx(2 / (128 / (2.56 - 0.04) * 3600) * 1e6)
    assert a100["j_per_output_tok"] == pytest.approx(5.0) and a100["provenance"] == "measured"
    h20 = d["rows"][1]
    assert h20["j_per_output_tok"] is None and h20["energy_source"] == "none"
    assert any("torch version" in w for w in d["warnings"])
    assert any("CPU pressure 25.0%" in w for w in d["warnings"])


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_compare_parquet_and_output(tmp_path):
    import pandas as pd

    out = tmp_path / "c.parquet"
    p = run_cli("compare", *RUNS, "--format", "parquet", "--output", out)
    assert p.returncode == 0, p.stderr
    df = pd.read_parquet(out)
    assert len(df) == 4 and "tpot_p99_s" in df.columns  # SI units, as the registry declares
    p = run_cli("compare", *RUNS, "--format", "parquet")
    assert p.returncode == 2 and "--output" in p.stderr


def test_reference_runs_are_labelled_reference():
    ref = ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z"
    d = json.loads(cli("compare", ref, "--format", "json").stdout)
    assert {r["provenance"] for r in d["rows"]} == {"reference"}


def test_older_schema_is_refused_clearly(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(RUNS[0], run)
    m = json.loads((run / "manifest.json").read_text())
    m["schema_version"] = 0
    (run / "manifest.json").write_text(json.dumps(m))
    p = cli("compare", run)
    assert p.returncode == 2 and "schema_version 0" in p.stderr and "Traceback" not in p.stderr
    p = cli("compare", tmp_path / "missing")
    assert p.returncode == 2 and "not a run directory" in p.stderr


def test_markdown_report_with_png_charts(tmp_path):
    md = tmp_path / "r" / "report.md"
    p = cli("report", *RUNS, "--markdown", md)
    assert p.returncode == 0, p.stderr
    text = md.read_text()
    pngs = sorted((tmp_path / "r" / "report_charts").glob("*.png"))
    # the H20 run has no energy sensor but the A100 run has one: every chart has data
    assert [x.name for x in pngs] == ["cost.png", "energy.png", "pareto.png", "throughput.png", "tpot-p50-s.png",
                                      "ttft-p50-s.png"]
    assert all(x.read_bytes().startswith(b"\x89PNG") for x in pngs)
    assert "![Throughput per accelerator" in text and "report_charts/pareto.png" in text
    # two runs: side by side per case (tests/test_report_side.py), the H20's value × the A100's
    assert "| case | load | valid | out tok/s/acc fake-a100-run | out tok/s/acc fake-h20-run |" in text
    assert "| Llama-3.1-8B · transformers bfloat16 | b1 | — — | 50 | 100 ×2 |" in text
    summary = text.split("## Summary")[1].split("## Charts")[0]
    assert summary.count("every case: 512 → 128 tokens") == 1 and "in → out tok |" not in summary  # said once
    # one run: one row per case, run, case, load and validity in each table of at most 12 columns
    p = cli("report", RUNS[0], "--markdown", tmp_path / "one.md")
    summary = (tmp_path / "one.md").read_text().split("## Summary")[1].split("## Charts")[0]
    assert "| run | case | load | validity |" in summary
    assert "| fake-a100-run | Llama-3.1-8B · transformers bfloat16 | b1 |" in summary
    assert all(line.count(" | ") + 1 <= 12 for line in summary.splitlines() if line.startswith("|"))  # a CI summary
    assert summary.count("every case: 512 → 128 tokens") == 1 and "in → out tok |" not in summary  # said once
    # a chart with nothing to show is its sentence, in Markdown too
    p = cli("report", RUNS[0], "--markdown", tmp_path / "a100.md")
    assert "has no price: pass `--rental-usd-per-hour`" in (tmp_path / "a100.md").read_text()


def test_report_capacity_shows_projected_tokens_with_bands(tmp_path):
    import re

    from bench.analysis import exhibit63, report

    doc = exhibit63.doc()
    rows = report.capacity_token_rows(doc)
    assert len(rows) == len(doc["token_rows"]) > 0
    for r, t in zip(rows, doc["token_rows"]):
        lo, hi = t["output_tok_s_per_accelerator_range"]
        assert lo <= t["output_tok_s_per_accelerator"] <= hi
        assert re.fullmatch(r"[\d,]+ \([\d,]+–[\d,]+\)", r[3]), r[3]  # '1,010 (850–1,200)'
        assert f"({t['profile_rows']} rows)" in r[5]
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    p = cli("report", *RUNS, "--html", html, "--markdown", md, "--capacity")
    assert p.returncode == 0, p.stderr
    assert 'id="capacity-tokens"' in html.read_text() and rows[0][3] in html.read_text()
    assert 'id="chart-capacity"' in html.read_text()
    assert "## Projected tokens of the Exhibit 63 fleets (with bands)" in md.read_text()
