"""Fleet capacity: accelerators <-> MW <-> EFLOPS <-> TWh <-> tokens/day (pure functions), and one
chip's fleet figures for a model (``chip_capacity``). The report's Exhibit 63 is in ``exhibit63``.

Units: power in W (``_w``); MW appears only in presentation and in the exhibit's published rows.
- all-in power per accelerator = chip + server share, before PUE (catalog server_power_w, else TDP x
  server overhead); facility power = all-in x PUE
- EFLOPS = accelerators x peak TFLOPS / 1e6
- TWh/year = facility W x 8,760 h x utilisation / 1e12
- tokens/s per MW = tokens/s per accelerator x 1e6 / all-in W per accelerator (IT power, before PUE)
"""
from __future__ import annotations

import math

from bench.analysis import cost, projection
from bench.analysis.cost import HOURS_PER_YEAR
from bench.catalog import pricing
from bench.config import limits
from bench.errors import InputError

SECONDS_PER_DAY = 86400


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
        "electricity_twh_per_year": facility_w * HOURS_PER_YEAR * utilisation / 1e12,
        "tokens_s": tok_s, "tokens_per_day": tok_s * SECONDS_PER_DAY * utilisation if tok_s else None,
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
    return tokens_per_day / (SECONDS_PER_DAY * utilisation * tok_s_per_accelerator * sw_efficiency)


def best_dtype(chip) -> str:
    """The narrowest weights dtype the chip has a published peak for: fp8, else int8, else 16-bit."""
    for d in ("fp8", "int8", "bf16", "fp16"):
        if getattr(chip.tflops, d):
            return d
    return "fp32"


def common_dtype(chips) -> str:
    """The narrowest weights dtype every chip in ``chips`` has a published peak for (``best_dtype`` of them all), so
    a comparison runs one dtype on every chip."""
    for d in ("fp8", "int8", "bf16", "fp16"):
        if all(getattr(c.tflops, d) for c in chips):
            return d
    return "fp32"


def replica_size(m, chip, dtype: str, n_in: int, n_out: int, k: int | None = None) -> int:
    """Accelerators per replica: ``k`` if given (checked), else the smallest power of two, up to 64, on which
    one request fits."""
    for acc in ([k] if k else [1, 2, 4, 8, 16, 32, 64]):
        err = projection.does_not_fit(m, chip, projection.Shape(n_in, n_out, 1, acc, dtype),
                                      "raise --replica-accelerators or use a smaller --dtype")
        if err is None:
            return acc
    raise err


def common_replica(m, chips, dtype: str, n_in: int, n_out: int) -> int:
    """One replica size for a comparison: the largest of each chip's ``replica_size`` (``dtype`` 'best-each': each
    chip its own best), so that every chip is projected on as many accelerators and none is cramped into a replica
    whose KV cache is a sliver beside the weights."""
    return max(replica_size(m, c, best_dtype(c) if dtype in ("best", "best-each") else dtype, n_in, n_out)
               for c in chips)


