"""Device resolution (auto | cpu | cuda[:N] | npu[:N]) with fake torch / torch_npu modules, visible-device
mapping, and the preflight lines a user sees when a vendor library is missing."""
import types
from unittest import mock

import pytest

from bench.errors import PreflightError
from bench.measure import devices
from bench.measure.vendors.ids import device_ids
from conftest import run_cli, write_config


def fake_torch(cuda=False, hip=None, npu_count=None, names=("AMD Instinct MI300X",)):
    """A torch stand-in: torch.cuda (NVIDIA or ROCm) and, once torch_npu is 'imported', torch.npu."""
    t = types.SimpleNamespace(__version__="2.13.0", version=types.SimpleNamespace(hip=hip))
    t.cuda = mock.Mock(**{"is_available.return_value": cuda, "device_count.return_value": 1 if cuda else 0,
                          "get_device_name.side_effect": lambda i: names[i],
                          "max_memory_allocated.return_value": 123, "max_memory_reserved.return_value": 456})
    t._npu = None
    if npu_count is not None:
        t._npu = mock.Mock(**{"is_available.return_value": npu_count > 0, "device_count.return_value": npu_count,
                              "get_device_name.return_value": "Ascend910B3",
                              "max_memory_allocated.return_value": 7, "max_memory_reserved.return_value": 8})
    return t


def importer_for(torch, torch_npu_error: Exception | None = None, calls: list | None = None):
    def imp(name):
        if calls is not None:
            calls.append(name)
        if name == "torch":
            return torch
        if name == "torch_npu":
            if torch_npu_error is not None:
                raise torch_npu_error
            torch.npu = torch._npu  # importing torch_npu registers torch.npu
            return types.SimpleNamespace()
        raise ImportError(name)

    return imp


def test_parse():
    assert devices.parse("npu:1") == ("npu", 1) and devices.parse("cuda") == ("cuda", None)
    for bad in ("tpu", "npu:x", "cuda:", "NPU"):
        with pytest.raises(PreflightError, match="is not one of auto, cpu, cuda, cuda:N, npu, npu:N"):
            devices.parse(bad)


def test_cpu_imports_nothing():
    calls = []
    d = devices.resolve("cpu", importer=importer_for(None, calls=calls))
    assert d.kind == "cpu" and d.torch_device == "cpu" and calls == []
    assert d.memory_stats() == {"torch_peak_allocated_bytes": None, "torch_peak_reserved_bytes": None}
    d.synchronizer()()  # a no-op
    assert d.logical_indices() == [] and d.catalog_id() == "cpu"


def test_npu_device_object():
    t = fake_torch(npu_count=2)
    d = devices.resolve("npu:1", importer=importer_for(t))
    assert (d.kind, d.vendor, d.index, d.torch_device) == ("npu", "huawei", 1, "npu:1")
    assert d.name == "Ascend910B3" and d.catalog_id() == "910b"
    d.sync()
    t.npu.synchronize.assert_called_once_with("npu:1")
    d.reset_peak_memory()
    t.npu.reset_peak_memory_stats.assert_called_once_with("npu:1")
    assert d.memory_stats() == {"torch_peak_allocated_bytes": 7, "torch_peak_reserved_bytes": 8}
    t.cuda.synchronize.assert_not_called()


def test_torch_npu_missing_says_how_to_install():
    t = fake_torch(npu_count=1)
    with pytest.raises(PreflightError) as e:
        devices.resolve("npu", importer=importer_for(t, ImportError("No module named 'torch_npu'")))
    msg = str(e.value)
    assert msg.startswith("backend.device 'npu': torch_npu is not installed")
    assert "CANN" in msg and "pip install torch-npu" in msg and "\n" not in msg


def test_torch_npu_broken_says_source_set_env():
    t = fake_torch(npu_count=1)
    err = OSError("libascendcl.so: cannot open shared object file: No such file or directory\nmore")
    with pytest.raises(PreflightError, match=r"torch_npu failed to import \(OSError: libascendcl.so.*set_env.sh"):
        devices.resolve("npu:0", importer=importer_for(t, err))


def test_npu_index_out_of_range_names_the_variable(monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "4,5")
    with pytest.raises(PreflightError, match=r"only 2 NPU device\(s\) visible \(ASCEND_RT_VISIBLE_DEVICES='4,5'\)"):
        devices.resolve("npu:2", importer=importer_for(fake_torch(npu_count=2)))


def test_npu_driver_sees_none():
    with pytest.raises(PreflightError, match="sees no NPU"):
        devices.resolve("npu", importer=importer_for(fake_torch(npu_count=0)))


