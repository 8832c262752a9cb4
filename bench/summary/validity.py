"""Was the measurement itself sound? A verdict on every case: ``ok``, ``warn`` or ``invalid``.

Each check is a small pure function over what the case recorded (its request records, the client's
own health, the host's CPU pressure, GPU telemetry, the server's counters, the trials' spread); each
threshold is a named constant below, documented in the README ("Trials, windows and validity").
A check whose input was not measured is skipped (listed under ``skipped``), never passed or failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bench.summary import metrics

# ---------------------------------------------------------------------------- thresholds
SEND_LAG_P99_WARN_S = 0.050  # p99 of (actual send - scheduled send - cap wait): the client fell behind
SEND_LAG_P99_INVALID_S = 1.0  # ... so far behind that the offered load was not the one configured
LOOP_LAG_P99_WARN_S = 0.020  # p99 of the client's event-loop wake-up lateness (10 ms probe)
CLIENT_CPU_WARN_FRACTION = 0.90  # client process CPU time / wall time: near one full core (the GIL)
HOST_CPU_PRESSURE_WARN_PCT = 10.0  # /proc/pressure/cpu "some" over the case: % of time a task waited for a CPU
FAILED_INVALID_FRACTION = 0.01  # failed requests / all requests above this: invalid
TRIAL_CV_WARN = 0.10  # coefficient of variation of output tok/s across trials above this: warn
PREFIX_HIT_WARN_FRACTION = 0.05  # prefix-cache hit tokens / queried tokens on prompts with no shared prefix
PREEMPTIONS_WARN = 0  # server preemptions (vLLM counter) above this: warn
# NVML clock-event reasons (nvmlClocksEventReason*): the ones that mean the GPU was slowed down
GPU_SLOWDOWN_REASONS = {0x4: "power cap (SW)", 0x8: "HW slowdown", 0x20: "thermal (SW)", 0x40: "thermal (HW)",
                        0x80: "power brake (HW)"}

ORDER = {"ok": 0, "warn": 1, "invalid": 2}


@dataclass
class Evidence:
    """What the checks look at. None: not measured (the check is skipped)."""

    records: list[metrics.RequestRecord] = field(default_factory=list)
    expected_output_tokens: int | None = None
    check_prompt_tokens: bool = False  # the prompt was built to an exact token count (completions endpoint)
    scheduled: bool = False  # the client ran an arrival schedule (the online load generator)
    loop_lag_s: list[float] | None = None
    client_cpu_fraction: float | None = None
    host_cpu_pressure_pct: float | None = None
    gpu_slowdown_mask: int | None = None  # OR of the clock-event reasons seen during the case
    gpu_other_processes: list[int] | None = None  # pids on the GPU at start that are not this run's
    server: dict | None = None  # server-side counters over the case (preemptions, prefix_cache_*)
    shared_prefixes: bool = False  # the workload shares prefixes on purpose (chat templates do)
    trial_cv: float | None = None  # CV of output tok/s across trials


Finding = tuple[str, str]  # (ok | warn | invalid, reason)


def _p99(values: list[float]) -> float | None:
    v = sorted(x for x in values if x is not None)
    return metrics.percentile(v, 99) if v else None


def check_send_lag(ev: Evidence) -> Finding | None:
    if not ev.scheduled:
        return None
    p99 = _p99([r.send_lag_s for r in ev.records if r.send_lag_s is not None])
    if p99 is None:
        return None
    if p99 > SEND_LAG_P99_INVALID_S:
        return "invalid", f"client fell behind its arrival schedule: p99 send lag {p99 * 1e3:.0f} ms > {SEND_LAG_P99_INVALID_S * 1e3:.0f} ms"
    if p99 > SEND_LAG_P99_WARN_S:
        return "warn", f"client fell behind its arrival schedule: p99 send lag {p99 * 1e3:.0f} ms > {SEND_LAG_P99_WARN_S * 1e3:.0f} ms"
    return "ok", f"p99 send lag {p99 * 1e3:.1f} ms"


def _threshold(value: float | None, limit: float, warn_reason: Callable[[float], str],
               ok_reason: Callable[[float], str]) -> Finding | None:
    """None when ``value`` is unknown; warn (with ``warn_reason(value)``) above ``limit``; else ok."""
    if value is None:
        return None
    if value > limit:
        return "warn", warn_reason(value)
    return "ok", ok_reason(value)


def check_loop_lag(ev: Evidence) -> Finding | None:
    return _threshold(
        _p99(ev.loop_lag_s or []), LOOP_LAG_P99_WARN_S,
        lambda p99: f"client event loop lagged: p99 {p99 * 1e3:.0f} ms > {LOOP_LAG_P99_WARN_S * 1e3:.0f} ms",
        lambda p99: f"event-loop lag p99 {p99 * 1e3:.1f} ms")


def check_client_cpu(ev: Evidence) -> Finding | None:
    return _threshold(
        ev.client_cpu_fraction, CLIENT_CPU_WARN_FRACTION,
        lambda f: f"client process used {f:.0%} of a core (> {CLIENT_CPU_WARN_FRACTION:.0%}): it may be the bottleneck",
        lambda f: f"client CPU {f:.0%} of a core")


def check_host_pressure(ev: Evidence) -> Finding | None:
    return _threshold(
        ev.host_cpu_pressure_pct, HOST_CPU_PRESSURE_WARN_PCT,
        lambda p: f"host CPU pressure {p:.1f} % (> {HOST_CPU_PRESSURE_WARN_PCT:g} %): the machine was busy",
        lambda p: f"host CPU pressure {p:.1f} %")


def check_gpu(ev: Evidence) -> Finding | None:
    if ev.gpu_slowdown_mask is None and ev.gpu_other_processes is None:
        return None
    problems = []
    names = [n for bit, n in GPU_SLOWDOWN_REASONS.items() if (ev.gpu_slowdown_mask or 0) & bit]
    if names:
        problems.append("GPU clocks slowed: " + ", ".join(names))
    if ev.gpu_other_processes:
        problems.append(f"{len(ev.gpu_other_processes)} other process(es) on the GPU at start "
                        f"(pid {', '.join(map(str, ev.gpu_other_processes[:5]))})")
    return ("warn", "; ".join(problems)) if problems else ("ok", "no GPU slowdown, GPU not shared")


def check_preemptions(ev: Evidence) -> Finding | None:
    return _threshold(
        (ev.server or {}).get("preemptions"), PREEMPTIONS_WARN,
        lambda n: f"server preempted {n:g} request(s) (KV cache full): latencies include recomputation",
        lambda n: "no preemptions")


def check_tokens(ev: Evidence) -> Finding | None:
    ok = [r for r in ev.records if r.success]
    if not ok:
        return None
    if ev.expected_output_tokens is not None:
        bad = [r for r in ok if r.output_tokens != ev.expected_output_tokens]
        if bad:
            return "invalid", (f"{len(bad)}/{len(ok)} request(s) produced other than {ev.expected_output_tokens} output "
                               f"tokens (e.g. {bad[0].output_tokens}): the work measured is not the work asked")
    if ev.check_prompt_tokens:
        bad = [r for r in ok if r.requested_input_tokens is not None and r.input_tokens != r.requested_input_tokens]
        if bad:
            r = bad[0]
            return "warn", (f"{len(bad)}/{len(ok)} prompt(s) counted by the server differ from the requested length "
                            f"(e.g. {r.input_tokens} vs {r.requested_input_tokens})")
    return "ok", "token counts as requested"


def check_prefix_cache(ev: Evidence) -> Finding | None:
    s = ev.server or {}
    hits, queries = s.get("prefix_cache_hits"), s.get("prefix_cache_queries")
    if ev.shared_prefixes or hits is None or not queries:
        return None
    frac = hits / queries
    if frac > PREFIX_HIT_WARN_FRACTION:
        return "warn", (f"prefix-cache hits on {frac:.0%} of prompt tokens although the prompts share no prefix "
                        "(> {:.0%}): repeated prompts inflate throughput".format(PREFIX_HIT_WARN_FRACTION))
    return "ok", f"prefix-cache hits {frac:.1%}"


def check_failures(ev: Evidence) -> Finding | None:
    if not ev.records:
        return None
    failed = sum(1 for r in ev.records if not r.success)
    frac = failed / len(ev.records)
    if frac > FAILED_INVALID_FRACTION:
        return "invalid", f"{failed}/{len(ev.records)} requests failed ({frac:.1%} > {FAILED_INVALID_FRACTION:.0%})"
    return "ok", f"{failed} failed request(s)"


def check_trial_cv(ev: Evidence) -> Finding | None:
    if ev.trial_cv is None:
        return None
    if ev.trial_cv > TRIAL_CV_WARN:
        return "warn", f"output tok/s varies {ev.trial_cv:.1%} across trials (CV > {TRIAL_CV_WARN:.0%}): a noisy host"
    return "ok", f"trial CV {ev.trial_cv:.1%}"


CHECKS = {"send_lag": check_send_lag, "event_loop_lag": check_loop_lag, "client_cpu": check_client_cpu,
          "host_cpu_pressure": check_host_pressure, "gpu": check_gpu, "preemptions": check_preemptions,
          "token_counts": check_tokens, "prefix_cache": check_prefix_cache, "failed_requests": check_failures,
          "trial_cv": check_trial_cv}


def verdict(ev: Evidence) -> dict:
    """``{verdict, reasons, checks, skipped}``: the worst finding wins; ``reasons`` are the findings that
    are not ok; ``checks`` maps every check that ran to its status."""
    checks, reasons, skipped, worst = {}, [], [], "ok"
    for name, fn in CHECKS.items():
        found = fn(ev)
        if found is None:
            skipped.append(name)
            continue
        status, why = found
        checks[name] = {"status": status, "detail": why}
        if status != "ok":
            reasons.append(why)
            if ORDER[status] > ORDER[worst]:
                worst = status
    return {"verdict": worst, "reasons": reasons, "checks": checks, "skipped": skipped}



# ---------------------------------------------------------------------------- beyond one machine (issue 25)
def check_monitoring_samples(energy: dict | None) -> Finding | None:
    """energy.source prometheus: a series with fewer scrapes inside the window than ``min_samples`` gives a
    coarse energy figure (the scrape interval is too long for the window)."""
    p = (energy or {}).get("prometheus")
    if not p:
        return None
    if p.get("coarse_series"):
        return "warn", (f"monitoring scrape interval too coarse: {p['coarse_series']} of {len(p.get('series') or [])} "
                        f"series have fewer than {p.get('min_samples')} samples in the window; lengthen the case "
                        "or shorten the scrape interval")
    return "ok", f"every series has at least {p.get('min_samples')} samples in the window"


def per_client(clients: list[dict], records: list[metrics.RequestRecord]) -> dict[str, Finding | None]:
    """The client checks (send lag, event-loop lag, client CPU) run on each client process of a multi-client
    load, over its own records and health: one client falling behind is named, not averaged away."""
    out: dict[str, Finding | None] = {}
    for c in clients:
        k = c["client"]
        ev = Evidence(records=[r for r in records if r.client == k], scheduled=True,
                      loop_lag_s=c.get("loop_lag_s") or None,
                      client_cpu_fraction=c["cpu_s"] / c["wall_s"] if c.get("wall_s") else None)
        for name, fn in (("send_lag", check_send_lag), ("event_loop_lag", check_loop_lag),
                         ("client_cpu", check_client_cpu)):
            found = fn(ev)
            out[f"{name}[client {k}]"] = (found[0], f"client {k}: {found[1]}") if found else None
    return out


def amend(block: dict, findings: dict[str, Finding | None]) -> dict:
    """A ``verdict`` block with more findings merged in, by the same rules (the worst wins)."""
    out = {**block, "reasons": list(block["reasons"]), "checks": dict(block["checks"]),
           "skipped": list(block["skipped"])}
    for name, found in findings.items():
        if found is None:
            out["skipped"].append(name)
            continue
        status, why = found
        out["checks"][name] = {"status": status, "detail": why}
        if status != "ok":
            out["reasons"].append(why)
            if ORDER[status] > ORDER[out["verdict"]]:
                out["verdict"] = status
    return out
