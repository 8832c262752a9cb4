"""The ``energy: {source: npu-smi | dcmi}`` spec: Ascend NPUs through the npu-smi tool or the DCMI library
(``vendors/ascend.py``). A leaf, composed by the config schema; the NPU code is imported only when a run opens
the source."""
from __future__ import annotations

from typing import Literal

from bench.measure.energy_spec import EnergySpec


class AscendSpec(EnergySpec):
    """``npu-smi`` or ``dcmi``: Ascend NPUs' power, sampled through the tool or the library."""

    source: Literal["npu-smi", "dcmi"]

    def open(self, req):
        from bench.measure.vendors import ascend

        return ascend.energy_source(req)
