"""What ``cost``, ``project`` and ``capacity`` are asked: typed request models (pydantic) holding each flag's rule.

The CLI parses flags into a plain dict (``vars(args)``) and builds a request with ``from_flags``; a broken rule
is one line naming the flag (``--input-tokens``, never the field) with what was found (an ``InputError``, exit 2).
Bounds come from ``bench.config.limits``, the same module the config schema takes them from, so no number is
stated twice. The rules run in a fixed order (the first broken one is reported), as the commands checked them.

These live in ``bench.analysis`` because they are the analysis' inputs: the layer rules let analysis read the
limits (``config.limits``) and the catalog, and keep config free of analysis and the CLI free of rules. What needs
the catalog to answer (a chip or model id, a profile name, a context length) is resolved after the request is
built, by the catalog itself.
"""
from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bench.config import limits
from bench.errors import InputError, plain_message

# --engine-version: a release as engines.yaml's `match` lists them (0.9.1, v0.10.2rc1, 0.4.6.post1), at most 40 characters
_VERSION = re.compile(r"[vV]?[0-9]+(?:\.[0-9A-Za-z]+)*(?:[.+-]?[A-Za-z][0-9A-Za-z.]*)?")



def flag(name: str) -> str:
    """The flag a field is read from: ``input_tokens`` -> ``--input-tokens``."""
    return "--" + name.replace("_", "-")


# ---------------------------------------------------------------------------- the rules (None: the rule holds)
def positive_error(name: str, value: float | None, allow_zero: bool = False, maximum: float | None = None) -> str | None:
    """``value`` > 0 (>= 0 with ``allow_zero``), finite and at most ``maximum``; None passes."""
    if value is None:
        return None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        return f"{name} must be {'>= 0' if allow_zero else '> 0'}; found {value:g}"
    if maximum is not None and value > maximum:
        return f"{name} must be at most {maximum:g}; found {value:g}"
    return None


def fraction_error(name: str, value: float | None) -> str | None:
    """``value`` in (0, 1]; None passes."""
    if value is not None and not (math.isfinite(value) and 0 < value <= 1):
        return f"{name} must be in (0, 1]; found {value:g}"
    return None


def pue_error(name: str, value: float | None) -> str | None:
    """A PUE is facility power / IT power: in [1, 10]."""
    if value is not None and not (math.isfinite(value) and 1 <= value <= limits.MAX_PUE):
        return f"{name} must be >= 1 (facility power / IT power) and at most {limits.MAX_PUE:g}; found {value:g}"
    return None


def whole_error(name: str, value: float | None, minimum: int = 1, maximum: float = limits.MAX_ACCELERATORS) -> str | None:
    """A count given as a number: a whole number in [minimum, maximum]; None passes."""
    if value is None:
        return None
    if not math.isfinite(value) or value != int(value) or not minimum <= value <= maximum:
        top = f"{int(maximum):,}" if math.isfinite(maximum) and maximum == int(maximum) else f"{maximum:g}"
        return f"{name} must be a whole number from {minimum:,} to {top}; found {value:g}"
    return None


def request_rate(text: str) -> float | None:
    """``--request-rate``: a positive finite number, or inf (None: every prompt at once)."""
    if text.strip().lower() == "inf":
        return None
    try:
        rate = float(text)
    except ValueError:
        raise InputError(f"--request-rate '{text}': a number of requests per second, or inf") from None
    if not math.isfinite(rate) or not limits.MIN_RATE_RPS <= rate <= limits.MAX_RATE_RPS:
        raise InputError(f"--request-rate must be from 0.001 to 1e6 requests/s, or inf; found {text}")
    return rate


def _first(*problems: str | None) -> None:
    """Raise the first broken rule as a ValueError (pydantic reports it; ``from_flags`` words it)."""
    for p in problems:
        if p is not None:
            raise ValueError(p)


def _wholes(req: BaseModel, bounds: tuple[tuple[str, int, float], ...]) -> None:
    _first(*(whole_error(flag(n), getattr(req, n), lo, hi) for n, lo, hi in bounds))


