"""Process memory during a case: RSS sampled in a background thread (peak minus the value before the
model was loaded), plus what the backend and the energy source's device telemetry know."""
from __future__ import annotations

import psutil

from bench.measure.trackers.sampler import PeriodicSampler


def rss_bytes() -> int:
    return psutil.Process().memory_info().rss


class RssTracker:
    def __init__(self, baseline_bytes: int, hz: float = 10.0):
        self.baseline = baseline_bytes
        self._sampler = PeriodicSampler(rss_bytes, hz)

    def __enter__(self) -> "RssTracker":
        self._sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sampler.stop()

    @property
    def peak_bytes(self) -> int:
        return max(v for _, v in self._sampler.samples)


def memory_block(rss: RssTracker, weight_bytes: int, backend_stats: dict, device_mem: dict | None,
                 model_in_process: bool = True) -> dict:
    """The case summary's ``memory`` block (bytes). Device figures are None where no device sensor exists;
    on the CPU the 'device' is host RAM, read as this process's RSS -- only when the model runs in this
    process (not a vLLM engine's worker processes, nor a server elsewhere)."""
    dev = device_mem or {}
    used, total = dev.get("device_used_peak_bytes"), dev.get("device_total_bytes")
    if device_mem is None and backend_stats.get("torch_peak_allocated_bytes") is None and model_in_process:
        total = psutil.virtual_memory().total
        used = rss.peak_bytes
    return {
        "unit": "bytes",
        "rss_peak_delta_bytes": rss.peak_bytes - rss.baseline,
        "rss_peak_bytes": rss.peak_bytes,
        "weight_bytes": weight_bytes,
        "kv_cache_bytes": backend_stats.get("kv_cache_bytes"),
        "torch_peak_allocated_bytes": backend_stats.get("torch_peak_allocated_bytes"),
        "torch_peak_reserved_bytes": backend_stats.get("torch_peak_reserved_bytes"),
        "device_used_peak_bytes": used,
        "device_total_bytes": total,
        "headroom_bytes": total - used if total is not None and used is not None else None,
    }
