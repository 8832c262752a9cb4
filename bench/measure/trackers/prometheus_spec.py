"""The ``energy: {source: prometheus, prometheus: {...}}`` spec: a deployment's accelerators read from the
cluster's Prometheus over each case's window (``trackers/prometheus.py`` holds the presets' metric names and
their sources). A leaf, composed by the config schema; the HTTP reader is imported only when a run opens it.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bench.config.types import Strict
from bench.measure.energy_spec import EnergySpec

# PromQL label matchers only: {name op "value", ...} (op =, !=, =~, !~; "..." '...' or `...` quoted); anything
# else (`{a="b"} or vector(1)`, an unbalanced quote) would change the query and so the energy read
_PROM_STR = r"""(?:"(?:[^"\\\x00-\x1f]|\\.)*"|'(?:[^'\\\x00-\x1f]|\\.)*'|`[^`\x00-\x1f]*`)"""
_PROM_MATCHER = r"\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*" + _PROM_STR + r"\s*"
_SELECTOR = re.compile(r"\{(?:" + _PROM_MATCHER + r"(?:," + _PROM_MATCHER + r")*,?)?\s*\}")


class PrometheusEnergy(Strict):
    """``energy.prometheus``: the server, the exporter preset and the series to read."""

    url: str = Field(min_length=1, max_length=2048)  # the Prometheus server, e.g. http://prometheus:9090
    preset: Literal["dcgm", "npu-exporter", "amd"] = "dcgm"
    energy_metric: str | None = Field(default=None, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$", max_length=200)
    power_metric: str | None = Field(default=None, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$", max_length=200)
    selector: str = Field(default="", max_length=2000)  # label matchers: {Hostname=~"h20-node-[12]"}
    step_s: float = Field(default=1.0, gt=0, le=3600)  # the power fallback's query resolution
    min_samples: int = Field(default=4, ge=2, le=100_000)  # fewer scrapes in a window: a validity warning
    timeout_s: float = Field(default=10.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v) or re.search(r"\s", v):
            raise ValueError(f"url '{v}' is not an http(s) URL, e.g. http://127.0.0.1:9090")
        return v.rstrip("/")

    @field_validator("selector")
    @classmethod
    def _selector(cls, v: str) -> str:
        v = v.strip()
        if v and not _SELECTOR.fullmatch(v):
            raise ValueError(f"selector '{v[:60]}' must be PromQL label matchers in braces, e.g. "
                             '{Hostname=~"h20-node-[12]"}')
        return v


class PrometheusSpec(EnergySpec):
    """``prometheus``: a deployment's accelerators from the cluster's Prometheus (the ``prometheus:`` block)."""

    source: Literal["prometheus"]
    prometheus: PrometheusEnergy | None = None

    @model_validator(mode="after")
    def _block(self) -> "PrometheusSpec":
        if self.prometheus is None:
            raise ValueError("'source: prometheus' and the 'prometheus: {url: ...}' block go together")
        return self

    def open(self, req):
        from bench.measure.trackers.prometheus import prometheus_source

        return prometheus_source(self)