class Request(BaseModel):
    """A command's flags, typed; unknown keys (the other flags of the namespace) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def from_flags(cls, flags: dict[str, Any]):
        try:
            return cls.model_validate(flags)
        except ValidationError as exc:
            raise InputError(plain_message(exc.errors()[0])) from None


# ---------------------------------------------------------------------------- cost
class CostRequest(Request):
    hardware: str
    results: str | None = None
    output_tok_s: float | None = None
    project: bool = False
    input_tok_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    batch: int | None = None
    dtype: str | None = None
    accelerators: int = 1
    kv_dtype: str | None = None
    parallelism: str | None = None
    profile: str | None = None
    engine: str = "field"
    rental_usd_per_hour: float | None = None
    pricing: str | None = None
    capex_usd: float | None = None
    life_years: float | None = None
    power_w: float | None = None
    pue: float | None = None
    electricity_usd_per_kwh: float | None = None
    other_opex_fraction: float | None = None
    utilisation: float | None = None
    server_overhead: float | None = None
    fx: float | None = None
    blend_ratio: float = 3.0
    model: str | None = None
    format: str = "table"

    @model_validator(mode="after")
    def _rules(self):
        _first(*(positive_error(flag(n), getattr(self, n)) for n in (
            "output_tok_s", "input_tok_s", "rental_usd_per_hour", "capex_usd", "life_years", "power_w",
            "electricity_usd_per_kwh", "fx", "server_overhead", "blend_ratio")),
            positive_error("--other-opex-fraction", self.other_opex_fraction, allow_zero=True),
            *(positive_error(flag(n), getattr(self, n), allow_zero=n == "other_opex_fraction", maximum=most)
              for n, most in limits.COST_MAXIMA.items()))
        if self.server_overhead is not None and self.server_overhead < 1:
            raise ValueError(f"--server-overhead must be >= 1 (all-in W / chip W); found {self.server_overhead:g}")
        if self.life_years is not None and self.life_years < limits.MIN_LIFE_YEARS:
            raise ValueError(f"--life-years must be at least {limits.MIN_LIFE_YEARS:g}; found {self.life_years:g}")
        _first(pue_error("--pue", self.pue), fraction_error("--utilisation", self.utilisation))
        return self

    def check_shape(self) -> None:
        """The projection's shape, checked after the chips and the model resolve (as the command always did)."""
        for n, lo, hi in (("input_tokens", 1, limits.MAX_TOKENS), ("output_tokens", 1, limits.MAX_TOKENS),
                          ("batch", 1, limits.MAX_BATCH), ("accelerators", 1, limits.MAX_REPLICA_ACCELERATORS)):
            if (e := whole_error(flag(n), getattr(self, n), lo, hi)) is not None:
                raise InputError(e)

    def given_terms(self, chip_ids: list[str]):
        """The pricing terms the flags give (a rental, a preset, or ownership figures) for these chips, or None: each
        chip at its own rate. An ownership preset of another chip is refused (``pricing.check_preset_chips``)."""
        from bench.catalog import pricing

        if not (self.pricing or self.rental_usd_per_hour is not None or self.capex_usd is not None):
            return None
        return pricing.terms(self.pricing, self.rental_usd_per_hour, self.capex_usd, self.life_years, self.pue,
                             self.electricity_usd_per_kwh, self.other_opex_fraction, self.utilisation, self.fx,
                             chip_ids=chip_ids)

    def own_terms(self, chip_id: str):
        """A chip's own rate, with the ownership figures given winning over its preset's (None: it has no price)."""
        from bench.catalog import pricing

        return pricing.own_terms(chip_id, self.utilisation, self.fx, self.life_years, self.pue,
                                 self.electricity_usd_per_kwh, self.other_opex_fraction)

    def check_ownership_flags_apply(self, priced: dict) -> None:
        """An ownership figure (--life-years, --pue ...) given when no chip is priced by ownership would change
        nothing: refused, never silently dropped. ``priced``: {chip id: its terms, or None}."""
        given = [flag(n) for n in ("life_years", "power_w", "pue", "electricity_usd_per_kwh", "other_opex_fraction",
                                   "server_overhead") if getattr(self, n) is not None]
        if not given or any(t is not None and t.kind == "tco" for t in priced.values()):
            return
        how = "; ".join(f"{c}: {'no price' if t is None else 'rental from ' + t.source}" for c, t in priced.items())
        raise InputError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to ownership pricing, and no chip here is priced by ownership "
                         f"({how}): drop {' and '.join(given)}, or price by ownership (--capex-usd, or --pricing with "
                         "an ownership preset: list pricing)")

    def missing_for_project(self) -> None:
        """``cost --project`` projects the throughput: it needs the model and the shape."""
        if self.project:
            need = [f for f, v in (("--model", self.model), ("--input-tokens", self.input_tokens),
                                   ("--output-tokens", self.output_tokens), ("--batch", self.batch),
                                   ("--dtype", self.dtype)) if v is None]
            if need:
                raise InputError(f"cost --project also needs {', '.join(need)}")


