"""``energy.source: prometheus``: the power of a whole deployment (every accelerator the selector picks, on
any number of nodes), read from the cluster's own Prometheus over each case's window, through its HTTP API
(``/api/v1/query`` and ``/api/v1/query_range``).

- The energy counter, when the exporter has one: each series' increase over the window, from its raw
  samples (linear between the scrapes around each edge, counter resets handled as PromQL's ``increase()``
  does), scaled to joules. PromQL's own ``increase(metric[W])`` is kept beside it as a cross-check.
- Else the power gauge, sampled at ``step_s`` over the window (``query_range``) and integrated (trapezoid).
- The reading lists every series it summed (host, device, joules, samples in the window) and each query it
  ran; fewer than ``min_samples`` scrapes of a series inside the window is a note (and a validity warning):
  the scrape interval is too coarse for the window.

Metric names, by preset (each from the exporter's own documentation):

- ``dcgm``: NVIDIA DCGM exporter (github.com/NVIDIA/dcgm-exporter, default counters
  ``etc/default-counters.csv``): ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` (counter, mJ since boot) and
  ``DCGM_FI_DEV_POWER_USAGE`` (gauge, W); labels ``Hostname``, ``gpu``, ``UUID``.
- ``npu-exporter``: Huawei MindCluster NPU Exporter ("Prometheus Metrics API", hiascend.com,
  mindcluster/clustersched dlug_api_004): ``npu_chip_info_power`` (gauge, W); no energy counter; labels
  ``id`` (the chip) and the scrape target's ``instance``.
- ``amd``: ROCm device-metrics-exporter ("List of Available Metrics", github.com/ROCm/device-metrics-exporter
  docs): ``gpu_energy_consumed`` (counter, µJ) and ``gpu_power_usage`` (gauge, W); labels ``hostname``,
  ``gpu_id``.
"""
from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from bench.errors import PreflightError
from bench.measure.trackers.source import EnergySource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    energy_metric: str | None
    energy_to_j: float  # the energy counter's unit in joules
    power_metric: str
    host_labels: tuple[str, ...]  # the first present names the host
    device_labels: tuple[str, ...]  # the first present names the device


PRESETS = {
    "dcgm": Preset("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", 1e-3, "DCGM_FI_DEV_POWER_USAGE",
                   ("Hostname", "instance"), ("UUID", "gpu")),
    "npu-exporter": Preset(None, 1.0, "npu_chip_info_power", ("instance",), ("id", "vdie_id")),
    "amd": Preset("gpu_energy_consumed", 1e-6, "gpu_power_usage", ("hostname", "instance"),
                  ("gpu_id", "serial_number")),
}
EDGE_PAD_S = 30.0  # raw samples are fetched this far either side of the window, to bracket its edges


# ---------------------------------------------------------------------------- pure maths
def value_at(samples: list[tuple[float, float]], t: float) -> float | None:
    """A piecewise-linear series (sorted ``(t, v)``) at ``t``; None outside its samples."""
    if not samples or t < samples[0][0] or t > samples[-1][0]:
        return None
    for (ta, va), (tb, vb) in zip(samples, samples[1:]):
        if ta <= t <= tb:
            return va if tb == ta else va + (vb - va) * (t - ta) / (tb - ta)
    return samples[-1][1]


