"""ONE sampler thread per set of devices, read by every monitor: the energy source (power), the memory
block (device memory peaks) and the telemetry block. Turning energy off (``energy.source: none``) does not
turn this off: memory peaks stay. The devices themselves are the vendor seam's (``vendors/nvidia.py``'s
``NvmlDevices``: ``probe()``, ``other_processes()``, ``memory_total_bytes()``, ``power_limit_w()``), kept
apart from what is measured of them as zeus keeps ``device/`` apart from ``monitor/``.

Units: W, MHz, °C, %, bytes.
"""
from __future__ import annotations

import threading

from bench.measure.trackers.sampler import PeriodicSampler


class DeviceSampler:
    """One background thread sampling ``devices.probe()`` at ``hz``, shared by every monitor.

    Starts nest: the first ``start()`` starts the thread, the matching last ``stop()`` stops it; an inner
    window starts and ends with a sample of its own and gets only its samples. The samples of the last window
    stay readable (``telemetry()``, ``memory()``) until the next start."""

    def __init__(self, devices, hz: float = 10.0):
        self.devices = devices
        self.sampler = PeriodicSampler(devices.probe, hz)
        self._depth = 0
        self._lock = threading.Lock()
        self.others_at_start: list[int] | None = None

    def start(self) -> int:
        """Start (or join) the window; returns the index of its first sample."""
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self.others_at_start = self.devices.other_processes()
                self.sampler.start()
            else:
                self.sampler.take()
            return len(self.sampler.samples) - 1

    def stop(self, first: int = 0) -> list[tuple[float, dict]]:
        """Leave the window; returns its samples from index ``first`` (what ``start`` returned) to now."""
        with self._lock:
            self._depth = max(self._depth - 1, 0)
            if self._depth == 0:
                self.sampler.stop()
            else:
                self.sampler.take()
            return self.sampler.samples[first:]

    @property
    def samples(self) -> list[tuple[float, dict]]:
        return self.sampler.samples

    def telemetry(self) -> dict | None:
        """Mean and max over the last window of each figure (averaged over the devices), and the power limit."""
        if not self.samples:
            return None
        out = {}
        for key in ("sm_clock_mhz", "mem_clock_mhz", "temperature_c", "utilization_pct", "power_w"):
            vals = [sum(s[key]) / len(s[key]) for _, s in self.samples if key in s]
            out[key] = {"mean": sum(vals) / len(vals), "max": max(vals)} if vals else None
        out["power_limit_w"] = self.devices.power_limit_w()
        masks = [m for _, s in self.samples for m in s.get("clock_event_reasons", [])]
        out["slowdown_reasons_mask"] = None
        if masks:
            acc = 0
            for m in masks:
                acc |= m
            out["slowdown_reasons_mask"] = acc  # OR of the NVML clock-event reasons seen over the window
        out["other_processes_at_start"] = self.others_at_start
        return out

    def power_samples(self) -> list[tuple[float, float]] | None:
        """(time_s, W summed over the devices) over the last window, on the records' clock."""
        return [(t, sum(s["power_w"])) for t, s in self.samples if "power_w" in s] or None

    def memory(self) -> dict | None:
        """Peak device memory used (summed over the devices) over the last window, and their total."""
        used = [sum(s["memory_used_bytes"]) for _, s in self.samples if "memory_used_bytes" in s]
        return {"device_used_peak_bytes": max(used) if used else None,
                "device_total_bytes": self.devices.memory_total_bytes()}