def chip_capacity(m, chip, n_in: int, n_out: int, dtype: str = "best", *, power_w: float | None = None,
                  accelerators: float | None = None, tokens_per_day: float | None = None,
                  tok_s_per_accelerator: float | None = None, replica_accelerators: int | None = None,
                  pue: float = 1.0, utilisation: float = 1.0, sw_efficiency: float = 1.0,
                  rental_usd_per_hour: float | None = None, profile=None, engine: str | None = None) -> dict:
    """A fleet of ``chip`` serving model ``m``, sized by facility power, by a count, or by demand.

    Throughput per accelerator is the one given (provenance ``user``), else projected at maximum load with
    ``profile`` (default: the chip's efficiency profile fitted to published rows), with ``*_range`` bands.
    $/M: at ``rental_usd_per_hour`` if given, else at the chip's own rate (None when it has none)."""
    from bench.analysis import profiles

    if dtype == "best":
        dtype = best_dtype(chip)
    peak = projection.check_dtype(chip, dtype)
    all_in = chip.all_in_power_w(pricing.server_overhead())
    if all_in is None:
        raise InputError(f"hardware '{chip.id}' has no power figure in the catalog (TDP or server power), so its fleet "
                         "cannot be sized; leave it out of --hardware/--compare")
    if tok_s_per_accelerator:
        tok_s, proj, prov = tok_s_per_accelerator, None, "user"
    else:
        k = replica_size(m, chip, dtype, n_in, n_out, replica_accelerators)
        profile = profile or profiles.resolve(profiles.catalog_profiles(), chip.id)
        proj = profiles.max_load(m, chip, projection.Shape(n_in, n_out, 1, k, dtype, engine=engine), profile)
        tok_s, prov = proj["output_tok_s_per_accelerator"], "projected"
    if power_w is not None:
        n = accelerators_for_power(power_w, all_in, pue)
    elif accelerators is not None:
        n = accelerators
    else:
        n = accelerators_for_demand(tokens_per_day, tok_s, utilisation, sw_efficiency)
    if n > limits.MAX_ACCELERATORS:  # a demand or budget far beyond any fleet, or a throughput near 0
        raise InputError(f"{chip.id}: the fleet would need {n:,.0f} accelerators, more than "
                         f"{limits.MAX_ACCELERATORS:,.0f}; check --tokens-per-day, --power-mw and the throughput")
    # a budget (a power or a count, not a demand) too small for one replica serves nothing: no figures for it
    if proj is not None and (power_w is not None or accelerators is not None) and n < proj["accelerators"]:
        budget = "--power-mw" if power_w is not None else "--accelerators"
        fix = f"raise {budget}" + (" or lower --replica-accelerators" if replica_accelerators else "")
        raise InputError(f"{chip.id}: {budget} holds {n:,.0f} accelerators, fewer than one replica of "
                         f"{proj['accelerators']:,} ({m.id}, {dtype}); {fix}")
    row = {"hardware": chip.id, "model": m.id, "dtype": dtype, "input_tokens": n_in, "output_tokens": n_out,
           "provenance": prov, "output_tok_s_per_accelerator": tok_s * sw_efficiency,
           "peak_tflops": peak, **fleet(n, all_in, peak, tok_s, pue, utilisation, sw_efficiency)}
    row["facility_power_mw"] = row["facility_power_w"] / 1e6
    if proj is not None:
        row.update(replica_accelerators=proj["accelerators"], batch=proj["batch"], bound=proj["bound"],
                   tpot_s=proj["tpot_s"])
    if rental_usd_per_hour:
        busy = cost.rental(rental_usd_per_hour, utilisation).per_busy_hour_usd  # as the own rate: / utilisation
        row["usd_per_mtok_output"] = cost.usd_per_mtok(busy, tok_s * sw_efficiency)
        row["pricing"] = f"rental ${rental_usd_per_hour:.2f}/h (given)"
    else:  # the chip's own rate (pricing.yaml chips:); None when it has none
        hourly, row["pricing"] = cost.own_hourly(chip, utilisation)
        row["usd_per_mtok_output"] = cost.usd_per_mtok(hourly.per_busy_hour_usd, tok_s * sw_efficiency) if hourly else None
    if proj is not None:
        row.update(profile=proj["profile"], profile_rows=proj["profile_rows"], evidence=proj["evidence"])
    return with_ranges(row, proj["profile_band_factor"] if proj is not None else None)


# ---------------------------------------------------------------------------- bands and evidence
RANGED_FLEET = ("output_tok_s_per_accelerator", "tokens_s", "tokens_per_day", "tokens_s_per_mw_it",
                "tokens_s_per_mw_facility", "usd_per_mtok_output")


def with_ranges(row: dict, band_factor: float | None) -> dict:
    """``*_range: [lo, hi]`` for each token figure of a capacity row, from the throughput's band (tokens scale with
    throughput; $/M scales inversely, so its range is [x / f, x * f] as well)."""
    out = dict(row)
    for k in RANGED_FLEET:
        v = out.get(k)
        out[f"{k}_range"] = None if v is None or band_factor is None else [v / band_factor, v * band_factor]
    return out


def ratio_band(ratio: float, sigma_a: float | None, sigma_b: float | None, z: float = 1.2816) -> list[float] | None:
    """80 % band of a ratio of two projections whose log errors are independent."""
    if sigma_a is None or sigma_b is None:
        return None
    f = math.exp(z * math.hypot(sigma_a, sigma_b))
    return [ratio / f, ratio * f]


def efficiency_gap(delivered_a: float, datasheet_a: float, delivered_b: float, datasheet_b: float) -> float:
    """How much less of its datasheet promise chip b delivers than chip a: 1 - (b / b's datasheet projection) /
    (a / a's datasheet projection). 0.25 = b delivers 25 % less of its promise (the report's 25-30 % claim)."""
    return 1 - (delivered_b / datasheet_b) / (delivered_a / datasheet_a)
