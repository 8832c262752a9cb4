"""The CPU seam: RAPL (``/sys/class/powercap/intel-rapl:*``) energy counters of the CPU packages and
their DRAM, read as the ``rapl`` energy source. The CPU itself (model, cores, NUMA) is described in
sysinfo's cpu block; its "devices" here are the RAPL zones. No visible-devices variable: a CPU case
uses every package. Units: µJ (the counters), J, W.
"""
from __future__ import annotations

from pathlib import Path

from bench.errors import PreflightError
from bench.measure.trackers.sampler import PeriodicSampler
from bench.measure.trackers.source import RAPL_ROOT, EnergySource, SourceRequest

VENDOR = "cpu"
SOURCES = ("rapl",)  # the energy.source names this vendor answers to


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


def energy_source(req: SourceRequest) -> RaplSource:
    """The RAPL source; PreflightError when no zone is readable."""
    return RaplSource(req.rapl_root, req.hz)


def list_devices(root: Path = RAPL_ROOT) -> tuple[list[dict], str | None]:
    """The RAPL zones this machine has (package and DRAM), or ([], why not)."""
    zones = _rapl_zones(root) if root.exists() else []
    out = [{"index": i, "name": (z / "name").read_text().strip(), "zone": z.name, "vendor": VENDOR,
            "energy_counter": True} for i, z in enumerate(zones)]
    return out, None if out else f"no RAPL package zones under {root}"


def sensor_status(root: Path = RAPL_ROOT) -> dict:
    """Whether RAPL can measure energy here, and why not where it cannot (sysinfo's power_sensors)."""
    try:
        RaplSource(root)
        return {"available": True, "note": None}
    except PreflightError as exc:
        return {"available": False, "note": str(exc)}