# ---------------------------------------------------------------------------- project
class ProjectRequest(Request):
    model: str
    hardware: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    batch: int | None = None
    concurrency: int | None = None
    num_prompts: int | None = None
    request_rate: str = "inf"
    dataset: list[str] = ["random"]
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    no_chunked_prefill: bool = False
    engine_version: str | None = None
    seed: int = 0
    dtype: str
    kv_dtype: str | None = None
    accelerators: int = 1
    parallelism: str | None = None
    calibrate: str | None = None
    profile: str | None = None
    engine: str = "field"
    mbu: float | None = None
    mfu: float | None = None
    sw_efficiency: str | None = None
    format: str = "table"

    @model_validator(mode="after")
    def _rules(self):
        _wholes(self, (("input_tokens", 1, limits.MAX_TOKENS), ("output_tokens", 1, limits.MAX_TOKENS),
                       ("batch", 1, limits.MAX_BATCH), ("concurrency", 1, limits.MAX_BATCH),
                       ("accelerators", 1, limits.MAX_REPLICA_ACCELERATORS)))
        _first(fraction_error("--mbu", self.mbu), fraction_error("--mfu", self.mfu))
        return self

    def check_run_flags(self) -> None:
        """Steady state (--batch/--concurrency) or whole run (--num-prompts): the flags of one, not a mix."""
        run_flags = [f for f, v in (("--request-rate", self.request_rate != "inf"),
                                    ("--dataset", self.dataset != ["random"]),
                                    ("--max-num-seqs", self.max_num_seqs is not None), ("--seed", self.seed != 0),
                                    ("--max-num-batched-tokens", self.max_num_batched_tokens is not None),
                                    ("--no-chunked-prefill", self.no_chunked_prefill),
                                    ("--engine-version", self.engine_version is not None)) if v]
        if self.num_prompts is None and run_flags:
            raise InputError(f"{', '.join(run_flags)} describe a whole run: add --num-prompts N (or drop them)")
        if self.num_prompts is None and not (self.batch or self.concurrency):
            raise InputError("project needs --batch or --concurrency (a steady state), or --num-prompts (a whole run)")
        if self.engine_version is not None and self.engine in (None, "field"):
            raise InputError("--engine-version picks one engine's scheduler defaults: add --engine NAME")
        if self.engine_version is not None and not (len(self.engine_version.strip()) <= 40
                                                    and _VERSION.fullmatch(self.engine_version.strip())):
            raise InputError(f"--engine-version '{self.engine_version[:40]}': give a version such as 0.9.1 "
                             "(digits and dots, e.g. 0.10.2rc1)")
        if self.num_prompts is not None and self.batch:
            raise InputError("--batch is a steady state; a whole run (--num-prompts) takes --concurrency, "
                             "--max-num-seqs")

    @property
    def lengths_from_file(self) -> bool:
        """A whole run over ``--dataset jsonl PATH``: every request's lengths come from the file."""
        return self.num_prompts is not None and bool(self.dataset) and self.dataset[0].lower() == "jsonl"

    def check_lengths(self) -> None:
        """--input-tokens and --output-tokens, unless a jsonl file gives every request's lengths (then not both)."""
        pair = (("--input-tokens", self.input_tokens), ("--output-tokens", self.output_tokens))
        if self.lengths_from_file:
            given = [f for f, v in pair if v is not None]
            if given:
                raise InputError(f"--dataset jsonl PATH gives every request's lengths; drop {' and '.join(given)}")
            return
        need = [f for f, v in pair if v is None]
        if need:
            raise InputError(f"project needs {' and '.join(need)} (or --num-prompts N --dataset jsonl PATH, whose "
                             "lines give them)")

    @property
    def decode_batch(self) -> int:
        return self.batch or self.concurrency or 1

    def run_rate(self) -> float | None:
        """The whole run's bounds, then its request rate (None: all at once)."""
        for name, value, lo, hi in (("--num-prompts", self.num_prompts, 1, limits.MAX_PROJECT_PROMPTS),
                                    ("--max-num-seqs", self.max_num_seqs, 1, limits.MAX_BATCH),
                                    ("--max-num-batched-tokens", self.max_num_batched_tokens, 1, limits.MAX_TOKENS),
                                    ("--seed", self.seed, 0, limits.MAX_SEED)):
            if (e := whole_error(name, value, lo, hi)) is not None:
                raise InputError(e)
        return request_rate(self.request_rate)


