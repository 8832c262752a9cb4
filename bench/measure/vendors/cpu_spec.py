"""The ``energy: {source: rapl}`` spec: the CPU packages' RAPL counters (``vendors/cpu.py``). A leaf, composed
by the config schema; the RAPL reader is imported only when a run opens the source."""
from __future__ import annotations

from typing import Literal

from bench.measure.energy_spec import EnergySpec


class RaplSpec(EnergySpec):
    """``rapl``: the CPU packages' and DRAM's RAPL energy counters."""

    source: Literal["rapl"]

    def open(self, req):
        from bench.measure.vendors import cpu

        return cpu.energy_source(req)
