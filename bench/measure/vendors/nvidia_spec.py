"""The ``energy: {source: nvml}`` spec: NVIDIA GPUs through NVML (``vendors/nvidia.py``). A leaf, composed
by the config schema; the NVML code is imported only when a run opens the source."""
from __future__ import annotations

from typing import Literal

from bench.measure.energy_spec import EnergySpec


class NvmlSpec(EnergySpec):
    """``nvml``: NVIDIA GPUs, the energy counter with sampled power beside it; fails at preflight without NVML."""

    source: Literal["nvml"]

    def open(self, req):
        from bench.measure.vendors import nvidia

        return nvidia.energy_source(req)
