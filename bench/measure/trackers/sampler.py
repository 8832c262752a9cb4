"""A background thread that calls a probe at a fixed rate and keeps (time, value) samples."""
from __future__ import annotations

import threading
import time
from typing import Callable


class PeriodicSampler:
    def __init__(self, probe: Callable[[], object], hz: float, clock: Callable[[], float] = time.perf_counter):
        self.probe, self.period, self.clock = probe, 1.0 / hz, clock
        self.samples: list[tuple[float, object]] = []
        self.errors = 0
        self.thread_cpu_s: float | None = None  # CPU time the sampler thread itself used
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self) -> None:
        try:
            self.samples.append((self.clock(), self.probe()))
        except Exception:  # a sensor hiccup must not kill the run; it is counted
            self.errors += 1

    def _loop(self) -> None:
        t0 = time.thread_time()
        while not self._stop.wait(self.period):
            self.take()
        self.thread_cpu_s = time.thread_time() - t0

    def start(self) -> "PeriodicSampler":
        self.samples, self.errors = [], 0
        self._stop.clear()
        self.take()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, object]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.take()
        return self.samples
