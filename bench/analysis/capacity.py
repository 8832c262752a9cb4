"""Fleet capacity: accelerators <-> MW <-> EFLOPS <-> TWh <-> tokens/day (pure functions), and the
report's Exhibit 63 rebuilt from documented assumptions.

Units: power in W (``_w``); MW appears only in presentation and in the exhibit's published rows.
- all-in power per accelerator = chip + server share, before PUE (catalog server_power_w, else TDP x
  server overhead); facility power = all-in x PUE
- EFLOPS = accelerators x peak TFLOPS / 1e6
- TWh/year = facility W x 8,760 h x utilisation / 1e12
- tokens/s per MW = tokens/s per accelerator x 1e6 / all-in W per accelerator (IT power, before PUE)
"""
from __future__ import annotations

import functools
from importlib import resources

import yaml

from bench.errors import InputError

HOURS = 8760.0


def fleet(accelerators: float, all_in_w: float, peak_tflops: float, tok_s_per_accelerator: float | None,
          pue: float = 1.0, utilisation: float = 1.0, sw_efficiency: float = 1.0) -> dict:
    """Everything a fleet of ``accelerators`` implies."""
    it_w = accelerators * all_in_w
    facility_w = it_w * pue
    tok_s = accelerators * tok_s_per_accelerator * sw_efficiency if tok_s_per_accelerator else None
    return {
        "accelerators": accelerators, "all_in_w_per_accelerator": all_in_w,
        "it_power_w": it_w, "facility_power_w": facility_w,
        "compute_eflops": accelerators * peak_tflops / 1e6,
        "electricity_twh_per_year": facility_w * HOURS * utilisation / 1e12,
        "tokens_s": tok_s, "tokens_per_day": tok_s * 86400 * utilisation if tok_s else None,
        "tokens_s_per_mw_it": tok_s_per_accelerator * sw_efficiency * 1e6 / all_in_w if tok_s_per_accelerator else None,
        "tokens_s_per_mw_facility": (tok_s_per_accelerator * sw_efficiency * 1e6 / (all_in_w * pue)
                                     if tok_s_per_accelerator else None),
        "pue": pue, "utilisation": utilisation, "sw_efficiency": sw_efficiency,
    }


def accelerators_for_power(power_w: float, all_in_w: float, pue: float = 1.0) -> float:
    """How many accelerators a facility power budget feeds."""
    return power_w / (all_in_w * pue)


def accelerators_for_demand(tokens_per_day: float, tok_s_per_accelerator: float, utilisation: float = 1.0,
                            sw_efficiency: float = 1.0) -> float:
    """The reverse: accelerators needed to serve a demand in tokens/day."""
    if tok_s_per_accelerator <= 0:
        raise InputError("throughput per accelerator must be > 0 to size a fleet")
    return tokens_per_day / (86400 * utilisation * tok_s_per_accelerator * sw_efficiency)


# ---------------------------------------------------------------------------- Exhibit 63
@functools.cache
def exhibit63_inputs() -> dict:
    return yaml.safe_load(resources.files("bench.catalog.data").joinpath("scenarios.yaml").read_text())["exhibit63"]


def exhibit63_chip(chip_id: str) -> dict:
    """Per-chip inputs of the exhibit, from the hardware catalog: FP16 TFLOPS (for the 910B, the catalog's
    alternative implied by Exhibit 63) and all-in W (server_power_w)."""
    from bench.catalog import hardware

    chip = hardware.get_chip(chip_id)
    tflops = chip.tflops.fp16
    note = f"{chip.id}: {tflops:g} TFLOPS FP16 ({chip.sources['tflops']})"
    implied = [a for a in chip.alternatives if a.field == "tflops.fp16" and "Exhibit 63" in a.source]
    if implied:
        tflops = implied[0].value
        note = f"{chip.id}: {tflops:g} TFLOPS FP16, DERIVED ({implied[0].source}; published {chip.tflops.fp16:g})"
    return {"tflops_fp16": tflops, "all_in_w": chip.server_power_w,
            "notes": [note, f"{chip.id}: {chip.server_power_w:g} W per chip all-in ({chip.sources['server_power_w']})"]}


def exhibit63(inputs: dict | None = None) -> list[dict]:
    """Rows {scenario, year, power_mw, electricity_twh, compute_eflops_fp16} for h20 and 910b.

    - compute: the 2024 base plus, each later year, chips added x TFLOPS per chip (a running total)
    - power: the power *added* that year = chips added x kW per chip
    - electricity: the 2024 base plus each later year's added MW running all year at k = PUE x utilisation
    """
    x = inputs or exhibit63_inputs()
    rows = []
    for sc in ("h20", "910b"):
        tflops, kw = exhibit63_chip(sc)["tflops_fp16"], exhibit63_chip(sc)["all_in_w"] / 1e3
        compute, twh = float(x["base_compute_eflops_fp16"]), float(x["base_electricity_twh"])
        for year in x["years"]:
            chips = x["chips_added_millions"][year] * 1e6
            added_w = chips * kw * 1e3
            if year != x["base_year"]:
                compute += chips * tflops / 1e6
                twh += added_w * HOURS * x["k_pue_x_utilisation"] / 1e12
            rows.append({"scenario": sc, "year": year, "power_mw": added_w / 1e6, "electricity_twh": twh,
                         "compute_eflops_fp16": compute, "chips_added": chips, "provenance": "reference-model"})
    return rows


def exhibit63_check(rows: list[dict], inputs: dict | None = None) -> list[dict]:
    """Each reproduced number beside the printed one, with the relative error."""
    x = inputs or exhibit63_inputs()
    out = []
    for r in rows:
        i = x["years"].index(r["year"])
        for key in ("power_mw", "electricity_twh", "compute_eflops_fp16"):
            printed = x["printed"][r["scenario"]][key][i]
            out.append({"scenario": r["scenario"], "year": r["year"], "metric": key, "reproduced": r[key],
                        "printed": printed, "rel_error": r[key] / printed - 1})
    return out
