"""Pricing presets (``bench/catalog/data/pricing.yaml``): rentals, ownership (TCO) inputs, electricity prices."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def server_overhead(given: float | None = None) -> float:
    """All-in W / chip W: the one that was given, else pricing.yaml's default."""
    return given if given is not None else float(data()["default_server_overhead"])


def rental_rate(preset_name: str | None, usd_per_hour: float | None = None) -> tuple[float, str]:
    """($ per accelerator-hour, a label for tables) of a rental: a given price wins over a preset."""
    if usd_per_hour is not None:
        if usd_per_hour <= 0:
            raise InputError(f"--rental-usd-per-hour must be > 0; found {usd_per_hour:g}")
        return usd_per_hour, f"rental ${usd_per_hour:.2f}/accelerator-hour"
    p = preset(preset_name)
    if p["kind"] != "rental":
        raise InputError(f"--pricing '{preset_name}' is an ownership preset; compare and report take a rental "
                         "preset or --rental-usd-per-hour (use `cost` for ownership)")
    quoted = f", quoted for {p['chip']}" if p.get("chip") else ""
    return p["usd_per_hour"], f"{preset_name} (${p['usd_per_hour']:.2f}/accelerator-hour{quoted})"


@dataclass(frozen=True)
class Terms:
    """What one accelerator-hour costs, before power is chosen: a rental, or ownership (TCO) inputs."""

    kind: str  # rental | tco
    utilisation: float
    usd_per_hour: float | None = None
    capex_usd: float | None = None
    life_years: float | None = None
    pue: float | None = None
    electricity_usd_per_kwh: float | None = None
    other_opex_fraction: float = 0.0
    power_w: float | None = None  # all-in W per accelerator the preset states, for a chip whose catalog has none
    power_source: str | None = None
    source: str = field(default="", compare=False)  # where the terms come from: "--pricing X", "preset X (its own rate)"
    quoted_for: str | None = field(default=None, compare=False)  # the chip a preset was quoted for (its ``chip:``)

    def shown(self) -> dict:
        """The inputs a price is made of, for JSON and footnotes (power is the hourly cost's: it depends on the chip)."""
        return {"source": self.source, "kind": self.kind, "quoted_for": self.quoted_for,
                "usd_per_hour": self.usd_per_hour, "capex_usd": self.capex_usd, "life_years": self.life_years,
                "pue": self.pue, "electricity_usd_per_kwh": self.electricity_usd_per_kwh,
                "other_opex_fraction": self.other_opex_fraction if self.kind == "tco" else None,
                "utilisation": self.utilisation}


def check_preset_chips(preset_name: str, chip_ids: Sequence[str]) -> None:
    """An ownership preset prices only its own chip: its capex is that chip's purchase price, and pairing it with
    another chip's power describes no purchase anyone made. Refused in one line naming each other chip's own rate."""
    p = preset(preset_name)
    owner = p.get("chip")
    others = [c for c in dict.fromkeys(chip_ids) if owner is not None and c != owner]
    if p["kind"] != "tco" or not others:
        return
    own = []
    for c in others:
        rate = chip_price(c)
        own.append(f"{c}: {'no price' if rate is None else rate['preset'] or 'its rental'}")
    raise InputError(f"--pricing {preset_name} prices only {owner} (an ownership preset: its capex is what one {owner} "
                     f"costs); it cannot price {', '.join(others)}: drop --pricing to price each chip at its own rate "
                     f"({'; '.join(own)}), or give --capex-usd to charge one capex for every chip")


