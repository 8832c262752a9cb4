"""Pricing presets (``bench/catalog/data/pricing.yaml``): rentals, ownership (TCO) inputs, electricity prices."""
from __future__ import annotations

import functools
from importlib import resources

import yaml

from bench.errors import InputError


@functools.cache
def data() -> dict:
    return yaml.safe_load(resources.files("bench.catalog.data").joinpath("pricing.yaml").read_text())


def fx_rmb_per_usd() -> float:
    return float(data()["fx_rmb_per_usd"])


def electricity_usd_per_kwh(name: str, fx: float | None = None) -> float:
    e = data()["electricity"].get(name)
    if e is None:
        raise InputError(f"electricity preset '{name}' is unknown; known: {', '.join(data()['electricity'])}")
    if "usd_per_kwh" in e:
        return float(e["usd_per_kwh"])
    return float(e["rmb_per_kwh"]) / (fx or fx_rmb_per_usd())


def preset(name: str) -> dict:
    p = data()["presets"].get(name)
    if p is None:
        raise InputError(f"--pricing '{name}' is unknown; known: {', '.join(data()['presets'])}")
    return dict(p)


def rows() -> list[dict]:
    out = []
    for name, p in data()["presets"].items():
        out.append({"preset": name, "kind": p["kind"], "usd_per_hour": p.get("usd_per_hour"),
                    "capex_usd": p.get("capex_usd"), "life_years": p.get("life_years"), "pue": p.get("pue"),
                    "electricity": p.get("electricity"), "utilisation": p.get("utilisation"),
                    "source": p["source"]})
    for name, e in data()["electricity"].items():
        out.append({"preset": f"electricity:{name}", "kind": "electricity",
                    "usd_per_hour": None, "capex_usd": None, "life_years": None, "pue": None,
                    "electricity": (f"{e['rmb_per_kwh']} RMB/kWh" if "rmb_per_kwh" in e else f"{e['usd_per_kwh']} USD/kWh"),
                    "utilisation": None, "source": e["source"]})
    return out
