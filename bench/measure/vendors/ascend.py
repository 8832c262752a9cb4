"""The Ascend seam: NPUs found, their ids mapped, and their power, memory, temperature and AI Core
utilisation read -- from ``npu-smi`` (run here; its output is parsed in ``parsers/npu_smi.py``) or from
the DCMI library (``libdcmi.so``, what npu-smi itself calls) where it loads.

Power is sampled at the run's rate and integrated by the trapezoid rule: source ``npu-smi-sampled``
(or ``dcmi-sampled``). Ascend has no energy counter. "Not measured" is ``None`` with its reason,
never 0. Logical device ids (``ASCEND_RT_VISIBLE_DEVICES``, ``torch.npu``) map to chip logic ids
through ``ids.device_ids`` and on to (NPU ID, Chip ID) through ``npu-smi info -m``.
Units: W, bytes, degrees C, percent.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.errors import PreflightError
from bench.measure.trackers.source import SampledPowerSource, SourceRequest
from bench.measure.vendors.ids import device_ids
from bench.measure.vendors.parsers.npu_smi import (PERMISSION_FIX, NpuSmiError, classify_failure, parse_board,
                                                   parse_info_table, parse_mapping, parse_memory, parse_power_w,
                                                   parse_temp_c, parse_usages)

log = logging.getLogger(__name__)

VENDOR = "huawei"
SOURCES = ("npu-smi", "dcmi")  # the energy.source names this vendor answers to

NPU_SMI = "npu-smi"


# ---------------------------------------------------------------------------- npu-smi
def run_npu_smi(args: list[str], exe: str = NPU_SMI, timeout: float = 10.0) -> str:
    """One npu-smi call; its text, or an NpuSmiError saying why not."""
    path = shutil.which(exe) or (exe if Path(exe).is_file() else None)
    if path is None:
        raise NpuSmiError("missing", "npu-smi not found on PATH: the Ascend driver is not installed here "
                                     "(it ships in /usr/local/bin/npu-smi)")
    try:
        p = subprocess.run([path, *args], capture_output=True, text=True, timeout=timeout)
    except PermissionError:
        raise NpuSmiError("permission", f"npu-smi: permission denied executing {path}; {PERMISSION_FIX}") from None
    except subprocess.TimeoutExpired:
        raise NpuSmiError("failed", f"npu-smi {' '.join(args)} did not answer within {timeout:g} s") from None
    text = (p.stdout or "") + (p.stderr or "")
    err = classify_failure(text, p.returncode)
    if err is not None:
        raise err
    return p.stdout


@dataclass(frozen=True)
class NpuAddress:
    logical: int  # as torch.npu and ASCEND_RT_VISIBLE_DEVICES count
    npu_id: int  # npu-smi's -i
    chip_id: int  # npu-smi's -c


def npu_addresses(logical: list[int], mapping_text: str | None, environ: dict | None = None) -> list[NpuAddress]:
    """The backend's logical NPU indices -> npu-smi's (NPU ID, Chip ID): ``ids.device_ids`` gives the
    chip logic ids (ASCEND_RT_VISIBLE_DEVICES), ``npu-smi info -m`` maps those (identity when unavailable)."""
    env = os.environ if environ is None else environ
    table = parse_mapping(mapping_text) if mapping_text else {}
    out = []
    for lg, phys in zip(logical, device_ids("huawei", logical, env)):
        if not isinstance(phys, int):
            raise PreflightError(f"ASCEND_RT_VISIBLE_DEVICES={env.get('ASCEND_RT_VISIBLE_DEVICES')!r}: '{phys}' is "
                                 "not a device id; give comma-separated chip logic ids (see `npu-smi info -m`)")
        npu_id, chip_id, _ = table.get(phys, (phys, 0, ""))
        out.append(NpuAddress(lg, npu_id, chip_id))
    return out


class NpuSmiReader:
    """Reads one NPU's power (every sample) and its telemetry (every ``telemetry_every`` samples:
    each npu-smi call costs tens of milliseconds)."""

    name = "npu-smi-sampled"

    def __init__(self, addr: NpuAddress, exe: str = NPU_SMI):
        self.addr, self.exe = addr, exe
        self.unsupported: dict[str, str] = {}  # field -> why it reads None

    def _query(self, kind: str) -> str:
        return run_npu_smi(["info", "-t", kind, "-i", str(self.addr.npu_id), "-c", str(self.addr.chip_id)], self.exe)

    def power_w(self) -> float | None:
        return parse_power_w(self._query("power"))

    def telemetry(self) -> dict:
        out: dict = {}
        for kind, parse in (("usages", parse_usages), ("temp", lambda t: {"temperature_c": parse_temp_c(t)})):
            if kind in self.unsupported:
                continue
            try:
                out.update(parse(self._query(kind)))
            except NpuSmiError as exc:
                if exc.kind in ("unsupported", "permission"):
                    self.unsupported[kind] = str(exc)
                else:
                    raise
        return out

    def memory_total_bytes(self) -> int | None:
        try:
            return parse_memory(self._query("memory"))["memory_total_bytes"]
        except NpuSmiError as exc:
            self.unsupported["memory"] = str(exc)
            return None


# ---------------------------------------------------------------------------- DCMI
DCMI_PATHS = ("/usr/local/Ascend/driver/lib64/driver/libdcmi.so", "/usr/local/dcmi/libdcmi.so")


def load_dcmi(paths: tuple[str, ...] = DCMI_PATHS):
    """libdcmi.so via ctypes, initialised; or a PreflightError saying why not."""
    candidates = [p for p in paths if Path(p).exists()]
    found = ctypes.util.find_library("dcmi")
    if found:
        candidates.append(found)
    if not candidates:
        raise PreflightError("DCMI library (libdcmi.so) not found: it ships with the Ascend driver under "
                             "/usr/local/Ascend/driver/lib64/driver")
    try:
        lib = ctypes.CDLL(candidates[0])
    except OSError as exc:
        raise PreflightError(f"DCMI library {candidates[0]} failed to load: {exc}") from None
    rc = lib.dcmi_init()
    if rc != 0:
        raise PreflightError(f"dcmi_init() returned {rc}: {PERMISSION_FIX}")
    return lib


class DcmiReader:
    """Power (0.1 W units) and temperature through ``dcmi_get_device_power_info(card, chip, int*)`` and
    ``dcmi_get_device_temperature(card, chip, int*)`` -- the calls npu-smi makes."""

    name = "dcmi-sampled"

    def __init__(self, addr: NpuAddress, lib):
        self.addr, self.lib = addr, lib
        self.unsupported: dict[str, str] = {}

    def _int(self, fn_name: str) -> int | None:
        v = ctypes.c_int(0)
        rc = getattr(self.lib, fn_name)(self.addr.npu_id, self.addr.chip_id, ctypes.byref(v))
        if rc != 0:
            self.unsupported[fn_name] = f"{fn_name} returned {rc}"
            return None
        return v.value

    def power_w(self) -> float | None:
        raw = self._int("dcmi_get_device_power_info")
        return raw / 10.0 if raw is not None else None

    def telemetry(self) -> dict:
        if "dcmi_get_device_temperature" in self.unsupported:
            return {}
        t = self._int("dcmi_get_device_temperature")
        return {"temperature_c": float(t)} if t is not None else {}

    def memory_total_bytes(self) -> int | None:
        return None


# ---------------------------------------------------------------------------- the energy source
class NpuPowerSource(SampledPowerSource):
    """Sampled NPU power, trapezoid-integrated into energy; telemetry from the same sampler thread."""

    measures = True

    def __init__(self, readers: list, hz: float = 10.0, telemetry_every: int = 5, note: str | None = None):
        super().__init__(note=note)
        if not readers:
            raise PreflightError("no NPU to measure")
        self.readers, self.hz, self.telemetry_every = readers, hz, max(1, telemetry_every)
        self.name = readers[0].name
        self.keys = [str(r.addr.logical) for r in readers]
        for r in readers:  # present but unreadable: fail here, so preflight (or auto) sees the reason
            try:
                if r.power_w() is None:
                    raise PreflightError(f"NPU {r.addr.logical} (NPU ID {r.addr.npu_id}, chip {r.addr.chip_id}): "
                                         f"power reads NA on this device; energy cannot be measured here")
            except NpuSmiError as exc:
                raise PreflightError(str(exc)) from None
        self._tick = 0

    def _probe(self) -> dict:
        s = {"power_w": [r.power_w() for r in self.readers]}
        if self._tick % self.telemetry_every == 0:
            s["telemetry"] = [r.telemetry() for r in self.readers]
        self._tick += 1
        return s

    def start(self) -> None:
        self._tick = 0
        super().start()

    def stop(self) -> dict:
        samples = self._stop_samples()
        if len(samples) < 2:
            return self._not_measured(f"only {len(samples)} power sample(s) "
                                      f"({self._sampler.errors} failed): energy not measured")
        window, per, peaks = self._integrate(samples)
        notes = []
        eff_hz = (len(samples) - 1) / window if window > 0 else None
        if eff_hz is not None and eff_hz < 0.8 * self.hz:
            notes.append(f"{self.name}: asked for {self.hz:g} Hz, got {eff_hz:.1f} Hz (each query takes time)")
        if any(v is None for v in per.values()):
            notes.append(f"{self.name}: power read NA in some samples; energy not measured")
        if self._sampler.errors:
            notes.append(f"{self.name}: {self._sampler.errors} sample(s) failed")
        return self._reading(per, window, peaks, {self.name: {"samples": len(samples), "effective_hz": eff_hz}},
                             notes)

    def telemetry(self) -> dict | None:
        samples = getattr(self, "_last", None)
        if not samples:
            return None
        out: dict = {}
        power = [sum(s["power_w"]) for _, s in samples if all(p is not None for p in s["power_w"])]
        out["power_w"] = {"mean": sum(power) / len(power), "max": max(power)} if power else None
        tel = [s["telemetry"] for _, s in samples if "telemetry" in s]
        for key in ("aicore_pct", "temperature_c", "hbm_bandwidth_pct"):
            vals = [sum(d[key] for d in t) / len(t) for t in tel if t and all(d.get(key) is not None for d in t)]
            out[key] = {"mean": sum(vals) / len(vals), "max": max(vals)} if vals else None
        out["power_limit_w"] = None  # npu-smi reports no power limit
        missing = {k: v for r in self.readers for k, v in r.unsupported.items()}
        if missing:
            out["unsupported"] = missing
        return out

    def device_memory(self) -> dict | None:
        samples = getattr(self, "_last", None) or []
        tel = [s["telemetry"] for _, s in samples if "telemetry" in s]
        used = [sum(d["memory_used_bytes"] for d in t) for t in tel
                if t and all(d.get("memory_used_bytes") is not None for d in t)]
        totals = [r.memory_total_bytes() for r in self.readers]
        return {"device_used_peak_bytes": max(used) if used else None,
                "device_total_bytes": sum(totals) if all(v is not None for v in totals) else None}


def npu_source(logical: list[int], want: str, hz: float, exe: str = NPU_SMI, environ: dict | None = None,
               dcmi_loader=None) -> NpuPowerSource:
    """``want``: 'dcmi', 'npu-smi', or 'auto' (DCMI where it loads, else npu-smi). PreflightError when
    the chosen reader is missing or unreadable."""
    try:
        mapping = run_npu_smi(["info", "-m"], exe)
    except NpuSmiError:  # the power query below reports the same failure where it matters
        mapping = None
    logical = logical or [0]
    addrs = npu_addresses(logical, mapping, environ)
    note = None if mapping else "npu-smi info -m unavailable: NPU IDs assumed equal to logical ids"
    reasons = []
    if want in ("dcmi", "auto"):
        try:
            lib = (dcmi_loader or load_dcmi)()
            return NpuPowerSource([DcmiReader(a, lib) for a in addrs], hz, note=note)
        except PreflightError as exc:
            if want == "dcmi":
                raise
            reasons.append(str(exc))
    src = NpuPowerSource([NpuSmiReader(a, exe) for a in addrs], hz, note=note)
    if reasons:
        src.note = "; ".join([n for n in (note, f"DCMI not used ({reasons[0]})") if n])
    return src


def energy_source(req: SourceRequest) -> NpuPowerSource:
    """The NPU power source of the target's NPUs (NPU 0 where none is named): DCMI or npu-smi as the
    config asks, either under ``auto``."""
    want = req.cfg.source if req.cfg.source in SOURCES else "auto"
    return npu_source(list(req.target.logical) or [0], want, req.hz)


# ---------------------------------------------------------------------------- sysinfo
def list_devices(exe: str = NPU_SMI) -> tuple[list[dict], str | None]:
    """Every NPU npu-smi sees (name, driver, firmware, memory, power limit), or ([], why not)."""
    try:
        table = parse_info_table(run_npu_smi(["info"], exe))
    except NpuSmiError as exc:
        return [], str(exc)
    out = []
    for n in table["npus"]:
        board = {}
        try:
            board = parse_board(run_npu_smi(["info", "-t", "board", "-i", str(n["npu_id"])], exe))
        except NpuSmiError as exc:
            board = {"note": str(exc)}
        name = board.get("chip_name") or n["name"]
        out.append({"index": n["npu_id"], "chip_id": n.get("chip_id"),
                    "name": name if name.lower().startswith("ascend") else f"Ascend {name}",
                    "product": board.get("product"), "vendor": "huawei", "health": n["health"],
                    "bus_id": n.get("bus_id"), "driver": board.get("driver") or table["driver"],
                    "firmware": board.get("firmware"), "npu_smi": table["npu_smi_version"],
                    "memory_total_bytes": n.get("memory_total_bytes"), "power_w": n["power_w"],
                    "power_limit_w": None, "power_limit_note": "npu-smi reports no power limit",
                    "energy_counter": False, "note": board.get("note")})
    return out, None if out else "npu-smi lists no NPU"
