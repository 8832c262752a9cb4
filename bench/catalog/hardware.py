"""Accelerator catalog (``bench/catalog/data/hardware.yaml`` plus user YAML files), validated on load.

Add your own chip without code: put a YAML file with a ``chips:`` list (same fields) in a directory
named by ``BENCH_HARDWARE_DIR`` (default ``~/.config/bench/hardware``).
"""
from __future__ import annotations

import functools
import os
import platform
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.catalog.base import Frozen
from bench.catalog.dtypes import canonical
from bench.errors import ConfigError, InputError, plain_message

DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8")
# Physical bounds of one chip's figures, far outside any real chip: a user file with 1e300 GB or 1e-300
# TFLOPS is refused at load (naming the file and field) instead of overflowing the maths that reads it.
TFLOPS_RANGE = (1e-3, 1e6)  # 1 GFLOPS .. 1 EFLOPS
MEMORY_GB_RANGE = (1e-3, 1e5)
BANDWIDTH_TBS_RANGE = (1e-4, 1e3)
LINK_GBS_MAX = 1e6
POWER_W_RANGE = (1e-1, 1e6)


def _tflops():
    return Field(default=None, ge=TFLOPS_RANGE[0], le=TFLOPS_RANGE[1])


class Tflops(Frozen):
    fp32: float | None = _tflops()
    bf16: float | None = _tflops()
    fp16: float | None = _tflops()
    fp8: float | None = _tflops()
    int8: float | None = _tflops()


class Alternative(Frozen):
    field: str
    value: float
    source: str


class Chip(Frozen):
    id: str
    vendor: str
    name: str
    year: int
    tflops: Tflops
    memory_gb: float = Field(ge=MEMORY_GB_RANGE[0], le=MEMORY_GB_RANGE[1])
    bandwidth_tbs: float = Field(ge=BANDWIDTH_TBS_RANGE[0], le=BANDWIDTH_TBS_RANGE[1])
    interconnect_gbs: float | None = Field(default=None, gt=0, le=LINK_GBS_MAX)
    # scale-out network between servers, per accelerator (bidirectional GB/s, the convention of interconnect_gbs),
    # and the accelerators one server's scale-up link joins; a replica larger than a server crosses the network
    scale_out_gbs: float | None = Field(default=None, gt=0, le=LINK_GBS_MAX)
    accelerators_per_node: int | None = Field(default=None, ge=1, le=4096)
    tdp_w: float | None = Field(default=None, ge=POWER_W_RANGE[0], le=POWER_W_RANGE[1])
    server_power_w: float | None = Field(default=None, ge=POWER_W_RANGE[0], le=POWER_W_RANGE[1])
    sources: dict[str, str]
    alternatives: list[Alternative] = []
    notes: str | None = None
    # the die the chip is built from ('GH100'): chips of one silicon share their tensor cores, so the profile fits
    # tie their MFU (``profiles.build``); memory-side efficiencies stay per chip (their HBM differs)
    silicon: str | None = None

    @model_validator(mode="after")
    def _sourced(self) -> "Chip":
        missing = [f for f in ("tflops", "memory_gb", "bandwidth_tbs", "tdp_w")
                   if f not in self.sources and getattr(self, f) is not None]
        for f in ("interconnect_gbs", "server_power_w", "scale_out_gbs", "accelerators_per_node", "silicon"):
            if getattr(self, f) is not None and f not in self.sources:
                missing.append(f)
        if missing:
            raise ValueError(f"every number needs a source; add sources.{', sources.'.join(missing)}")
        if not any(getattr(self.tflops, d) for d in DTYPES):
            raise ValueError("tflops needs at least one dtype")
        return self

    def peak_tflops(self, dtype: str) -> float:
        d = canonical(dtype)
        v = getattr(self.tflops, d, None) if d in DTYPES else None
        if v is None:
            have = [x for x in DTYPES if getattr(self.tflops, x)]
            raise InputError(f"hardware '{self.id}' has no {dtype} peak in the catalog (it lacks {dtype} support "
                             f"or it is unpublished); supported: {', '.join(have)}")
        return v

    def all_in_power_w(self, server_overhead: float) -> float | None:
        """Chip + server share, before PUE: the sourced server figure, else TDP x overhead."""
        if self.server_power_w is not None:
            return self.server_power_w
        return self.tdp_w * server_overhead if self.tdp_w is not None else None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chips: list[Chip]


def _load_file(text: str, where: str) -> list[Chip]:
    from bench.config.yaml_reader import parse_yaml

    data = parse_yaml(text, where)
    try:
        return _File.model_validate(data).chips
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"]) or "(top level): a mapping with a 'chips:' list is expected"
        raise ConfigError(f"{where}: {loc}: {plain_message(e)}") from None


