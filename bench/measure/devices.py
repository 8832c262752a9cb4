"""The torch device a backend computes on: ``backend.device`` (``auto | cpu | cuda[:N] | npu[:N]``)
resolved once into a ``Device`` that every backend and tracker uses: its sync function, clock, torch
memory statistics, its vendor, and (through ``vendors.ids.device_ids``) the physical ids of its logical
index. The sensors of each vendor live in ``vendors/``; this module only says which vendor a case uses
(``sensor_target``).

``auto`` picks CUDA (NVIDIA, or AMD under ROCm, whose torch answers to ``torch.cuda``), then an Ascend
NPU, then the CPU. ``torch_npu`` is imported only when an NPU is asked for or detected; torch itself
only when an accelerator is asked for or ``auto`` looks for one. Nothing here branches later: the
callers get plain functions.
"""
from __future__ import annotations

import importlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.config.schema import DEVICE_RE
from bench.errors import PreflightError
from bench.measure.trackers.source import SensorTarget
from bench.measure.vendors.ids import VISIBLE_ENV, device_ids


TORCH_NPU_HINT = ("install the CANN toolkit and its matching torch_npu (https://gitee.com/ascend/pytorch): "
                  "`source /usr/local/Ascend/ascend-toolkit/set_env.sh` then `pip install torch-npu==<your torch "
                  "version>`; or set backend.device to cpu")


def parse(spec: str) -> tuple[str, int | None]:
    """``'npu:1'`` -> ``('npu', 1)``. A malformed spec is a PreflightError naming the field."""
    m = DEVICE_RE.match(spec or "")
    if m is None:
        raise PreflightError(f"backend.device '{spec}' is not one of auto, cpu, cuda, cuda:N, npu, npu:N")
    return m.group(1), int(m.group(2)) if m.group(2) is not None else None


