"""Efficiency profiles per chip and engine, fitted to published measurements (pure functions).

A profile is nine of the projection's efficiencies (see ``projection.Efficiency``):
- ``mbu``: memory-bandwidth utilisation reached at large batch; MBU(b) = mbu x b / (b + mbu_half_batch)
  saturates with the batch,
- ``mfu``: model-FLOPs utilisation (prefill, and compute-bound decode),
- ``step_overhead_per_layer_s``: a cost per layer and decode step (launches, MoE routing, collectives); deep
  MoE models at small batch are dominated by it,
- ``mbu_half_batch``: the batch at which half of ``mbu`` is reached,
- ``collective_hop_s``: the latency of one hop of a collective (TP all-reduce, EP all-to-all),
- ``step_overhead_per_decoder_layer_s``: a cost of every decoder layer, dense or MoE, per decode step (kernel
  launches and host-side scheduling of its operators: a few us with CUDA graphs, more in eager engines); without
  it a dense model's decode had no per-layer cost at all,
- ``moe_mbu_factor``: the share of the dense layers' MBU at which a MoE step streams the routed experts' weights it
  touches (grouped GEMMs of about batch x top-k / E tokens per expert reach less of HBM bandwidth than a dense
  GEMM/GEMV; prior 1, log sigma 0.5, at most 1),
- ``ep_efficiency``: the share of DeepEP's published all-to-all speed (bandwidth and hop latency) that an
  expert-parallel row's dispatch and combine reach (prior 1, log sigma 0.5, at most 1),
- ``kv_mbu_factor``: the share of the dense layers' MBU at which decode attention reads the KV cache (paged
  attention kernels walk each sequence's blocks; prior 1, log sigma 0.5, at most 1),
plus the spread of its residuals, which sets the band.

How it is fitted:
- Each published row is reduced once to its ideal times at 100 % efficiency (``row_terms``, through
  ``projection.terms_for``); projecting a row under any efficiency is then closed-form arithmetic
  (``projection.predict``), the same code ``projection.project`` runs.
- Residuals are log(projected / published), so a factor of 2 too high weighs as much as 2 too low.
- A maximum a-posteriori fit (scipy ``least_squares``): each row's log residual, in units of ROW_SIGMA (0.3),
  goes through a soft-L1 (robust past one sigma: one odd row cannot drag the fit); each parameter has a
  Gaussian prior around the level above (datasheet defaults -> pooled over all rows -> the vendor's chips ->
  the chip -> chip/engine), so a chip with one or two rows stays near its vendor and moves as rows accumulate.
- Speculative-decoding rows are projected with their speculation (``predict``): the step verifies the draft
  tokens (FLOPs x draft tokens, bytes once), pays the draft steps, and yields the acceptance length.
- Band: the log residuals' robust RMS (1.4826 x median |r|), inflated for few rows (n / (n - 2)), combined in
  quadrature with SIGMA_BETWEEN (0.15); the band is the point x exp(+-1.28 sigma), i.e. an 80 % interval if
  residuals were normal. A chip with no rows gets its vendor's fit (else the pooled one) and 1.5x its sigma.

Above 400 lines because the fit is one estimator: the prior's levels (pooled, vendor, chip, chip/engine), the
MAP fit and the band from its residuals are computed and tested together (tests/test_profiles.py).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from bench.analysis.projection import Efficiency, Terms, predict, terms_for
from bench.results.schema import rate_divisor

MIN_ENGINE_ROWS = 2  # a chip/engine profile needs this many rows; below, the chip's profile is used. The MAP prior
# (the chip's fit) shrinks a thin engine profile towards its chip, and its band is never narrower than the chip's.
SIGMA_FLOOR = 0.12
# Spread between published configurations that a profile's own residuals do not show (engine flags, datasets,
# run conditions differ between rows even on one chip and engine), added in quadrature. Set from this catalog's
# leave-one-out: without it about 68 % of held-out rows fall inside their band, with 0.15 about 74 % (README).
SIGMA_BETWEEN = 0.15
Z80 = 1.2816
PRIOR_SIGMA_LOG = 0.7
ROW_SIGMA = 0.3  # expected log scatter of one published row about its profile (configs, datasets, run conditions)
# Prior sigma of each parameter around the level above (mbu, mfu, hop: log; overhead: x OVERHEAD_SCALE_S;
# half-batch: log1p). A vendor, chip or chip/engine moves MBU, MFU and the hop latency within a factor of ~1.6 per
# sigma, the per-MoE-layer overhead by 0.1 ms, the MBU half-batch only a little.
POOLED_SIGMA = (1.0, 1.0, 3.0, 1.0, 1.5, 3.0, 0.5, 2.0, 1.0)  # prior sigmas: mbu, mfu (log), overhead (x OVERHEAD_SCALE_S), half-batch
# (log1p), collective hop latency (log), per-decoder-layer cost (x LAYER_SCALE_S), MoE expert MBU factor (log), KV read
# MBU factor (log), EP all-to-all efficiency (log)
LEVEL_SIGMA = (0.5, 0.5, 1.0, 0.3, 0.5, 1.0, 0.5, 2.0, 1.0)  # a vendor around the pooled fit, a chip around its vendor, a chip/engine
# around its chip
DEFAULT_PRIOR = Efficiency(mbu=0.75, mfu=0.5, step_overhead_s=0.0, mbu_half_batch=0.0, source="datasheet defaults")
BOUNDS = ((0.03, 0.03, 0.0, 0.0, 1e-7, 0.0, 0.1, 0.05, 0.05), (1.0, 1.0, 2e-3, 256.0, 1e-3, 1e-4, 1.0, 1.0, 1.0))  # mbu, mfu, overhead per layer (s),
# half_batch, collective hop (s), per-decoder-layer cost (s), MoE expert MBU factor, KV read MBU factor, EP all-to-all efficiency
MOE_ONLY_MBU_SIGMA = 0.1  # prior sigma (log) of MBU in a fit with no dense decode row (see identifiable_sigma)
MIN_ROWS_OWN_BAND = 4  # a chip/engine profile with fewer rows takes its chip's band
SILICON_MFU_SIGMA = 0.05  # prior sigma (log) of a chip's MFU around its silicon's (``Chip.silicon``): same tensor cores
LAYER_SCALE_S = 2e-5  # prior scale of the cost of every decoder layer (launches, host scheduling): 20 us a layer
OVERHEAD_SCALE_S = 1e-4  # prior scale of the per-layer overhead: 0.1 ms a layer


def row_terms(row) -> tuple[Terms | None, str | None]:
    """(terms, None) for a published row, or (None, why the row cannot be projected)."""
    from bench.catalog import hardware, models

    return terms_for(models.get_model(row.model), hardware.get_chip(row.hardware), row.dtype, row.input_tokens,
                     row.output_tokens, row.batch, row.accelerators, row.unit, row.phase, row.id, row.compute_dtype,
                     row.parallelism, row.spec, row.decode_accelerators, kv_dtype=row.kv_cache_dtype,
                     engine=row.engine_class)


def _check_case(c: dict, m, where: str) -> None:
    """A case that enters a fit must describe a run that could have happened: whole lengths within the limits and
    the model's context, a batch within the limits, a finite positive TPOT (else one line naming the case)."""
    from bench.config import limits
    from bench.errors import InputError

    wl, tpot = c.get("workload") or {}, (c.get("tpot_s") or {}).get("p50")
    n_in, n_out, b = wl.get("input_tokens"), wl.get("output_tokens"), wl.get("batch_size")
    case = f"{where}: case {c.get('case_id', '?')}"

    def whole(v, most):
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= most

    if not (whole(n_in, limits.MAX_TOKENS) and whole(n_out, limits.MAX_TOKENS)):
        raise InputError(f"{case}: workload input_tokens/output_tokens ({n_in}, {n_out}) must be whole numbers from 1 "
                         f"to {limits.MAX_TOKENS:,}; the run is damaged, re-run it or leave it out")
    if n_in + n_out > m.context_length:
        raise InputError(f"{case}: {n_in} + {n_out} tokens exceed the context of '{m.id}' ({m.context_length:,}); "
                         "the run is damaged, re-run it or leave it out")
    if not whole(b, limits.MAX_BATCH):
        raise InputError(f"{case}: workload batch_size {b!r} must be a whole number from 1 to {limits.MAX_BATCH:,}")
    if not isinstance(tpot, (int, float)) or not math.isfinite(tpot) or not 0 < tpot < 1e4:
        raise InputError(f"{case}: tpot_s.p50 {tpot!r} is not a finite time in seconds")


