"""The AMD seam: GPUs found (``list_devices``), their ids mapped (``ids.device_ids``), and power,
energy and memory read through ``amdsmi`` (AMD's official Python package; it needs ROCm's
libamd_smi.so); what amdsmi answers is parsed in ``parsers/amd_smi.py``.

``amdsmi-energy``: the energy accumulator (``energy_accumulator x counter_resolution`` = µJ), read in
the sampler thread at every sample and summed interval by interval, so a counter that wraps (32-bit
on some firmware: about 65 kJ at 15.3 µJ resolution, 90 s at 750 W) is unwrapped; power sampled beside
it is integrated by the trapezoid rule as the cross-check (``amdsmi-sampled``), as for NVML. Where the
counter is missing or not supported, ``amdsmi-sampled`` is the source.
ROCm's torch answers to ``torch.cuda``: logical indices follow HIP_VISIBLE_DEVICES (else
CUDA_VISIBLE_DEVICES) and amdsmi's processor order. Units: J, W, bytes, degrees C, percent.
"""
from __future__ import annotations

import logging

from bench.errors import PreflightError
from bench.measure.trackers.source import SampledPowerSource, SourceRequest, avg_w, total_j
from bench.measure.vendors.ids import device_ids
from bench.measure.vendors.parsers.amd_smi import counter_delta, counter_uj, num, power_w

log = logging.getLogger(__name__)

VENDOR = "amd"
SOURCES = ("amdsmi",)  # the energy.source names this vendor answers to

AMDSMI_HINT = "pip install amdsmi (or `pip install -e .[amd]`) matching your ROCm, with ROCm's libamd_smi.so installed"


def import_amdsmi(importer=None):
    """The amdsmi module, initialised; or a PreflightError saying why not (missing, or its library not
    loadable: amdsmi raises KeyError at import when libamd_smi.so is absent)."""
    import importlib

    try:
        mod = (importer or importlib.import_module)("amdsmi")
    except ImportError:
        raise PreflightError(f"amdsmi not available: the amdsmi package is not installed; {AMDSMI_HINT}") from None
    except Exception as exc:  # installed, but libamd_smi.so is missing or broken
        raise PreflightError(f"amdsmi is installed but its library did not load ({type(exc).__name__}: {exc}); "
                             f"install ROCm (libamd_smi.so) or {AMDSMI_HINT}") from None
    try:
        mod.amdsmi_init()
    except Exception as exc:
        raise PreflightError(f"amdsmi_init failed ({exc}): is the amdgpu driver loaded, and may this user open "
                             "/dev/kfd and /dev/dri/*? (add the user to the render and video groups)") from None
    return mod


