"""Ascend NPU sensors on the CPU: npu-smi's documented output formats parsed from recordings
(tests/data/npu-smi/, written by hand in npu-smi's format -- not captured on hardware), and a fake
``npu-smi`` on PATH driving the sampler end to end."""
import ctypes
import shutil
import time
from pathlib import Path

import pytest

from bench.catalog.hardware import resolve
from bench.config.schema import energy_spec
from bench.errors import PreflightError
from bench.measure import sysinfo
from bench.measure.energy import NoEnergy, choose_source
from bench.measure.trackers.source import SensorTarget
from bench.measure.vendors import ascend
from bench.measure.vendors.parsers import npu_smi

REC = Path(__file__).parent / "data" / "npu-smi"


def rec(name: str) -> str:
    return (REC / name).read_text()


# ---------------------------------------------------------------------------- parsing
def test_power_formats():
    assert npu_smi.parse_power_w(rec("power.txt")) == 93.6
    assert npu_smi.parse_power_w(rec("power-dissipation.txt")) == 71.3
    assert npu_smi.parse_power_w(rec("power-na.txt")) is None  # NA: not measured, never 0


def test_usages_memory_temp():
    u = npu_smi.parse_usages(rec("usages.txt"))
    assert u["aicore_pct"] == 87 and u["aivector_pct"] == 12 and u["hbm_bandwidth_pct"] == 61
    assert u["memory_total_bytes"] == 65536 * 2**20
    assert u["memory_used_bytes"] == 65536 * 2**20 // 4  # 25 % of 64 GiB = 16 GiB
    assert npu_smi.parse_memory(rec("memory.txt")) == {"memory_total_bytes": 64 * 2**30}
    assert npu_smi.parse_temp_c(rec("temp.txt")) == 36


def test_unsupported_field_reads_none():
    u = npu_smi.parse_usages(rec("usages-na.txt"))
    assert u["aivector_pct"] is None and u["aicore_pct"] == 87


def test_mapping_and_table():
    assert npu_smi.parse_mapping(rec("info-m.txt")) == {0: (0, 0, "Ascend 910B3"), 1: (1, 0, "Ascend 910B3")}
    t = npu_smi.parse_info_table(rec("info.txt"))
    assert t["driver"] == "24.1.rc2" and len(t["npus"]) == 2
    n1 = t["npus"][1]
    assert n1["name"] == "910B3" and n1["health"] == "OK" and n1["power_w"] == 91.2 and n1["temperature_c"] == 35
    assert n1["bus_id"] == "0000:C2:00.0" and n1["aicore_pct"] == 4
    assert n1["memory_used_bytes"] == 3397 * 2**20 and n1["memory_total_bytes"] == 65536 * 2**20
    b = npu_smi.parse_board(rec("board.txt"))
    assert b["firmware"] == "7.5.0.1.129" and b["driver"] == "24.1.rc2" and b["product"] == "Atlas 800T A2"


def test_failures_are_classified():
    e = npu_smi.classify_failure(rec("permission.txt"), 1)
    assert e.kind == "permission" and "HwHiAiUser" in str(e)
    e = npu_smi.classify_failure(rec("power-unsupported.txt"), 1)
    assert e.kind == "unsupported" and "does not support querying power" in str(e)
    assert npu_smi.classify_failure(rec("power.txt"), 0) is None
    assert npu_smi.classify_failure("segfault\n", 139).kind == "failed"


def test_ascend_rt_visible_devices_mapping():
    m = rec("info-m.txt")
    # ASCEND_RT_VISIBLE_DEVICES=1: torch's npu:0 is chip logic id 1 = NPU ID 1, chip 0
    assert ascend.npu_addresses([0], m, {"ASCEND_RT_VISIBLE_DEVICES": "1"}) == [ascend.NpuAddress(0, 1, 0)]
    assert ascend.npu_addresses([0, 1], m, {}) == [ascend.NpuAddress(0, 0, 0), ascend.NpuAddress(1, 1, 0)]
    assert ascend.npu_addresses([1], None, {"ASCEND_RT_VISIBLE_DEVICES": " 5, 3 "}) == [ascend.NpuAddress(1, 3, 0)]  # no -m: identity
    with pytest.raises(PreflightError, match="not in ASCEND_RT_VISIBLE_DEVICES"):
        ascend.npu_addresses([2], m, {"ASCEND_RT_VISIBLE_DEVICES": "0,1"})
    with pytest.raises(PreflightError, match="not a device id"):
        ascend.npu_addresses([0], m, {"ASCEND_RT_VISIBLE_DEVICES": "npu0"})


