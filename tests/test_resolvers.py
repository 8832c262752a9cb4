"""One resolver per identity (model label, dtype, hardware label, pricing), the device a run is labelled
with, and the one number formatter. Expected values are worked out by hand in the comments."""
import json
import math
import shutil

import pytest

from conftest import ROOT
from bench import present
from bench.analysis import capacity, compare, cost, efficiency
from bench.catalog import dtypes, hardware, pricing
from bench.catalog import models as catalog
from bench.errors import ConfigError, InputError
from bench.measure import sysinfo

FAKE_A100 = ROOT / "tests" / "data" / "runs" / "fake-a100-run"


# ---------------------------------------------------------------------------- dtypes
def test_dtype_aliases_resolve_in_one_place():
    assert [dtypes.canonical(d) for d in ("bfloat16", "float16", "float32", "float8", "bf16", "int8")] == \
        ["bf16", "fp16", "fp32", "fp8", "bf16", "int8"]
    assert dtypes.canonical("fp4") == "fp4"  # not an alias: the caller says what it lacks
    assert dtypes.bytes_per_element("bfloat16") == 2.0 and dtypes.bytes_per_element("int4") == 0.5
    with pytest.raises(ConfigError, match="dtype 'fp4' is unknown"):
        dtypes.bytes_per_element("fp4")
    # the hardware catalog and the model catalog read the same aliases
    h100 = hardware.get_chip("h100-sxm")
    assert h100.peak_tflops("bfloat16") == h100.peak_tflops("bf16")
    m = catalog.get_model("Llama-3.1-8B")
    assert catalog.weight_bytes(m, "bfloat16") == catalog.weight_bytes(m, "bf16") == 2 * catalog.param_count(m)


# ---------------------------------------------------------------------------- models
def test_resolve_model_handles_tiny_catalog_ids_and_case():
    assert catalog.resolve_model("tiny:llama") is catalog.TINY["llama"]
    assert catalog.resolve_model("llama-3.1-8b") is catalog.models()["Llama-3.1-8B"]
    assert catalog.resolve_model("tiny:nope") is None
    assert catalog.resolve_model("my-local-dir") is None and catalog.resolve_model(None) is None
    with pytest.raises(ConfigError, match="'my-local-dir' is not in the catalog"):
        catalog.get_model("my-local-dir")


# ---------------------------------------------------------------------------- hardware
@pytest.mark.parametrize("label,chip_id", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H200", "h200"), ("NVIDIA H20 (fake)", "h20"),
    ("h20", "h20"), ("910B", "910b"), ("Ascend-910B", "910b"), ("NVIDIA L4", None), ("AMD Instinct MI250X", None),
    ("Intel(R) Xeon(R) Platinum 8480+ of another machine", None), ("", None), (None, None)])
def test_hardware_resolve(label, chip_id):
    chip = hardware.resolve(label)
    assert (chip.id if chip else None) == chip_id


def test_this_machines_cpu_resolves_to_the_local_cpu_entry():
    chip = hardware.resolve(sysinfo.hardware_label([], "cpu"))
    assert chip is not None and chip.id == "cpu"


def test_an_unknown_gpu_gets_no_efficiency_and_a_warning(tmp_path):
    run = tmp_path / "l4-run"
    shutil.copytree(FAKE_A100, run)
    man = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**man, "hardware": "NVIDIA L4"}))
    # each case carries the hardware it ran on (a run over several hosts labels its cases), which the derived
    # efficiency follows: an L4 run says L4 in both places
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines() if x.strip()]
    (run / "cases.jsonl").write_text("".join(json.dumps({**c, "hardware": "NVIDIA L4"}) + "\n" for c in lines))
    runs = compare.load_runs([str(FAKE_A100), str(run)])
    rows, warns = compare.case_rows(runs), compare.warnings(runs)
    known = [r for r in rows if r.run.manifest.hardware != "NVIDIA L4"]
    unknown = [r for r in rows if r.run.manifest.hardware == "NVIDIA L4"]
    assert len(unknown) == 2 and all(r.values["mbu"] is None and r.values["mfu"] is None for r in unknown)
    assert known and all(r.values["mbu"] is not None for r in known)  # the A100 run, same cases, keeps its MBU
    assert any("'NVIDIA L4' is not in the hardware catalog" in w for w in warns)
    case = json.loads((run / "cases.jsonl").read_text().splitlines()[0])
    eff = efficiency.for_case(case, "NVIDIA L4")
    assert eff["mbu"] is None and "not in the hardware catalog" in eff["note"]
    with pytest.raises(InputError, match="'NVIDIA L4' is not in the hardware catalog"):
        efficiency.calibration_from_run(str(run))  # never calibrated against the local CPU
    assert efficiency.calibration_from_run(str(FAKE_A100))[1].id == "a100"


