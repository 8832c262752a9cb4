"""The energy-source interface every sensor implements (NVML, RAPL and the estimate in ``energy.py``;
amdsmi in ``amd.py``; npu-smi and DCMI in ``ascend.py``). ``energy.choose_source`` picks one per run.
Units: joules (``_j``), watts (``_w``), seconds (``_s``).
"""
from __future__ import annotations

import time


class EnergySource:
    """Base: start() at the window's start, stop() returns a reading dict."""

    name = "none"
    measures = False

    def __init__(self, note: str | None = None):
        self.note = note

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> dict:
        return {"per_device_j": None, "total_j": None, "avg_power_w": None, "peak_power_w": None,
                "window_s": time.perf_counter() - self._t0}

    def idle_power_w(self, seconds: float) -> float | None:
        if not self.measures or seconds <= 0:
            return None
        self.start()
        time.sleep(seconds)
        return self.stop()["avg_power_w"]

    def telemetry(self) -> dict | None:
        """Device telemetry from a source that samples its own devices (AMD, Ascend); None otherwise."""
        return None

    def device_memory(self) -> dict | None:
        return None

    def describe(self) -> dict:
        return {"source": self.name, "note": self.note}
