"""Energy sources on CPU: NVML mocked with autospec of the real pynvml functions, RAPL on a fake sysfs."""
import time
from pathlib import Path
from unittest import mock

import pynvml
import pytest

from bench.config.schema import energy_spec
from bench.errors import PreflightError
from bench.measure.energy import NoEnergy, choose_source, energy_block
from bench.measure.vendors.cpu import RaplSource
from bench.measure.vendors.ids import device_ids
from bench.measure.vendors.nvidia import NvmlSource
from bench.summary.power import trapezoid_j


class FakeGpus:
    """GPUs drawing constant power; the energy counter integrates it on the real clock."""

    def __init__(self, watts: dict, counter=True):
        self.watts = watts  # handle key -> W
        self.counter = counter
        self.t0 = time.perf_counter()
        self.reset_after = None
        self.opened = []

    def handle_by_index(self, i):
        self.opened.append(i)
        return f"idx{i}"

    def handle_by_uuid(self, u):
        self.opened.append(u)
        return f"uuid{u}"

    def energy(self, h):
        if not self.counter:
            raise pynvml.NVMLError_NotSupported()
        mj = int(self.watts[h] * (time.perf_counter() - self.t0) * 1000) + 10**9
        if self.reset_after is not None and time.perf_counter() > self.reset_after:
            return 5  # the counter was reset (driver reload)
        return mj

    def power(self, h):
        return int(self.watts[h] * 1000)

    def patches(self, init_error=None):
        def spec(name, **kw):
            return mock.patch.object(pynvml, name, mock.create_autospec(getattr(pynvml, name), **kw))

        mem = mock.Mock(used=10 * 2**30, total=80 * 2**30)
        util = mock.Mock(gpu=90)
        return [
            spec("nvmlInit", side_effect=init_error),
            spec("nvmlDeviceGetHandleByIndex", side_effect=self.handle_by_index),
            spec("nvmlDeviceGetHandleByUUID", side_effect=self.handle_by_uuid),
            spec("nvmlDeviceGetTotalEnergyConsumption", side_effect=self.energy),
            spec("nvmlDeviceGetPowerUsage", side_effect=self.power),
            spec("nvmlDeviceGetClockInfo", return_value=1980),
            spec("nvmlDeviceGetTemperature", return_value=55),
            spec("nvmlDeviceGetUtilizationRates", return_value=util),
            spec("nvmlDeviceGetMemoryInfo", return_value=mem),
            spec("nvmlDeviceGetEnforcedPowerLimit", return_value=700000),
        ]


@pytest.fixture
def gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = FakeGpus({"idx0": 300.0, "idx1": 200.0, "idx2": 250.0, "idx3": 150.0, "uuidGPU-b": 100.0})
    ps = fake.patches()
    for p in ps:
        p.start()
    yield fake
    for p in ps:
        p.stop()


def window(source, seconds=0.6):
    source.start()
    time.sleep(seconds)
    return source.stop()


def test_energy_counter_delta_and_sampled_agree(gpus):
    src = choose_source(energy_spec(source="nvml", sample_hz=50), [0])
    assert src.name == "nvml-energy"
    r = window(src)
    assert r["total_j"] == pytest.approx(300.0 * r["window_s"], rel=0.05)
    sampled = r["cross_check"]["nvml-sampled"]
    assert sampled["total_j"] == pytest.approx(r["total_j"], rel=0.05)
    assert r["avg_power_w"] == pytest.approx(300.0, rel=0.05) and r["peak_power_w"] == pytest.approx(300.0)
    tel = src.telemetry()
    assert tel["sm_clock_mhz"]["mean"] == 1980 and tel["power_limit_w"] == 700.0
    assert src.device_memory() == {"device_used_peak_bytes": 10 * 2**30, "device_total_bytes": 80 * 2**30}


def test_counter_reset_falls_back_to_sampled(gpus):
    src = NvmlSource([0], hz=50)
    src.start()
    gpus.reset_after = time.perf_counter() + 0.2
    time.sleep(0.5)
    r = src.stop()
    assert any("reset" in n for n in r["notes"])
    assert r["total_j"] == pytest.approx(r["cross_check"]["nvml-sampled"]["total_j"])
    assert r["total_j"] == pytest.approx(300.0 * r["window_s"], rel=0.05)


def test_gpu_without_energy_counter_uses_sampled(gpus):
    gpus.counter = False
    src = NvmlSource([0], hz=50)
    assert src.name == "nvml-sampled" and "no total-energy counter" in src.note
    r = window(src)
    assert r["total_j"] == pytest.approx(300.0 * r["window_s"], rel=0.1)


@pytest.mark.parametrize("error,text", [(pynvml.NVMLError_LibraryNotFound, "NVML library not found"),
                                        (pynvml.NVMLError_NoPermission, "permission denied")])
