"""The report's Exhibit 63 (China's AI data-centre build-out in two chip scenarios) rebuilt from documented
assumptions (``bench/catalog/data/scenarios.yaml``), each number beside the printed one, plus the same
fleets in tokens (PROJECTED by the roofline model with each chip's efficiency profile and its band), the
efficiency gap the evidence implies beside the report's 25-30 % claim, and where EFLOPS and tokens rank the
chips differently. Pure functions over the catalogs.
"""
from __future__ import annotations

import functools
from importlib import resources

import yaml

from bench.analysis import capacity, profiles, projection
from bench.analysis.cost import HOURS_PER_YEAR
from bench.catalog import hardware
from bench.catalog import models as catalog


@functools.cache
def inputs() -> dict:
    return yaml.safe_load(resources.files("bench.catalog.data").joinpath("scenarios.yaml").read_text())["exhibit63"]


def chip_inputs(chip_id: str) -> dict:
    """Per-chip inputs of the exhibit, from the hardware catalog: FP16 TFLOPS (for the 910B, the catalog's
    alternative implied by Exhibit 63) and all-in W (server_power_w)."""
    chip = hardware.get_chip(chip_id)
    tflops = chip.tflops.fp16
    note = f"{chip.id}: {tflops:g} TFLOPS FP16 ({chip.sources['tflops']})"
    implied = [a for a in chip.alternatives if a.field == "tflops.fp16" and "Exhibit 63" in a.source]
    if implied:
        tflops = implied[0].value
        note = f"{chip.id}: {tflops:g} TFLOPS FP16, DERIVED ({implied[0].source}; published {chip.tflops.fp16:g})"
    return {"tflops_fp16": tflops, "all_in_w": chip.server_power_w,
            "notes": [note, f"{chip.id}: {chip.server_power_w:g} W per chip all-in ({chip.sources['server_power_w']})"]}


def rows(given: dict | None = None) -> list[dict]:
    """Rows {scenario, year, power_mw, electricity_twh, compute_eflops_fp16} for h20 and 910b.

    - compute: the 2024 base plus, each later year, chips added x TFLOPS per chip (a running total)
    - power: the power *added* that year = chips added x kW per chip
    - electricity: the 2024 base plus each later year's added MW running all year at k = PUE x utilisation
    """
    x = given or inputs()
    out = []
    for sc in ("h20", "910b"):
        tflops, kw = chip_inputs(sc)["tflops_fp16"], chip_inputs(sc)["all_in_w"] / 1e3
        compute, twh = float(x["base_compute_eflops_fp16"]), float(x["base_electricity_twh"])
        for year in x["years"]:
            chips = x["chips_added_millions"][year] * 1e6
            added_w = chips * kw * 1e3
            if year != x["base_year"]:
                compute += chips * tflops / 1e6
                twh += added_w * HOURS_PER_YEAR * x["k_pue_x_utilisation"] / 1e12
            out.append({"scenario": sc, "year": year, "power_mw": added_w / 1e6, "electricity_twh": twh,
                         "compute_eflops_fp16": compute, "chips_added": chips, "provenance": "reference-model"})
    return out


def check(reproduced: list[dict], given: dict | None = None) -> list[dict]:
    """Each reproduced number beside the printed one, with the relative error."""
    x = given or inputs()
    out = []
    for r in reproduced:
        i = x["years"].index(r["year"])
        for key in ("power_mw", "electricity_twh", "compute_eflops_fp16"):
            printed = x["printed"][r["scenario"]][key][i]
            out.append({"scenario": r["scenario"], "year": r["year"], "metric": key, "reproduced": r[key],
                        "printed": printed, "rel_error": r[key] / printed - 1})
    return out


def doc() -> dict:
    """Everything ``capacity --scenario exhibit63`` and the report's capacity chart show: the rebuilt rows,
    the check against the printed numbers, the token rows and the assumptions, in words."""
    x = inputs()
    reproduced = rows()
    checked = check(reproduced)
    chips_total = sum(x["chips_added_millions"].values()) * 1e6
    token_rows, gaps, ranking = tokens_on_evidence(x, profiles.catalog_profiles(), chips_total)
    assumptions = [
        "compute: a running total from 536 EFLOPS FP16 in 2024 (stated), adding chips x TFLOPS each year",
        "chips added per year (M): " + ", ".join(f"{y} {v}" for y, v in x["chips_added_millions"].items())
        + " — DERIVED: equal in both scenarios; 2025-27 = the H20 compute additions / 148 TFLOPS, 2024 = 2,139 MW / 1.14 kW",
        *chip_inputs("h20")["notes"], *chip_inputs("910b")["notes"],
        "power: the MW *added* that year = chips added x all-in kW per chip (before PUE) — DERIVED",
        f"electricity: 180 TWh in 2024 (stated) + each later year's added MW x 8,760 h x k, k = PUE x utilisation = "
        f"{x['k_pue_x_utilisation']} — DERIVED",
        f"token rows: PROJECTED (roofline with each chip's efficiency profile fitted to published measurements; "
        f"band = the profile's 80 % range) for a fleet of all chips added 2024-27 ({chips_total / 1e6:.2f} M) at "
        "maximum load; tokens/s per MW is per MW of all-in IT power",
    ]
    return {"rows": reproduced, "token_rows": token_rows, "check": checked, "assumptions": assumptions,
            "efficiency_gaps": gaps, "ranking": ranking,
            "max_abs_rel_error": max(abs(c["rel_error"]) for c in checked)}