def terms(preset_name: str | None = None, rental_usd_per_hour: float | None = None, capex_usd: float | None = None,
          life_years: float | None = None, pue: float | None = None, usd_per_kwh: float | None = None,
          other_opex_fraction: float | None = None, utilisation: float | None = None,
          fx: float | None = None, chip_ids: Sequence[str] = (), source: str | None = None) -> Terms:
    """The one place pricing is resolved: a given rental, else a preset (rental or ownership; the ownership figures
    given -- life, PUE, electricity, other opex, utilisation -- win over the preset's), else the ownership figures
    given.

    ``chip_ids``: the chips these terms will price; an ownership preset of another chip is refused
    (``check_preset_chips``). ``source`` names where the terms come from (default: the flag that gave them)."""
    if rental_usd_per_hour is not None:
        return Terms("rental", utilisation or 1.0, usd_per_hour=rental_usd_per_hour,
                     source=source or "--rental-usd-per-hour as given")
    if preset_name:
        check_preset_chips(preset_name, chip_ids)
        p = preset(preset_name)
        source, quoted_for = source or f"--pricing {preset_name}", p.get("chip")
        if p["kind"] == "rental":
            return Terms("rental", utilisation or 1.0, usd_per_hour=p["usd_per_hour"], source=source,
                         quoted_for=quoted_for)
        given = [f for f, v in (("--life-years", life_years), ("--pue", pue), ("--electricity-usd-per-kwh", usd_per_kwh),
                                ("--other-opex-fraction", other_opex_fraction), ("--utilisation", utilisation))
                 if v is not None]
        if given:  # a given figure wins over the preset's: say so where the price is explained
            source += f", {', '.join(given)} as given"
        capex_usd = p["capex_usd"]
        life_years = life_years or p["life_years"]
        pue = pue or p["pue"]
        usd_per_kwh = usd_per_kwh or electricity_usd_per_kwh(p["electricity"], fx)
        other = p.get("other_opex_fraction", 0.0)
        utilisation = utilisation or p.get("utilisation", 1.0)
        power = (float(p["power_w"]), f"preset {preset_name}: {p.get('power_source', '')}".strip()) \
            if p.get("power_w") else (None, None)
    else:
        missing = [f for f, v in (("--life-years", life_years), ("--pue", pue),
                                  ("--electricity-usd-per-kwh", usd_per_kwh)) if v is None]
        if missing:
            raise InputError(f"ownership cost with --capex-usd also needs {', '.join(missing)}")
        other, utilisation = 0.0, utilisation or 1.0
        power = (None, None)
        source, quoted_for = source or "--capex-usd as given", None
    if other_opex_fraction is not None:
        other = other_opex_fraction
    return Terms("tco", utilisation, capex_usd=capex_usd, life_years=life_years, pue=pue,
                 electricity_usd_per_kwh=usd_per_kwh, other_opex_fraction=other, power_w=power[0],
                 power_source=power[1], source=source, quoted_for=quoted_for)


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


def chip_price(chip_id: str) -> dict | None:
    """A chip's own rate: {kind, usd_per_hour, range_usd_per_hour, date, source, preset}, or None (no price).

    Rental when pricing.yaml gives one; else the chip's ownership (TCO) preset, as a wall-clock hourly cost."""
    c = (data().get("chips") or {}).get(chip_id)
    if c is None:
        return None
    if c.get("rental_usd_per_hour") is not None:
        return {"kind": "rental", "usd_per_hour": float(c["rental_usd_per_hour"]),
                "range_usd_per_hour": c.get("rental_range_usd_per_hour"), "date": c.get("date"),
                "source": c["source"], "preset": None}
    if c.get("tco"):
        return {"kind": "tco", "usd_per_hour": None, "range_usd_per_hour": None, "date": c.get("date"),
                "source": c["source"], "preset": c["tco"]}
    return None


def no_price_note(chip_id: str) -> str:
    return (f"no price for '{chip_id}' in bench/catalog/data/pricing.yaml (chips:); pass --pricing PRESET or "
            "--rental-usd-per-hour")


def own_terms(chip_id: str, utilisation: float | None = None, fx: float | None = None, life_years: float | None = None,
              pue: float | None = None, usd_per_kwh: float | None = None,
              other_opex_fraction: float | None = None) -> Terms | None:
    """A chip's own rate as pricing terms (its rental, else its TCO preset, with any ownership figure given winning
    over the preset's), or None when it has no price."""
    own = chip_price(chip_id)
    if own is None:
        return None
    if own["kind"] == "rental":
        return Terms("rental", utilisation or 1.0, usd_per_hour=own["usd_per_hour"],
                     source="its own rate")
    return terms(own["preset"], life_years=life_years, pue=pue, usd_per_kwh=usd_per_kwh,
                 other_opex_fraction=other_opex_fraction, utilisation=utilisation, fx=fx,
                 source=f"preset {own['preset']} (its own rate)")
