"""The ``energy:`` specs of the sources ``measure/energy.py`` implements itself (``auto``, ``none``,
``estimate-tdp``) and ``EnergySpec``, the base every source's spec derives from. A leaf: pydantic and
config's model base only, so the config schema composes the specs (``bench/config/energy.py``) without
importing any source's code; each spec's ``open`` imports its implementation only when a run opens it.
Units: Hz, seconds (``_s``), watts (``_w``).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bench.config.types import Strict


class EnergySpec(Strict):
    """What every source shares: ``source`` (its kind, the registry key), how often power is sampled and how
    long the idle baseline is measured before the cases. A source's own fields go on its subclass."""

    source: str
    # at least one sample a 100 s: a slower rate says nothing of a case, and a period past the platform's time_t
    # (1e-300 Hz) killed the sampler thread with a traceback mid-run
    sample_hz: float = Field(default=10.0, ge=0.01, le=1000)
    idle_baseline_s: float = Field(default=3.0, ge=0, le=3600)
    # Each source's spec defines ``open(req)``: the source's reader for a run (``req``: a ``SourceRequest``; returns a
    # ``bench.measure.trackers.source.EnergySource``), a PreflightError where it cannot read; tests/test_energy_specs.py
    # holds every registered spec to it.


class AutoSpec(EnergySpec):
    """``auto`` (the default): the sensor of the vendor in use; none found is ``none`` with the reason."""

    source: Literal["auto"] = "auto"

    def open(self, req):
        from bench.measure.energy import auto_source

        return auto_source(req)


class NoneSpec(EnergySpec):
    """``none``: energy is not measured (every figure ``None``, a note saying so)."""

    source: Literal["none"]

    def open(self, req):
        from bench.measure.energy import NoEnergy

        return NoEnergy(note="energy measurement turned off in the config (energy.source: none)")


class EstimateTdpSpec(EnergySpec):
    """``estimate-tdp``: TDP x time x utilisation, labelled an estimate (never a measurement)."""

    source: Literal["estimate-tdp"]
    tdp_w: float | None = Field(default=None, gt=0, le=100_000)  # the device's TDP
    utilisation: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _tdp(self) -> "EstimateTdpSpec":
        if self.tdp_w is None:
            raise ValueError("'source: estimate-tdp' needs 'tdp_w' (the device's TDP in watts)")
        return self

    def open(self, req):
        from bench.measure.energy import EstimateTdp

        return EstimateTdp(self.tdp_w, self.utilisation)