def tokens_on_evidence(x: dict, profs: dict, fleet_chips: float) -> tuple[list[dict], list[dict], list[str]]:
    """The exhibit's fleets in tokens, projected with each chip's fitted profile (band) and, beside, with the
    datasheet defaults; the efficiency gap the evidence implies per model and workload; and where EFLOPS and
    tokens rank the chips differently."""
    rows_, gaps, statements = [], [], []
    for tm in x["token_models"]:
        m = catalog.get_model(tm["model"])
        for wl in x["token_workloads"]:
            per = {}
            for sc in ("h20", "910b"):
                chip = hardware.get_chip(sc)
                dtype, k = tm["dtype"][sc], tm["accelerators"][sc]
                prof = profiles.resolve(profs, sc)
                w = projection.Shape(wl["input_tokens"], wl["output_tokens"], 1, k, dtype)
                p = profiles.max_load(m, chip, w, prof)
                d = projection.max_load(m, chip, w)  # datasheet peaks x default MBU/MFU: what the exhibit implies
                ex = chip_inputs(sc)
                f = capacity.fleet(fleet_chips, ex["all_in_w"], chip.peak_tflops(dtype), p["output_tok_s_per_accelerator"])
                row = {"scenario": sc, "model": m.id, "workload": wl["name"], "dtype": dtype, "replica_accelerators": k,
                       "batch": p["batch"], "bound": p["bound"], "tpot_s": p["tpot_s"],
                       "output_tok_s_per_accelerator": p["output_tok_s_per_accelerator"],
                       "output_tok_s_per_accelerator_datasheet": d["output_tok_s_per_accelerator"],
                       "output_tokens_per_day": f["tokens_per_day"], "output_tokens_s_per_mw": f["tokens_s_per_mw_it"],
                       "fleet_chips": fleet_chips, "provenance": "projected", "profile": prof.name,
                       "profile_rows": prof.n_rows, "evidence": prof.evidence()}
                fb = prof.band_factor()
                for key in ("output_tok_s_per_accelerator", "output_tokens_per_day", "output_tokens_s_per_mw"):
                    row[f"{key}_range"] = None if fb is None else [row[key] / fb, row[key] * fb]
                rows_.append(row)
                per[sc] = (row, prof, ex["tflops_fp16"])
            (a, pa, ta), (b, pb, tb) = per["h20"], per["910b"]
            gap = capacity.efficiency_gap(a["output_tok_s_per_accelerator"], a["output_tok_s_per_accelerator_datasheet"],
                                          b["output_tok_s_per_accelerator"], b["output_tok_s_per_accelerator_datasheet"])
            tok_ratio = b["output_tok_s_per_accelerator"] / a["output_tok_s_per_accelerator"]
            band = capacity.ratio_band(tok_ratio, pa.sigma_log, pb.sigma_log)
            gaps.append({"model": m.id, "workload": wl["name"], "efficiency_gap_910b_vs_h20": gap,
                         "report_claim": [0.25, 0.30], "tokens_910b_over_h20": tok_ratio,
                         "tokens_910b_over_h20_range": band, "eflops_910b_over_h20": tb / ta,
                         "profiles": f"h20: {pa.name} ({pa.n_rows} rows); 910b: {pb.name} ({pb.n_rows} rows)"})
            if (tok_ratio < 1) != (tb / ta < 1):
                lead, lag = ("h20", "910b") if tok_ratio < 1 else ("910b", "h20")
                r = 1 / tok_ratio if tok_ratio < 1 else tok_ratio
                rng = ""
                if band is not None:
                    lo, hi = (1 / band[1], 1 / band[0]) if tok_ratio < 1 else (band[0], band[1])
                    rng = f" (80 % band {lo:.2f}-{hi:.2f}x)"
                statements.append(f"{m.id} {wl['name']}: EFLOPS rank {'910b' if tb > ta else 'h20'} first "
                                  f"({max(tb, ta) / min(tb, ta):.2f}x per chip), but projected tokens rank {lead} "
                                  f"first: {r:.2f}x the {lag}'s per chip{rng}")
    return rows_, gaps, statements
