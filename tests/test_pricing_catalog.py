"""The pricing catalog's per-chip rates (bench/catalog/data/pricing.yaml `chips:`): sourced, dated, consistent."""
import pytest

from bench.catalog import hardware, pricing


def test_every_chip_rate_names_a_catalog_chip_a_source_and_a_date():
    chips = pricing.data()["chips"]
    known = hardware.chips()
    for chip_id, c in chips.items():
        assert chip_id in known, chip_id
        assert c.get("source") and c.get("date"), chip_id
        assert c.get("rental_usd_per_hour") is not None or c.get("tco") in pricing.data()["presets"], chip_id


def test_rental_defaults_lie_inside_their_published_range():
    for chip_id, c in pricing.data()["chips"].items():
        if c.get("rental_usd_per_hour") is None:
            continue
        lo, hi = c["rental_range_usd_per_hour"]
        assert 0 < lo <= c["rental_usd_per_hour"] <= hi, chip_id


def test_h200_is_priced_and_ascend_chips_by_ownership():
    h200 = pricing.chip_price("h200")
    assert h200["kind"] == "rental" and h200["usd_per_hour"] == pytest.approx(3.50)
    assert h200["range_usd_per_hour"] == [2.50, 7.00] and "nebius" in h200["source"].lower()
    # no sourced rental for the Ascend chips: priced by ownership from public purchase prices, their own presets
    assert pricing.chip_price("910b")["preset"] == "910b-china-tco"
    assert pricing.chip_price("910c")["preset"] == "910c-china-tco"
    assert pricing.chip_price("mi300x") is None
    assert pricing.chip_price("h20")["kind"] == "tco"