# ---------------------------------------------------------------------------- capacity
EXHIBIT63_TAKES_NONE_OF = ("hardware", "compare", "model", "power_mw", "accelerators", "tokens_per_day",
                           "input_tokens", "output_tokens", "replica_accelerators", "tok_s_per_accelerator",
                           "sw_efficiency", "rental_usd_per_hour")


class CapacityRequest(Request):
    scenario: str | None = None
    hardware: str | None = None
    compare: str | None = None
    model: str | None = None
    power_mw: float | None = None
    accelerators: float | None = None
    tokens_per_day: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    dtype: str = "best"
    replica_accelerators: int | None = None
    tok_s_per_accelerator: float | None = None
    pue: float = 1.0
    utilisation: float = 1.0
    sw_efficiency: str | None = None
    profile: str | None = None
    engine: str = "field"
    rental_usd_per_hour: float | None = None
    format: str = "table"

    @model_validator(mode="after")
    def _rules(self):
        if self.scenario == "exhibit63":
            extra = [n for n in EXHIBIT63_TAKES_NONE_OF if getattr(self, n) is not None]
            if extra:
                raise ValueError(f"--scenario exhibit63 takes no other inputs (it rebuilds the report's figures); drop "
                                 f"{', '.join(flag(n) for n in extra)}")
            return self
        if self.compare and self.hardware:
            raise ValueError("give --hardware or --compare, not both")
        if not (self.compare or self.hardware) or not self.model:
            raise ValueError("capacity needs --scenario exhibit63, or --hardware/--compare with --model")
        if self.input_tokens is None or self.output_tokens is None:
            raise ValueError("capacity needs --input-tokens and --output-tokens for the token figures")
        if self.power_mw is None and self.accelerators is None and self.tokens_per_day is None:
            raise ValueError("capacity needs one of --power-mw, --accelerators or --tokens-per-day")
        _first(*(positive_error(flag(n), getattr(self, n)) for n in (
            "power_mw", "tokens_per_day", "tok_s_per_accelerator", "rental_usd_per_hour")))
        _wholes(self, (("accelerators", 1, limits.MAX_ACCELERATORS),
                       ("replica_accelerators", 1, limits.MAX_REPLICA_ACCELERATORS),
                       ("input_tokens", 1, limits.MAX_TOKENS), ("output_tokens", 1, limits.MAX_TOKENS)))
        _first(positive_error("--power-mw", self.power_mw, maximum=limits.MAX_POWER_MW), pue_error("--pue", self.pue),
               fraction_error("--utilisation", self.utilisation))
        return self

    @property
    def chip_ids(self) -> str:
        return self.compare or self.hardware
