"""The vendors by key: the one list that sysinfo and ``energy.choose_source`` walk (the face every
vendor module offers is described in this package's ``__init__``)."""
from __future__ import annotations

from bench.measure.vendors import amd, ascend, cpu, nvidia

VENDORS = {m.VENDOR: m for m in (nvidia, amd, ascend, cpu)}


def vendor(name: str):
    """The vendor module for a key (nvidia | amd | huawei | cpu); anything else is the CPU."""
    return VENDORS.get(name, cpu)
