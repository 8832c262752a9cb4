"""Device ids: the ONE function that maps a vendor's logical device indices (what torch counts) to
the physical ids its tools and libraries address (NVML index or UUID, amdsmi handle index, Ascend chip
logic id), through that vendor's visible-devices variable. Pure: the environment is passed in."""
from __future__ import annotations

import os

from bench.errors import PreflightError

# Which environment variable hides or reorders devices, per vendor (the first one set wins).
VISIBLE_ENV = {"nvidia": ("CUDA_VISIBLE_DEVICES",),
               "amd": ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),  # HIP's own wins where both are set
               "huawei": ("ASCEND_RT_VISIBLE_DEVICES",),
               "cpu": ()}


def device_ids(vendor: str, logical: list[int], environ: dict | None = None) -> list[str | int]:
    """Physical ids of ``vendor``'s logical indices, honouring its visible-devices variable
    (``CUDA_VISIBLE_DEVICES=2,3``: logical 0 is physical 2; an entry that is not a number, a UUID,
    stays a string). Unset or empty: the identity. An index past the list is a PreflightError."""
    env = os.environ if environ is None else environ
    for var in VISIBLE_ENV.get(vendor, ()):
        value = env.get(var, "")
        if value.strip():
            entries = [e.strip() for e in value.split(",") if e.strip()]
            out: list[str | int] = []
            for i in logical:
                if i >= len(entries):
                    raise PreflightError(f"device {i} is not in {var}={value!r}; use an index below {len(entries)} "
                                         f"or widen {var}")
                out.append(int(entries[i]) if entries[i].isdigit() else entries[i])
            return out
    return list(logical)

