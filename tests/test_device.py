"""Device sampling apart from the energy choice: NVML mocked (autospec, see test_energy.FakeGpus)."""
import threading
import time

import pytest

from bench.config.cases import expand
from bench.config.schema import BenchConfig
from bench.measure.backends.base import LoadedModel, OfflineBackend
from bench.measure.runner import case_identity, preflight, run_case
from bench.measure.trackers.device_sampler import DeviceSampler
from bench.measure.vendors.nvidia import NvmlDevices, NvmlSource
from bench.summary.metrics import RequestRecord
from test_energy import gpus  # noqa: F401 (the mocked-NVML fixture)

GIB = 2**30


class FakeCudaBackend(OfflineBackend):
    """An offline backend 'on cuda:0' whose tokens take 10 ms each; it counts the sampler threads."""

    kind, runs_on, dtype, accelerators = "transformers", "cuda:0", "bfloat16", 1

    def __init__(self):
        self.sampler_threads = []

    def preflight(self):
        return []

    def load(self, spec):
        return LoadedModel(label=spec.label, kind=spec.kind, model_type=None, params=None, weight_bytes=1000,
                           vocab_size=50)

    def unload(self):
        pass

    def cuda_indices(self):
        return [0]

    def run_batch(self, prompts, output_tokens, batch_id):
        self.sampler_threads.append(sum(t.name == "bench-sampler" for t in threading.enumerate()))
        t0, times = time.perf_counter(), []
        for _ in range(output_tokens):
            time.sleep(0.01)
            times.append(time.perf_counter())
        return [RequestRecord(f"{batch_id}.{i}", len(p), output_tokens, t0, list(times), batch_id=batch_id)
                for i, p in enumerate(prompts)]


def one_case(tmp_path, energy: str):
    cfg = BenchConfig.model_validate({
        "name": "t", "models": ["tiny:llama"], "backend": {"kind": "transformers", "device": "cpu"},
        "workload": {"input_tokens": 4, "output_tokens": 20, "batch_sizes": [2], "warmup": 0},
        "energy": {"source": energy, "sample_hz": 50}})
    backend = FakeCudaBackend()
    sensors = preflight(cfg, tmp_path, backend)
    case = expand(cfg)[0]
    loaded = backend.load(case.model)
    result = case_identity(case, cfg, backend, loaded, "fake GPU")
    run_case(case, cfg, backend, loaded, sensors, None, 0, result)
    return sensors, backend, result


def test_energy_none_keeps_device_memory_peaks(gpus, tmp_path):  # noqa: F811
    sensors, _, result = one_case(tmp_path, "none")
    assert sensors.energy.name == "none" and sensors.devices is not None
    assert result.energy.source == "none" and result.energy.total_j is None  # energy off: not measured
    assert result.memory.device_used_peak_bytes == 10 * GIB  # ... but the device was still sampled
    assert result.memory.device_total_bytes == 80 * GIB and result.memory.headroom_bytes == 70 * GIB
    assert result.telemetry.sm_clock_mhz.mean == 1980


def test_nvml_energy_reads_the_one_device_sampler(gpus, tmp_path):  # noqa: F811
    sensors, backend, result = one_case(tmp_path, "nvml")
    assert sensors.energy.devices is sensors.devices  # energy, memory and telemetry share one sampler
    assert backend.sampler_threads == [2]  # that device thread, plus the process-RSS one
    assert result.energy.source == "nvml-energy"
    assert result.energy.avg_power_w == pytest.approx(300.0, rel=0.1)
    assert result.memory.device_used_peak_bytes == 10 * GIB


def test_nested_starts_share_one_thread(gpus):  # noqa: F811
    dev = DeviceSampler(NvmlDevices([0]), hz=50)
    src = NvmlSource([0], devices=dev)
    dev.start()
    src.start()
    time.sleep(0.1)
    r = src.stop()  # inner stop: a reading, the thread goes on
    assert dev.sampler._thread.is_alive() and r["total_j"] == pytest.approx(300.0 * r["window_s"], rel=0.1)
    dev.stop()
    assert not dev.sampler._thread.is_alive()
    assert dev.memory() == {"device_used_peak_bytes": 10 * GIB, "device_total_bytes": 80 * GIB}

