"""Leave-one-out on a tiny catalog by hand; JSON contracts of `validate`, `project`, `capacity` and `cost`."""
import json
from pathlib import Path

import pytest

from bench.analysis import profiles as PR
from bench.analysis import projection as P
from bench.analysis import validate as V
from bench.catalog import hardware, published
from bench.catalog import models as catalog
from conftest import cli

TRUTH = P.Efficiency(mbu=0.6, mfu=0.4)
CONFIGS = [("output_tok_s_total", "e2e", 1), ("output_tok_s_total", "e2e", 8), ("output_tok_s_total", "e2e", 32),
           ("tpot_ms", "decode", 4), ("tpot_ms", "decode", 64), ("input_tok_s_total", "prefill", 8)]


def tiny_catalog(scale_row: int | None = None) -> list:
    """Six rows on one H100, their values generated from TRUTH (one of them scaled by 2, if asked)."""
    m, chip = catalog.get_model("Llama-3.1-8B"), hardware.get_chip("h100-sxm")
    text = "rows:\n"
    for i, (unit, phase, b) in enumerate(CONFIGS):
        t, _ = PR.terms_for(m, chip, "bf16", 1000, 500, b, 1, unit, phase, f"r{i}")
        v = PR.predict(t, TRUTH) * (2 if i == scale_row else 1)
        text += (f"  - {{id: r{i}, model: Llama-3.1-8B, dtype: bf16, hardware: h100-sxm, accelerators: 1, "
                 f"parallelism: TP1, engine: trtllm, input_tokens: 1000, output_tokens: 500, dataset: random, "
                 f"batch: {b}, value: {v!r}, unit: {unit}, phase: {phase}, source: synthetic test row, ds: D}}\n")
    return published.parse(text, "tiny.yaml")


def test_leave_one_out_by_hand_on_a_tiny_catalog():
    rows = tiny_catalog()
    # consistent rows: each held-out row is projected from the other five within 20 % (the prior towards the
    # datasheet defaults fills what five rows cannot pin, e.g. the MFU once the only prefill row is held out)
    for r in rows:
        assert abs(V.loo_row(rows, r)["error"]) < 0.20
    rows = tiny_catalog(scale_row=1)  # row r1 published at twice the truth
    bad = V.loo_row(rows, rows[1])
    # the other five still fit TRUTH, so r1 is projected at its true value: half of what it claims, error -50 %
    assert bad["error"] == pytest.approx(-0.5, abs=0.1) and bad["inside"] is False
    s = V.summarise([V.loo_row(rows, r) for r in rows])
    assert s[-1]["hardware"] == "all" and s[-1]["rows"] == 6


def test_held_out_and_leave_one_source_out_by_hand_on_a_tiny_catalog():
    rows = list(tiny_catalog())
    m, chip = catalog.get_model("Llama-3.1-8B"), hardware.get_chip("h100-sxm")
    t, _ = PR.terms_for(m, chip, "bf16", 1000, 500, 16, 1, "output_tok_s_total", "e2e", "h")
    # a held-out row published at 1.5x what TRUTH gives: never fitted, so projected near TRUTH, error about -1/3
    text = (f"rows:\n  - {{id: h, model: Llama-3.1-8B, dtype: bf16, hardware: h100-sxm, accelerators: 1, "
            f"parallelism: TP1, engine: trtllm, input_tokens: 1000, output_tokens: 500, dataset: random, batch: 16, "
            f"value: {1.5 * PR.predict(t, TRUTH)!r}, unit: output_tok_s_total, phase: e2e, source: other page, "
            f"ds: D, exclude: 'held out: a test'}}\n")
    (h,) = published.parse(text, "h.yaml")
    assert h.held_out and h.usable is not None and h.source_key == "other page"
    d = V.held_out(rows + [h])
    (r,) = d["rows"]
    assert r["id"] == "h" and r["error"] == pytest.approx(1 / 1.5 - 1, abs=0.08) and r["inside"] is False
    # leave-one-source-out: the six rows are one source, so each is projected from the prior alone (the datasheet
    # defaults), and the held-out row is never a source
    lo = V.leave_one_source_out(rows + [h])
    assert lo["sources"] == 1 and len(lo["rows"]) == 6 and all(x["source"] == "synthetic test row" for x in lo["rows"])
    for x, row in zip(lo["rows"], rows):
        tt, _ = PR.row_terms(row)
        assert x["projected"] == pytest.approx(PR.predict(tt, PR.DEFAULT_PRIOR), rel=0.02)