# ---------------------------------------------------------------------------- a fake npu-smi on PATH
@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(REC / "npu-smi", bin_dir / "npu-smi")
    (bin_dir / "npu-smi").chmod(0o755)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_NPU_SMI_DIR", str(REC))
    monkeypatch.setenv("FAKE_NPU_SMI_LOG", str(log))
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(ascend, "load_dcmi", lambda *a: (_ for _ in ()).throw(PreflightError("no libdcmi here")))
    return log


NPU0 = SensorTarget("huawei", (0,))


def test_sampler_end_to_end(fake_smi, monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "1")
    src = choose_source(energy_spec(source="npu-smi", sample_hz=20), NPU0)
    assert src.name == "npu-smi-sampled"
    src.start()
    time.sleep(0.6)
    r = src.stop()
    # constant 93.6 W: the trapezoid integral is exact
    assert r["total_j"] == pytest.approx(93.6 * r["window_s"])
    assert r["avg_power_w"] == pytest.approx(93.6) and r["peak_power_w"] == pytest.approx(93.6)
    assert r["per_device_j"] == {"0": pytest.approx(r["total_j"])}
    assert r["cross_check"]["npu-smi-sampled"]["samples"] >= 2
    calls = fake_smi.read_text().splitlines()
    assert "info -t power -i 1 -c 0" in calls  # logical 0 -> chip logic id 1 -> NPU ID 1, chip 0
    tel = src.telemetry()
    assert tel["aicore_pct"]["mean"] == 87 and tel["temperature_c"]["max"] == 36
    assert tel["power_limit_w"] is None
    assert src.device_memory() == {"device_used_peak_bytes": 16 * 2**30, "device_total_bytes": 64 * 2**30}


def test_auto_on_an_npu_picks_npu_smi(fake_smi):
    src = choose_source(energy_spec(source="auto", sample_hz=20), NPU0)
    assert src.name == "npu-smi-sampled" and "DCMI not used" in src.note


@pytest.mark.parametrize("mode,text", [("permission", "permission denied"),
                                       ("unsupported", "does not support querying power"),
                                       ("na", "power reads NA")])
def test_unreadable_sensor_degrades_when_implied_and_fails_when_asked(fake_smi, monkeypatch, mode, text):
    monkeypatch.setenv("FAKE_NPU_SMI_MODE", mode)
    src = choose_source(energy_spec(source="auto"), NPU0)
    assert isinstance(src, NoEnergy) and text in src.note
    src.start()
    assert src.stop()["total_j"] is None
    with pytest.raises(PreflightError, match=text):
        choose_source(energy_spec(source="npu-smi"), NPU0)


def test_npu_smi_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PreflightError, match="npu-smi not found on PATH"):
        choose_source(energy_spec(source="npu-smi"), NPU0)
    npus, why = ascend.list_devices()
    assert npus == [] and "not found" in why


def test_telemetry_field_unsupported_is_none_with_reason(fake_smi, tmp_path, monkeypatch):
    d = tmp_path / "rec"
    shutil.copytree(REC, d)
    (d / "temp.txt").write_text(rec("power-unsupported.txt").replace("power", "temperature"))
    # the fake exits 0 here; npu-smi's "does not support" text alone marks it
    monkeypatch.setenv("FAKE_NPU_SMI_DIR", str(d))
    src = choose_source(energy_spec(source="npu-smi", sample_hz=20), NPU0)
    src.start()
    time.sleep(0.3)
    src.stop()
    tel = src.telemetry()
    assert tel["temperature_c"] is None and "does not support querying temperature" in tel["unsupported"]["temp"]
    assert tel["aicore_pct"]["mean"] == 87


