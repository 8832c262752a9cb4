"""AMD GPU sensors on the CPU. The real amdsmi package cannot be imported without ROCm's libamd_smi.so,
so a small fake module with amdsmi's function signatures (amdsmi 7.0) is mocked with
``unittest.mock.create_autospec``: calls with a wrong signature fail as they would on the real one."""
import enum
import sys
import time
import types
from unittest import mock

import pytest

from bench.catalog.hardware import resolve
from bench.config.schema import energy_spec
from bench.errors import PreflightError
from bench.measure.energy import NoEnergy, choose_source
from bench.measure.trackers.source import SensorTarget
from bench.measure.vendors import amd
from bench.measure.vendors.parsers import amd_smi


def _fake_amdsmi_module() -> types.ModuleType:
    """amdsmi's public surface that bench uses, with the real signatures and no behaviour."""
    m = types.ModuleType("amdsmi")

    class AmdSmiException(Exception):
        pass

    class AmdSmiLibraryException(AmdSmiException):
        def __init__(self, err_code):
            super().__init__(err_code)
            self.err_code = err_code

    class AmdSmiMemoryType(enum.IntEnum):
        VRAM = 0
        VIS_VRAM = 1
        GTT = 2

    class AmdSmiTemperatureType(enum.IntEnum):
        EDGE = 0
        HOTSPOT = 1

    class AmdSmiTemperatureMetric(enum.IntEnum):
        CURRENT = 0

    def amdsmi_init(flag=None): ...
    def amdsmi_shut_down(): ...
    def amdsmi_get_processor_handles(): ...
    def amdsmi_get_power_info(processor_handle): ...
    def amdsmi_get_energy_count(processor_handle): ...
    def amdsmi_get_gpu_activity(processor_handle): ...
    def amdsmi_get_gpu_memory_usage(processor_handle, mem_type): ...
    def amdsmi_get_gpu_memory_total(processor_handle, mem_type): ...
    def amdsmi_get_temp_metric(processor_handle, sensor_type, metric): ...
    def amdsmi_get_power_cap_info(processor_handle): ...
    def amdsmi_get_gpu_asic_info(processor_handle): ...
    def amdsmi_get_gpu_driver_info(processor_handle): ...
    def amdsmi_get_fw_info(processor_handle): ...

    for name, obj in list(locals().items()):
        if name.startswith(("amdsmi_", "AmdSmi")):
            setattr(m, name, obj)
    return m


FAKE = _fake_amdsmi_module()
NOT_SUPPORTED = 2
RES_UJ = 15.3  # MI300X counter resolution, µJ per tick


class FakeGpus:
    """GPUs drawing constant power; the energy accumulator integrates it on the real clock and
    wraps at 2**bits."""

    def __init__(self, watts: list[float], start_ticks: int = 10**6, bits: int = 32, counter=True, old_key=False):
        self.watts, self.start, self.bits, self.counter, self.old_key = watts, start_ticks, bits, counter, old_key
        self.t0 = time.perf_counter()
        self.smi = mock.create_autospec(FAKE)
        s = self.smi
        s.AmdSmiMemoryType, s.AmdSmiTemperatureType = FAKE.AmdSmiMemoryType, FAKE.AmdSmiTemperatureType
        s.AmdSmiTemperatureMetric, s.AmdSmiLibraryException = FAKE.AmdSmiTemperatureMetric, FAKE.AmdSmiLibraryException
        s.amdsmi_get_processor_handles.return_value = [f"h{i}" for i in range(len(watts))]
        s.amdsmi_get_power_info.side_effect = lambda h: {"current_socket_power": "N/A",
                                                         "average_socket_power": self.w(h), "power_limit": 750}
        s.amdsmi_get_energy_count.side_effect = self.energy
        s.amdsmi_get_gpu_activity.return_value = {"gfx_activity": 97, "umc_activity": 40, "mm_activity": "N/A"}
        s.amdsmi_get_gpu_memory_usage.return_value = 40 * 2**30
        s.amdsmi_get_gpu_memory_total.return_value = 192 * 2**30
        s.amdsmi_get_temp_metric.return_value = 71
        s.amdsmi_get_power_cap_info.return_value = {"power_cap": 750_000_000, "default_power_cap": 750_000_000}
        s.amdsmi_get_gpu_asic_info.return_value = {"market_name": "AMD Instinct MI300X", "vendor_id": "0x1002"}
        s.amdsmi_get_gpu_driver_info.return_value = {"driver_name": "amdgpu", "driver_version": "6.10.5"}
        s.amdsmi_get_fw_info.return_value = {"fw_list": [{"fw_name": "SMC", "fw_version": "85.121.0"}]}

    def w(self, h) -> float:
        return self.watts[int(h[1:])]

    def energy(self, h):
        if not self.counter:
            raise FAKE.AmdSmiLibraryException(NOT_SUPPORTED)
        ticks = int(self.w(h) * (time.perf_counter() - self.t0) * 1e6 / RES_UJ)
        value = (self.start + ticks) % 2**self.bits
        key = "power" if self.old_key else "energy_accumulator"
        return {key: value, "counter_resolution": RES_UJ, "timestamp": 0}


@pytest.fixture
def gpus(monkeypatch):
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def install(fake: FakeGpus) -> FakeGpus:
        monkeypatch.setitem(sys.modules, "amdsmi", fake.smi)
        return fake

    return install