def test_ratio_pairs_need_the_same_engine_model_and_workload():
    rows = published.rows()
    for a, b in V.ratio_pairs(rows):
        assert a.model == b.model and a.engine_class == b.engine_class and a.hardware != b.hardware
        assert (a.input_tokens, a.output_tokens, a.batch) == (b.input_tokens, b.output_tokens, b.batch)
    assert any({a.hardware, b.hardware} == {"h200", "h100-sxm"} for a, b in V.ratio_pairs(rows))


def test_cli_validate_json_contract():
    p = cli("validate", "--hardware", "910b", "--format", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert set(d) >= {"rows", "summary", "ratios", "ratio_summary", "skipped", "method", "leave_one_source_out",
                      "held_out"}
    assert set(d["held_out"]) >= {"rows", "summary", "ratios", "ratio_summary", "method"}
    assert all(r["hardware"] == "910b" for r in d["held_out"]["rows"] + d["leave_one_source_out"]["rows"])
    assert "ranking_right" in d["ratio_summary"] and d["leave_one_source_out"]["sources"] >= 2
    assert d["rows"] and all(r["hardware"] == "910b" for r in d["rows"])
    for r in d["rows"]:
        assert set(r) >= {"id", "published", "projected", "range", "error", "inside", "profile", "profile_rows"}
        if r["projected"] is not None:
            assert r["range"][0] <= r["projected"] <= r["range"][1]
    overall = d["summary"][-1]
    assert overall["hardware"] == "all" and 0 <= overall["share_inside_band"] <= 1 and overall["median_abs_error"] >= 0
    assert any(s["id"] == "huawei-a2-dsv3-808" for s in d["skipped"])


def test_cli_validate_bad_hardware():
    p = cli("validate", "--hardware", "x9")
    assert p.returncode == 2 and "hardware 'x9' is unknown" in p.stderr and "Traceback" not in p.stderr


def test_cli_project_new_fields_and_unchanged_contract():
    args = ("project", "--model", "Qwen3-32B", "--hardware", "h20,910b", "--input-tokens", "128", "--output-tokens",
            "1024", "--batch", "64", "--dtype", "bf16", "--accelerators", "2", "--format", "json")
    rows = json.loads(cli(*args).stdout)
    for r in rows:
        for k in ("output_tok_s_per_accelerator", "max_batch", "bound", "fits", "ttft_s", "tpot_s", "mbu", "mfu"):
            assert k in r
        lo, hi = r["output_tok_s_per_accelerator_range"]
        assert lo <= r["output_tok_s_per_accelerator"] <= hi
        assert r["tpot_s_range"][0] <= r["tpot_s"] <= r["tpot_s_range"][1]
        assert r["profile"] == r["hardware"] and r["profile_rows"] >= 2 and "published row" in r["evidence"]
    h20, b910 = rows
    # the ranking the measurements show (the H20 ahead per chip; measured more than 3x, projected about 1.9x)
    assert h20["output_tok_s_per_accelerator"] > 1.5 * b910["output_tok_s_per_accelerator"]
    # --profile CHIP=defaults: the datasheet projection, no band (nothing measured to draw it from)
    d = json.loads(cli(*args, "--profile", "910b=defaults").stdout)[1]
    assert d["profile"] == "defaults" and d["output_tok_s_per_accelerator_range"] is None
    assert d["efficiency"]["mbu"] == P.DEFAULT_MBU
    p = cli(*args, "--profile", "910b=nosuch")
    assert p.returncode == 2 and "no such profile" in p.stderr


def test_cli_capacity_bands_and_exhibit_gaps():
    p = cli("capacity", "--compare", "h20,910b", "--model", "Qwen3-32B", "--power-mw", "10", "--input-tokens",
                "1000", "--output-tokens", "1000", "--format", "json")
    h20, b910 = json.loads(p.stdout)["rows"]
    for r in (h20, b910):
        lo, hi = r["tokens_per_day_range"]
        assert lo <= r["tokens_per_day"] <= hi and r["profile_rows"] >= 2
    assert h20["usd_per_mtok_output"] > 0 and "h20-china-tco" in h20["pricing"]
    assert b910["usd_per_mtok_output"] > 0 and "910b-china-tco" in b910["pricing"]
    d = json.loads(cli("capacity", "--scenario", "exhibit63", "--format", "json").stdout)
    assert len(d["efficiency_gaps"]) == 6
    for g in d["efficiency_gaps"]:
        assert g["report_claim"] == [0.25, 0.30] and g["eflops_910b_over_h20"] == pytest.approx(400 / 148)
    assert d["ranking"] and all("EFLOPS rank" in s for s in d["ranking"])
    assert all(t["output_tokens_per_day_range"] for t in d["token_rows"])


def test_cli_cost_prices_each_chip_at_its_own_rate():
    h100 = json.loads(cli("cost", "--hardware", "h100-sxm", "--output-tok-s", "1000", "--format", "json").stdout)
    # $2.00/h (the H100's own rental) / (1000 tok/s x 3600 s) x 1e6 = $0.5556 per M output tokens
    assert h100["usd_per_mtok_output"] == pytest.approx(2.0 / 3.6)
    cpu = json.loads(cli("cost", "--hardware", "cpu", "--output-tok-s", "50", "--format", "json").stdout)
    assert cpu["usd_per_mtok_output"] is None and "no price for 'cpu'" in cpu["price_note"]
    given = json.loads(cli("cost", "--hardware", "cpu", "--output-tok-s", "50", "--pricing", "h800-deepseek",
                               "--format", "json").stdout)
    assert given["usd_per_mtok_output"] == pytest.approx(2.0 / (50 * 3600) * 1e6)


def test_cli_cost_project_with_profile_and_band():
    args = ("cost", "--hardware", "h20", "--project", "--model", "Qwen3-32B", "--input-tokens", "1000",
            "--output-tokens", "1000", "--batch", "64", "--dtype", "fp8", "--format", "json")
    e = json.loads(cli(*args).stdout)
    assert e["provenance"] == "projected" and e["profile"] == "h20" and e["profile_rows"] >= 2
    lo, hi = e["usd_per_mtok_output_range"]
    assert lo <= e["usd_per_mtok_output"] <= hi
    d = json.loads(cli(*args, "--profile", "h20=defaults").stdout)
    assert d["profile"] == "defaults" and d["usd_per_mtok_output_range"] is None
    p = cli("cost", "--hardware", "h20", "--project", "--model", "Qwen3-32B")
    assert p.returncode == 2 and "cost --project also needs --input-tokens" in p.stderr


ACCURACY = Path(__file__).resolve().parent.parent / "docs" / "data" / "accuracy.yaml"


@pytest.mark.slow  # `validate` refits every profile once per row: about a minute here
def test_documented_accuracy_figures_hold():
    """The leave-one-out figures the docs state (docs/data/accuracy.yaml, the one place they live; the docs page
    docs/reference/accuracy.md is generated from it) are what `validate` measures on the shipped catalog."""
    import yaml

    doc = yaml.safe_load(ACCURACY.read_text())
    tol = doc["tolerance"]
    p = cli("validate", "--format", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)

    def same(where, got, want):
        assert got["rows"] == want["rows"], (where, got["rows"], want["rows"])
        assert got["median_abs_error"] == pytest.approx(want["median_abs_error"], abs=tol["median_abs_error"]), where
        assert got["share_inside_band"] == pytest.approx(want["share_inside_band"], abs=tol["share_inside_band"]), where

    got = {s["hardware"]: s for s in d["summary"]}
    assert set(got) == set(doc["leave_one_out"])
    for chip, want in doc["leave_one_out"].items():
        same(f"leave-one-out {chip}", got[chip], want)
    same("leave-one-source-out", d["leave_one_source_out"]["summary"][-1], doc["leave_one_source_out"]["all"])
    same("finite runs", d["finite_runs"]["summary"][-1], doc["finite_runs"]["all"])
    for where, rs, want in (("ratios", d["ratio_summary"], doc["ratios"]),):
        assert (rs["pairs"], rs["ranking_right"]) == (want["pairs"], want["ranking_right"]), where
        assert rs["median_abs_error"] == pytest.approx(want["median_abs_error"], abs=tol["median_abs_error"]), where


def test_refits_spread_over_cores_give_the_serial_numbers_in_order(monkeypatch):
    """`validate`'s refits run in forked workers (validate.in_parallel): the same results, in the same order, as one
    process; few items, or one core, stay in this process."""
    from bench.analysis import validate as V
    from bench.catalog import published

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    calls = []
    assert V.in_parallel(lambda x: calls.append(x) or x, [1, 2, 3]) == [1, 2, 3] and calls == [1, 2, 3]  # in-process
    monkeypatch.setattr(V, "MIN_PARALLEL_ITEMS", 2)
    rows = published.rows()
    use = [r for r in rows if r.usable is None and r.hardware == "910b"][:4]
    serial = [V.loo_row(rows, r) for r in use]
    assert V.in_parallel(lambda r: V.loo_row(rows, r), use) == serial
    calls.clear()
    assert V.in_parallel(lambda x: calls.append(x) or x * x, list(range(40))) == [x * x for x in range(40)]
    assert calls == []  # ran in the workers
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert V.in_parallel(lambda x: calls.append(x) or x, list(range(20))) == list(range(20)) and len(calls) == 20