def test_sysinfo_lists_npus_and_labels_the_hardware(fake_smi):
    npus, why = ascend.list_devices()
    assert why is None and [n["index"] for n in npus] == [0, 1]
    n = npus[0]
    assert n["name"] == "Ascend 910B3" and n["firmware"] == "7.5.0.1.129" and n["driver"] == "24.1.rc2"
    assert n["memory_total_bytes"] == 64 * 2**30 and n["power_limit_w"] is None and n["power_limit_note"]
    label = sysinfo.hardware_label([], "npu:0", npu_list=npus)
    assert label == "Ascend 910B3" and resolve(label).id == "910b"
    ps = sysinfo.power_sensors([], "no NVML", ([], "no amdsmi"), (npus, None))
    assert ps["npu_smi"]["available"] and "npu-smi-sampled" in ps["npu_smi"]["note"]
    assert any(line.startswith("npu 1: Ascend 910B3 64 GiB") for line in sysinfo.device_lines({"npus": npus}))


# ---------------------------------------------------------------------------- DCMI
class FakeDcmi:
    """libdcmi.so stand-in: writes through the int* the way the C library does."""

    def __init__(self, power_tenths_w=936, temp_rc=0):
        self.power, self.temp_rc, self.calls = power_tenths_w, temp_rc, []

    def dcmi_get_device_power_info(self, card, chip, out):
        self.calls.append((card, chip))
        ctypes.cast(out, ctypes.POINTER(ctypes.c_int)).contents.value = self.power
        return 0

    def dcmi_get_device_temperature(self, card, chip, out):
        if self.temp_rc:
            return self.temp_rc
        ctypes.cast(out, ctypes.POINTER(ctypes.c_int)).contents.value = 41
        return 0


def test_dcmi_reader_units_and_unsupported():
    lib = FakeDcmi()
    r = ascend.DcmiReader(ascend.NpuAddress(0, 3, 1), lib)
    assert r.power_w() == pytest.approx(93.6) and lib.calls == [(3, 1)]  # 0.1 W units, NPU ID 3 chip 1
    assert r.telemetry() == {"temperature_c": 41.0}
    r2 = ascend.DcmiReader(ascend.NpuAddress(0, 0, 0), FakeDcmi(temp_rc=-8255))
    assert r2.telemetry() == {} and "returned -8255" in r2.unsupported["dcmi_get_device_temperature"]


def test_dcmi_preferred_when_it_loads(fake_smi, monkeypatch):
    monkeypatch.setattr(ascend, "load_dcmi", lambda *a: FakeDcmi(power_tenths_w=1000))
    src = choose_source(energy_spec(source="auto", sample_hz=50), NPU0)
    assert src.name == "dcmi-sampled"
    src.start()
    time.sleep(0.2)
    r = src.stop()
    assert r["avg_power_w"] == pytest.approx(100.0)


# ---------------------------------------------------------------------------- engines and the NPU check
def test_managed_vllm_serve_same_cli_and_ascend_env(tmp_path, monkeypatch):
    from bench.measure.endpoint.server import ManagedServer

    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "2,3")
    s = ManagedServer("/models/m", "m", ["--tensor-parallel-size", "2"], tmp_path / "server.log")
    s.port = 8123
    cmd = s.command()
    assert cmd[1:5] == ["-m", "bench.vllm_entry", "serve", "/models/m"]
    assert "--device" not in cmd and cmd[-2:] == ["--tensor-parallel-size", "2"]  # platform left to vLLM
    assert s.env["ASCEND_RT_VISIBLE_DEVICES"] == "2,3"  # inherited unchanged by the server


def test_vllm_on_an_npu_needs_vllm_ascend(monkeypatch):
    import importlib.util

    from bench.measure.backends.base import engine_problems

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "vllm_ascend" else real(n, *a))
    assert engine_problems("cuda:0", "x") == [] and engine_problems("cpu", "x") == []
    (line,) = engine_problems("npu:0", "backend.kind 'vllm'")
    assert line.startswith("backend.kind 'vllm' on an Ascend NPU needs vllm-ascend")


