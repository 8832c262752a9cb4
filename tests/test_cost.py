"""Cost model: hand-computed rental and TCO cases, RMB, hardware catalog validation, CLI JSON contract."""
import json

import pytest

from bench.analysis import cost
from bench.catalog import hardware
from bench.catalog import pricing
from bench.errors import ConfigError, InputError
from conftest import ROOT, cli

REF_RUN = ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z"


def test_rental_example_from_the_issue():
    # 1,000 output tok/s on one accelerator at $2.00/h: 2 / 3.6e6 tokens * 1e6 = $0.5556 per M
    r = cost.price_tokens(cost.rental(2.0), cost.Rates(output_tok_s=1000), fx=7.2)
    assert r["usd_per_mtok_output"] == pytest.approx(0.5556, abs=1e-4)
    assert r["rmb_per_mtok_output"] == pytest.approx(0.5556 * 7.2, abs=1e-3)
    assert r["usd_per_mtok_input"] is None and r["usd_per_mtok_blended"] == pytest.approx(r["usd_per_mtok_output"])


def test_blended_3_to_1_by_hand():
    # input 10,000 tok/s -> $2/h / 3.6e7 * 1e6 = 0.05556; output 1,000 tok/s -> 0.5556
    r = cost.price_tokens(cost.rental(2.0), cost.Rates(output_tok_s=1000, input_tok_s=10000), fx=7.2)
    assert r["usd_per_mtok_input"] == pytest.approx(0.055556, rel=1e-4)
    assert r["usd_per_mtok_blended"] == pytest.approx((3 * 0.055556 + 0.55556) / 4, rel=1e-4)


def test_rental_utilisation_raises_cost_per_busy_hour():
    r = cost.price_tokens(cost.rental(2.0, utilisation=0.5), cost.Rates(output_tok_s=1000), fx=7.2)
    assert r["usd_per_busy_hour"] == 4.0 and r["usd_per_mtok_output"] == pytest.approx(1.1111, abs=1e-4)


def test_tco_by_hand():
    # capex $30,000 over 5 y: 30000 / 43800 h = 0.684932 $/h
    # energy: 1,000 W x PUE 1.5 = 1.5 kWh per hour x $0.10 = 0.15 $/h
    # other: 5 % of capex a year = 1500 / 8760 = 0.171233 $/h
    h = cost.tco(30000, 5, 1000, 1.5, 0.10, utilisation=0.5, other_opex_fraction=0.05)
    assert h.capex_usd == pytest.approx(0.684932, rel=1e-5)
    assert h.energy_usd == pytest.approx(0.15)
    assert h.other_usd == pytest.approx(0.171233, rel=1e-5)
    assert h.total_usd == pytest.approx(1.006164, rel=1e-5)
    # busy hour: (0.684932 + 0.171233) / 0.5 + 0.15 = 1.862329
    assert h.per_busy_hour_usd == pytest.approx(1.862329, rel=1e-5)
    r = cost.price_tokens(h, cost.Rates(output_tok_s=500), fx=7.2)
    assert r["usd_per_mtok_output"] == pytest.approx(1.862329 / 1.8, rel=1e-5)
    assert r["hourly"]["total_rmb"] == pytest.approx(1.006164 * 7.2, rel=1e-5)


def test_rmb_electricity_preset_converts_at_7_2():
    assert pricing.electricity_usd_per_kwh("guangdong") == pytest.approx(0.45 / 7.2)
    assert pricing.electricity_usd_per_kwh("us-industrial") == 0.08
    assert pricing.fx_rmb_per_usd() == 7.2


def test_rates_from_a_case_split_prefill_and_decode():
    case = {"window_s": 10.0, "prefill_tok_s": 1000.0, "input_tokens": 2000, "output_tokens": 800,
            "accelerators": 2, "provenance": "measured"}
    r = cost.rates_from_case(case)
    # prefill 2 s, decode 8 s: 100 out tok/s, 1000 in tok/s over 2 accelerators
    assert r.output_tok_s == pytest.approx(50.0) and r.input_tok_s == pytest.approx(500.0)
    assert r.total_tok_s == pytest.approx(140.0)


def test_market_margin():
    m = cost.market_comparison(0.1, 0.55, 0.2, 1.1)
    assert m["margin_output"] == pytest.approx(0.5) and m["margin_input"] == pytest.approx(0.5)