def case_points(cases: list[dict], chip, lookup, where: str = "run") -> list[tuple[Terms, float, str]]:
    """Local measurements as fit points: each successful case's median TPOT at its batch (``--calibrate``,
    ``validate --include``); an absurd case is refused (``_check_case``), never fitted."""
    from bench.catalog.dtypes import canonical

    out = []
    for c in cases:
        m = lookup(c)
        wl = c.get("workload") or {}
        tpot = (c.get("tpot_s") or {}).get("p50")
        if m is None or not tpot or c.get("status") != "ok" or not wl:
            continue
        _check_case(c, m, where)
        t, _ = terms_for(m, chip, canonical(c["backend"]["dtype"]), wl["input_tokens"], wl["output_tokens"],
                         wl["batch_size"], rate_divisor(c.get("accelerators")), "tpot_ms", "decode",
                         f"local:{c.get('case_id', '?')}")
        if t is not None:
            out.append((t, tpot * 1e3, chip.id))
    return out


def run_points(run_dir: str) -> tuple[list[tuple[Terms, float, str]], object]:
    """(fit points, chip) of a measured run directory; an unknown chip is an error (never the local CPU)."""
    from pathlib import Path

    from bench.catalog import hardware
    from bench.catalog import models as catalog
    from bench.errors import InputError
    from bench.results import load_run

    run = load_run(Path(run_dir))
    label = run.manifest.hardware
    chip = hardware.resolve(label)
    if chip is None:
        raise InputError(f"{run_dir}: {hardware.unknown_note(label)}")
    cases = [c.to_json() for c in run.ok_cases]
    return case_points(cases, chip, lambda c: catalog.resolve_model(c["model"]["label"]), run_dir), chip


