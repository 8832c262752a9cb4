"""Which chip a price belongs to: an ownership preset prices only its own chip, a figure given once is said to be
charged for every chip, and each chip's footnote line states what its price is made of (hand-computed numbers)."""
import json

import pytest

from bench.catalog import pricing
from bench.errors import InputError
from conftest import cli, run_cli

# h20-china-tco by hand: capex $20,833 over 5 y, other opex 5 % of capex a year, 1,140 W (the H20's catalog server
# power) x PUE 1.3 x $0.088/kWh, utilisation 0.8
H20_CAPEX_H = 20833 / (5 * 8760)  # 0.475639
H20_OTHER_H = 20833 * 0.05 / 8760  # 0.118910
H20_ENERGY_H = 1.140 * 1.3 * 0.088  # 0.130416
H20_BUSY_H = (H20_CAPEX_H + H20_OTHER_H) / 0.8 + H20_ENERGY_H  # 0.873602


def one_line_error(p) -> str:
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_an_ownership_preset_of_another_chip_is_refused_in_one_line():
    # was: the 910B priced with the H20's capex ($0.476/h for both), exit 0
    line = one_line_error(run_cli("cost", "--pricing", "h20-china-tco", "--hardware", "h20,910b",
                                  "--output-tok-s", "500"))
    assert line.startswith("error: --pricing h20-china-tco prices only h20")
    assert "cannot price 910b" in line and "drop --pricing" in line and "910b: 910b-china-tco" in line
    assert "--capex-usd" in line  # the what-if that charges one capex for every chip


@pytest.mark.parametrize("preset,hw,named", [
    ("910b-china-tco", "h20", "h20: h20-china-tco"),
    ("910c-china-tco", "910b", "910b: 910b-china-tco"),
    ("h100-us-tco", "h100-pcie", "h100-pcie: no price"),  # the preset is the SXM's (8xH100 SXM servers)
    ("h20-china-tco", "h200,mi300x", "h200: its rental; mi300x: no price"),
])
def test_each_ownership_preset_belongs_to_its_chip(preset, hw, named):
    line = one_line_error(cli("cost", "--pricing", preset, "--hardware", hw, "--output-tok-s", "500"))
    assert f"--pricing {preset} prices only {pricing.data()['presets'][preset]['chip']}" in line and named in line


def test_every_preset_names_a_catalog_chip():
    from bench.catalog import hardware

    for name, p in pricing.data()["presets"].items():
        assert hardware.resolve(p["chip"]) is not None, name


def test_the_check_is_in_the_one_place_pricing_is_resolved():
    with pytest.raises(InputError, match="prices only h20"):
        pricing.terms("h20-china-tco", chip_ids=["h20", "910b"])
    assert pricing.terms("h20-china-tco", chip_ids=["h20"]).capex_usd == 20833
    # a rental preset is one all-in $/h: charged for any chip, and it says whom it was quoted for
    t = pricing.terms("h100-ondemand-high", chip_ids=["h200", "910b"])
    assert (t.kind, t.usd_per_hour, t.quoted_for, t.source) == ("rental", 4.0, "h100-sxm", "--pricing h100-ondemand-high")