def window(src, seconds=0.6):
    src.start()
    time.sleep(seconds)
    return src.stop()


AMD0 = SensorTarget("amd", (0,))


def test_counter_delta_by_hand():
    assert amd_smi.counter_delta(100, 350) == 250
    assert amd_smi.counter_delta(2**32 - 10, 5) == 15  # a 32-bit counter wrapped
    assert amd_smi.counter_delta(2**40, 3) == 2**64 - 2**40 + 3  # a 64-bit one
    assert amd_smi.counter_uj({"power": 7, "counter_resolution": 15.3, "timestamp": 1}) == (7, 15.3)  # pre-6.4 key
    assert amd_smi.counter_uj({"energy_accumulator": 7, "counter_resolution": "N/A"}) is None
    assert amd_smi.power_w({"current_socket_power": "N/A", "average_socket_power": 612}) == 612


def test_energy_counter_and_sampled_cross_check(gpus):
    fake = gpus(FakeGpus([300.0]))
    src = choose_source(energy_spec(source="amdsmi", sample_hz=50), AMD0)
    assert src.name == "amdsmi-energy"
    r = window(src)
    assert r["total_j"] == pytest.approx(300.0 * r["window_s"], rel=0.05)
    cc = r["cross_check"]["amdsmi-sampled"]
    assert cc["total_j"] == pytest.approx(300.0 * r["window_s"], rel=1e-6)  # constant power: trapezoid exact
    assert r["peak_power_w"] == 300.0
    tel = src.telemetry()
    assert tel["utilization_pct"]["mean"] == 97 and tel["temperature_c"]["max"] == 71
    assert tel["power_limit_w"] == 750.0
    assert src.device_memory() == {"device_used_peak_bytes": 40 * 2**30, "device_total_bytes": 192 * 2**30}
    fake.smi.amdsmi_get_gpu_memory_usage.assert_called_with("h0", FAKE.AmdSmiMemoryType.VRAM)


def test_counter_wraparound_during_the_window(gpus):
    # 300 W at 15.3 µJ/tick = 19.6 M ticks/s: a 32-bit counter 4 M ticks from its top wraps in 0.2 s
    gpus(FakeGpus([300.0], start_ticks=2**32 - 4_000_000, bits=32))
    src = choose_source(energy_spec(source="amdsmi", sample_hz=50), AMD0)
    r = window(src, 0.6)
    assert r["total_j"] == pytest.approx(300.0 * r["window_s"], rel=0.05)
    assert r["total_j"] > 0


def test_no_counter_falls_back_to_sampled(gpus):
    gpus(FakeGpus([250.0], counter=False))
    src = choose_source(energy_spec(source="amdsmi", sample_hz=50), AMD0)
    assert src.name == "amdsmi-sampled" and "sampled power" in src.note
    r = window(src)
    assert r["total_j"] == pytest.approx(250.0 * r["window_s"])


def test_old_energy_key(gpus):
    gpus(FakeGpus([200.0], old_key=True))
    src = choose_source(energy_spec(source="amdsmi", sample_hz=50), AMD0)
    assert src.name == "amdsmi-energy"
    assert window(src)["avg_power_w"] == pytest.approx(200.0, rel=0.05)


def test_hip_visible_devices_picks_the_handle(gpus, monkeypatch):
    gpus(FakeGpus([100.0, 400.0]))
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # HIP's own variable wins
    src = choose_source(energy_spec(source="amdsmi", sample_hz=50), AMD0)
    assert src.handles == ["h1"]
    assert window(src)["avg_power_w"] == pytest.approx(400.0, rel=0.05)
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "5")
    with pytest.raises(PreflightError, match="not among the 2 GPU"):
        choose_source(energy_spec(source="amdsmi"), AMD0)


@pytest.mark.parametrize("error,text", [(ImportError("No module named 'amdsmi'"), "package is not installed"),
                                        (KeyError("libamd_smi.so"), "its library did not load")])
def test_library_missing(monkeypatch, error, text):
    def importer(name):
        raise error

    with pytest.raises(PreflightError, match=text):
        amd.AmdSmiSource([0], importer=importer)
    monkeypatch.setitem(sys.modules, "amdsmi", None)  # `import amdsmi` raises ImportError
    src = choose_source(energy_spec(source="auto"), AMD0)
    assert isinstance(src, NoEnergy) and "amdsmi" in src.note and "not installed" in src.note
    with pytest.raises(PreflightError, match="not installed"):
        choose_source(energy_spec(source="amdsmi"), AMD0)
    gpus, why = amd.list_devices()
    assert gpus == [] and "not installed" in why


def test_nvml_is_refused_on_an_amd_gpu():
    with pytest.raises(PreflightError, match="use amdsmi"):
        choose_source(energy_spec(source="nvml"), AMD0)


def test_sysinfo_lists_amd_gpus(gpus):
    gpus(FakeGpus([300.0]))
    listed, why = amd.list_devices()
    assert why is None and len(listed) == 1
    g = listed[0]
    assert g["name"] == "AMD Instinct MI300X" and resolve(g["name"]).id == "mi300x"
    assert g["driver"] == "6.10.5" and g["firmware"] == {"SMC": "85.121.0"}
    assert g["power_limit_w"] == 750.0 and g["energy_counter"] is True
    assert g["memory_total_bytes"] == 192 * 2**30
