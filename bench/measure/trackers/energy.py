"""Energy and power: one tracker interface over NVML, RAPL, a labelled TDP estimate, or nothing.

The source is chosen once per run (``choose_source``). If the config *asks* for a source that is
unavailable, preflight fails with the reason; if it was only implied (``auto``) the run degrades to
``none``, whose values are ``None`` with a note saying why. Never 0 for "not measured".
Units: joules (``_j``), watts (``_w``), seconds (``_s``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from bench.errors import PreflightError
from bench.measure.trackers.device import DeviceSampler, NvmlDevices
from bench.measure.trackers.source import EnergySource
from bench.measure.trackers.sampler import PeriodicSampler, trapezoid_j

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


# ---------------------------------------------------------------------------- RAPL
RAPL_ROOT = Path("/sys/class/powercap")


def _rapl_zones(root: Path) -> list[Path]:
    """Package zones (intel-rapl:N) and their DRAM subzones; psys and core/uncore are left out to
    avoid counting the same energy twice."""
    zones = []
    for z in sorted(root.glob("intel-rapl:*")):
        name = (z / "name").read_text().strip() if (z / "name").exists() else ""
        if name.startswith("package") or name == "dram":
            zones.append(z)
    return zones


class RaplSource(EnergySource):
    name = "rapl"
    measures = True

    def __init__(self, root: Path = RAPL_ROOT, hz: float = 10.0):
        super().__init__()
        self.root = Path(root)
        self.zones = _rapl_zones(self.root) if self.root.exists() else []
        if not self.zones:
            raise PreflightError(f"RAPL not available: no package zones under {self.root}")
        self.max_uj = {}
        for z in self.zones:
            try:
                int((z / "energy_uj").read_text())
                self.max_uj[z.name] = int((z / "max_energy_range_uj").read_text())
            except PermissionError:
                raise PreflightError(f"RAPL not readable: permission denied on {z / 'energy_uj'}; "
                                     "run as root or `chmod a+r` the energy_uj files") from None
            except (OSError, ValueError) as exc:
                raise PreflightError(f"RAPL not readable: {z / 'energy_uj'}: {exc}") from None
        self.hz = hz

    def _read(self) -> dict[str, int]:
        return {z.name: int((z / "energy_uj").read_text()) for z in self.zones}

    def _delta_j(self, a: dict[str, int], b: dict[str, int]) -> dict[str, float]:
        out = {}
        for k in a:
            d = b[k] - a[k]
            if d < 0:  # the counter wrapped around max_energy_range_uj
                d += self.max_uj[k]
            out[k] = d / 1e6
        return out

    def start(self) -> None:
        self._sampler = PeriodicSampler(self._read, self.hz).start()
        self._t0 = self._sampler.samples[0][0]

    def stop(self) -> dict:
        s = self._sampler.stop()
        window = s[-1][0] - s[0][0]
        per = self._delta_j(s[0][1], s[-1][1])
        powers = [sum(self._delta_j(a, b).values()) / (tb - ta) for (ta, a), (tb, b) in zip(s, s[1:]) if tb > ta]
        total = sum(per.values())
        return {"per_device_j": per, "total_j": total, "avg_power_w": total / window if window > 0 else None,
                "peak_power_w": max(powers) if powers else None, "window_s": window}


# ---------------------------------------------------------------------------- NVML
class NvmlSource(EnergySource):
    """``nvml-energy`` (the total-energy counter delta) with ``nvml-sampled`` (power integrated by the
    trapezoid rule) always alongside as a cross-check. The power samples come from the devices' one
    sampler thread (``trackers/device.py``), shared with the memory and telemetry blocks."""

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


def choose_source(energy_cfg, target, rapl_root: Path = RAPL_ROOT, local: bool = True,
                  devices: DeviceSampler | None = None) -> EnergySource:
    """Pick the energy source once per run. Explicit requests fail loudly; ``auto`` degrades to none.
    ``target``: a ``devices.SensorTarget`` (vendor + logical indices), or a list of CUDA indices
    (NVIDIA). ``local=False`` (an external endpoint): this machine's sensors do not see the server, so
    ``auto`` measures nothing; an explicit source is taken at its word (the server may run here).
    ``devices``: the run's NVIDIA device sampler, which an NVML source reads instead of opening its own."""
    from bench.measure.devices import SensorTarget

    if not isinstance(target, SensorTarget):
        target = SensorTarget("nvidia" if target else "cpu", tuple(target))
    want = energy_cfg.source
    hz = energy_cfg.sample_hz
    if want == "none":
        return NoEnergy(note="energy measurement turned off in the config (energy.source: none)")
    if want == "auto" and not local:
        return NoEnergy(note="external endpoint: its power is not visible from the client; if the server runs "
                             "on this machine, set energy.source to nvml, amdsmi, npu-smi or rapl")
    if want == "estimate-tdp":
        return EstimateTdp(energy_cfg.tdp_w, energy_cfg.utilisation)
    if want == "prometheus":  # a deployment's accelerators, from the cluster's monitoring
        from bench.measure.trackers.prometheus import prometheus_source

        return prometheus_source(energy_cfg)
    if want == "nvml":
        if not target.logical or target.vendor != "nvidia":
            raise PreflightError("energy.source 'nvml' needs an NVIDIA CUDA device"
                                 + (" (this is an AMD GPU: use amdsmi)" if target.vendor == "amd" else "")
                                 + "; set backend.device to cuda, or energy.source to auto")
        return NvmlSource(list(target.logical), hz, devices)
    if want == "rapl":
        return RaplSource(rapl_root, hz)
    if want == "amdsmi":
        from bench.measure.trackers.amd import AmdSmiSource

        return AmdSmiSource(list(target.logical) or [0], hz)
    if want in ("npu-smi", "dcmi"):
        from bench.measure.trackers.ascend import npu_source

        return npu_source(list(target.logical) or [0], want, hz)
    # auto: the sensor of the device in use
    try:
        if target.vendor == "nvidia":
            return NvmlSource(list(target.logical), hz, devices)
        if target.vendor == "amd":
            from bench.measure.trackers.amd import AmdSmiSource

            return AmdSmiSource(list(target.logical), hz)
        if target.vendor == "huawei":
            from bench.measure.trackers.ascend import npu_source

            return npu_source(list(target.logical), "auto", hz)
        return RaplSource(rapl_root, hz)
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