# ---------------------------------------------------------------------------- the device a run is labelled with
GPUS = [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-aaaa"},
        {"index": 1, "name": "NVIDIA H200", "uuid": "GPU-bbbb"}]


@pytest.mark.parametrize("device,visible,name", [
    ("cuda", None, "NVIDIA H100 80GB HBM3"), ("cuda:0", None, "NVIDIA H100 80GB HBM3"),
    ("cuda:1", None, "NVIDIA H200"),  # the bug: this was labelled with the first GPU
    ("cuda:0", "1", "NVIDIA H200"), ("cuda:0", "GPU-bb", "NVIDIA H200"), ("cuda:1", "1,0", "NVIDIA H100 80GB HBM3"),
    ("cuda:1", "1", "cuda"),  # only one GPU is visible: cuda:1 cannot be told, so it is not guessed
])
def test_hardware_label_is_the_gpu_the_device_uses(device, visible, name):
    assert sysinfo.hardware_label(GPUS, device, visible) == name


# ---------------------------------------------------------------------------- pricing and hourly cost
def test_pricing_terms_resolution():
    assert pricing.terms(rental_usd_per_hour=3.0) == pricing.Terms("rental", 1.0, usd_per_hour=3.0)
    assert pricing.terms("h800-deepseek", utilisation=0.5) == pricing.Terms("rental", 0.5, usd_per_hour=2.0)
    t = pricing.terms("h20-china-tco", other_opex_fraction=0.0)
    assert (t.kind, t.capex_usd, t.life_years, t.pue, t.utilisation, t.other_opex_fraction) == \
        ("tco", 20833, 5, 1.3, 0.8, 0.0)
    with pytest.raises(InputError, match="also needs --life-years, --pue"):
        pricing.terms(capex_usd=1000)
    assert pricing.server_overhead() == 1.82 and pricing.server_overhead(1.5) == 1.5
    assert pricing.rental_rate("h800-deepseek") == (2.0, "h800-deepseek ($2.00/accelerator-hour, quoted for h800)")
    with pytest.raises(InputError, match="ownership preset"):
        pricing.rental_rate("h20-china-tco")


def test_hourly_cost_power_choice_by_hand():
    h100 = hardware.get_chip("h100-sxm")
    t = pricing.terms(capex_usd=43800, life_years=5, pue=1.0, usd_per_kwh=0.1)
    # measured 200 W x overhead 1.5 = 300 W: 0.3 kW x $0.1 = $0.03/h; capex 43800 / (5 x 8760) = $1.00/h
    h = cost.hourly(t, h100, measured_w=200.0, server_overhead=1.5)
    assert h.power_w == pytest.approx(300.0) and h.energy_usd == pytest.approx(0.03)
    assert h.capex_usd == pytest.approx(1.0) and "measured 200.0 W" in h.power_source
    assert cost.hourly(t, h100, measured_w=200.0, power_w=1000.0).energy_usd == pytest.approx(0.1)
    assert cost.measured_power_w({"energy": {"source": "nvml-energy", "avg_power_w": 800.0}, "accelerators": 2}) == 400
    assert cost.measured_power_w({"energy": {"source": "none", "avg_power_w": None}}) is None


# ---------------------------------------------------------------------------- does it fit
def test_one_does_not_fit_check_and_replica_size():
    m, h100 = catalog.get_model("Llama-3.1-70B"), hardware.get_chip("h100-sxm")
    # 70.6 B params x 2 bytes = 141 GB > 80 GB x 0.9: two H100s, not one
    assert capacity.replica_size(m, h100, "bf16", 1000, 1000) == 2
    with pytest.raises(InputError, match=r"does not fit on 1 x h100-sxm \(80 GB each\) even at batch 1"):
        capacity.replica_size(m, h100, "bf16", 1000, 1000, k=1)
    assert capacity.best_dtype(hardware.get_chip("910b")) == "int8"
    assert capacity.best_dtype(h100) == "fp8"