def local_cpu() -> Chip:
    """This machine's CPU as a catalog entry. Its peaks are ESTIMATES from /proc/cpuinfo: cores x clock x
    FLOPs per cycle (AVX-512: 64 fp32, AVX2+FMA: 32, else 8), and an assumed 50 GB/s memory bandwidth."""
    import psutil

    flags, mhz, model = "", 0.0, ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = line
            elif line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":")[1])
            elif line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "local CPU"  # as sysinfo labels a CPU run
    per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 8
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    fp32 = cores * (mhz or 2000.0) * 1e6 * per_cycle / 1e12
    return Chip(id="cpu", vendor="local", name=model, year=0,
                tflops=Tflops(fp32=fp32, bf16=fp32, fp16=fp32), memory_gb=psutil.virtual_memory().total / 1e9,
                bandwidth_tbs=0.05, interconnect_gbs=None, tdp_w=None,
                sources={"tflops": f"ESTIMATE: {cores} cores x {mhz or 2000:.0f} MHz x {per_cycle} FLOP/cycle (/proc/cpuinfo)",
                         "memory_gb": "psutil (this machine)", "bandwidth_tbs": "ASSUMED 50 GB/s (not measured)"},
                notes="estimated at run time, not from a datasheet")


def user_dir() -> Path:
    return Path(os.path.expanduser(os.environ.get("BENCH_HARDWARE_DIR", "~/.config/bench/hardware")))


@functools.cache
def _chips(directory: Path) -> dict[str, Chip]:
    out = {c.id: c for c in _load_file(resources.files("bench.catalog.data").joinpath("hardware.yaml").read_text(),
                                       "bench/catalog/data/hardware.yaml")}
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    for f in files:
        try:
            text = Path(f).read_bytes().decode("utf-8")
        except OSError as exc:
            raise InputError(f"{f}: cannot read hardware file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise InputError(f"{f}: not UTF-8 text; save the hardware file as UTF-8 YAML or remove it") from None
        for c in _load_file(text, str(f)):
            c = c.model_copy(update={"id": c.id.strip().lower()})  # ids match in any case, as --hardware reads them
            out[c.id] = c
    out["cpu"] = local_cpu()
    return out


def chips() -> dict[str, Chip]:
    """The shipped catalog, the user's YAML files (``BENCH_HARDWARE_DIR``) and ``cpu`` (this machine)."""
    return _chips(user_dir())


def _by_id(chip_id: str) -> Chip | None:
    """A catalog id in any case, the Ascend chips also with their brand ('Ascend-910B')."""
    cat, key = chips(), chip_id.strip().lower()
    if key not in cat:
        key = key.replace("ascend-", "").replace("ascend", "").strip("-")
    return cat.get(key)


def get_chip(chip_id: str) -> Chip:
    """The chip for an id the user typed (``--hardware``); unknown is an error that lists the known ids."""
    chip = _by_id(chip_id)
    if chip is None:
        raise InputError(f"hardware '{chip_id}' is unknown; known: {', '.join(chips())}")
    return chip


def row(c: Chip) -> dict:
    return {"id": c.id, "name": c.name, "year": c.year, "fp16_tflops": c.tflops.fp16 or c.tflops.bf16,
            "fp8_tflops": c.tflops.fp8, "int8_tops": c.tflops.int8, "memory_gb": c.memory_gb,
            "bandwidth_tbs": c.bandwidth_tbs, "interconnect_gbs": c.interconnect_gbs, "tdp_w": c.tdp_w,
            "server_power_w": c.server_power_w,
            "disputed": ", ".join(sorted({a.field for a in c.alternatives})) or None}


def rows() -> list[dict]:
    """``list hardware``: one row per chip."""
    return [row(c) for c in chips().values()]


_NAME_HINTS = (("h100 pcie", "h100-pcie"), ("h100", "h100-sxm"), ("h200", "h200"), ("h800", "h800"),
               ("h20", "h20"), ("a100", "a100"), ("a800", "a800"), ("l40s", "l40s"), ("l20", "l20"),
               ("4090", "rtx4090"), ("b200", "b200"), ("mi300x", "mi300x"), ("910b", "910b"), ("910c", "910c"),
               ("910_93", "910c"))  # npu-smi names the 910C (Atlas A3) chips Ascend910_93xx


def resolve(label: str | None) -> Chip | None:
    """The one place a hardware label becomes a catalog chip.

    A label is a catalog id (an endpoint's ``backend.hardware``, a user's own chip), a device name as NVML
    reports it ('NVIDIA H100 80GB HBM3' -> h100-sxm), or the CPU model a run used: that is ``cpu`` (this
    machine's estimated peaks) only when it is this machine's CPU model. Anything else (an L4, an MI250, a
    CPU of another machine) is None: unknown, never silently the local CPU.
    """
    n = (label or "").strip().lower()
    if not n:
        return None
    cat, chip = chips(), _by_id(n)
    if chip is not None:
        return chip
    for hint, chip_id in _NAME_HINTS:
        if hint in n:
            return cat[chip_id]
    if n == cat["cpu"].name.lower():
        return cat["cpu"]
    return None


def unknown_note(label: str | None) -> str:
    return (f"hardware '{label}' is not in the hardware catalog; add it with a YAML file in BENCH_HARDWARE_DIR "
            f"({user_dir()})")