def test_a_preset_on_its_own_chip_by_hand():
    p = cli("cost", "--pricing", "h20-china-tco", "--hardware", "h20", "--output-tok-s", "500", "--format", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["usd_per_hour"] == pytest.approx(H20_CAPEX_H + H20_OTHER_H + H20_ENERGY_H, rel=1e-6)  # 0.724965
    assert d["usd_per_mtok_output"] == pytest.approx(H20_BUSY_H / (500 * 3600) * 1e6, rel=1e-6)  # 0.485334
    assert d["pricing"] == "--pricing h20-china-tco"
    assert d["terms"]["capex_usd"] == 20833 and d["terms"]["pue"] == 1.3 and d["terms"]["quoted_for"] == "h20"


def test_each_chip_at_its_own_rate_says_what_its_price_is_made_of(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    p = cli("cost", "--hardware", "h20,910b,h200", "--output-tok-s", "500")
    assert p.returncode == 0, p.stderr
    text = " ".join(p.stdout.split())
    assert ("h20: ownership from preset h20-china-tco (its own rate): capex $20,833 over 5 y = $0.476/h + other opex 5% "
            "of capex a year = $0.119/h + energy 1140 W (catalog server power) x PUE 1.3 x $0.088/kWh = $0.130/h; "
            "total $0.725/h (¥5.22); utilisation 0.8: $0.874 per busy hour") in text
    # 910B: $22,222 / (5 x 8760) = 0.507, x 0.05 / 8760 = 0.127, 1.11 kW x 1.3 x 0.088 = 0.127
    assert "910b: ownership from preset 910b-china-tco (its own rate): capex $22,222 over 5 y = $0.507/h" in text
    assert "energy 1110 W (catalog server power) x PUE 1.3 x $0.088/kWh = $0.127/h; total $0.761/h" in text
    assert "h200: rental from its own rate: $3.500/h (¥25.20); utilisation 1: $3.500 per busy hour" in text
    assert "for every chip" not in text  # nothing was given once for all


def test_a_rental_preset_charged_for_other_chips_says_so(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    p = cli("cost", "--pricing", "h100-ondemand-high", "--hardware", "h200,910b", "--output-tok-s", "1000")
    assert p.returncode == 0, p.stderr
    text = " ".join(p.stdout.split())
    assert ("--pricing h100-ondemand-high: one rental, $4.00/h, charged for every chip (h200, 910b), not each chip's "
            "own") in text
    assert "910b: rental from --pricing h100-ondemand-high (quoted for h100-sxm, charged as given for 910b)" in text
    d = json.loads(cli("cost", "--pricing", "h100-ondemand-high", "--hardware", "h200,910b", "--output-tok-s", "1000",
                       "--format", "json").stdout)
    # $4 / (1,000 tok/s x 3,600 s) x 1e6 = $1.1111 per M, for both
    assert [e["usd_per_mtok_output"] for e in d["entries"]] == pytest.approx([4 / 3.6, 4 / 3.6])
    assert all(e["terms"]["quoted_for"] == "h100-sxm" for e in d["entries"])


def test_one_capex_and_one_power_for_several_chips_are_said_once(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    args = ("cost", "--hardware", "h20,910b", "--output-tok-s", "500", "--capex-usd", "30000", "--life-years", "4",
            "--pue", "1.2", "--electricity-usd-per-kwh", "0.1", "--power-w", "900")
    p = cli(*args)
    assert p.returncode == 0, p.stderr
    text = " ".join(p.stdout.split())
    assert "--capex-usd: one capex, $30,000, charged for every chip (h20, 910b), not each chip's own" in text
    assert "--power-w: one power, 900 W, used for every chip (h20, 910b), not each chip's own" in text
    h20, b = json.loads(cli(*args, "--format", "json").stdout)["entries"]
    # 30,000 / (4 x 8760) = 0.856164; 0.9 kW x 1.2 x 0.1 = 0.108; no other opex, utilisation 1
    assert h20["usd_per_hour"] == pytest.approx(0.856164 + 0.108, rel=1e-5) == b["usd_per_hour"]
    assert h20["pricing"] == "--capex-usd as given"
    # one chip: nothing is charged "for every chip"
    one = cli("cost", "--hardware", "h20", *args[3:])
    assert one.returncode == 0 and "for every chip" not in one.stdout


def test_given_ownership_figures_win_over_the_presets_and_say_so():
    d = json.loads(cli("cost", "--pricing", "h20-china-tco", "--hardware", "h20", "--output-tok-s", "500",
                       "--life-years", "3", "--format", "json").stdout)
    assert d["hourly"]["capex_usd"] == pytest.approx(20833 / (3 * 8760), rel=1e-6)  # 0.792733 (was: 5 y, silently)
    assert d["pricing"] == "--pricing h20-china-tco, --life-years as given"
    own = json.loads(cli("cost", "--hardware", "h20", "--output-tok-s", "500", "--pue", "1.5", "--format",
                         "json").stdout)
    assert own["hourly"]["energy_usd"] == pytest.approx(1.140 * 1.5 * 0.088, rel=1e-6)  # 0.25080 (was: PUE 1.3)
    assert own["pricing"] == "preset h20-china-tco (its own rate), --pue as given"


@pytest.mark.parametrize("hw,flags,said", [
    ("h200", ["--pue", "1.5"], "--pue applies to ownership pricing"),
    ("h200,mi300x", ["--life-years", "3", "--power-w", "500"], "h200: rental from its own rate; mi300x: no price"),
    ("h20", ["--rental-usd-per-hour", "2", "--electricity-usd-per-kwh", "0.1"], "rental from --rental-usd-per-hour"),
    ("h20", ["--pricing", "h800-deepseek", "--server-overhead", "1.5"], "drop --server-overhead"),
])
def test_ownership_figures_that_would_change_nothing_are_refused(hw, flags, said):
    line = one_line_error(cli("cost", "--hardware", hw, "--output-tok-s", "500", *flags))
    assert "no chip here is priced by ownership" in line and said in line


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("flags", [
    ["--hardware", "h20,910b,910c,h200,mi300x"],
    ["--hardware", "h20,910b", "--capex-usd", "30000", "--life-years", "4", "--pue", "1.2",
     "--electricity-usd-per-kwh", "0.1", "--power-w", "900"],
    ["--hardware", "h200,910b", "--pricing", "h100-ondemand-high"],
])
def test_cost_tables_fit_the_terminal(monkeypatch, width, flags):
    monkeypatch.setenv("COLUMNS", str(width))
    p = cli("cost", *flags, "--output-tok-s", "500")
    assert p.returncode == 0, p.stderr
    assert max(len(line) for line in p.stdout.splitlines()) <= width


def test_capacity_given_rental_is_labelled_and_charged_per_busy_hour(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    args = ("capacity", "--compare", "h20,910b", "--model", "Qwen3-32B", "--input-tokens", "1024", "--output-tokens",
            "256", "--power-mw", "10", "--rental-usd-per-hour", "2", "--utilisation", "0.5")
    p = cli(*args)
    assert p.returncode == 0, p.stderr
    text = " ".join(p.stdout.split())
    # was "$/M out (own rate)" over a given rental
    assert "$/M out (given rental)" in text and "own rate" not in text
    assert "--rental-usd-per-hour: one rental, $2.00/h, charged for every chip (h20, 910b), not each chip's own" in text
    assert max(len(line) for line in p.stdout.splitlines()) <= 80
    for r in json.loads(cli(*args, "--format", "json").stdout)["rows"]:
        # $2/h at utilisation 0.5 is $4 per busy hour, as cost and the own rate charge it (was $2: utilisation ignored)
        assert r["usd_per_mtok_output"] == pytest.approx(4 / (r["output_tok_s_per_accelerator"] * 3600) * 1e6, rel=1e-9)