# ---------------------------------------------------------------------------- one formatter
def test_present_formats_numbers_and_missing_values():
    assert present.fixed(1234.5) == "1,234.50" and present.fixed(2, 3) == "2.000"
    assert present.cell(1234.5, 1) == "1,234.5" and present.cell(2024) == "2024" and present.cell("h20") == "h20"
    assert present.fmt(0.00052041) == "0.0005204" and present.fmt(1024.3) == "1,024" and present.fmt(8) == "8"
    assert present.ms(0.0123) == "12.30" and present.pct(0.625) == "62%" and present.pct(-0.3) == "-30%"
    for f in (present.fixed, present.cell, present.fmt, present.ms, present.pct):
        assert f(None) == "—" and f(math.nan) == "—"


# ---------------------------------------------------------------------------- the hardware a case is priced on
def _relabel(tmp_path, name: str, manifest_hw: str, case_hw: list[str]):
    """The fake A100 run with its manifest saying ``manifest_hw`` and its cases, in order, ``case_hw`` (a run over
    several hosts labels each case with the host it ran on)."""
    run = tmp_path / name
    shutil.copytree(FAKE_A100, run)
    man = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**man, "hardware": manifest_hw}))
    lines = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines() if x.strip()]
    (run / "cases.jsonl").write_text("".join(json.dumps({**c, "hardware": hw}) + "\n" for c, hw in zip(lines, case_hw)))
    return run


H100_LABEL, A100_LABEL = "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB (fake)"


def test_a_case_is_priced_on_the_hardware_it_ran_on_as_its_efficiency_is(tmp_path):
    # the same cases, once with the H100 named by the manifest and the cases, once by the cases alone (the manifest
    # says A100, which has no own price): one rule, each case's own hardware, so the two read the same
    both = _relabel(tmp_path, "both", H100_LABEL, [H100_LABEL] * 2)
    cases_only = _relabel(tmp_path, "cases-only", A100_LABEL, [H100_LABEL] * 2)
    rows = compare.case_rows(compare.load_runs([str(both), str(cases_only)]))
    by_run = {}
    for r in rows:
        by_run.setdefault(r.run.path.name, []).append(r)
    for a, b in zip(by_run["both"], by_run["cases-only"]):
        assert a.values["mbu"] is not None and b.values["mbu"] == a.values["mbu"]  # efficiency: the case's H100
        assert a.pricing.startswith("h100-sxm rental $2.00/h") and b.pricing == a.pricing
        assert a.values["usd_per_mtok_output"] is not None
        assert b.values["usd_per_mtok_output"] == a.values["usd_per_mtok_output"]


def test_a_run_over_two_chips_prices_each_case_at_its_own_chips_rate(tmp_path):
    mixed = _relabel(tmp_path, "mixed", H100_LABEL, [H100_LABEL, A100_LABEL])
    h100_row, a100_row = compare.case_rows(compare.load_runs([str(mixed)]))
    assert h100_row.pricing.startswith("h100-sxm rental") and h100_row.values["usd_per_mtok_output"] is not None
    assert h100_row.values["mbu"] is not None and a100_row.values["mbu"] is not None  # A100: in the catalog, no price
    assert a100_row.pricing == pricing.no_price_note("a100") and a100_row.values["usd_per_mtok_output"] is None
    # csv/json/parquet rows name the hardware each case was priced on
    assert list(compare.frame([h100_row, a100_row])["hardware"]) == [H100_LABEL, A100_LABEL]
    # a rental given for every accelerator-hour prices both at it
    given = compare.case_rows(compare.load_runs([str(mixed)]), 2.0, "given")
    assert [r.pricing for r in given] == ["given", "given"]
    assert given[0].values["usd_per_mtok_output"] == h100_row.values["usd_per_mtok_output"]


def test_the_report_names_the_unpriced_hardware_of_the_case(tmp_path):
    from bench.analysis import report
    from bench.analysis.report.charts import chart_cost

    run = _relabel(tmp_path, "a100-cases", H100_LABEL, [A100_LABEL] * 2)  # the manifest's H100 has a price
    chart = chart_cost(report.build(compare.load_runs([str(run)])))
    assert chart.png is None and chart.empty.startswith(f"{A100_LABEL} has no price: pass `--rental-usd-per-hour`")
