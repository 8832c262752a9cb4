"""Trials of one case and the result blocks built from them: ``trials``, ``window``, ``queue_wait_s``,
``validity``. The runner calls ``plan`` to know whether to run another trial, then ``build`` once.

With ``workload.trials: 1`` (the default) nothing here changes the case's headline values: they stay
the single trial's. With more trials the latency distributions pool every trial's requests, the
throughputs are the mean of the trials', and the ``trials`` block keeps each trial's value with the
mean, stdev, Student-t 95 % interval and CV.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.summary import metrics, validity
from bench.results import registry
from bench.results.rundir import dig
from bench.summary import stats, window

# headline metric -> where it is in one trial's summary (dotted path): declared in the metric registry
HEADLINE = registry.TRIALS
THROUGHPUTS = ("output_tok_s", "total_tok_s", "requests_per_s", "prefill_tok_s", "output_tok_s_per_accelerator")


@dataclass
class Trial:
    records: list[metrics.RequestRecord]
    summary: dict  # metrics.summarize of this trial, with its energy block and cost rates
    reading: dict  # the energy source's reading
    power: list[tuple[float, float]] | None = None  # (time_s, W) samples, summed over devices
    client: dict | None = None  # loadgen health (loop_lag_s, cpu_s, wall_s)
    server: dict | None = None  # server counters over the trial
    blocks: dict = field(default_factory=dict)  # the backend's own result blocks for the trial


@dataclass
class Plan:
    fixed: int = 1
    ci_rel: float | None = None
    min_trials: int = 1
    max_trials: int = 1
    done: list[Trial] = field(default_factory=list)

    @classmethod
    def of(cls, workload, case_kind: str = "load") -> "Plan":
        u = workload.until
        if case_kind == "slo-search":  # the search is itself many measured probes: run it once
            return cls(fixed=1, max_trials=1)
        if u is None:
            return cls(fixed=workload.trials, max_trials=workload.trials)
        return cls(fixed=0, ci_rel=u.ci_rel, min_trials=u.min_trials, max_trials=u.max_trials)

    def more(self) -> bool:
        if self.ci_rel is None:
            return len(self.done) < self.fixed
        return stats.keep_going([t.summary.get("output_tok_s") for t in self.done], self.ci_rel, self.min_trials,
                                self.max_trials)

    def describe(self) -> dict:
        if self.ci_rel is None:
            return {"mode": "fixed", "asked": self.fixed}
        rel = stats.ci_rel_half_width([t.summary["output_tok_s"] for t in self.done if t.summary.get("output_tok_s")])
        return {"mode": "adaptive", "ci_rel": self.ci_rel, "min_trials": self.min_trials,
                "max_trials": self.max_trials, "achieved_ci_rel": rel,
                "converged": rel is not None and rel <= self.ci_rel}


def pressure_pct(before: dict | None, after: dict | None, wall_s: float) -> float | None:
    """% of the wall time some task waited for a CPU, from two /proc/pressure/cpu readings."""
    if not before or not after or wall_s <= 0:
        return None
    return min(100.0, 100.0 * (after["some_total_us"] - before["some_total_us"]) / 1e6 / wall_s)


def combine_readings(readings: list[dict]) -> dict:
    """One energy reading for several trials: joules and windows summed, peak the highest."""
    if len(readings) == 1:
        return readings[0]

    def total(key):
        vals = [r.get(key) for r in readings]
        return None if any(v is None for v in vals) else sum(vals)

    j, win = total("total_j"), total("window_s")
    per = None
    if all(r.get("per_device_j") for r in readings):
        keys = readings[0]["per_device_j"].keys()
        per = {k: (None if any(r["per_device_j"].get(k) is None for r in readings)
                   else sum(r["per_device_j"][k] for r in readings)) for k in keys}
    peaks = [r.get("peak_power_w") for r in readings if r.get("peak_power_w") is not None]
    notes = [n for r in readings for n in r.get("notes", [])]
    return {"per_device_j": per, "total_j": j, "avg_power_w": j / win if j is not None and win else None,
            "peak_power_w": max(peaks) if peaks else None, "window_s": win, "cross_check": None,
            "notes": [*notes, f"summed over {len(readings)} trials"]}


def combine_server(blocks: list[dict | None]) -> dict | None:
    """Server counters summed over trials; gauge peaks the highest."""
    blocks = [b for b in blocks if b]
    if len(blocks) <= 1:
        return blocks[0] if blocks else None
    out = {}
    for k in blocks[0]:
        vals = [b.get(k) for b in blocks]
        if k == "side":
            out[k] = vals[0]
        elif any(v is None for v in vals):
            out[k] = None
        else:
            out[k] = max(vals) if k.endswith("_peak") else sum(vals)
    return out


def headline(trials: list[Trial]) -> dict:
    """The case's headline summary: the trial's own with one trial; else latencies over every request
    and throughputs the mean over trials (window_s and token counts summed)."""
    if len(trials) == 1:
        return dict(trials[0].summary)
    m = metrics.summarize([r for t in trials for r in t.records])
    for k in THROUGHPUTS:
        vals = [t.summary.get(k) for t in trials if t.summary.get(k) is not None]
        m[k] = stats.mean(vals) if vals else None
    wins = [t.summary.get("window_s") for t in trials]
    m["window_s"] = sum(wins) if all(w is not None for w in wins) else None
    return m


def trials_block(trials: list[Trial], plan: Plan) -> dict:
    """``{n, rule, metrics: {name: {mean, stdev, ci95, cv, n, values}}}``."""
    per = {name: stats.summary([dig(t.summary, path) for t in trials]) for name, path in HEADLINE.items()}
    return {"n": len(trials), "rule": plan.describe(), "metrics": {k: v for k, v in per.items() if v is not None}}


def build(case, trials: list[Trial], plan: Plan, *, target_concurrency: int | None,
          pressure_before: dict | None, pressure_after: dict | None, wall_s: float, telemetry: dict | None,
          shared_prefixes: bool, check_prompt_tokens: bool) -> dict:
    """The four new top-level blocks of a case result."""
    all_recs = [r for t in trials for r in t.records]
    block = trials_block(trials, plan)
    out_cv = (block["metrics"].get("output_tok_s") or {}).get("cv")
    clients = [t.client for t in trials if t.client]
    client_cpu = None
    if clients and sum(c["wall_s"] for c in clients) > 0:
        client_cpu = sum(c["cpu_s"] for c in clients) / sum(c["wall_s"] for c in clients)
    tel = telemetry or {}
    ev = validity.Evidence(
        records=all_recs, expected_output_tokens=case.output_tokens if case.kind == "load" else None,
        check_prompt_tokens=check_prompt_tokens, scheduled=bool(clients),
        loop_lag_s=[x for c in clients for x in c.get("loop_lag_s", [])] or None,
        client_cpu_fraction=client_cpu, host_cpu_pressure_pct=pressure_pct(pressure_before, pressure_after, wall_s),
        gpu_slowdown_mask=tel.get("slowdown_reasons_mask"), gpu_other_processes=tel.get("other_processes_at_start"),
        server=combine_server([t.server for t in trials]), shared_prefixes=shared_prefixes,
        trial_cv=out_cv if len(trials) > 1 else None)
    waits = [r.queue_wait_s for r in all_recs if r.queue_wait_s is not None]
    return {
        "trials": block,
        "window": window.window_block([t.records for t in trials], target_concurrency, [t.power for t in trials]),
        "queue_wait_s": metrics.distribution(waits) if waits else None,
        "validity": validity.verdict(ev),
    }
