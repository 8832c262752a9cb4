"""The NVIDIA seam: GPUs found (``list_devices``, for sysinfo), their ids mapped (``ids.device_ids``
through CUDA_VISIBLE_DEVICES: an index or a UUID), and their power, energy, clocks and memory read
through NVML (``NvmlDevices``, one probe shared by every monitor through ``DeviceSampler``).

Energy: ``nvml-energy`` (the total-energy counter delta) with ``nvml-sampled`` (power integrated by the
trapezoid rule) always alongside as a cross-check; a GPU without the counter (pre-Volta) is
``nvml-sampled``. pynvml is imported only when a device is opened. Units: W, mJ (the counter), J,
MHz, degrees C, percent, bytes.
"""
from __future__ import annotations

import logging
import os

from bench.errors import PreflightError
from bench.measure.trackers.device_sampler import DeviceSampler
from bench.measure.trackers.source import EnergySource, SourceRequest
from bench.measure.vendors.ids import device_ids
from bench.summary.power import trapezoid_j

VENDOR = "nvidia"
SOURCES = ("nvml",)  # the energy.source names this vendor answers to

log = logging.getLogger(__name__)


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
        ids = device_ids(VENDOR, logical_indices)
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


class NvmlSource(EnergySource):
    """``nvml-energy`` with ``nvml-sampled`` as its cross-check. The power samples come from the
    devices' one sampler thread (``trackers/device_sampler.py``), shared with the memory and telemetry
    blocks."""

    measures = True

    def __init__(self, logical_indices: list[int], hz: float = 10.0, devices: DeviceSampler | None = None):
        super().__init__()
        self.devices = devices or DeviceSampler(NvmlDevices(logical_indices), hz)
        self.has_counter = self.devices.devices.has_energy_counter
        self.name = "nvml-energy" if self.has_counter else "nvml-sampled"
        if not self.has_counter:
            self.note = "this GPU has no total-energy counter (pre-Volta): energy integrated from sampled power"

    @property
    def _sampler(self):
        return self.devices.sampler

    def start(self) -> None:
        self._e0 = self.devices.devices.energy_mj() if self.has_counter else None
        self._first = self.devices.start()

    def stop(self) -> dict:
        samples = self.devices.stop(self._first)
        e1 = self.devices.devices.energy_mj() if self.has_counter else None
        window = samples[-1][0] - samples[0][0]
        keys = self.devices.devices.keys
        sampled = {}
        for i, k in enumerate(keys):
            sampled[k] = trapezoid_j([(t, s["power_w"][i]) for t, s in samples])
        sampled_total = sum(v for v in sampled.values() if v is not None) if all(
            v is not None for v in sampled.values()) else None
        peak = max((sum(s["power_w"]) for _, s in samples), default=None)
        notes = []
        per = dict(sampled)
        if self.has_counter:
            for i, k in enumerate(keys):
                d = e1[i] - self._e0[i]
                if d < 0:  # the counter went backwards (driver reload / reset): fall back for this device
                    notes.append(f"GPU {k}: energy counter reset during the window; used sampled power")
                else:
                    per[k] = d / 1000.0
        total = sum(per.values()) if all(v is not None for v in per.values()) else None
        return {"per_device_j": per, "total_j": total,
                "avg_power_w": total / window if total is not None and window > 0 else None,
                "peak_power_w": peak, "window_s": window,
                "cross_check": {"nvml-sampled": {"total_j": sampled_total,
                                                 "avg_power_w": sampled_total / window if sampled_total and window > 0 else None,
                                                 "samples": len(samples)}},
                "notes": notes}

    def telemetry(self) -> dict | None:
        return self.devices.telemetry()

    def device_memory(self) -> dict | None:
        return self.devices.memory()


def energy_source(req: SourceRequest) -> NvmlSource:
    """The NVML source of the target's CUDA devices; PreflightError when the target is no NVIDIA CUDA
    device (asked for explicitly) or NVML cannot open it."""
    if req.cfg.source == "nvml" and (not req.target.logical or req.target.vendor != VENDOR):
        raise PreflightError("energy.source 'nvml' needs an NVIDIA CUDA device"
                             + (" (this is an AMD GPU: use amdsmi)" if req.target.vendor == "amd" else "")
                             + "; set backend.device to cuda, or energy.source to auto")
    return NvmlSource(list(req.target.logical), req.hz, req.devices)


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


def list_devices() -> tuple[list[dict], str | None]:
    """Every GPU NVML sees, or ([], reason) when NVML is unavailable."""
    try:
        import pynvml
    except ImportError:
        return [], "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return [], "NVML library not found (no NVIDIA driver)"
    except pynvml.NVMLError as exc:
        return [], f"NVML failed to initialise: {exc}"

    def safe(fn, *a):
        try:
            v = fn(*a)
            return v.decode() if isinstance(v, bytes) else v
        except pynvml.NVMLError:
            return None

    out = []
    driver = safe(pynvml.nvmlSystemGetDriverVersion)
    cuda = safe(pynvml.nvmlSystemGetCudaDriverVersion)
    nvml_v = safe(pynvml.nvmlSystemGetNVMLVersion)
    for i in range(pynvml.nvmlDeviceGetCount()):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        mem = safe(pynvml.nvmlDeviceGetMemoryInfo, h)
        limit = safe(pynvml.nvmlDeviceGetPowerManagementLimit, h)
        default = safe(pynvml.nvmlDeviceGetPowerManagementDefaultLimit, h)
        ecc = safe(pynvml.nvmlDeviceGetCurrentEccMode, h) if hasattr(pynvml, "nvmlDeviceGetCurrentEccMode") else None
        mig = safe(pynvml.nvmlDeviceGetMigMode, h)
        nvlinks = 0
        for link in range(18):
            if safe(pynvml.nvmlDeviceGetNvLinkState, h, link) == 1:
                nvlinks += 1
        out.append({
            "index": i, "name": safe(pynvml.nvmlDeviceGetName, h), "uuid": safe(pynvml.nvmlDeviceGetUUID, h),
            "driver": driver, "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
            "nvml": nvml_v, "memory_total_bytes": mem.total if mem else None,
            "power_limit_w": limit / 1000 if limit else None,
            "power_default_limit_w": default / 1000 if default else None,
            "ecc": ecc, "mig_mode": mig[0] if isinstance(mig, (list, tuple)) else mig,
            "pcie_gen": safe(pynvml.nvmlDeviceGetCurrPcieLinkGeneration, h),
            "pcie_width": safe(pynvml.nvmlDeviceGetCurrPcieLinkWidth, h),
            "nvlink_active_links": nvlinks,
            "energy_counter": safe(pynvml.nvmlDeviceGetTotalEnergyConsumption, h) is not None,
        })
    return out, None