def test_nvml_unavailable_degrades_when_implied_and_fails_when_asked(error, text):
    fake = FakeGpus({})
    ps = fake.patches(init_error=error())
    for p in ps:
        p.start()
    try:
        src = choose_source(energy_spec(source="auto"), [0])
        assert isinstance(src, NoEnergy) and text in src.note
        r = window(src, 0.05)
        assert r["total_j"] is None and r["avg_power_w"] is None
        with pytest.raises(PreflightError, match=text):
            choose_source(energy_spec(source="nvml"), [0])
    finally:
        for p in ps:
            p.stop()


def test_multi_gpu_sums_devices_named_by_cuda_visible_devices(gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    src = NvmlSource([0, 1], hz=50)
    assert gpus.opened == [2, 3]
    r = window(src)
    assert set(r["per_device_j"]) == {"0", "1"}
    assert r["per_device_j"]["0"] == pytest.approx(250 * r["window_s"], rel=0.05)
    assert r["total_j"] == pytest.approx(400 * r["window_s"], rel=0.05)
    assert r["peak_power_w"] == pytest.approx(400.0)


def test_cuda_visible_devices_mapping():
    assert device_ids("nvidia", [0, 1], {}) == [0, 1]
    assert device_ids("nvidia", [1], {"CUDA_VISIBLE_DEVICES": "4,GPU-b"}) == ["GPU-b"]
    assert device_ids("nvidia", [0], {"CUDA_VISIBLE_DEVICES": " 3 "}) == [3]
    with pytest.raises(PreflightError):
        device_ids("nvidia", [2], {"CUDA_VISIBLE_DEVICES": "0,1"})


def test_trapezoid_by_hand():
    assert trapezoid_j([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == pytest.approx(150 + 400)
    assert trapezoid_j([(0.0, 5.0)]) is None


# ---------------------------------------------------------------------------- RAPL
def fake_rapl(root: Path, package_uj: int, dram_uj: int, max_uj: int = 2**32):
    for zone, name, val in (("intel-rapl:0", "package-0", package_uj), ("intel-rapl:0:0", "dram", dram_uj),
                            ("intel-rapl:0:1", "core", 1)):
        d = root / zone
        d.mkdir(parents=True, exist_ok=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(f"{val}\n")
        (d / "max_energy_range_uj").write_text(f"{max_uj}\n")


def test_rapl_delta_sums_package_and_dram(tmp_path):
    fake_rapl(tmp_path, 1_000_000, 500_000)
    src = RaplSource(tmp_path, hz=1)
    assert [z.name for z in src.zones] == ["intel-rapl:0", "intel-rapl:0:0"]  # core is inside package
    src.start()
    fake_rapl(tmp_path, 3_000_000, 1_500_000)
    r = src.stop()
    assert r["per_device_j"] == {"intel-rapl:0": pytest.approx(2.0), "intel-rapl:0:0": pytest.approx(1.0)}
    assert r["total_j"] == pytest.approx(3.0)


def test_rapl_wraparound(tmp_path):
    fake_rapl(tmp_path, 2**32 - 1_000_000, 10, max_uj=2**32)
    src = RaplSource(tmp_path, hz=1)
    src.start()
    fake_rapl(tmp_path, 4_000_000, 10, max_uj=2**32)
    r = src.stop()
    assert r["per_device_j"]["intel-rapl:0"] == pytest.approx(5.0)


def test_rapl_unreadable(tmp_path, monkeypatch):
    fake_rapl(tmp_path, 1, 1)
    real = Path.read_text

    def deny(self, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(PreflightError, match="permission denied"):
        RaplSource(tmp_path)
    src = choose_source(energy_spec(source="auto"), [], rapl_root=tmp_path)
    assert src.name == "none" and "permission denied" in src.note


def test_rapl_missing_and_explicit_request_fails(tmp_path):
    with pytest.raises(PreflightError, match="RAPL not available"):
        choose_source(energy_spec(source="rapl"), [], rapl_root=tmp_path / "absent")


def test_energy_block_none_never_zero():
    src = NoEnergy(note="no sensor")
    src.start()
    b = energy_block(src, src.stop(), 100, 150, None)
    assert b["source"] == "none" and b["note"] == "no sensor"
    assert b["total_j"] is None and b["j_per_output_tok"] is None and b["avg_power_w"] is None


def test_estimate_is_labelled():
    src = choose_source(energy_spec(source="estimate-tdp", tdp_w=400, utilisation=0.5), [])
    src.start()
    b = energy_block(src, src.stop(), 10, 20, None)
    assert b["source"] == "estimate-tdp" and "ESTIMATE" in b["note"] and b["avg_power_w"] == 200