def test_check_table_rows_for_sampled_and_counter_sources():
    from bench.analysis.gpu_check import check_rows

    base = {"status": "ok", "output_tok_s": 100.0, "window_s": 2.0, "tpot_s": {"p50": 0.01}, "memory": {}}
    npu = {**base, "case_id": "npu", "energy": {"source": "npu-smi-sampled", "total_j": 200.0, "avg_power_w": 100.0,
                                               "j_per_output_tok": 1.0,
                                               "cross_check": {"npu-smi-sampled": {"samples": 21}}}}
    amd_ = {**base, "case_id": "amd", "energy": {"source": "amdsmi-energy", "total_j": 200.0, "avg_power_w": 100.0,
                                                 "j_per_output_tok": 1.0, "cross_check": {"amdsmi-sampled": {
                                                     "total_j": 210.0, "avg_power_w": 105.0, "samples": 21}}}}
    r_npu, r_amd = check_rows([npu, amd_])
    assert r_npu["cross_check_source"] is None and r_npu["energy_disagreement"] is None
    assert r_npu["agree_within_5pct"] is None and r_npu["j_per_output_tok"] == 1.0
    assert r_amd["cross_check_source"] == "amdsmi-sampled"
    assert r_amd["energy_disagreement"] == pytest.approx(0.05)  # |200 - 210| / 200
    assert r_amd["sampled_j_per_output_tok"] == pytest.approx(210.0 / 200)  # 100 tok/s x 2 s


@pytest.mark.slow  # a fresh interpreter (run_cli): 5-15 s here
def test_run_end_to_end_with_npu_smi_energy(fake_smi, tmp_path):
    """The whole CLI run on the CPU with energy from the fake npu-smi: the runner does not care which
    sensor it holds, and the results carry the source, J/token and the NPU telemetry."""
    import json

    from conftest import cli, write_config

    cfg = write_config(tmp_path / "c.yaml", """
name: npu-energy
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 8, batch_sizes: [1], num_batches: 1, warmup: 0, repeats: 3}
energy: {source: npu-smi, sample_hz: 20, idle_baseline_s: 0.3}
""")
    p = cli("run", cfg, "--output-dir", tmp_path / "out", "--format", "json")
    assert p.returncode == 0, p.stderr
    (case,) = json.loads(p.stdout)["cases"]
    e = case["energy"]
    assert e["source"] == "npu-smi-sampled" and e["avg_power_w"] == pytest.approx(93.6)
    assert e["j_per_output_tok"] == pytest.approx(e["total_j"] / 24) and e["idle_baseline_w"] == pytest.approx(93.6)
    assert case["telemetry"]["aicore_pct"]["mean"] == 87
    assert case["memory"]["device_total_bytes"] == 64 * 2**30


def test_gpu_check_command_on_the_fake_npu(fake_smi, tmp_path):
    """``gpu-check`` is a command of the CLI (it was a script of its own inside measure/): it runs the config,
    writes ``<title>.json`` in the run directory and prints the table; a sampled-only source has nothing to
    cross-check, so the case passes. A missing config is one line and exit 2."""
    import json

    from conftest import cli, write_config

    cfg = write_config(tmp_path / "c.yaml", """
name: npu-check
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1], num_batches: 1, warmup: 0}
energy: {source: npu-smi, sample_hz: 20, idle_baseline_s: 0}
""")
    p = cli("gpu-check", "--config", cfg, "--output-dir", tmp_path / "out", "--title", "NPU check")
    assert p.returncode == 0, p.stderr
    assert "NPU check — measured on" in p.stdout
    (run_dir,) = (tmp_path / "out").iterdir()
    (row,) = json.loads((run_dir / "npu_check.json").read_text())
    assert row["energy_source"] == "npu-smi-sampled" and row["avg_power_w"] == pytest.approx(93.6)
    assert row["cross_check_source"] is None and row["agree_within_5pct"] is None
    p = cli("gpu-check", "--config", tmp_path / "missing.yaml")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "missing.yaml" in p.stderr