@dataclass
class Device:
    """One resolved device. ``kind`` is cpu | cuda | npu; ``vendor`` cpu | nvidia | amd | huawei."""

    kind: str
    vendor: str
    index: int | None = None
    name: str | None = None
    torch: object = None  # the torch module (None on a CPU chosen without looking for accelerators)
    notes: list[str] = field(default_factory=list)
    clock: Callable[[], float] = time.perf_counter

    @property
    def torch_device(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    def __str__(self) -> str:
        return self.torch_device

    @property
    def accel(self):
        """``torch.cuda`` or ``torch.npu`` (None on the CPU)."""
        if self.kind == "cpu" or self.torch is None:
            return None
        return getattr(self.torch, self.kind)

    def sync(self) -> None:
        if self.accel is not None:
            self.accel.synchronize(self.torch_device)

    def synchronizer(self) -> Callable[[], None]:
        """The sync function, chosen once: a no-op on the CPU."""
        return self.sync if self.accel is not None else (lambda: None)

    def reset_peak_memory(self) -> None:
        if self.accel is not None:
            self.accel.reset_peak_memory_stats(self.torch_device)

    def empty_cache(self) -> None:
        if self.accel is not None:
            self.accel.empty_cache()

    def memory_stats(self) -> dict:
        """torch's peak allocated/reserved bytes on this device (None on the CPU: not tracked by torch)."""
        if self.accel is None:
            return {"torch_peak_allocated_bytes": None, "torch_peak_reserved_bytes": None}
        return {"torch_peak_allocated_bytes": int(self.accel.max_memory_allocated(self.torch_device)),
                "torch_peak_reserved_bytes": int(self.accel.max_memory_reserved(self.torch_device))}

    def logical_indices(self) -> list[int]:
        return [] if self.kind == "cpu" else [self.index or 0]

    def physical_ids(self, environ: dict | None = None) -> list[str | int]:
        return device_ids(self.vendor, self.logical_indices(), environ)

    def catalog_id(self) -> str | None:
        """The hardware catalog id for this device ('Ascend 910B3' -> 910b) through the catalog's one
        resolver; None when the catalog does not know it (never silently another chip)."""
        if self.kind == "cpu":
            return "cpu"
        from bench.catalog.hardware import resolve

        chip = resolve(self.name)
        return chip.id if chip is not None else None


def _import(name: str, importer: Callable = importlib.import_module):
    return importer(name)


def npu_present(dev_root: Path = Path("/dev")) -> bool:
    """An Ascend driver is installed here: /dev/davinci<N> device files or npu-smi on PATH."""
    return any(dev_root.glob("davinci[0-9]*")) or shutil.which("npu-smi") is not None


def _load_torch_npu(importer: Callable, spec: str):
    """Import torch_npu (it registers ``torch.npu``) or fail with the CANN + torch_npu install hint."""
    try:
        _import("torch_npu", importer)
    except ImportError as exc:
        raise PreflightError(f"backend.device '{spec}': torch_npu is not installed ({exc}); {TORCH_NPU_HINT}") from None
    except Exception as exc:  # installed but broken: CANN libraries missing, torch version mismatch...
        raise PreflightError(f"backend.device '{spec}': torch_npu failed to import ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}); is CANN's set_env.sh sourced? "
                             f"{TORCH_NPU_HINT}") from None


def cuda_vendor(torch) -> str:
    """ROCm builds of torch answer to torch.cuda; torch.version.hip tells them apart."""
    return "amd" if getattr(getattr(torch, "version", None), "hip", None) else "nvidia"


def resolve(spec: str, importer: Callable = importlib.import_module, dev_root: Path = Path("/dev")) -> Device:
    """``backend.device`` -> a Device. Every problem is one PreflightError line saying how to fix it."""
    kind, index = parse(spec)
    if kind == "cpu":
        return Device("cpu", "cpu")
    try:
        torch = _import("torch", importer)
    except ImportError:
        if kind == "auto":
            return Device("cpu", "cpu", notes=["torch is not installed: CPU"])
        raise PreflightError(f"backend.device '{spec}': torch is not installed; pip install torch") from None
    if kind == "auto":
        if torch.cuda.is_available():
            kind, index = "cuda", 0
        elif npu_present(dev_root):
            kind, index = "npu", 0
            _load_torch_npu(importer, "auto (an Ascend NPU was detected)")
        else:
            return Device("cpu", "cpu", torch=torch)
    index = index or 0
    if kind == "cuda":
        vendor = cuda_vendor(torch)
        if not torch.cuda.is_available():
            raise PreflightError(f"backend.device '{spec}': CUDA is not available here (torch {torch.__version__}); "
                                 "use device: cpu or auto")
        count = torch.cuda.device_count()
    else:
        vendor = "huawei"
        if not hasattr(torch, "npu"):
            _load_torch_npu(importer, spec)
        if not torch.npu.is_available():
            raise PreflightError(f"backend.device '{spec}': torch_npu is installed but sees no NPU (driver not "
                                 "loaded, or ASCEND_RT_VISIBLE_DEVICES hides them); check `npu-smi info`")
        count = torch.npu.device_count()
    if index >= count:
        var = VISIBLE_ENV[vendor][0]
        raise PreflightError(f"backend.device '{spec}': only {count} {kind.upper()} device(s) visible "
                             f"({var}={os.environ.get(var, '')!r}); use an index below {count}")
    try:
        name = getattr(torch, kind).get_device_name(index)
    except Exception:  # a name is a label only
        name = None
    return Device(kind, vendor, index, name, torch)


def default_device(importer: Callable = importlib.import_module, dev_root: Path = Path("/dev")) -> str:
    """``auto`` as a string for the engines that choose their own device (vLLM, a managed server):
    'cuda:0', 'npu:0' or 'cpu'. A detected NPU whose torch_npu is missing still reads 'npu:0' (vLLM's
    Ascend plugin brings its own), so the sensors look at the NPU."""
    try:
        torch = _import("torch", importer)
    except ImportError:
        return "npu:0" if npu_present(dev_root) else "cpu"
    if torch.cuda.is_available():
        return "cuda:0"
    return "npu:0" if npu_present(dev_root) else "cpu"


def sensor_target(device: str, indices: list[int], importer: Callable = importlib.import_module) -> SensorTarget:
    """The sensor target for a backend's resolved device string and its logical indices."""
    if device.startswith("npu"):
        return SensorTarget("huawei", tuple(indices))
    if device.startswith("cuda"):
        try:
            vendor = cuda_vendor(_import("torch", importer))
        except ImportError:
            vendor = "nvidia"
        return SensorTarget(vendor, tuple(indices))
    return SensorTarget("cpu", ())