def runs_points(run_dirs: list[str], flag: str = "--include") -> list[tuple[Terms, float, str]]:
    """Fit points of several runs; a run named twice (by any path to it) is refused: it would count twice."""
    from pathlib import Path

    from bench.errors import InputError

    seen: dict = {}
    out = []
    for d in run_dirs:
        key = Path(d).resolve()
        if key in seen:
            raise InputError(f"{flag} '{d}': the same run as '{seen[key]}'; name each run once (it would be fitted twice)")
        seen[key] = d
        out += run_points(d)[0]
    return out


def with_local_run(rows, run_dir: str | None) -> tuple[dict, str | None, str | None]:
    """(profiles, a label for the local points, their chip id): the catalog's profiles, or with ``run_dir``'s
    cases added to the fit of the chip they ran on (``--calibrate``)."""
    from bench.errors import InputError

    if not run_dir:
        return catalog_profiles(), None, None
    pts, chip = run_points(run_dir)
    if not pts:
        raise InputError(f"{run_dir}: nothing to calibrate from: the run has no successful cases with latencies")
    return build(rows, pts), f"{len(pts)} local case(s) from {run_dir} on {chip.id}", chip.id


# ---------------------------------------------------------------------------- fitting
def _eff(x, source: str, step_overhead_s: float = 0.0) -> Efficiency:
    return Efficiency(mbu=float(x[0]), mfu=float(x[1]), step_overhead_s=step_overhead_s,
                      step_overhead_per_layer_s=float(x[2]), mbu_half_batch=float(x[3]),
                      collective_hop_s=float(x[4]), step_overhead_per_decoder_layer_s=float(x[5]),
                      moe_mbu_factor=float(x[6]), kv_mbu_factor=float(x[7]),
                      ep_efficiency=float(x[8]), source=source)


