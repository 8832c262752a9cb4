"""The devices a case runs on, apart from what is measured of them (as zeus keeps ``device/`` apart
from ``monitor/``).

- :class:`NvmlDevices`, the vendor layer: NVML handles of the backend's CUDA devices and one probe of
  them (power, clocks, temperature, utilisation, memory).
- :class:`DeviceSampler`: ONE sampler thread per set of devices, read by every monitor: the energy
  source (power), the memory block (device memory peaks) and the telemetry block. Turning energy off
  (``energy.source: none``) does not turn this off: memory peaks stay.

Units: W, MHz, °C, %, bytes.
"""
from __future__ import annotations

import logging
import os
import threading

from bench.errors import PreflightError
from bench.measure.trackers.sampler import PeriodicSampler

log = logging.getLogger(__name__)


def nvml_physical_ids(logical: list[int], env: str | None) -> list[str | int]:
    """Map the backend's logical CUDA indices to NVML indices or UUIDs, honouring CUDA_VISIBLE_DEVICES."""
    from bench.measure.devices import physical_ids

    return physical_ids(logical, env, "CUDA_VISIBLE_DEVICES")


class NvmlDevices:
    """NVML handles of the logical CUDA devices ``logical_indices`` (PreflightError when NVML is missing)."""

    def __init__(self, logical_indices: list[int]):
        try:
            import pynvml
        except ImportError:
            raise PreflightError("NVML not available: the nvidia-ml-py package is not installed; "
                                 "pip install nvidia-ml-py") from None
        self.nvml = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError_LibraryNotFound:
            raise PreflightError("NVML library not found (libnvidia-ml.so): no NVIDIA driver on this machine") from None
        except pynvml.NVMLError_NoPermission:
            raise PreflightError("NVML permission denied: run as a user that may open /dev/nvidia*") from None
        except pynvml.NVMLError as exc:
            raise PreflightError(f"NVML failed to initialise: {exc}") from None
        ids = nvml_physical_ids(logical_indices, os.environ.get("CUDA_VISIBLE_DEVICES"))
        self.keys = [str(i) for i in logical_indices]
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) if isinstance(i, int)
                        else pynvml.nvmlDeviceGetHandleByUUID(i) for i in ids]
        self.has_energy_counter = True
        for h in self.handles:
            try:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
            except pynvml.NVMLError_NotSupported:
                self.has_energy_counter = False

    def energy_mj(self) -> list[int]:
        """Each device's total-energy counter (mJ since the driver loaded)."""
        return [self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles]

    def probe(self) -> dict:
        """One reading of every device: lists indexed like ``keys``."""
        n = self.nvml
        s = {"power_w": [n.nvmlDeviceGetPowerUsage(h) / 1000.0 for h in self.handles]}
        try:
            s["sm_clock_mhz"] = [n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM) for h in self.handles]
            s["mem_clock_mhz"] = [n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM) for h in self.handles]
            s["temperature_c"] = [n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU) for h in self.handles]
            s["utilization_pct"] = [n.nvmlDeviceGetUtilizationRates(h).gpu for h in self.handles]
            s["memory_used_bytes"] = [n.nvmlDeviceGetMemoryInfo(h).used for h in self.handles]
        except n.NVMLError:
            pass  # telemetry is best effort; power is what the energy figures need
        reasons = self.clock_event_reasons()
        if reasons is not None:
            s["clock_event_reasons"] = reasons
        return s

    def clock_event_reasons(self) -> list[int] | None:
        """NVML clock-event (throttle) reason bitmasks, one per device; None where the driver lacks them."""
        n = self.nvml
        fn = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            n, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
        try:
            vals = [fn(h) for h in self.handles] if fn else None
        except Exception:  # noqa: BLE001 - best effort: any failure means "not measured"
            return None
        return vals if vals and all(isinstance(v, int) for v in vals) else None

    def other_processes(self) -> list[int] | None:
        """Pids with a compute context on these GPUs that are neither this process nor its children."""
        try:
            import psutil

            mine = {os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))}
            pids = {p.pid for h in self.handles for p in self.nvml.nvmlDeviceGetComputeRunningProcesses(h)}
        except Exception:  # noqa: BLE001 - best effort: any failure means "not measured"
            return None
        if not all(isinstance(p, int) for p in pids):
            return None
        return sorted(pids - mine)

    def memory_total_bytes(self) -> int | None:
        try:
            return sum(self.nvml.nvmlDeviceGetMemoryInfo(h).total for h in self.handles)
        except self.nvml.NVMLError:
            return None

    def power_limit_w(self) -> float | None:
        try:
            return sum(self.nvml.nvmlDeviceGetEnforcedPowerLimit(h) for h in self.handles) / 1000.0
        except self.nvml.NVMLError:
            return None


class DeviceSampler:
    """One background thread sampling ``devices.probe()`` at ``hz``, shared by every monitor.

    Starts nest: the first ``start()`` starts the thread, the matching last ``stop()`` stops it; an inner
    window starts and ends with a sample of its own and gets only its samples. The samples of the last window
    stay readable (``telemetry()``, ``memory()``) until the next start."""

    def __init__(self, devices: NvmlDevices, hz: float = 10.0):
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


def open_devices(cuda_indices: list[int], hz: float) -> DeviceSampler | None:
    """The sampler of the backend's CUDA devices; None on the CPU, or where NVML cannot open them (the
    reason is logged; an energy source that needs NVML then says so itself)."""
    if not cuda_indices:
        return None
    try:
        return DeviceSampler(NvmlDevices(cuda_indices), hz)
    except PreflightError as exc:
        log.info("no device sampling: %s", exc)
        return None
