"""Energy and power: one tracker interface over the vendors' sensors (NVML, amdsmi, npu-smi/DCMI,
RAPL: ``bench/measure/vendors/``), a labelled TDP estimate, or nothing.

The source is chosen once per run (``choose_source``): the config's ``energy:`` block is the spec of one
source (``bench/measure/energy_registry.py`` names them, one line each, each spec beside its code), and
the spec opens its reader with a ``SourceRequest``. If the config
*asks* for a source that is unavailable, preflight fails with the reason; if it was only implied
(``auto``) the run degrades to ``none``, whose values are ``None`` with a note saying why. Never 0 for "not measured".
Units: joules (``_j``), watts (``_w``), seconds (``_s``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from bench.errors import PreflightError
from bench.measure.trackers.source import RAPL_ROOT, EnergySource, SensorTarget, SourceRequest
from bench.measure.vendors.registry import vendor

log = logging.getLogger(__name__)


class NoEnergy(EnergySource):
    name = "none"


class EstimateTdp(EnergySource):
    """Estimated energy = TDP x time x utilisation. Labelled ``estimate-tdp``: not a measurement."""

    name = "estimate-tdp"
    measures = True

    def __init__(self, tdp_w: float, utilisation: float):
        super().__init__(note=f"ESTIMATE, not measured: {tdp_w:g} W TDP x {utilisation:g} utilisation x time")
        self.tdp_w, self.utilisation = tdp_w, utilisation

    def stop(self) -> dict:
        window = time.perf_counter() - self._t0
        w = self.tdp_w * self.utilisation
        return {"per_device_j": {"0": w * window}, "total_j": w * window, "avg_power_w": w, "peak_power_w": w,
                "window_s": window}


def choose_source(energy_cfg, target, rapl_root: Path = RAPL_ROOT, local: bool = True,
                  devices=None) -> EnergySource:
    """Pick the energy source once per run. Explicit requests fail loudly; ``auto`` degrades to none.
    ``target``: a ``SensorTarget`` (vendor + logical indices), or a list of CUDA indices (NVIDIA).
    ``local=False`` (an external endpoint): this machine's sensors do not see the server, so ``auto``
    measures nothing; an explicit source is taken at its word (the server may run here).
    ``devices``: the run's NVIDIA device sampler, which an NVML source reads instead of opening its own."""
    if not isinstance(target, SensorTarget):
        target = SensorTarget("nvidia" if target else "cpu", tuple(target))
    if energy_cfg.source == "auto" and not local:
        return NoEnergy(note="external endpoint: its power is not visible from the client; if the server runs "
                             "on this machine, set energy.source to nvml, amdsmi, npu-smi or rapl")
    return energy_cfg.open(SourceRequest(energy_cfg, target, devices, Path(rapl_root)))


def auto_source(req: SourceRequest) -> EnergySource:
    """``energy.source: auto``: the sensor of the vendor in use; none readable is ``none`` with the reason."""
    try:
        return vendor(req.target.vendor).energy_source(req)
    except PreflightError as exc:
        return NoEnergy(note=str(exc) or "no power sensor found")


def energy_block(source: EnergySource, reading: dict, output_tokens: int, total_tokens: int,
                 idle_w: float | None) -> dict:
    """The case summary's ``energy`` block. Per-token figures only where energy was measured."""
    total = reading.get("total_j")
    notes = [n for n in [source.note, *reading.get("notes", [])] if n]
    return {
        "source": source.name, "unit": "J",
        "total_j": total, "per_device_j": reading.get("per_device_j"),
        "avg_power_w": reading.get("avg_power_w"), "peak_power_w": reading.get("peak_power_w"),
        "j_per_output_tok": total / output_tokens if total is not None and output_tokens else None,
        "j_per_total_tok": total / total_tokens if total is not None and total_tokens else None,
        "idle_baseline_w": idle_w, "window_s": reading.get("window_s"),
        "cross_check": reading.get("cross_check"),
        "note": "; ".join(notes) or None,
        **({"prometheus": reading["prometheus"]} if reading.get("prometheus") else {}),  # the series and queries
    }