def residuals(terms: list[Terms], values: list[float], eff: Efficiency) -> list[float]:
    """log(projected / published) per row."""
    return [math.log(predict(t, eff) / v) for t, v in zip(terms, values)]


def fit(terms: list[Terms], values: list[float], prior: Efficiency = DEFAULT_PRIOR, source: str = "fitted",
        prior_sigma: tuple = (PRIOR_SIGMA_LOG,) * 9, weights: list[float] | None = None) -> Efficiency:
    """MAP fit of the nine efficiencies to rows: robust log residuals, Gaussian prior around ``prior``.
    ``weights``: each row's weight in the loss (default 1)."""
    import numpy as np
    from scipy.optimize import least_squares

    if not terms:
        return Efficiency(**{**asdict(prior), "source": f"{source} (no rows: prior)"})
    prior_sigma = tuple(prior_sigma) + (PRIOR_SIGMA_LOG,) * (9 - len(prior_sigma))  # a shorter tuple: the older order
    sqrt_w = [math.sqrt(w) for w in weights] if weights else [1.0] * len(terms)
    lo, hi = np.array(BOUNDS[0]), np.array(BOUNDS[1])
    x0 = np.clip([prior.mbu, prior.mfu, prior.step_overhead_per_layer_s, prior.mbu_half_batch,
                  prior.collective_hop_s, prior.step_overhead_per_decoder_layer_s, prior.moe_mbu_factor,
                  prior.kv_mbu_factor, prior.ep_efficiency], lo, hi)

    def f(x):
        e = _eff(x, source, prior.step_overhead_s)
        # rows: log residuals in units of ROW_SIGMA through a soft-L1 (robust past one sigma) ...
        z = [math.log(predict(t, e) / v) / ROW_SIGMA for t, v in zip(terms, values)]
        r = [math.copysign(math.sqrt(2 * (math.sqrt(1 + q * q) - 1)), q) * sw for q, sw in zip(z, sqrt_w)]
        # ... the prior: plain Gaussian (quadratic) in units of prior_sigma, so a few rows cannot drag a chip far
        r += [math.log(x[0] / x0[0]) / prior_sigma[0], math.log(x[1] / x0[1]) / prior_sigma[1],
              (x[2] - x0[2]) / OVERHEAD_SCALE_S / prior_sigma[2], (math.log1p(x[3]) - math.log1p(x0[3])) / prior_sigma[3],
              math.log(x[4] / x0[4]) / prior_sigma[4], (x[5] - x0[5]) / LAYER_SCALE_S / prior_sigma[5],
              math.log(x[6] / x0[6]) / prior_sigma[6], math.log(x[7] / x0[7]) / prior_sigma[7],
              math.log(x[8] / x0[8]) / prior_sigma[8]]
        return np.asarray(r)

    sol = least_squares(f, x0, bounds=(lo, hi), x_scale=[0.1, 0.1, OVERHEAD_SCALE_S, 4.0, 1e-6, LAYER_SCALE_S, 0.1, 0.1, 0.1],
                        diff_step=1e-3, max_nfev=400)
    return _eff(sol.x, source, prior.step_overhead_s)


def is_dense_decode(t: Terms) -> bool:
    """A row that measures decode of a dense model: the only kind whose speed pins MBU down. In a MoE row the
    per-MoE-layer overhead and MBU trade off one for the other (both lengthen the step), and in a prefill row MBU
    barely enters."""
    return t.layers == 0 and not t.unit.startswith("input_")


def identifiable_sigma(terms: list[Terms], sigma: tuple) -> tuple:
    """Prior sigmas for a fit over ``terms``: without a dense decode row, MBU and its half-batch are held near
    the level above (MOE_ONLY_MBU_SIGMA) and the per-layer overhead takes the MoE rows' slack (POOLED_SIGMA[2]);
    so MoE-only evidence does not drive a dense MBU down."""
    if not terms or any(is_dense_decode(t) for t in terms):
        return sigma
    return (min(sigma[0], MOE_ONLY_MBU_SIGMA), sigma[1], max(sigma[2], POOLED_SIGMA[2]),
            min(sigma[3], MOE_ONLY_MBU_SIGMA), sigma[4], *sigma[5:])


