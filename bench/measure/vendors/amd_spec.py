"""The ``energy: {source: amdsmi}`` spec: AMD GPUs through amdsmi (``vendors/amd.py``). A leaf, composed by
the config schema; the amdsmi code is imported only when a run opens the source."""
from __future__ import annotations

from typing import Literal

from bench.measure.energy_spec import EnergySpec


class AmdSmiSpec(EnergySpec):
    """``amdsmi``: AMD GPUs through the amdsmi library; fails at preflight without it."""

    source: Literal["amdsmi"]

    def open(self, req):
        from bench.measure.vendors import amd

        return amd.energy_source(req)
