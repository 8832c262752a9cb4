"""Parsers of ``npu-smi`` output (pure: text in, values out; the code that runs npu-smi is in
``vendors/ascend.py``).

``npu-smi info -t <type> -i <NPU ID> -c <Chip ID>`` prints ``\\t<Field>                : <value>``
lines (``%-30s : %.1f``); a field the chip lacks reads ``NA``, a query the device lacks prints a
"does not support" line, and a user outside the driver's group gets a permission error.
``npu-smi info -m`` maps chip logic ids (what ``ASCEND_RT_VISIBLE_DEVICES`` and ``torch.npu`` count)
to (NPU ID, Chip ID). Units: W, bytes, degrees C, percent; "not measured" is ``None``, never 0.
"""
from __future__ import annotations

import re

PERMISSION_FIX = ("run as root or as a user in the driver's group (HwHiAiUser), e.g. `usermod -aG HwHiAiUser $USER`; "
                  "in a container, mount /dev/davinci*, /dev/davinci_manager and /usr/local/bin/npu-smi")
POWER_FIELDS = ("NPU Real-time Power(W)", "Power Dissipation(W)", "Chip Power(W)", "Power(W)")
TEMP_FIELDS = ("NPU Temperature (C)", "Temperature(C)", "Chip Temperature(C)", "NPU Temperature(C)")
NA = {"NA", "N/A", "-", ""}


class NpuSmiError(Exception):
    """npu-smi could not answer. ``kind``: missing | permission | unsupported | failed."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def parse_fields(text: str) -> dict[str, str]:
    """``Key : value`` lines -> {key: value}; the first occurrence of a key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = key.strip()
        if key and key not in out:
            out[key] = value.strip()
    return out


def number(value: str | None) -> float | None:
    """'93.6' -> 93.6; 'NA', '-', a missing field -> None (not measured, never 0)."""
    if value is None or value.strip() in NA:
        return None
    m = re.match(r"^\s*(-?\d+(?:\.\d+)?)", value)
    return float(m.group(1)) if m else None


def classify_failure(text: str, returncode: int) -> NpuSmiError | None:
    """An npu-smi answer that is an error rather than data, or None."""
    low = text.lower()
    if "permission" in low or "not permitted" in low or ("root" in low and "only" in low):
        return NpuSmiError("permission", f"npu-smi: permission denied ({_first_line(text)}); {PERMISSION_FIX}")
    if "not support" in low:
        return NpuSmiError("unsupported", f"npu-smi: {_first_line(text)}")
    if returncode != 0:
        return NpuSmiError("failed", f"npu-smi exited with status {returncode}: {_first_line(text) or 'no output'}")
    return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _pick(fields: dict[str, str], names: tuple[str, ...]) -> tuple[float | None, str | None]:
    """The first of ``names`` present: (value or None, the field name); (None, None) when absent."""
    for n in names:
        if n in fields:
            return number(fields[n]), n
    return None, None


def parse_power_w(text: str) -> float | None:
    return _pick(parse_fields(text), POWER_FIELDS)[0]


def parse_temp_c(text: str) -> float | None:
    return _pick(parse_fields(text), TEMP_FIELDS)[0]


def parse_memory(text: str) -> dict:
    """``-t memory``: HBM (or DDR, on cards without HBM) capacity in bytes."""
    f = parse_fields(text)
    mb = number(f.get("HBM Capacity(MB)")) or number(f.get("DDR Capacity(MB)")) or number(f.get("Memory Capacity(MB)"))
    return {"memory_total_bytes": int(mb * 2**20) if mb is not None else None}


def parse_usages(text: str) -> dict:
    """``-t usages``: AI Core and memory utilisation in percent; used bytes = capacity x rate (1 % steps)."""
    f = parse_fields(text)
    hbm_mb, hbm_pct = number(f.get("HBM Capacity(MB)")), number(f.get("HBM Usage Rate(%)"))
    if hbm_mb is None:
        hbm_mb, hbm_pct = number(f.get("Memory Capacity(MB)")), number(f.get("Memory Usage Rate(%)"))
    used = int(hbm_mb * 2**20 * hbm_pct / 100) if hbm_mb is not None and hbm_pct is not None else None
    return {"aicore_pct": number(f.get("Aicore Usage Rate(%)")),
            "aivector_pct": number(f.get("Aivector Usage Rate(%)")),
            "memory_used_pct": hbm_pct,
            "memory_used_bytes": used,
            "memory_total_bytes": int(hbm_mb * 2**20) if hbm_mb is not None else None,
            "hbm_bandwidth_pct": number(f.get("HBM Bandwidth Usage Rate(%)"))}


def parse_board(text: str) -> dict:
    """``-t board``: firmware and driver versions, chip name (strings, None where absent)."""
    f = parse_fields(text)
    get = lambda *ks: next((f[k] for k in ks if f.get(k) not in (None, *NA)), None)  # noqa: E731
    return {"firmware": get("Firmware Version"), "driver": get("Software Version", "Driver Version"),
            "product": get("Product Name"), "chip_name": get("Chip Name", "NPU Name")}


def parse_mapping(text: str) -> dict[int, tuple[int, int, str]]:
    """``npu-smi info -m``: {chip logic id: (NPU ID, Chip ID, chip name)}. Rows without a logic id
    (an MCU, shown as '-') are left out."""
    out: dict[int, tuple[int, int, str]] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.+?)\s*$", line)
        if m:
            out[int(m.group(3))] = (int(m.group(1)), int(m.group(2)), m.group(4))
    return out


_TABLE_ROW = re.compile(r"^\|\s*(\d+)\s+(\S.*?)\s*\|\s*(\S+)\s*\|\s*(\S+)\s+(\S+)")
_TABLE_ROW2 = re.compile(r"^\|\s*(\d+)\s*\|\s*([0-9A-Fa-f:.]+)\s*\|\s*(\S+)\s+.*?(\d+)\s*/\s*(\d+)\s*\|")
_VERSION = re.compile(r"npu-smi\s+(\S+)\s+Version:\s*(\S+)")


def parse_info_table(text: str) -> dict:
    """The plain ``npu-smi info`` table: the npu-smi/driver version and, per NPU, its name, health,
    power, temperature, bus id, AI Core % and HBM used/total. Rows pair up: NPU line, then chip line."""
    out = {"npu_smi_version": None, "driver": None, "npus": []}
    m = _VERSION.search(text)
    if m:
        out["npu_smi_version"], out["driver"] = m.group(1), m.group(2)
    cur = None
    for line in text.splitlines():
        if "Process id" in line or "No running processes" in line:
            break
        r1 = _TABLE_ROW.match(line)
        if r1 and not re.match(r"^\|\s*\d+\s*\|", line):
            cur = {"npu_id": int(r1.group(1)), "name": r1.group(2).strip(), "health": r1.group(3),
                   "power_w": number(r1.group(4)), "temperature_c": number(r1.group(5))}
            out["npus"].append(cur)
            continue
        r2 = _TABLE_ROW2.match(line)
        if r2 and cur is not None and "chip_id" not in cur:
            cur.update(chip_id=int(r2.group(1)), bus_id=r2.group(2), aicore_pct=number(r2.group(3)),
                       memory_used_bytes=int(r2.group(4)) * 2**20, memory_total_bytes=int(r2.group(5)) * 2**20)
    return out