def sigma_of(res: list[float], floor: float = SIGMA_FLOOR) -> float:
    """Robust RMS of log residuals, inflated for few rows; never below ``floor``."""
    if not res:
        return floor
    a = sorted(abs(r) for r in res)
    med = a[len(a) // 2] if len(a) % 2 else (a[len(a) // 2 - 1] + a[len(a) // 2]) / 2
    s = 1.4826 * med
    n = len(res)
    s *= math.sqrt(n / (n - 2)) if n > 3 else 1.5
    return max(math.sqrt(s * s + SIGMA_BETWEEN ** 2), floor)


@dataclass(frozen=True)
class Profile:
    name: str  # 'h20/sglang', 'h20', 'pooled', 'defaults'
    efficiency: Efficiency
    n_rows: int
    sigma_log: float | None  # None: no band (datasheet defaults, nothing to measure the spread with)
    row_ids: tuple[str, ...] = field(default=())
    note: str = ""

    def band(self, value: float | None) -> list[float] | None:
        """[lo, hi] around a projected ``value`` (the point estimate is always inside)."""
        if value is None or self.sigma_log is None:
            return None
        f = math.exp(Z80 * self.sigma_log)
        return [value / f, value * f]

    def band_factor(self) -> float | None:
        return None if self.sigma_log is None else math.exp(Z80 * self.sigma_log)

    def evidence(self) -> str:
        if self.sigma_log is None:
            return f"profile {self.name}: {self.note or 'datasheet defaults, no published rows'}"
        return (f"profile {self.name}: fitted to {self.n_rows} published row(s); band x/÷ {self.band_factor():.2f}"
                + (f" ({self.note})" if self.note else ""))

    def summary(self) -> dict:
        e = self.efficiency
        return {"profile": self.name, "mbu": e.mbu, "mfu": e.mfu, "step_overhead_s": e.step_overhead_s,
                "step_overhead_per_layer_s": e.step_overhead_per_layer_s,
                "step_overhead_per_decoder_layer_s": e.step_overhead_per_decoder_layer_s,
                "moe_mbu_factor": e.moe_mbu_factor, "kv_mbu_factor": e.kv_mbu_factor, "ep_efficiency": e.ep_efficiency,
                "mbu_half_batch": e.mbu_half_batch, "rows": self.n_rows,
                "sigma_log": self.sigma_log,
                "band_factor": self.band_factor(), "note": self.note}


# A source (one page, post or issue) that reports many configurations is one lab, one engine build, one way of
# measuring: its rows are not independent evidence. Each row's loss weight is 1 / sqrt(rows of its source in the
# fit), so a source's total weight grows as sqrt(n), not n. Chosen by leave-one-SOURCE-out over the catalog (the
# honest test of a projection for a publication it has not seen; `validate` prints it): 0 -> 38 % median error,
# 0.5 -> 30 %, 1 -> 27 %; per-row leave-one-out 16.9 %, 17.0 %, 20.4 %. 0.5 keeps the per-row target (<= 20 %).
# The weights are not renormalised: a publication of n rows carries sqrt(n) rows' worth of evidence against the
# prior (rows of one lab share its errors). Renormalised to a mean of 1, 0.5 gives the same within a point
# (leave-one-source-out 30.2 %, per row 17.0 %).
SOURCE_WEIGHT_EXP = 0.5


def source_weights(sel) -> list[float]:
    """Each row's weight in a fit: 1 / (rows from its source in the fit) ** SOURCE_WEIGHT_EXP (``sel``: points
    whose sixth element is the row's source key)."""
    from collections import Counter

    n = Counter(p[5] for p in sel)
    return [n[p[5]] ** -SOURCE_WEIGHT_EXP for p in sel]


def _key_engine(row) -> str:
    return row.profile_key


def build(rows, extra: list[tuple[Terms, float, str]] | None = None) -> dict[str, Profile]:
    """Profiles from usable rows: 'pooled', each chip, each chip/engine with >= MIN_ENGINE_ROWS rows.

    ``extra``: (terms, value, chip id) of local measurements (``--calibrate`` / ``validate --include``) added to
    their chip's fit."""
    pts = []  # (terms, value, chip, engine key, row id)
    for r in rows:
        if r.usable is not None:
            continue
        t, _ = row_terms(r)
        if t is None:
            continue
        pts.append((t, r.per_accelerator_value(), r.hardware, _key_engine(r), r.id, r.source_key))
    for t, v, chip in extra or []:
        pts.append((t, v, chip, f"{chip}/local", t.row_id, "local"))
    out: dict[str, Profile] = {}

    def make(name, sel, prior, note: str, sigma: tuple, parent: Profile | None = None):
        sigma = identifiable_sigma([p[0] for p in sel], sigma)
        if sigma[0] < LEVEL_SIGMA[0] and sel:
            note = (note + "; " if note else "") + "no dense decode rows: MBU held at the level above"
        # an engine's profile (chip x engine, silicon x engine) is fitted to its rows at full weight: what one source's
        # rows share there (the engine's build, its kernels, its scheduler) is what the profile is for, where the chip
        # and vendor levels weigh a source as sqrt(n) rows (``source_weights``: one lab's shared errors)
        w = [1.0] * len(sel) if "/" in name else source_weights(sel)
        e = fit([p[0] for p in sel], [p[1] for p in sel], prior, f"profile {name}", sigma, w)
        res = residuals([p[0] for p in sel], [p[1] for p in sel], e)
        s = sigma_of(res)
        if parent is not None and parent.sigma_log is not None and len(sel) < MIN_ROWS_OWN_BAND:
            s = parent.sigma_log  # too few rows to show their own spread (a fit to 2 rows has ~0 residuals): the parent's band
        return Profile(name, e, len(sel), s, tuple(p[4] for p in sel), note)

    from bench.catalog import hardware

    out["pooled"] = make("pooled", pts, DEFAULT_PRIOR, "all chips and engines", POOLED_SIGMA)
    chips_of = {c: hardware.get_chip(c) for c in {p[2] for p in pts}}
    vendor_of = {c: ch.vendor for c, ch in chips_of.items()}
    for vendor in sorted(set(vendor_of.values())):
        sel = [p for p in pts if vendor_of[p[2]] == vendor]
        out[f"vendor:{vendor}"] = make(f"vendor:{vendor}", sel, out["pooled"].efficiency, "all chips of the vendor",
                                       LEVEL_SIGMA)
    # one silicon (a die) on several chips with rows: its tensor cores are the same, so MFU is fitted once for the
    # silicon (and once per silicon x engine) and each chip takes it (prior sigma SILICON_MFU_SIGMA); the chip stays
    # free on the memory side (MBU, its HBM) and the rest
    silicon_of = {c: ch.silicon for c, ch in chips_of.items()
                  if ch.silicon and sum(1 for o in chips_of.values() if o.silicon == ch.silicon) > 1}
    tied = (LEVEL_SIGMA[0], SILICON_MFU_SIGMA, *LEVEL_SIGMA[2:])
    for sil in sorted(set(silicon_of.values())):
        sel = [p for p in pts if silicon_of.get(p[2]) == sil]
        vendor = vendor_of[sel[0][2]]
        out[f"silicon:{sil}"] = make(f"silicon:{sil}", sel, out[f"vendor:{vendor}"].efficiency,
                                     "all chips of the silicon", LEVEL_SIGMA)
        for eng in sorted({p[3].split("/", 1)[1] for p in sel}):
            esel = [p for p in sel if p[3].split("/", 1)[1] == eng]
            if len(esel) >= MIN_ENGINE_ROWS:
                out[f"silicon:{sil}/{eng}"] = make(f"silicon:{sil}/{eng}", esel, out[f"silicon:{sil}"].efficiency,
                                                   "", LEVEL_SIGMA, out[f"silicon:{sil}"])
    for chip in sorted({p[2] for p in pts}):
        sel = [p for p in pts if p[2] == chip]
        sil = silicon_of.get(chip)
        parent = out[f"silicon:{sil}"] if sil else out[f"vendor:{vendor_of[chip]}"]
        out[chip] = make(chip, sel, parent.efficiency, "all engines", tied if sil else LEVEL_SIGMA)
        for key in sorted({p[3] for p in sel}):
            esel = [p for p in sel if p[3] == key]
            if len(esel) >= MIN_ENGINE_ROWS:
                prior = out[chip].efficiency
                seng = out.get(f"silicon:{sil}/{key.split('/', 1)[1]}") if sil else None
                if seng is not None:
                    from dataclasses import replace as _replace

                    prior = _replace(prior, mfu=seng.efficiency.mfu)
                out[key] = make(key, esel, prior, "", tied if sil else LEVEL_SIGMA, out[chip])
    return out


def defaults_profile() -> Profile:
    return Profile("defaults", Efficiency(), 0, None, (), "datasheet peaks x the old default MBU 0.75 / MFU 0.5")


def resolve(profiles: dict[str, Profile], chip_id: str, name: str | None = None) -> Profile:
    """The profile for a chip: ``name`` ('sglang', 'all', 'pooled', 'defaults', or a full key), else the chip's
    fit over all its rows, else the pooled fit with a wider band (the chip has no published rows)."""
    from bench.errors import InputError

    if name in (None, "all", chip_id):
        if chip_id in profiles:
            return profiles[chip_id]
        from bench.catalog import hardware

        vendor = hardware.get_chip(chip_id).vendor if chip_id in hardware.chips() else None
        key = f"vendor:{vendor}" if f"vendor:{vendor}" in profiles else "pooled"
        p = profiles[key]
        what = f"{vendor}'s other chips" if key != "pooled" else "all chips"
        return Profile(f"{key} (no rows for {chip_id})", p.efficiency, p.n_rows, (p.sigma_log or SIGMA_FLOOR) * 1.5,
                       p.row_ids, f"no published rows for {chip_id}: the fit over {what}, band widened 1.5x")
    if name == "defaults":
        return defaults_profile()
    if name == "pooled":
        return profiles["pooled"]
    key = name if "/" in name else f"{chip_id}/{name}"
    if key in profiles:
        return profiles[key]
    known = sorted(k for k in profiles if k.startswith(f"{chip_id}/")) + ["all", "pooled", "defaults"]
    raise InputError(f"--profile {chip_id}={name}: no such profile (a chip/engine profile needs {MIN_ENGINE_ROWS} "
                     f"usable published rows); known for {chip_id}: {', '.join(known)}")


FIELD = "field"  # every engine: the chip's fit over all its rows


def known_engines(profiles: dict[str, Profile]) -> list[str]:
    """Engines with a chip/engine profile somewhere in ``profiles``."""
    return sorted({k.split("/", 1)[1] for k in profiles if "/" in k and not k.endswith("/local")})


def for_engine(profiles: dict[str, Profile], chip_id: str, engine: str | None = None,
               name: str | None = None) -> Profile:
    """The profile a projection uses: ``name`` (``--profile CHIP=NAME``) if given; else, for ``engine`` (``--engine``),
    the chip x engine profile -- fitted where that engine has rows on that chip, its prior the chip's field profile
    (the MAP fit shrinks a thin one towards it) -- or, with no such rows, the chip's field profile, named so; else
    (``field``, the default) the chip's fit over every engine."""
    from dataclasses import replace

    from bench.errors import InputError

    if name is not None or engine in (None, FIELD):
        return resolve(profiles, chip_id, name)
    from bench.catalog import engines as engine_catalog

    engine = engine.strip().lower()
    known = known_engines(profiles)
    if engine not in known and engine not in engine_catalog.data():  # an engine with scheduler defaults but no
        # fitted rows (MindIE: its published rows are finite runs, never fitted) projects on the chip's field profile
        raise InputError(f"--engine '{engine}' has no published rows; known: "
                         f"{', '.join([FIELD, *sorted(set(known) | set(engine_catalog.data()))])}")
    key = f"{chip_id}/{engine}"
    if key in profiles:
        return profiles[key]
    base = resolve(profiles, chip_id)
    return replace(base, name=f"{base.name} (field: no {engine} rows on {chip_id})",
                   note=(base.note + "; " if base.note else "") + f"{engine} has no usable rows on {chip_id}: the "
                   "chip's field profile")


def engine_table(profiles: dict[str, Profile]) -> list[dict]:
    """What the evidence says about engines: MBU, MFU, the per-MoE-layer overhead and the band of every chip's field
    profile and of each chip x engine profile (``validate --profiles``)."""
    out = []
    for key in sorted(k for k in profiles if not k.startswith(("pooled", "vendor:", "silicon:")) and not k.endswith("/local")):
        p = profiles[key]
        chip, _, engine = key.partition("/")
        e = p.efficiency
        out.append({"hardware": chip, "engine": engine or FIELD, "profile": p.name, "rows": p.n_rows, "mbu": e.mbu,
                    "mfu": e.mfu, "mbu_half_batch": e.mbu_half_batch,
                    "step_overhead_per_layer_s": e.step_overhead_per_layer_s,
                    "step_overhead_per_decoder_layer_s": e.step_overhead_per_decoder_layer_s,
                    "moe_mbu_factor": e.moe_mbu_factor, "kv_mbu_factor": e.kv_mbu_factor,
                    "ep_efficiency": e.ep_efficiency, "collective_hop_s": e.collective_hop_s,
                    "band_factor": p.band_factor()})
    return out


def with_overrides(profile: Profile, mbu: float | None = None, mfu: float | None = None) -> Profile:
    """``profile`` with MBU and/or MFU replaced by the user's figures (labelled; the band no longer applies)."""
    if not mbu and not mfu:
        return profile
    from dataclasses import replace

    e = profile.efficiency
    eff = replace(e, mbu=mbu or e.mbu, mfu=mfu or e.mfu, source=f"{e.source} + overrides")
    return replace(profile, name=f"{profile.name} + overrides", efficiency=eff, sigma_log=None,
                   note="MBU/MFU given by the user: no band")


_CACHE: dict = {}


def catalog_profiles() -> dict[str, Profile]:
    """Profiles fitted to the shipped catalog (computed once per process)."""
    if "catalog" not in _CACHE:
        from bench.catalog import published

        _CACHE["catalog"] = build(published.rows())
    return _CACHE["catalog"]


# ---------------------------------------------------------------------------- projecting with a profile
RANGED = ("output_tok_s_per_accelerator", "total_tok_s_per_accelerator", "output_tok_s_per_replica",
          "decode_tok_s_per_accelerator",
          "input_tok_s_per_accelerator", "tok_s_per_user", "ttft_s", "tpot_s")


def add_ranges(result: dict, profile: Profile) -> dict:
    """``*_range: [lo, hi]`` beside every projected throughput and latency, and the evidence behind them."""
    out = dict(result)
    for k in RANGED:
        if k in out:
            out[f"{k}_range"] = profile.band(out[k])
    out.update(profile=profile.name, profile_rows=profile.n_rows, profile_band_factor=profile.band_factor(),
               evidence=profile.evidence())
    return out


def project(m, chip, w, profile: Profile, sw_efficiency: float = 1.0) -> dict:
    from bench.analysis import projection as P

    return add_ranges(P.project(m, chip, w, profile.efficiency, sw_efficiency), profile)


def max_load(m, chip, w, profile: Profile, cap: int | None = None, sw_efficiency: float = 1.0) -> dict:
    from bench.analysis import projection as P

    return add_ranges(P.max_load(m, chip, w, profile.efficiency, cap, sw_efficiency), profile)