def test_auto_order_cuda_then_npu_then_cpu(tmp_path):
    (tmp_path / "davinci0").touch()
    calls = []
    d = devices.resolve("auto", importer=importer_for(fake_torch(cuda=True, npu_count=1), calls=calls),
                        dev_root=tmp_path)
    assert d.torch_device == "cuda:0" and "torch_npu" not in calls  # torch_npu only when an NPU is used
    d = devices.resolve("auto", importer=importer_for(fake_torch(npu_count=1)), dev_root=tmp_path)
    assert d.torch_device == "npu:0" and d.vendor == "huawei"
    with pytest.raises(PreflightError, match="torch_npu is not installed"):  # an NPU is here: no silent CPU
        devices.resolve("auto", importer=importer_for(fake_torch(npu_count=1), ImportError("torch_npu")),
                        dev_root=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with mock.patch.object(devices.shutil, "which", return_value=None):
        calls = []
        d = devices.resolve("auto", importer=importer_for(fake_torch(), calls=calls), dev_root=empty)
        assert d.kind == "cpu" and "torch_npu" not in calls
        assert devices.default_device(importer=importer_for(fake_torch()), dev_root=empty) == "cpu"
    assert devices.default_device(importer=importer_for(fake_torch()), dev_root=tmp_path) == "npu:0"


def test_rocm_is_cuda_with_amd_vendor():
    t = fake_torch(cuda=True, hip="6.2.41133")
    d = devices.resolve("cuda", importer=importer_for(t))
    assert (d.kind, d.vendor, d.torch_device) == ("cuda", "amd", "cuda:0")
    assert d.catalog_id() == "mi300x"
    assert devices.sensor_target("cuda:0", [0], importer=importer_for(t)) == devices.SensorTarget("amd", (0,))
    assert devices.sensor_target("npu:0", [0]) == devices.SensorTarget("huawei", (0,))
    assert devices.sensor_target("cpu", []) == devices.SensorTarget("cpu", ())


def test_visible_device_mapping():
    env = {"ASCEND_RT_VISIBLE_DEVICES": "4,5", "CUDA_VISIBLE_DEVICES": "2", "HIP_VISIBLE_DEVICES": "7,6"}
    assert device_ids("huawei", [1], env) == [5]
    assert device_ids("nvidia", [0], env) == [2]
    assert device_ids("amd", [0, 1], env) == [7, 6]  # HIP_VISIBLE_DEVICES wins over CUDA_...
    assert device_ids("amd", [0], {"CUDA_VISIBLE_DEVICES": "3"}) == [3]
    assert device_ids("huawei", [0, 1], {}) == [0, 1]
    with pytest.raises(PreflightError, match="device 2 is not in ASCEND_RT_VISIBLE_DEVICES='4,5'"):
        device_ids("huawei", [2], env)


NPU_CONFIG = """
name: npu
models: [tiny:llama]
backend: {kind: transformers, device: npu, dtype: bfloat16}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1], num_batches: 1, warmup: 0}
energy: {source: amdsmi}
"""


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_cli_preflight_lists_missing_torch_npu_and_amdsmi(tmp_path):
    """This machine has neither torch_npu nor amdsmi: one line each, exit 2, no traceback."""
    cfg = write_config(tmp_path / "npu.yaml", NPU_CONFIG)
    p = run_cli("run", cfg, "--output-dir", tmp_path / "out")
    assert p.returncode == 2, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
    assert any("backend.device 'npu': torch_npu is not installed" in line and "CANN" in line for line in lines)
    assert any("energy.source 'amdsmi'" in line and "amdsmi package is not installed" in line for line in lines)
    assert "Traceback" not in p.stderr


def test_decode_loop_routes_sync_and_memory_through_the_device(monkeypatch):
    """The transformers backend holds the device object: sync, peaks and indices come from it."""
    from bench.config.schema import TransformersBackend
    from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend

    t = fake_torch(npu_count=1)
    t.npu = t._npu
    dev = devices.Device("npu", "huawei", 0, "Ascend910B3", t)
    monkeypatch.setattr(devices, "resolve", lambda spec: dev)
    b = DecodeLoopBackend(TransformersBackend(kind="transformers", device="npu"))
    assert b.preflight() == [] and b.runs_on == "npu:0" and b.dtype == "bfloat16"
    b._sync()
    t.npu.synchronize.assert_called_once_with("npu:0")
    b.reset_peak_memory()
    stats = b.memory_stats()
    assert stats["torch_peak_allocated_bytes"] == 7 and stats["torch_peak_reserved_bytes"] == 8
    assert b.sensor_target() == devices.SensorTarget("huawei", (0,)) and b.cuda_indices() == []
    monkeypatch.setattr(devices, "resolve", lambda spec: (_ for _ in ()).throw(PreflightError("no NPU here")))
    assert DecodeLoopBackend(TransformersBackend(kind="transformers", device="npu")).preflight() == ["no NPU here"]


def test_hardware_labels_resolve_to_catalog_chips(monkeypatch):
    from bench.catalog.hardware import resolve
    from bench.config.schema import TransformersBackend
    from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend

    assert [resolve(n).id for n in ("Ascend 910B3", "Ascend910B1", "Ascend910_9391", "AMD Instinct MI300X")] == \
        ["910b", "910b", "910c", "mi300x"]
    t = fake_torch(npu_count=1)
    t.npu = t._npu
    monkeypatch.setattr(devices, "resolve", lambda spec: devices.Device("npu", "huawei", 0, "Ascend910B3", t))
    b = DecodeLoopBackend(TransformersBackend(kind="transformers", device="npu"))
    assert b.hardware_label("Ascend NPU") == "Ascend910B3"  # sysinfo could not name it: torch's name
    assert b.hardware_label("Ascend 910B3") == "Ascend 910B3"