def unwrap_counter(samples: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A counter with its resets undone (a drop means it restarted from 0, as PromQL's ``increase()`` reads it)."""
    out, offset, prev = [], 0.0, None
    for t, v in samples:
        if prev is not None and v < prev:
            offset += prev
        out.append((t, v + offset))
        prev = v
    return out


def counter_increase(samples: list[tuple[float, float]], t0: float, t1: float) -> float | None:
    """A counter's increase from ``t0`` to ``t1``, linear between the samples around each edge; None when the
    samples do not cover the window."""
    s = unwrap_counter(sorted(samples))
    a, b = value_at(s, t0), value_at(s, t1)
    return None if a is None or b is None else b - a


def integrate_power(samples: list[tuple[float, float]], t0: float, t1: float, slack_s: float = 0.0) -> float | None:
    """Joules from power samples (W), trapezoid over ``[t0, t1]`` with the edges interpolated (held for up to
    ``slack_s`` beyond the first or last sample); None when the samples do not cover the window."""
    s = sorted(samples)
    if s and s[0][0] - slack_s <= t0 < s[0][0]:
        s.insert(0, (t0, s[0][1]))
    if s and s[-1][0] < t1 <= s[-1][0] + slack_s:
        s.append((t1, s[-1][1]))
    a, b = value_at(s, t0), value_at(s, t1)
    if a is None or b is None:
        return None
    pts = [(t0, a)] + [(t, v) for t, v in s if t0 < t < t1] + [(t1, b)]
    return sum((tb - ta) * (va + vb) / 2 for (ta, va), (tb, vb) in zip(pts, pts[1:]))


def samples_inside(samples: list[tuple[float, float]], t0: float, t1: float) -> int:
    return sum(1 for t, _ in samples if t0 <= t <= t1)


def scrape_interval_s(samples: list[tuple[float, float]]) -> float | None:
    """The median gap between a series' samples."""
    gaps = sorted(b[0] - a[0] for a, b in zip(samples, samples[1:]))
    return gaps[len(gaps) // 2] if gaps else None


def selector_query(metric: str, selector: str) -> str:
    return f"{metric}{selector}"


# ---------------------------------------------------------------------------- HTTP API
class PrometheusClient:
    """The two calls of the Prometheus HTTP API this source makes."""

    def __init__(self, url: str, timeout_s: float = 10.0):
        self.url, self.timeout_s = url.rstrip("/"), timeout_s

    def _get(self, path: str, params: dict) -> dict:
        full = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(full, timeout=self.timeout_s) as resp:
                doc = json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise RuntimeError(f"Prometheus {self.url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RuntimeError(f"Prometheus {self.url}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            raise RuntimeError(f"Prometheus {self.url}: {str(doc)[:200]}")
        return doc["data"]

    def query(self, promql: str, at: float) -> list[dict]:
        return self._get("/api/v1/query", {"query": promql, "time": f"{at:.3f}"})["result"]

    def query_range(self, promql: str, start: float, end: float, step_s: float) -> list[dict]:
        return self._get("/api/v1/query_range", {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                 "step": f"{step_s:g}"})["result"]


def _points(series: dict) -> list[tuple[float, float]]:
    vals = series.get("values") or ([series["value"]] if "value" in series else [])
    out = []
    for t, v in vals:
        x = float(v)
        if math.isfinite(x):
            out.append((float(t), x))
    return out


# ---------------------------------------------------------------------------- the source
class PrometheusSource(EnergySource):
    """A deployment's accelerators from Prometheus; ``start``/``stop`` bracket the case's window in wall-clock
    time (Prometheus' clock), and ``stop`` waits for the first scrape after the window before it reads."""

    name = "prometheus"
    measures = True

    def __init__(self, cfg, client: PrometheusClient | None = None):
        super().__init__()
        self.cfg = cfg
        preset = PRESETS[cfg.preset]
        self.preset = preset
        self.energy_metric = cfg.energy_metric or preset.energy_metric
        self.power_metric = cfg.power_metric or preset.power_metric
        self.client = client or PrometheusClient(cfg.url, cfg.timeout_s)

    # -- preflight: the server answers and the selector picks at least one series
    def check(self) -> None:
        q = selector_query(self.power_metric, self.cfg.selector)
        try:
            found = self.client.query(q, time.time())
            if not found and self.energy_metric:
                found = self.client.query(selector_query(self.energy_metric, self.cfg.selector), time.time())
        except RuntimeError as exc:
            raise PreflightError(f"{exc}; check energy.prometheus.url") from None
        if not found:
            raise PreflightError(f"Prometheus {self.cfg.url}: no series for {q}; check energy.prometheus.selector "
                                 f"and the preset ({self.cfg.preset})")

    def describe(self) -> dict:
        return {"source": self.name, "note": self.note, "url": self.cfg.url, "preset": self.cfg.preset,
                "energy_metric": self.energy_metric, "power_metric": self.power_metric,
                "selector": self.cfg.selector}

    def start(self) -> None:
        self._t0 = time.time()

    def _key(self, labels: dict) -> tuple[str, str]:
        host = next((labels[k] for k in self.preset.host_labels if labels.get(k)), "?")
        dev = next((labels[k] for k in self.preset.device_labels if labels.get(k)), "?")
        return host, dev

    def _wait_for_scrape_after(self, metric: str, t1: float) -> float | None:
        """Poll until every series has a sample at or after ``t1`` (the scrape that closes the window); returns
        the evaluation time for the reads (None when the metric has no series at all)."""
        q = f"{selector_query(metric, self.cfg.selector)}[{int(EDGE_PAD_S)}s]"
        deadline = t1 + self.cfg.timeout_s
        while True:
            now = time.time()
            series = self.client.query(q, now)
            if not series:
                return None
            if all(_points(s) and _points(s)[-1][0] >= t1 for s in series):
                return now
            if now > deadline:
                return now
            time.sleep(0.2)

    def stop(self) -> dict:
        t0, t1 = self._t0, time.time()
        window = t1 - t0
        try:
            return self._read(t0, t1)
        except RuntimeError as exc:  # the server went away during the case: not measured, with the reason
            return {"per_device_j": None, "total_j": None, "avg_power_w": None, "peak_power_w": None,
                    "window_s": window, "notes": [str(exc)[:300]]}

    def _read(self, t0: float, t1: float) -> dict:
        window = t1 - t0
        use_counter = bool(self.energy_metric)
        at = self._wait_for_scrape_after(self.energy_metric if use_counter else self.power_metric, t1)
        if at is None:  # the energy counter has no series here: wait on the power gauge instead
            at = self._wait_for_scrape_after(self.power_metric, t1) or time.time()
        span = int(math.ceil(at - t0 + EDGE_PAD_S))
        queries, series_out, notes, per = [], [], [], {}
        power_q = selector_query(self.power_metric, self.cfg.selector)
        step = self.cfg.step_s
        start, end = math.floor((t0 - step) * 1000) / 1000, math.ceil((t1 + step) * 1000) / 1000
        power = self.client.query_range(power_q, start, end, step)
        queries.append({"query": power_q, "api": "query_range", "start": start, "end": end, "step_s": step})
        power_by_key = {self._key(s["metric"]): _points(s) for s in power}
        peak = _peak_sum(list(power_by_key.values()), t0, t1)
        sampled = {k: integrate_power(p, t0, t1, slack_s=step) for k, p in power_by_key.items()}
        counter_series = []
        if use_counter:
            q = f"{selector_query(self.energy_metric, self.cfg.selector)}[{span}s]"
            counter_series = self.client.query(q, at)
            queries.append({"query": q, "api": "query", "time": at})
        if counter_series:
            for s in counter_series:
                pts, key = _points(s), self._key(s["metric"])
                inc = counter_increase(pts, t0, t1)
                j = inc * self.preset.energy_to_j if inc is not None else None
                per[f"{key[0]}/{key[1]}"] = j
                series_out.append(_series(key, s["metric"], j, pts, t0, t1, self.energy_metric))
            inc_q = f"increase({selector_query(self.energy_metric, self.cfg.selector)}[{max(1, round(window))}s])"
            promql = self.client.query(inc_q, t1)
            queries.append({"query": inc_q, "api": "query", "time": t1})
            promql_j = sum(float(s["value"][1]) for s in promql) * self.preset.energy_to_j if promql else None
            sampled_total = _total(sampled.values()) if sampled else None
            cross = {"promql-increase": {"total_j": promql_j},
                     "prometheus-power": {"total_j": sampled_total,
                                          "avg_power_w": sampled_total / window if sampled_total and window > 0 else None}}
        else:
            if use_counter:
                notes.append(f"no series of the energy counter {self.energy_metric}: energy integrated from "
                             f"{self.power_metric} sampled every {step:g} s")
            for key, pts in power_by_key.items():
                per[f"{key[0]}/{key[1]}"] = sampled[key]
                series_out.append(_series(key, {}, sampled[key], pts, t0, t1, self.power_metric))
            cross = None
        if not series_out:
            notes.append(f"no series matched {self.cfg.selector or '(no selector)'}: not measured")
        total = _total(per.values()) if per else None
        need = self.cfg.min_samples
        coarse = [s for s in series_out if s["samples_in_window"] < need]
        if coarse:
            notes.append(f"scrape interval too coarse for the window: {len(coarse)} of {len(series_out)} series have "
                         f"fewer than {need} samples in {window:.1f} s (e.g. {coarse[0]['host']}/{coarse[0]['device']}: "
                         f"{coarse[0]['samples_in_window']}, every {_fmt(coarse[0]['scrape_interval_s'])} s)")
        return {"per_device_j": per or None, "total_j": total,
                "avg_power_w": total / window if total is not None and window > 0 else None,
                "peak_power_w": peak, "window_s": window, "cross_check": cross, "notes": notes,
                "prometheus": {"url": self.cfg.url, "preset": self.cfg.preset,
                               "metric": self.energy_metric if counter_series else self.power_metric,
                               "method": "counter-increase" if counter_series else "power-integral",
                               "queries": queries, "series": series_out, "min_samples": need,
                               "coarse_series": len(coarse), "window_utc": [t0, t1]}}


def _fmt(x) -> str:
    return "?" if x is None else f"{x:.2g}"


def _total(vals) -> float | None:
    vals = list(vals)
    return sum(vals) if vals and all(v is not None for v in vals) else None


def _series(key, labels: dict, j, pts, t0, t1, metric) -> dict:
    return {"host": key[0], "device": key[1], "metric": metric, "energy_j": j,
            "samples_in_window": samples_inside(pts, t0, t1), "scrape_interval_s": scrape_interval_s(pts),
            "labels": {k: v for k, v in labels.items() if k != "__name__"}}


def _peak_sum(series: list[list[tuple[float, float]]], t0: float, t1: float) -> float | None:
    """The highest summed power at the query steps inside the window (the steps of query_range line up)."""
    by_t: dict[float, float] = {}
    for pts in series:
        for t, v in pts:
            if t0 <= t <= t1:
                by_t[t] = by_t.get(t, 0.0) + v
    return max(by_t.values()) if by_t else None


def prometheus_source(energy_cfg) -> PrometheusSource:
    """The source for ``energy.source: prometheus``, checked against the server (a PreflightError if it does not
    answer or the selector picks nothing)."""
    src = PrometheusSource(energy_cfg.prometheus)
    src.check()
    return src
