"""compare: golden files over fixed result directories from two fake hardware names.
report: a self-contained HTML page rendered in real headless Chromium."""
import json
import os
import shutil
import subprocess

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
    assert "h20 TCO h20-china-tco" in d["rows"][2]["pricing"] and d["rows"][2]["usd_per_mtok_output"] > 0
    # --pricing still overrides: $2/h at a decode rate of 128 / (2.56 s - 0.04 s prefill) = 50.79 tok/s
    a100 = json.loads(cli("compare", *RUNS, "--format", "json", "--pricing", "h800-deepseek").stdout)["rows"][0]
    assert a100["usd_per_mtok_output"] == pytest.approx(2 / (128 / (2.56 - 0.04) * 3600) * 1e6)
    assert a100["j_per_output_tok"] == pytest.approx(5.0) and a100["provenance"] == "measured"
    h20 = d["rows"][2]
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
    assert len(df) == 4 and "tpot_p99_ms" in df.columns
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
    assert [x.name for x in pngs] == ["cost.png", "energy.png", "latency.png", "pareto.png"]
    assert all(x.read_bytes().startswith(b"\x89PNG") for x in pngs)
    assert "![Throughput per accelerator" in text and "report_charts/pareto.png" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (make test installs it when apt-get "
                                         "works): the headless-browser check of the HTML report was skipped")
def test_html_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    html = tmp_path / "report.html"
    p = cli("report", *RUNS, "--html", html, "--capacity")
    assert p.returncode == 0, p.stderr
    page = html.read_text()
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # nothing fetched
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"]
    shot = tmp_path / "shot.png"
    r = subprocess.run([*flags, f"--user-data-dir={tmp_path / 'u1'}", "--window-size=1400,3000",
                        f"--screenshot={shot}", html.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100  # not a blank page
    assert len(set(img.resize((64, 128)).tobytes())) > 20
    dom = subprocess.run([*flags, f"--user-data-dir={tmp_path / 'u2'}", "--virtual-time-budget=3000", "--dump-dom",
                          html.as_uri()], capture_output=True, text=True, timeout=120)
    assert 'data-charts-expected="5"' in dom.stdout
    assert 'data-charts-drawn="5"' in dom.stdout  # every chart decoded and drawn
    assert "data-errors" not in dom.stdout  # no script error on the page
    console_errors = [ln for ln in (r.stderr + dom.stderr).splitlines() if "CONSOLE" in ln and "ERROR" in ln.upper()]
    assert not console_errors, console_errors


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
    assert "## Projected tokens of the Exhibit 63 fleets (with bands)" in md.read_text()