def test_every_chip_number_has_a_source_and_positive_peaks():
    want = {"h20", "h100-sxm", "h100-pcie", "h200", "h800", "a100", "a800", "l20", "l40s", "rtx4090", "b200",
            "910b", "910c", "mi300x", "cpu"}
    cat = hardware.chips()
    assert want <= set(cat)
    for c in cat.values():
        assert c.bandwidth_tbs > 0 and c.memory_gb > 0
        assert any(v and v > 0 for v in c.tflops.model_dump().values())
        for f in ("tflops", "memory_gb", "bandwidth_tbs"):
            assert c.sources.get(f), (c.id, f)
    assert any(a.field == "memory_gb" and a.value == 80 for a in cat["h20"].alternatives)
    with pytest.raises(InputError, match="no fp8"):
        cat["910b"].peak_tflops("fp8")


def test_unsourced_user_chip_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HARDWARE_DIR", str(tmp_path))
    f = tmp_path / "mine.yaml"
    f.write_text("chips:\n  - {id: x1, vendor: me, name: X1, year: 2026, tflops: {bf16: 100}, memory_gb: 10,"
                 " bandwidth_tbs: 1, sources: {tflops: me}}\n")
    with pytest.raises(ConfigError, match="sources.memory_gb"):
        hardware.chips()


def test_user_chip_yaml_is_added(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HARDWARE_DIR", str(tmp_path))
    f = tmp_path / "mine.yaml"
    f.write_text("chips:\n  - id: x2\n    vendor: me\n    name: X2\n    year: 2026\n    tflops: {bf16: 100}\n"
                 "    memory_gb: 10\n    bandwidth_tbs: 1\n    sources: {tflops: s, memory_gb: s, bandwidth_tbs: s}\n")
    assert hardware.get_chip("x2").tflops.bf16 == 100


# ---------------------------------------------------------------------------- CLI contract
def test_cli_json_contract_rental():
    p = cli("cost", "--hardware", "h100-sxm", "--output-tok-s", "1000", "--rental-usd-per-hour", "2",
                "--format", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    for key in ("usd_per_hour", "usd_per_mtok_output", "usd_per_mtok_input", "usd_per_mtok_blended",
                "rmb_per_mtok_output", "hourly"):
        assert key in d
    assert d["usd_per_mtok_output"] == pytest.approx(0.5556, abs=1e-4) and d["usd_per_mtok_input"] is None
    assert d["provenance"] == "user"


def test_cli_tco_flags():
    p = cli("cost", "--hardware", "h20", "--output-tok-s", "500", "--input-tok-s", "5000", "--capex-usd", "30000",
                "--life-years", "5", "--power-w", "1000", "--pue", "1.5", "--electricity-usd-per-kwh", "0.1",
                "--format", "json")
    d = json.loads(p.stdout)
    # no utilisation or other opex given: 0.684932 + 0.15 = 0.834932 $/h
    assert d["usd_per_hour"] == pytest.approx(0.834932, rel=1e-5)
    assert d["hourly"]["capex_usd"] == pytest.approx(0.684932, rel=1e-5)
    assert d["usd_per_mtok_input"] == pytest.approx(0.834932 / (5000 * 3600) * 1e6, rel=1e-5)


def test_cli_results_one_entry_per_case_with_market():
    p = cli("cost", "--hardware", "h200", "--results", REF_RUN, "--pricing", "h100-ondemand-high",
                "--model", "Llama-3.1-405B", "--format", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert len(d["entries"]) == 6
    e = d["entries"][0]
    assert e["provenance"] == "measured" and e["market"]["api_usd_per_mtok_output"] == 3.6
    assert e["usd_per_mtok_output"] > 0 and e["usd_per_mtok_input"] > 0


@pytest.mark.parametrize("args,msg", [
    (["--hardware", "h100-sxm", "--output-tok-s", "1000", "--rental-usd-per-hour", "-2"], "--rental-usd-per-hour must be > 0"),
    (["--hardware", "h999", "--output-tok-s", "1000", "--rental-usd-per-hour", "2"], "hardware 'h999' is unknown"),
    (["--hardware", "h100-sxm", "--output-tok-s", "0", "--rental-usd-per-hour", "2"], "--output-tok-s must be > 0"),
    (["--hardware", "h100-sxm", "--output-tok-s", "10", "--pricing", "nope"], "--pricing 'nope' is unknown"),
    (["--hardware", "h100-sxm", "--output-tok-s", "10", "--capex-usd", "1000"], "also needs --life-years"),
])
def test_cli_bad_input_exits_2(args, msg):
    p = cli("cost", *args)
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr


def test_cli_results_without_successful_cases(tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(REF_RUN, run)
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    (run / "cases.jsonl").write_text("".join(json.dumps({**c, "status": "failed"}) + "\n" for c in lines))
    p = cli("cost", "--hardware", "h200", "--results", run, "--rental-usd-per-hour", "2")
    assert p.returncode == 2 and "no successful cases" in p.stderr
