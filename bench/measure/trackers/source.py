"""The energy-source interface every sensor implements (the vendor seams' NVML, amdsmi, npu-smi/DCMI
and RAPL sources under ``vendors/``; the estimate and ``none`` in ``measure/energy.py``), with
``SensorTarget`` (the vendor and devices a case uses) and ``SourceRequest`` (what a source is opened
with). ``measure/energy.choose_source`` picks one per run.
Units: joules (``_j``), watts (``_w``), seconds (``_s``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure.trackers.sampler import PeriodicSampler
from bench.summary.power import trapezoid_j

RAPL_ROOT = Path("/sys/class/powercap")


@dataclass(frozen=True)
class SensorTarget:
    """What the energy sources look at: the vendor and the logical indices of the devices in use."""

    vendor: str  # nvidia | amd | huawei | cpu
    logical: tuple[int, ...] = ()


@dataclass(frozen=True)
class SourceRequest:
    """What an energy source is opened with: the config's ``energy`` block (the chosen source's spec:
    ``source``, ``sample_hz`` and its own fields), the devices to look at, the run's NVIDIA device sampler (an NVML
    source reads it instead of opening its own) and where RAPL's zones are."""

    cfg: object  # an EnergySpec (bench/measure/energy_spec.py), the config's energy block
    target: SensorTarget
    devices: object = None  # trackers.device_sampler.DeviceSampler | None
    rapl_root: Path = RAPL_ROOT

    @property
    def hz(self) -> float:
        return self.cfg.sample_hz


class EnergySource:
    """Base: start() at the window's start, stop() returns a reading dict."""

    name = "none"
    measures = False

    def __init__(self, note: str | None = None):
        self.note = note

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> dict:
        return {"per_device_j": None, "total_j": None, "avg_power_w": None, "peak_power_w": None,
                "window_s": time.perf_counter() - self._t0}

    def idle_power_w(self, seconds: float) -> float | None:
        if not self.measures or seconds <= 0:
            return None
        self.start()
        time.sleep(seconds)
        return self.stop()["avg_power_w"]

    def telemetry(self) -> dict | None:
        """Device telemetry from a source that samples its own devices (AMD, Ascend); None otherwise."""
        return None

    def device_memory(self) -> dict | None:
        return None

    def describe(self) -> dict:
        return {"source": self.name, "note": self.note}


def total_j(per: dict[str, float | None]) -> float | None:
    """Sum of per-device joules; None when any device is unmeasured."""
    return sum(per.values()) if all(v is not None for v in per.values()) else None


def avg_w(joules: float | None, window: float) -> float | None:
    return joules / window if joules is not None and window > 0 else None


class SampledPowerSource(EnergySource):
    """A source whose ``_probe()`` returns ``{"power_w": [W per device, None where unread], ...}``, called
    at ``self.hz`` by a PeriodicSampler; ``self.keys`` names the devices. Shared by amdsmi and Ascend."""

    hz: float
    keys: list[str]

    def start(self) -> None:
        self._sampler = PeriodicSampler(self._probe, self.hz).start()
        self._t0 = self._sampler.samples[0][0] if self._sampler.samples else None

    def _stop_samples(self) -> list:
        """Stop the sampler; its samples are kept for telemetry() and device_memory()."""
        samples = self._sampler.stop()
        self._last = samples
        return samples

    @staticmethod
    def _not_measured(note: str) -> dict:
        return {"per_device_j": None, "total_j": None, "avg_power_w": None, "peak_power_w": None,
                "window_s": None, "notes": [note]}

    def _integrate(self, samples: list) -> tuple[float, dict[str, float | None], list[float]]:
        """(window s, per-device trapezoid J -- None for a device with an unread sample, summed peak W list)."""
        window = samples[-1][0] - samples[0][0]
        per: dict[str, float | None] = {}
        for i, k in enumerate(self.keys):
            pts = [(t, s["power_w"][i]) for t, s in samples if s["power_w"][i] is not None]
            per[k] = trapezoid_j(pts) if len(pts) == len(samples) else None
        peaks = [sum(s["power_w"]) for _, s in samples if all(p is not None for p in s["power_w"])]
        return window, per, peaks

    @staticmethod
    def _reading(per: dict, window: float, peaks: list[float], cross_check: dict, notes: list[str]) -> dict:
        total = total_j(per)
        return {"per_device_j": per, "total_j": total, "avg_power_w": avg_w(total, window),
                "peak_power_w": max(peaks) if peaks else None, "window_s": window,
                "cross_check": cross_check, "notes": notes}
