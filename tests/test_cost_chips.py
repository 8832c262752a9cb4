"""Prices for the Chinese accelerators, and `cost` over several chips side by side."""
import json

import pytest

from bench.analysis import cost
from bench.catalog import hardware, pricing
from conftest import cli


def test_910b_tco_by_hand():
    # capex RMB 160,000 / 7.2 = $22,222 over 5 years, 5 % of capex a year other opex, 1,110 W all-in (the report's
    # Exhibit 63) x PUE 1.3 x $0.088/kWh
    t = pricing.own_terms("910b")
    h = cost.hourly(t, hardware.get_chip("910b"))
    assert h.capex_usd == pytest.approx(22222 / (5 * 8760))
    assert h.other_usd == pytest.approx(22222 * 0.05 / 8760)
    assert h.energy_usd == pytest.approx(1.110 * 1.3 * 0.088)
    assert h.total_usd == pytest.approx(0.7612, abs=1e-4)
    assert h.utilisation == 0.8


def test_910c_power_is_the_presets_labelled_assumption():
    h = cost.hourly(pricing.own_terms("910c"), hardware.get_chip("910c"))
    assert h.power_w == 2220 and "ASSUMPTION" in h.power_source
    assert h.capex_usd == pytest.approx(21354 / (5 * 8760))


def test_cost_h20_and_910b_side_by_side():
    p = cli("cost", "--hardware", "h20,910b", "--output-tok-s", "1000", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["hardware"] == ["h20", "910b"]
    h20, b = doc["entries"]
    assert (h20["priced_as"], b["priced_as"]) == ("h20", "910b")
    # per busy hour: (capex + other) / utilisation 0.8 + energy (drawn only when busy); 1,000 tok/s = 3.6 M tok/h
    busy = (22222 / (5 * 8760) + 22222 * 0.05 / 8760) / 0.8 + 1.110 * 1.3 * 0.088
    assert b["usd_per_mtok_output"] == pytest.approx(busy / 3.6, rel=1e-6)
    assert h20["usd_per_mtok_output"] < b["usd_per_mtok_output"]  # same throughput, the 910B costs a little more
    table = cli("cost", "--hardware", "h20,910b", "--output-tok-s", "1000")
    assert table.returncode == 0 and "910b" in table.stdout and "no price" not in table.stdout


def test_a_chip_without_a_price_is_a_row_that_says_so():
    p = cli("cost", "--hardware", "h20,mi300x", "--output-tok-s", "1000")
    assert p.returncode == 0, p.stderr
    assert "no price" in p.stdout and "mi300x: no $/M: no price for 'mi300x'" in p.stdout.replace("\n", " ")
    doc = json.loads(cli("cost", "--hardware", "h20,mi300x", "--output-tok-s", "1000", "--format", "json").stdout)
    assert doc["entries"][1]["usd_per_mtok_output"] is None and "no price" in doc["entries"][1]["price_note"]


def test_cost_project_over_chips_never_aborts_for_one():
    p = cli("cost", "--hardware", "h20,910b", "--project", "--model", "Qwen3-32B", "--input-tokens", "1024",
            "--output-tokens", "256", "--batch", "32", "--dtype", "bf16", "--format", "json")
    assert p.returncode == 0, p.stderr
    h20, b = json.loads(p.stdout)["entries"]
    assert h20["usd_per_mtok_output"] > 0
    # 64 GB of bf16 weights: not on one 64 GB 910B; the row says so and how many would fit
    assert b["fits"] is False and b["usd_per_mtok_output"] is None and b["fewest_accelerators_that_fit"] == 2


def test_a_run_priced_as_another_chip_takes_that_chips_power_not_the_measured_one():
    from conftest import ROOT

    run = ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z"
    doc = json.loads(cli("cost", "--hardware", "h200,910b", "--results", str(run), "--format", "json").stdout)
    b = [e for e in doc["entries"] if e["priced_as"] == "910b"]
    assert b and all(e["hourly"]["power_w"] == 1110 for e in b)  # the 910B's catalog server power
    assert all(e["usd_per_hour"] == pytest.approx(0.7612, abs=1e-4) for e in b)
