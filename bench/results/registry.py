"""The metric registry: every metric a view shows is declared here once.

A :class:`Metric` says what the number is (key, label, SI unit), how people see it (display unit and
scale: seconds shown as ms, fractions as %), which way is better, where it is read from (a dotted path
in a ``cases.jsonl`` line, or ``derived`` for figures a view computes, such as $/M), and whether a
case's ``trials`` block holds its per-trial values. The run table, ``compare`` (table, md, csv, json,
parquet), the HTML report and ``check`` all render from these declarations, so a metric has one name,
one unit and one format everywhere.

Numbers for people (:func:`fmt`): 3–4 significant digits, thousands separators, never scientific
notation; a value that was not measured is "—" (:data:`MISSING`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bench.present import MISSING, fmt, fmt_pm  # noqa: F401  (re-exported: the registry's number format)

Better = Literal["higher", "lower"] | None


@dataclass(frozen=True)
class Metric:
    key: str  # the name in csv/json/parquet and in a case's trials block (SI unit in the name)
    label: str  # short, for table headers (the display unit is added by ``header``)
    unit: str  # the SI unit the value is stored in: s, tok/s, req/s, J/tok, W, B, fraction, USD/Mtok, ""
    path: str | None  # dotted path in a cases.jsonl line; None: derived by the view (``source``)
    better: Better = None
    display_unit: str | None = None  # what people see; None: the stored unit
    scale: float = 1.0  # display value = stored value * scale
    trials: bool = False  # the case's trials block holds per-trial values under ``key``
    headline: bool = False  # in the default (narrow) views
    text: bool = False  # a label, not a number
    source: str = "case"  # case | derived (computed by compare from the case and its chip)
    doc: str = ""

    @property
    def shown_unit(self) -> str:
        return self.display_unit if self.display_unit is not None else self.unit

    @property
    def header(self) -> str:
        """'TTFT p50 ms': the label and the display unit (no unit for counts and text)."""
        u = self.shown_unit
        return f"{self.label} {u}" if u and u not in _UNIT_IN_LABEL else self.label

    def scaled(self, value):
        """The stored value in display units; None when not measured (or not finite)."""
        if value is None or isinstance(value, bool) or self.text:
            return value
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return value * self.scale

    def display(self, value) -> str:
        """One table cell: the value in display units, :func:`fmt`-formatted; "—" when not measured."""
        if self.text:
            return MISSING if value is None else str(value)
        return fmt(self.scaled(value))

    def worse(self, delta_rel: float) -> bool:
        """Whether a relative change of the stored value is a change for the worse."""
        return delta_rel < 0 if self.better == "higher" else delta_rel > 0


_UNIT_IN_LABEL = ("fraction", "tok/s", "req/s", "J/tok", "USD/Mtok")  # the label already says it


def _m(key, label, unit, path, **kw) -> Metric:
    return Metric(key, label, unit, path, **kw)


_MS = {"display_unit": "ms", "scale": 1000.0, "better": "lower"}
_TOKS = {"better": "higher"}

# In display order. ``path`` is where the value sits in a cases.jsonl line (the flat blocks at the top).
METRICS: tuple[Metric, ...] = (
    _m("output_tok_s", "out tok/s", "tok/s", "output_tok_s", trials=True, headline=True, **_TOKS,
       doc="output tokens per second of the measured window"),
    _m("output_tok_s_per_accelerator", "out tok/s/acc", "tok/s", "output_tok_s_per_accelerator", trials=True,
       **_TOKS, doc="output tokens per second per accelerator (the CPU counts as one)"),
    _m("total_tok_s", "total tok/s", "tok/s", "total_tok_s", trials=True, **_TOKS,
       doc="input + output tokens per second"),
    _m("requests_per_s", "req/s", "req/s", "requests_per_s", trials=True, **_TOKS),
    _m("prefill_tok_s", "prefill tok/s", "tok/s", "prefill_tok_s", trials=True, **_TOKS),
    _m("ttft_p50_s", "TTFT p50", "s", "ttft_s.p50", trials=True, headline=True, **_MS),
    _m("ttft_p99_s", "TTFT p99", "s", "ttft_s.p99", trials=True, **_MS),
    _m("tpot_p50_s", "TPOT p50", "s", "tpot_s.p50", trials=True, headline=True, **_MS,
       doc="per request (E2E − TTFT) / (output tokens − 1), the server's token count"),
    _m("tpot_p99_s", "TPOT p99", "s", "tpot_s.p99", trials=True, **_MS),
    _m("itl_p50_s", "ITL p50", "s", "itl_s.p50", **_MS,
       doc="gaps between tokens, only where tokens arrived one per stream event"),
    _m("e2e_p50_s", "E2E p50", "s", "e2e_s.p50", trials=True, headline=True, **_MS),
    _m("e2e_p99_s", "E2E p99", "s", "e2e_s.p99", trials=True, **_MS),
    _m("tok_s_per_user", "tok/s/user", "tok/s", "tok_s_per_user", **_TOKS, doc="1 / TPOT p50"),
    _m("prefix_cache_hit_rate", "prefix hit", "fraction", "prefix_cache.hit_rate", display_unit="%", scale=100.0,
       headline=True, doc="server prefix-cache hit tokens / queried tokens (datasets that report it)"),
    _m("j_per_output_tok", "J/out tok", "J/tok", "energy.j_per_output_tok", trials=True, headline=True,
       better="lower"),
    _m("j_per_total_tok", "J/tok", "J/tok", "energy.j_per_total_tok", trials=True, better="lower"),
    _m("avg_power_w", "power", "W", "energy.avg_power_w"),
    _m("energy_source", "energy src", "", "energy.source", text=True),
    _m("usd_per_mtok_output", "$/M out", "USD/Mtok", None, source="derived", better="lower", headline=True,
       doc="rental $ per million output tokens (compare, report)"),
    _m("usd_per_mtok_blended", "$/M blend", "USD/Mtok", None, source="derived", better="lower"),
    _m("mbu", "MBU", "fraction", "efficiency.mbu", display_unit="%", scale=100.0, better="higher"),
    _m("mfu", "MFU", "fraction", "efficiency.mfu", display_unit="%", scale=100.0, better="higher"),
    _m("tpot_limit_s", "TPOT limit", "s", "roofline.tpot_limit_s", display_unit="ms", scale=1000.0),
    _m("tpot_pct_of_limit", "TPOT of limit", "%", "roofline.tpot_pct_of_limit", better="higher"),
    _m("prefill_pct_of_limit", "prefill of limit", "%", "roofline.prefill_pct_of_limit", better="higher"),
    _m("rss_peak_delta_bytes", "peak RSS Δ", "B", "memory.rss_peak_delta_bytes", display_unit="MiB",
       scale=1 / 2**20),
    _m("weight_bytes", "weights", "B", "memory.weight_bytes", display_unit="MiB", scale=1 / 2**20),
    _m("compile_s", "compile", "s", "compile.compile_s"),
    # the inputs of $/M (bench.analysis.cost.rates_from_case): phase rates per accelerator, per trial
    _m("cost_output_tok_s_per_accelerator", "cost out tok/s/acc", "tok/s", "cost_rates.output_tok_s",
       trials=True, **_TOKS),
    _m("cost_input_tok_s_per_accelerator", "cost in tok/s/acc", "tok/s", "cost_rates.input_tok_s",
       trials=True, **_TOKS),
)

BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}
HEADLINE: tuple[str, ...] = tuple(m.key for m in METRICS if m.headline)
TRIALS: dict[str, str] = {m.key: m.path for m in METRICS if m.trials}  # key -> path in one trial's summary


# A published row's unit (bench/catalog/published.py ``Unit``) as the metric it is compared with, per accelerator
# (``Row.per_accelerator_value`` divides the *_total figures): its short header names it in tables.
PUBLISHED_UNIT_METRIC = {"output_tok_s_per_accelerator": "output_tok_s_per_accelerator",
                         "output_tok_s_total": "output_tok_s_per_accelerator",
                         "input_tok_s_per_accelerator": "cost_input_tok_s_per_accelerator",
                         "input_tok_s_total": "cost_input_tok_s_per_accelerator",
                         "tok_s_per_user": "tok_s_per_user"}
_PUBLISHED_UNIT_TEXT = {"tpot_ms": "TPOT ms"}  # a mean or a median as the source states it: no percentile named


def published_unit_label(unit: str) -> str:
    """A published row's unit as a short table label: 'output_tok_s_total' -> 'out tok/s/acc' (per accelerator, as
    validate shows it); an input rate -> 'in tok/s/acc'; 'tpot_ms' -> 'TPOT ms'; an unknown unit as written."""
    key = PUBLISHED_UNIT_METRIC.get(unit)
    if key is None:
        return _PUBLISHED_UNIT_TEXT.get(unit, unit)
    label = BY_KEY[key].header
    return label.removeprefix("cost ") if key.startswith("cost_") else label


def get(key: str) -> Metric:
    """The metric named ``key``; an unknown name is a KeyError listing the known ones."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"metric '{key}' is unknown; known: {', '.join(BY_KEY)}") from None


# numbers for people are formatted in bench.present (fmt: 3–4 significant digits, no scientific notation)
