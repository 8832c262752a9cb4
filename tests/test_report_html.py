"""The HTML report: built around runs, escaped by its template engine, and checked in real headless Chromium.

The browser test renders two-run reports at 1,400 px and reads back what the page itself measured (its
scroll width against the window's width, which charts decoded) plus its visible text."""
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT, cli, write_config

FAKE = [ROOT / "tests" / "data" / "runs" / "fake-a100-run", ROOT / "tests" / "data" / "runs" / "fake-h20-run"]
REF = [ROOT / "results" / "reference" / "h100" / "gpu-8b-20261127T121344Z",
       ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAYLOAD = '"><img src=x onerror=alert(2)>'


class Page(HTMLParser):
    """Tags, attributes, visible text and chart boxes of an HTML page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.charts: dict[str, dict] = {}
        self._skip = 0
        self._chart: str | None = None
        self._empty = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in ("script", "style", "title"):
            self._skip += 1
        if tag == "figure" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = {"img": False, "sentence": ""}
        if self._chart and tag == "img" and "chart" in (a.get("class") or "").split():
            self.charts[self._chart]["img"] = a.get("src", "").startswith("data:image/png;base64,")
        if self._chart and tag == "p" and "chart-empty" in (a.get("class") or "").split():
            self._empty = True

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._skip -= 1
        if tag == "figure":
            self._chart = None
        if tag == "p":
            self._empty = False

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
        if self._empty and self._chart:
            self.charts[self._chart]["sentence"] += data

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def report(tmp_path, *runs, name="r.html", extra=()) -> str:
    html = tmp_path / name
    p = cli("report", *runs, "--html", html, *extra)
    assert p.returncode == 0, p.stderr
    return html.read_text()


# ---------------------------------------------------------------------------------------------- layout
def test_two_run_report_is_built_around_runs(tmp_path):
    page = Page(report(tmp_path, *REF))
    text = page.visible
    # a header per run: hardware, machine, engine and versions, date, config, validity
    assert text.count("hardware") >= 2 and "NVIDIA H100 80GB HBM3" in text and "NVIDIA H200" in text
    assert "transformers 5.17.0" in text and "torch 2.11.0" in text and "2026-11-27 12:13 UTC" in text
    assert "sha256 8780e9155182" in text
    # the summary: the runs side by side (tests/test_report_side.py), units in the headers; both run names
    heads = [a for t, a in page.tags if t == "th"]
    assert heads and "gpu-8b h100-sxm" in text and "gpu-8b h200" in text
    for h in ("TTFT p50 ms", "TPOT p50 ms", "out tok/s/acc", "$/M out", "MBU %"):
        assert h in text, h
    assert {a["data-run"] for a in heads if "data-run" in a} == {"gpu-8b h100-sxm", "gpu-8b h200"}
    # every chart has data here (both GPUs have a price and an energy sensor)
    assert set(page.charts) >= {"pareto", "throughput", "ttft-p50-s", "tpot-p50-s", "cost", "energy"}
    assert all(c["img"] for c in page.charts.values()), page.charts
    assert not re.search(r"\b(None|nan|NaN)\b", text)


def test_series_are_one_per_run_model_backend_in_load_order():
    from bench.analysis import report
    from bench.analysis.compare import load_runs  # the labels every view uses (catalog ids)

    runs = load_runs([str(p) for p in REF])
    rep = report.build(runs, None, "own")
    names = [(s.run_label, s.name) for s in rep.series]
    assert names == [("gpu-8b h100-sxm", "Llama-3.1-8B · transformers bfloat16"),
                     ("gpu-8b h100-sxm", "Qwen2.5-7B · transformers bfloat16"),
                     ("gpu-8b h200", "Llama-3.1-8B · transformers bfloat16"),
                     ("gpu-8b h200", "Qwen2.5-7B · transformers bfloat16")]
    for s in rep.series:  # one run's points only, in batch order: no line from one run into another
        assert [p.x for p in s.points] == [1, 8, 32] and {p.run for p in s.points} == {s.run}
    styles = report.charts._styles(rep)
    h100, h200 = ({styles[id(s)][0] for s in rep.series if s.run == i} for i in (0, 1))
    assert h100.isdisjoint(h200)  # colours: one family per run


def test_a_chart_with_nothing_to_show_is_one_sentence_saying_what_to_pass(tmp_path):
    # the A100 has no price and the H20 run has no energy sensor
    page = Page(report(tmp_path, FAKE[0]))
    assert not page.charts["cost"]["img"]
    assert "has no price: pass `--rental-usd-per-hour`" in page.charts["cost"]["sentence"]
    # a summary column that would be "—" in every row is left out, and named once under the table
    heads = [t for t in page.visible.split("Summary", 1)[1].split("Not measured in any case")[0].split("\n")]
    assert "$/M out" not in " ".join(heads) and "so not in the table: $/M out" in " ".join(page.visible.split())
    page = Page(report(tmp_path, FAKE[1], name="h20.html"))
    assert "Energy was not measured" in page.charts["energy"]["sentence"]
    assert "energy.source: estimate-tdp" in page.charts["energy"]["sentence"]
    page = Page(report(tmp_path, FAKE[0], name="priced.html", extra=("--rental-usd-per-hour", "2")))
    assert page.charts["cost"]["img"] and "rental $2.00/accelerator-hour" in page.visible


def test_warnings_list_every_warn_and_invalid_case_with_reasons(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FAKE[0], run)
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    lines[0]["validity"] = {"verdict": "warn", "reasons": ["host CPU pressure 52 % (> 10 %)"]}
    lines[1]["validity"] = {"verdict": "invalid", "reasons": ["5/64 requests failed", "trial CV 31 %"]}
    (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    page = Page(report(tmp_path, run))
    text = page.visible
    warn_part = text[text.index("Warnings validity run case reasons"):text.index("Charts")]
    assert "5/64 requests failed; trial CV 31 %" in warn_part and "host CPU pressure 52 %" in warn_part
    assert warn_part.index("invalid") < warn_part.index("warn ")  # worst first
    assert "1 warn" in text and "1 invalid" in text  # the run header's validity summary


def test_trials_interval_and_prefix_cache_and_turns_are_shown(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FAKE[0], run)
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    lines[0]["trials"] = {"n": 3, "metrics": {"output_tok_s_per_accelerator": {"mean": 50.0, "ci95": [48.0, 52.0]}}}
    lines[1]["prefix_cache"] = {"hits": 300, "queries": 400, "hit_rate": 0.75, "source": "server /metrics"}
    lines[1]["turns"] = [{"turn": 1, "input_tokens_mean": 100, "ttft_s": {"p50": 0.012}},
                         {"turn": 2, "input_tokens_mean": 200, "ttft_s": {"p50": 0.013}}]
    lines[1]["dataset"] = {"requests": 8, "input_tokens": {"mean": 150, "histogram": {"counts": [3, 5],
                           "edges": [100, 150, 200]}}, "output_tokens": {"mean": 32}, "shared_prefix_share": 0.5}
    (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    page = Page(report(tmp_path, run))
    text = page.visible
    assert "50 ± 2" in text  # the 95 % interval: half of 52 - 48
    assert "prefix hit %" in text and "75 % (server)" in text and "1: 12 · 2: 13" in text
    assert page.charts["turns"]["img"] and page.charts["dataset-lengths"]["img"]


# ---------------------------------------------------------------------------------------------- escaping
def _poison(obj, payload: str, keep=("status", "schema_version")):
    """Every string value replaced by ``payload`` (at any depth), but the keys the reader needs as they are."""
    if isinstance(obj, dict):
        return {k: (v if k in keep else _poison(v, payload, keep)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_poison(v, payload, keep) for v in obj]
    return payload if isinstance(obj, str) else obj


@pytest.mark.parametrize("payload", [PAYLOAD, "'><svg onload=alert(1)>", "</script><script>alert(3)</script>",
                                     "{{ 7*7 }} $x^{2}$ [b]rich[/b]"])
def test_every_string_of_case_manifest_and_config_is_escaped(tmp_path, payload):
    run = tmp_path / PAYLOAD.replace("/", "")  # the run directory's own name too
    shutil.copytree(REF[0], run)
    m = json.loads((run / "manifest.json").read_text())
    m = _poison(m, payload)
    m["environment"]["versions"] = {"torch": payload, "transformers": payload}
    (run / "manifest.json").write_text(json.dumps(m))
    lines = [_poison(json.loads(x), payload) for x in (run / "cases.jsonl").read_text().splitlines()]
    lines[0]["validity"] = {"verdict": payload, "reasons": [payload]}
    lines[1]["validity"] = {"verdict": "warn", "reasons": [payload]}
    lines[1]["prefix_cache"] = {"hit_rate": 0.5, "source": payload}
    (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (run / "requests.jsonl").write_text("")
    html = tmp_path / "r.html"
    p = cli("report", run, FAKE[0], "--html", html, "--markdown", tmp_path / "r.md")
    assert p.returncode == 0, p.stderr
    text = html.read_text()
    page = Page(text)
    # no live tag or attribute from the payload: only the page's own tags, images and script
    assert {t for t, _ in page.tags} <= {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
                                         "h4", "p", "section", "div", "article", "span", "dl", "dt", "dd", "code",
                                         "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "ul",
                                         "li", "figure", "figcaption", "img", "pre", "script"}
    assert all(a.get("src", "").startswith("data:image/png;base64,") for t, a in page.tags if t == "img")
    assert not any(k.startswith("on") for _, a in page.tags for k in a)
    assert sum(1 for t, _ in page.tags if t == "script") == 1
    if any(ch in payload for ch in "<>\"'&"):
        assert payload not in text  # the raw text never: only its escaped form
    assert payload in page.visible  # and it reads as written (a template expression in the data is not run)
    assert "<img src=x" not in text and "<svg" not in text and "alert(3)</script>" not in text
    md = (tmp_path / "r.md").read_text()  # Markdown renderers run inline HTML: escaped there too
    assert "<img" not in md and "<svg" not in md and "<script" not in md


# ---------------------------------------------------------------------------------------------- crashes
def test_report_of_a_run_with_one_output_token(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", f"""
name: one-token
models: [tiny:llama]
backend: {{kind: transformers, dtype: float32, device: cpu, threads: 1}}
workload: {{input_tokens: 8, output_tokens: 1, batch_sizes: [1, 2], num_batches: 1, warmup: 0, repeats: 1, seed: 0}}
energy: {{source: none}}
output_dir: {tmp_path / 'out'}
""")
    html = tmp_path / "r.html"
    p = cli("run", cfg, "--report", html)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "internal" not in p.stderr
    page = Page(html.read_text())
    assert "every request produced one output token" in page.charts["pareto"]["sentence"]
    assert "workload.output_tokens of 2 or more" in page.charts["tpot-p50-s"]["sentence"]
    assert page.charts["throughput"]["img"] and page.charts["ttft-p50-s"]["img"]


@pytest.mark.parametrize("damage", [
    {"trials": "x"}, {"trials": {"n": 3, "metrics": 3}}, {"trials": {"metrics": {"output_tok_s": {"ci95": [1]}}}},
    {"trials": {"n": 3, "metrics": {"output_tok_s_per_accelerator": {"mean": 1, "ci95": ["a", None]}}}},
    {"validity": "bad"}, {"validity": {"verdict": "warn", "reasons": "abc"}},
    {"validity": {"verdict": "warn", "reasons": [1, None]}}, {"validity": {"verdict": ["x"]}},
    {"dataset": "x"}, {"dataset": {"input_tokens": {"histogram": 3}}},
    {"dataset": {"input_tokens": {"histogram": {"counts": [1], "edges": "a"}}}},
    {"dataset": {"input_tokens": {"histogram": {"counts": [1, 2], "edges": [0, 1e308, float("inf")]}}}},
    {"turns": [{"turn": "x"}]}, {"turns": {"a": 1}}, {"prefix_cache": {"hit_rate": "most"}},
    {"output_tok_s_per_accelerator": 1e308, "ttft_s": {"p50": 1e300}, "tpot_s": {"p50": 1e-300}},
])
def test_damaged_blocks_are_one_line_or_rendered(tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(FAKE[0], run)
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    lines[0].update(damage)
    (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    p = cli("report", run, "--html", tmp_path / "r.html", "--markdown", tmp_path / "r.md")
    assert p.returncode in (0, 2), p.stderr
    assert "internal" not in p.stderr and "Traceback" not in p.stderr
    if p.returncode == 2:
        assert len(p.stderr.strip().splitlines()) == 1 and "cases.jsonl" in p.stderr, p.stderr
    else:
        assert not re.search(r"\b(None|nan|NaN|inf)\b", Page((tmp_path / "r.html").read_text()).visible)


@pytest.mark.parametrize("value", ["1e308", "1e300", "1e-300"])
def test_extreme_numbers_in_a_user_chip_file(tmp_path, monkeypatch, value):
    from bench.catalog import hardware

    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "mine.yaml").write_text(f"""chips:
  - id: h20
    vendor: Me
    name: My H20
    year: 2025
    tflops: {{fp32: {value}, bf16: {value}, fp16: {value}, fp8: {value}}}
    memory_gb: {value}
    bandwidth_tbs: {value}
    tdp_w: {value}
    server_power_w: {value}
    sources: {{tflops: me, memory_gb: me, bandwidth_tbs: me, tdp_w: me, server_power_w: me}}
""")
    monkeypatch.setenv("BENCH_HARDWARE_DIR", str(tmp_path / "hw"))
    hardware._chips.cache_clear()
    try:
        p = cli("report", FAKE[1], "--html", tmp_path / "r.html", "--capacity")
    finally:
        monkeypatch.delenv("BENCH_HARDWARE_DIR")
        hardware._chips.cache_clear()
    assert p.returncode in (0, 2) and "internal" not in p.stderr, p.stderr
    if p.returncode == 2:
        assert len(p.stderr.strip().splitlines()) == 1 and "mine.yaml" in p.stderr, p.stderr


# ---------------------------------------------------------------------------------------------- Chromium
def _chromium(tmp_path, url: str, *flags: str) -> subprocess.CompletedProcess:
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / ('u' + str(len(flags)))}"]
    return subprocess.run([*base, *flags, url], capture_output=True, text=True, timeout=120)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (`make chromium` installs it): the "
                                         "headless-browser check of the HTML report was skipped")
@pytest.mark.parametrize("runs", [REF, FAKE], ids=["h100-h200", "a100-h20"])
def test_report_in_headless_chromium_fits_1400px(tmp_path, runs):
    from PIL import Image

    html = tmp_path / "report.html"
    p = cli("report", *runs, "--html", html, "--capacity")
    assert p.returncode == 0, p.stderr
    text = html.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched when it is opened
    dom = _chromium(tmp_path, html.as_uri(), "--window-size=1400,900", "--virtual-time-budget=5000", "--dump-dom")
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stderr[-2000:]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert "errors" not in attrs  # no script error on the page
    assert int(attrs["page-width"]) <= int(attrs["view-width"]) <= 1400  # no horizontal scroll at 1,400 px
    page = Page(dom.stdout)
    assert int(attrs["charts-expected"]) == len(page.charts)
    drawn = sum(1 for c in page.charts.values() if c["img"])
    assert int(attrs["charts-drawn"]) == drawn  # every image decoded
    for name, c in page.charts.items():  # every chart has data or its sentence
        assert c["img"] or len(c["sentence"].strip()) > 20, name
    assert not re.search(r"\b(None|nan|NaN)\b", page.visible)
    from bench.analysis.compare import load_runs  # the labels every view uses (catalog ids)

    for run in load_runs([str(r) for r in runs]):  # both run names
        assert run.label in page.visible
    errors = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln and "ERROR" in ln.upper()]
    assert not errors, errors
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, html.as_uri(), "--window-size=1400,900", f"--screenshot={shot}")
    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100 and len(set(img.resize((64, 64)).tobytes())) > 20  # not a blank page


def test_failed_cases_are_warnings_and_a_run_with_none_ok_has_sentences(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FAKE[1], run)
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    for c in lines:
        c.update(status="failed", error="CUDA out of memory at batch 8")
    (run / "cases.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    page = Page(report(tmp_path, run))
    text = page.visible
    assert "2 failed" in text and "CUDA out of memory at batch 8" in text
    for name in ("pareto", "throughput", "cost", "energy"):
        assert not page.charts[name]["img"] and "No case succeeded" in page.charts[name]["sentence"], name
    assert not re.search(r"\b(None|nan|NaN)\b", text)