class AmdSmiSource(SampledPowerSource):
    measures = True

    def __init__(self, logical: list[int], hz: float = 10.0, importer=None, environ: dict | None = None):
        super().__init__()
        self.smi = smi = import_amdsmi(importer)
        try:
            handles = smi.amdsmi_get_processor_handles()
        except Exception as exc:
            raise PreflightError(f"amdsmi could not list GPUs: {exc}") from None
        ids = device_ids("amd", logical, environ)
        self.keys = [str(i) for i in logical]
        self.handles = []
        for lg, phys in zip(logical, ids):
            if not isinstance(phys, int) or phys >= len(handles):
                raise PreflightError(f"GPU {lg} (physical {phys}) is not among the {len(handles)} GPU(s) amdsmi "
                                     "sees; check HIP_VISIBLE_DEVICES")
            self.handles.append(handles[phys])
        for h in self.handles:
            try:
                if power_w(smi.amdsmi_get_power_info(h)) is None:
                    raise PreflightError("amdsmi reports no socket power for this GPU: energy cannot be measured")
            except PreflightError:
                raise
            except Exception as exc:
                raise PreflightError(f"amdsmi power not readable ({exc}); run as a user in the render group") from None
        self.has_counter = True
        for h in self.handles:
            try:
                if counter_uj(smi.amdsmi_get_energy_count(h)) is None:
                    self.has_counter = False
            except Exception:  # AmdSmiLibraryException(NOT_SUPPORTED) and friends
                self.has_counter = False
        self.name = "amdsmi-energy" if self.has_counter else "amdsmi-sampled"
        if not self.has_counter:
            self.note = "this GPU has no readable energy counter: energy integrated from sampled power"
        self.hz = hz

    def _probe(self) -> dict:
        smi = self.smi
        s = {"power_w": [power_w(smi.amdsmi_get_power_info(h)) for h in self.handles]}
        if self.has_counter:
            s["counter"] = [counter_uj(smi.amdsmi_get_energy_count(h)) for h in self.handles]
        try:
            s["utilization_pct"] = [num(smi.amdsmi_get_gpu_activity(h).get("gfx_activity")) for h in self.handles]
            s["memory_used_bytes"] = [smi.amdsmi_get_gpu_memory_usage(h, smi.AmdSmiMemoryType.VRAM)
                                      for h in self.handles]
            s["temperature_c"] = [num(smi.amdsmi_get_temp_metric(h, smi.AmdSmiTemperatureType.HOTSPOT,
                                                                   smi.AmdSmiTemperatureMetric.CURRENT))
                                  for h in self.handles]
        except Exception:  # telemetry is best effort; power is what the energy figures need
            pass
        return s

    def stop(self) -> dict:
        samples = self._stop_samples()
        if len(samples) < 2:
            return self._not_measured(f"only {len(samples)} amdsmi sample(s): energy not measured")
        window, sampled, peaks = self._integrate(samples)
        sampled_total = total_j(sampled)
        per = dict(sampled)
        notes = []
        if self.has_counter:
            for i, k in enumerate(self.keys):
                readings = [s["counter"][i] for _, s in samples if "counter" in s]
                if len(readings) < 2 or any(r is None for r in readings):
                    notes.append(f"GPU {k}: energy counter unreadable during the window; used sampled power")
                    continue
                uj = sum(counter_delta(a[0], b[0]) * b[1] for a, b in zip(readings, readings[1:]))
                per[k] = uj / 1e6
        return self._reading(per, window, peaks, {"amdsmi-sampled": {
            "total_j": sampled_total, "avg_power_w": avg_w(sampled_total, window), "samples": len(samples)}}, notes)

    def telemetry(self) -> dict | None:
        samples = getattr(self, "_last", None)
        if not samples:
            return None
        out = {}
        for key in ("power_w", "utilization_pct", "temperature_c"):
            vals = [sum(s[key]) / len(s[key]) for _, s in samples
                    if key in s and all(v is not None for v in s[key])]
            out[key] = {"mean": sum(vals) / len(vals), "max": max(vals)} if vals else None
        out["power_limit_w"] = power_limit_w(self.smi, self.handles)
        return out

    def device_memory(self) -> dict | None:
        samples = getattr(self, "_last", None) or []
        used = [sum(s["memory_used_bytes"]) for _, s in samples if "memory_used_bytes" in s]
        try:
            total = sum(self.smi.amdsmi_get_gpu_memory_total(h, self.smi.AmdSmiMemoryType.VRAM) for h in self.handles)
        except Exception:
            total = None
        return {"device_used_peak_bytes": max(used) if used else None, "device_total_bytes": total}


def energy_source(req: SourceRequest) -> "AmdSmiSource":
    """The amdsmi source of the target's GPUs (asked for by name with none named: GPU 0);
    PreflightError when amdsmi cannot read them."""
    logical = list(req.target.logical)
    return AmdSmiSource(logical or [0] if req.cfg.source == "amdsmi" else logical, req.hz)


def power_limit_w(smi, handles) -> float | None:
    """Sum of the GPUs' power caps (amdsmi reports µW); None where not readable."""
    try:
        return sum(smi.amdsmi_get_power_cap_info(h)["power_cap"] for h in handles) / 1e6
    except Exception:
        return None


def list_devices(importer=None) -> tuple[list[dict], str | None]:
    """Every AMD GPU amdsmi sees (name, driver, firmware, memory, power limit, counter), or ([], why not)."""
    try:
        smi = import_amdsmi(importer)
    except PreflightError as exc:
        return [], str(exc)

    def safe(fn, *a):
        try:
            return fn(*a)
        except Exception:
            return None

    out = []
    for i, h in enumerate(safe(smi.amdsmi_get_processor_handles) or []):
        asic = safe(smi.amdsmi_get_gpu_asic_info, h) or {}
        drv = safe(smi.amdsmi_get_gpu_driver_info, h) or {}
        fw = safe(smi.amdsmi_get_fw_info, h) or {}
        energy = safe(smi.amdsmi_get_energy_count, h)
        fw_list = {f.get("fw_name"): f.get("fw_version") for f in fw.get("fw_list", []) if isinstance(f, dict)}
        out.append({"index": i, "name": asic.get("market_name"), "vendor": "amd",
                    "driver": drv.get("driver_version"), "firmware": fw_list or None,
                    "memory_total_bytes": safe(smi.amdsmi_get_gpu_memory_total, h, smi.AmdSmiMemoryType.VRAM),
                    "power_limit_w": power_limit_w(smi, [h]),
                    "energy_counter": energy is not None and counter_uj(energy) is not None})
    return out, None if out else "amdsmi lists no GPU"
