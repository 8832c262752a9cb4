"""What a token costs: hourly accelerator cost (rental or ownership) and $/M-token (pure functions).

Method (see README "Cost model"):
- Hourly cost of one accelerator, per wall-clock hour:
  rental: the rental price. Ownership (TCO): capex / (life x 8760 h) + other opex (fraction of capex
  a year / 8760 h) + energy (all-in W x PUE / 1000 x price per kWh).
- Only `utilisation` of the hours produce tokens, so the cost of one *busy* hour is
  (capex + other) / utilisation + energy (power is drawn when busy) -- rentals: price / utilisation.
- $/M tokens of a phase = cost per busy hour / (phase tokens/s per accelerator x 3600) x 1e6.
  Input tokens are charged the prefill time, output tokens the decode time: each phase's rate is its
  tokens divided by the time the accelerator spent in that phase.
- Blended = (r x input + output) / (r + 1) for an input:output token ratio r (3:1 by default).
  Without a prefill/decode split, blended uses total tokens over the whole window.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.catalog import pricing
from bench.errors import InputError
from bench.results.schema import rate_divisor
from bench.summary.rates import Rates, phase_rates

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class HourlyCost:
    kind: str  # rental | tco
    capex_usd: float | None
    energy_usd: float | None
    other_usd: float | None
    rental_usd: float | None
    utilisation: float
    power_w: float | None  # all-in W per accelerator used for energy
    power_source: str | None

    @property
    def total_usd(self) -> float:
        """Cost of one wall-clock hour."""
        if self.kind == "rental":
            return self.rental_usd
        return self.capex_usd + self.energy_usd + self.other_usd

    @property
    def per_busy_hour_usd(self) -> float:
        if self.kind == "rental":
            return self.rental_usd / self.utilisation
        return (self.capex_usd + self.other_usd) / self.utilisation + self.energy_usd

    def breakdown(self, fx: float) -> dict:
        d = asdict(self)
        d.update(total_usd=self.total_usd, per_busy_hour_usd=self.per_busy_hour_usd,
                 total_rmb=self.total_usd * fx, per_busy_hour_rmb=self.per_busy_hour_usd * fx)
        return d


def rental(usd_per_hour: float, utilisation: float = 1.0) -> HourlyCost:
    return HourlyCost("rental", None, None, None, usd_per_hour, utilisation, None, None)


def tco(capex_usd: float, life_years: float, power_w: float, pue: float, electricity_usd_per_kwh: float,
        utilisation: float = 1.0, other_opex_fraction: float = 0.0, power_source: str = "given") -> HourlyCost:
    capex_h = capex_usd / (life_years * HOURS_PER_YEAR)
    energy_h = power_w / 1000.0 * pue * electricity_usd_per_kwh
    other_h = capex_usd * other_opex_fraction / HOURS_PER_YEAR
    return HourlyCost("tco", capex_h, energy_h, other_h, None, utilisation, power_w, power_source)


def usd_per_mtok(cost_per_busy_hour_usd: float, tok_s_per_accelerator: float | None) -> float | None:
    if not tok_s_per_accelerator:
        return None
    return cost_per_busy_hour_usd / (tok_s_per_accelerator * 3600.0) * 1e6


def blended(input_usd: float | None, output_usd: float | None, ratio: float,
            total_usd: float | None = None) -> float | None:
    """(ratio x input + output) / (ratio + 1); without an input price, the total-token price."""
    if input_usd is None or output_usd is None:
        return total_usd if total_usd is not None else output_usd
    return (ratio * input_usd + output_usd) / (ratio + 1)


def price_tokens(hourly: HourlyCost, rates: Rates, fx: float, blend_ratio: float = 3.0) -> dict:
    c = hourly.per_busy_hour_usd
    out = usd_per_mtok(c, rates.output_tok_s)
    inp = usd_per_mtok(c, rates.input_tok_s)
    tot = usd_per_mtok(c, rates.total_tok_s)
    bl = blended(inp, out, blend_ratio, tot)
    conv = lambda v: None if v is None else v * fx  # noqa: E731
    return {
        "provenance": rates.provenance,
        "usd_per_hour": hourly.total_usd, "usd_per_busy_hour": c,
        "usd_per_mtok_output": out, "usd_per_mtok_input": inp, "usd_per_mtok_blended": bl,
        "rmb_per_mtok_output": conv(out), "rmb_per_mtok_input": conv(inp), "rmb_per_mtok_blended": conv(bl),
        "blend_input_to_output": blend_ratio, **rates.shown(),
        "hourly": hourly.breakdown(fx),
    }


def own_hourly(chip, utilisation: float | None = None) -> tuple[HourlyCost | None, str]:
    """A chip's own rate from pricing.yaml ``chips:`` (rental, else its TCO preset), and a label saying which;
    (None, why) when the chip has no price (a CPU, the 910B and 910C today)."""
    t = pricing.own_terms(chip.id, utilisation)
    if t is None:
        return None, pricing.no_price_note(chip.id)
    try:
        h = hourly(t, chip)
    except InputError as exc:
        return None, f"{chip.id}: {exc}"
    own = pricing.chip_price(chip.id)
    if t.kind == "rental":
        return h, f"{chip.id} rental ${h.total_usd:.2f}/h ({own['date']})"
    return h, f"{chip.id} TCO {own['preset']} (${h.total_usd:.2f}/h)"


def made_of(e: dict) -> str:
    """What one chip's hourly price is made of (a priced entry's ``terms`` and ``hourly``), in words for a footnote:
    each input with where it came from, the hourly total and the cost of a busy hour."""
    h, t = e["hourly"], e.get("terms") or {}
    u = f"utilisation {h['utilisation']:g}: ${h['per_busy_hour_usd']:.3f} per busy hour"
    if h["kind"] == "rental":
        q = t.get("quoted_for")
        quoted = f" (quoted for {q}, charged as given for {e['priced_as']})" if q and q != e["priced_as"] else ""
        return f"rental from {t.get('source')}{quoted}: ${h['total_usd']:.3f}/h (¥{h['total_rmb']:.2f}); {u}"
    return (f"ownership from {t.get('source')}: capex ${t['capex_usd']:,.0f} over {t['life_years']:g} y = "
            f"${h['capex_usd']:.3f}/h + other opex {t['other_opex_fraction']:.0%} of capex a year = "
            f"${h['other_usd']:.3f}/h + energy {h['power_w']:.0f} W ({h['power_source']}) x PUE {t['pue']:g} x "
            f"${t['electricity_usd_per_kwh']:.3f}/kWh = ${h['energy_usd']:.3f}/h; total ${h['total_usd']:.3f}/h "
            f"(¥{h['total_rmb']:.2f}); {u}")


def one_figure_for_every_chip(entries: list[dict], chip_ids: list[str], power_w: float | None) -> list[str]:
    """Legend lines for a figure given once (a rental, a capex, a power) and charged for every chip of ``entries``
    rather than each chip's own: said once, above the chips' own lines; none when each chip is at its own rate."""
    t = next((e["terms"] for e in entries if e.get("terms")), None)
    if t is None or not t["source"].startswith("--"):  # each chip at its own rate
        return []
    ids, given = ", ".join(chip_ids), t["source"].removesuffix(" as given")
    if t["kind"] == "rental":
        out = [f"{given}: one rental, ${t['usd_per_hour']:.2f}/h, charged for every chip ({ids}), not each chip's own"]
    else:
        out = [f"{given}: one capex, ${t['capex_usd']:,.0f}, charged for every chip ({ids}), not each chip's own"]
    if power_w is not None and t["kind"] == "tco":
        out.append(f"--power-w: one power, {power_w:g} W, used for every chip ({ids}), not each chip's own")
    return out


def unpriced(rates: Rates, note: str) -> dict:
    """The same keys as ``price_tokens`` with every price None: nothing to charge (a chip without a price)."""
    out = {k: None for k in ("usd_per_hour", "usd_per_busy_hour", "usd_per_mtok_output", "usd_per_mtok_input",
                             "usd_per_mtok_blended", "rmb_per_mtok_output", "rmb_per_mtok_input",
                             "rmb_per_mtok_blended", "blend_input_to_output", "hourly")}
    out.update(provenance=rates.provenance, **rates.shown(), price_note=note)
    return out


def rates_from_case(case: dict) -> Rates | None:
    """Phase rates per accelerator from a measured case summary (None when the case has no output); the
    arithmetic is ``bench.summary.rates.phase_rates``, the one measure writes per trial."""
    return phase_rates(case.get("window_s"), case.get("prefill_tok_s"), case.get("input_tokens"),
                       case.get("output_tokens"), rate_divisor(case.get("accelerators")),
                       case.get("provenance", "measured"))


def rates_from_projection(proj: dict) -> Rates | None:
    """The rates of a projection (``projection.rates``, the kernel's): decode and prefill phase rates to charge,
    and the run's output tok/s as ``project`` prints it; None when the model does not fit."""
    if not proj.get("tpot_s"):
        return None
    return Rates(output_tok_s=proj["decode_tok_s_per_accelerator"], input_tok_s=proj["input_tok_s_per_accelerator"],
                 total_tok_s=proj["total_tok_s_per_accelerator"], provenance="projected",
                 run_output_tok_s=proj["output_tok_s_per_accelerator"])


def with_price_ranges(priced: dict, band_factor: float | None) -> dict:
    """``*_range`` for the $/M figures of a projected throughput: the band of the throughput, inverted."""
    out = dict(priced)
    for k in ("usd_per_mtok_output", "usd_per_mtok_input", "usd_per_mtok_blended", "rmb_per_mtok_output",
              "rmb_per_mtok_input", "rmb_per_mtok_blended"):
        v = out.get(k)
        out[f"{k}_range"] = None if v is None or band_factor is None else [v / band_factor, v * band_factor]
    return out


def market_comparison(self_usd_in: float | None, self_usd_out: float | None, api_in: float | None,
                      api_out: float | None) -> dict:
    """Self-hosted $/M beside an API price; margin = (API - self) / API."""
    def margin(api, own):
        return None if api is None or own is None else (api - own) / api
    return {"api_usd_per_mtok_input": api_in, "api_usd_per_mtok_output": api_out,
            "margin_input": margin(api_in, self_usd_in), "margin_output": margin(api_out, self_usd_out)}


def measured_power_w(case: dict) -> float | None:
    """Measured average power per accelerator of a case (None when no sensor measured it)."""
    e = case.get("energy") or {}
    if e.get("source") in (None, "none") or e.get("avg_power_w") is None:
        return None
    return e["avg_power_w"] / rate_divisor(case.get("accelerators"))


def hourly(terms, chip, measured_w: float | None = None, power_w: float | None = None,
           server_overhead: float | None = None) -> HourlyCost:
    """The hourly cost of one accelerator under pricing ``terms`` (``catalog.pricing.terms``).

    Ownership needs the all-in power: ``power_w`` as given, else the measured W x server overhead, else the
    chip's catalog server power, else its TDP x server overhead."""
    if terms.kind == "rental":
        return rental(terms.usd_per_hour, terms.utilisation)
    overhead = pricing.server_overhead(server_overhead)
    if power_w is not None:
        power, source = power_w, "given (--power-w)"
    elif measured_w is not None:
        power, source = measured_w * overhead, f"measured {measured_w:.1f} W x server overhead {overhead:g}"
    elif chip.all_in_power_w(overhead) is not None:
        power = chip.all_in_power_w(overhead)
        source = ("catalog server power" if chip.server_power_w else
                  f"catalog TDP {chip.tdp_w} W x server overhead {overhead:g}")
    elif terms.power_w is not None:  # the chip publishes no power: the preset's stated (labelled) figure
        power, source = terms.power_w, terms.power_source
    else:
        raise InputError(f"hardware '{chip.id}' has no TDP in the catalog; pass --power-w")
    return tco(terms.capex_usd, terms.life_years, power, terms.pue, terms.electricity_usd_per_kwh, terms.utilisation,
               terms.other_opex_fraction, source)


def price_cases(cases: list[dict], chip, terms, fx: float, blend_ratio: float = 3.0,
                       power_w: float | None = None, server_overhead: float | None = None) -> list[dict]:
    """One price per successful measured case, each case's hourly cost using its own measured power -- only when it
    was measured on the chip it is priced as (another chip's watts say nothing of this one's)."""
    from bench.catalog import hardware

    entries = []
    for case in cases:
        rates = rates_from_case(case)
        if rates is None:
            continue
        ran_on = hardware.resolve(case.get("hardware"))
        same = ran_on is not None and ran_on.id == chip.id
        entries.append({"case_id": case["case_id"], "model": case["model"]["label"],
                        "measured_on": case.get("hardware"), "priced_as": chip.id,
                        "validity": (case.get("validity") or {}).get("verdict"),
                        **price_or_none(terms, chip, rates, fx, blend_ratio, measured_power_w(case) if same else None,
                                        power_w, server_overhead)})
    return entries


def price_or_none(terms, chip, rates: Rates, fx: float, blend_ratio: float = 3.0, measured_w: float | None = None,
                  power_w: float | None = None, server_overhead: float | None = None) -> dict:
    """``price_tokens`` under ``terms``; with no terms (a chip without a price), every price None and a note."""
    if terms is None:
        return unpriced(rates, pricing.no_price_note(chip.id))
    return {**price_tokens(hourly(terms, chip, measured_w, power_w, server_overhead), rates, fx, blend_ratio),
            "pricing": terms.source, "terms": terms.shown()}


def price_projection(m, chip, shape, profile, terms, fx: float, blend_ratio: float = 3.0,
                     power_w: float | None = None, server_overhead: float | None = None) -> dict:
    """$/M of a projected throughput (the chip's efficiency ``profile``), with the profile's band on every price."""
    from bench.analysis import profiles

    from bench.analysis import projection

    projection.check_dtype(chip, shape.dtype)  # a dtype the chip lacks: an error naming the chip
    proj = profiles.project(m, chip, shape, profile)
    rates = rates_from_projection(proj)
    if rates is None:  # a row that says so, beside the chips it fits on
        k = projection.fewest_accelerators(m, chip, shape)
        note = (f"does not fit at batch {shape.batch} on {shape.accelerators} x {chip.id} (max batch "
                f"{proj['max_batch']}); " + (f"fits on {k} x {chip.id}: --accelerators {k}" if k else
                                             "lower --batch or use a smaller --dtype"))
        out = unpriced(Rates(output_tok_s=None, provenance="projected"), None)
        out.pop("price_note")
        return {"priced_as": chip.id, **out, "fits": False, "max_batch": proj["max_batch"],
                "fewest_accelerators_that_fit": k, "fit_note": note,
                "profile": profile.name, "profile_rows": profile.n_rows, "evidence": profile.evidence()}
    priced = price_or_none(terms, chip, rates, fx, blend_ratio, None, power_w, server_overhead)
    return {"priced_as": chip.id, **with_price_ranges(priced, profile.band_factor()), "profile": profile.name,
            "profile_rows": profile.n_rows, "evidence": profile.evidence()}
