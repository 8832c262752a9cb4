"""The energy sources, keyed by ``energy.source``: one line each, naming the spec (a leaf module beside the
source's code, ``"module:Class"``). ``bench/config/energy.py`` composes the specs into the ``energy:`` union
from here; a run opens the chosen spec's source (its spec's ``open``). Adding a source: one module holding its
spec (an ``EnergySpec`` with ``source: Literal["<kind>"]``, its own fields and ``open``) and one line below.
"""
from __future__ import annotations

import importlib

SOURCES = {
    "auto": "bench.measure.energy_spec:AutoSpec",
    "none": "bench.measure.energy_spec:NoneSpec",
    "estimate-tdp": "bench.measure.energy_spec:EstimateTdpSpec",
    "nvml": "bench.measure.vendors.nvidia_spec:NvmlSpec",
    "amdsmi": "bench.measure.vendors.amd_spec:AmdSmiSpec",
    "npu-smi": "bench.measure.vendors.ascend_spec:AscendSpec",
    "dcmi": "bench.measure.vendors.ascend_spec:AscendSpec",
    "rapl": "bench.measure.vendors.cpu_spec:RaplSpec",
    "prometheus": "bench.measure.trackers.prometheus_spec:PrometheusSpec",
}


def spec(kind: str) -> type:
    """The spec class of one source kind (KeyError for a kind not in ``SOURCES``)."""
    module, cls = SOURCES[kind].split(":")
    return getattr(importlib.import_module(module), cls)


def specs() -> tuple[type, ...]:
    """Every source's spec class once, in registry order (the config schema's union)."""
    return tuple(dict.fromkeys(spec(kind) for kind in SOURCES))
