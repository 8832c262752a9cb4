"""energy.source: prometheus. The maths by hand; then a real Prometheus server (Debian's ``prometheus``)
scraping the test DCGM exporter, whose power profile is known: the energy read back equals its integral
within 2 %, per device and in total, and a run lists the series it summed."""
import json
import shutil
import time
from pathlib import Path

import pytest

from bench.config.schema import PrometheusEnergy
from bench.measure.trackers.prometheus import (PRESETS, PrometheusSource, counter_increase, integrate_power,
                                               scrape_interval_s, value_at)
from conftest import cli, write_config
from fake_dcgm_exporter import HOST, FakeDcgmExporter, PrometheusServer


# ---------------------------------------------------------------------------- maths (hand-computed)
def test_value_at_and_counter_increase():
    s = [(0.0, 0.0), (1.0, 10.0), (2.0, 30.0)]
    assert value_at(s, 0.5) == 5.0 and value_at(s, 1.5) == 20.0 and value_at(s, 2.5) is None
    assert counter_increase(s, 0.5, 1.5) == 15.0
    # a reset: 30 -> 4 means the counter restarted from 0 and counted 4 more
    assert counter_increase([(0.0, 20.0), (1.0, 30.0), (2.0, 4.0)], 0.0, 2.0) == 14.0
    assert counter_increase(s, -1.0, 1.0) is None  # the window starts before the first sample


def test_integrate_power():
    # 100 W then ramping to 200 W: 0.5 s x 100 W + 1 s x 150 W mean
    s = [(0.0, 100.0), (1.0, 100.0), (2.0, 200.0)]
    assert integrate_power(s, 0.5, 2.0) == pytest.approx(50.0 + 150.0)
    assert integrate_power(s, 0.0, 2.5) is None
    assert integrate_power(s, 0.0, 2.5, slack_s=0.5) == pytest.approx(100 + 150 + 100)  # the last value held
    assert scrape_interval_s([(0.0, 1), (0.25, 1), (0.5, 1), (1.5, 1)]) == 0.25


def test_presets_name_the_documented_metrics():
    assert PRESETS["dcgm"].energy_metric == "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" and PRESETS["dcgm"].energy_to_j == 1e-3
    assert PRESETS["dcgm"].power_metric == "DCGM_FI_DEV_POWER_USAGE"
    assert PRESETS["npu-exporter"].energy_metric is None and PRESETS["npu-exporter"].power_metric == "npu_chip_info_power"
    assert PRESETS["amd"].energy_metric == "gpu_energy_consumed" and PRESETS["amd"].energy_to_j == 1e-6


def test_config_refusals(tmp_path):
    from bench.config.load import load_config
    from bench.errors import ConfigError

    base = ("name: p\nmodels: [tiny:llama]\nbackend: {kind: transformers, device: cpu}\n"
            "workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1]}\n")
    for energy, word in (("{source: prometheus}", "prometheus"),
                         ("{source: prometheus, prometheus: {url: 'ftp://x'}}", "url"),
                         ("{source: prometheus, prometheus: {url: 'http://x:9090', selector: 'gpu=1'}}", "selector"),
                         ("{source: prometheus, prometheus: {url: 'http://x:9090', preset: nvml}}", "preset")):
        with pytest.raises(ConfigError) as e:
            load_config(str(write_config(tmp_path / "p.yaml", base + f"energy: {energy}\n")))
        assert word in str(e.value)


# ---------------------------------------------------------------------------- a real Prometheus
@pytest.fixture(scope="module")
def prom():
    if shutil.which("prometheus") is None:
        pytest.skip("Debian's prometheus is not installed (make test installs it: apt-get install prometheus)")
    exporter = FakeDcgmExporter()
    server = PrometheusServer(exporter.port, scrape_s=0.25)
    try:
        server.wait_ready()
        time.sleep(1.0)  # a few scrapes before any window starts
        yield exporter, server
    finally:
        server.close()
        exporter.close()


@pytest.mark.server
def test_energy_counter_matches_the_profile_integral(prom):
    exporter, server = prom
    src = PrometheusSource(PrometheusEnergy(url=server.url, selector=f'{{Hostname="{HOST}"}}'))
    src.check()
    src.start()
    time.sleep(2.5)
    r = src.stop()
    t0, t1 = r["prometheus"]["window_utc"]
    truth = exporter.window_j(t0, t1)
    assert r["total_j"] == pytest.approx(sum(truth.values()), rel=0.02)
    assert r["per_device_j"][f"{HOST}/GPU-0000"] == pytest.approx(truth[0], rel=0.02)
    assert r["per_device_j"][f"{HOST}/GPU-0001"] == pytest.approx(truth[1], rel=0.02)
    p = r["prometheus"]
    assert p["method"] == "counter-increase" and len(p["series"]) == 2
    assert {(s["host"], s["device"]) for s in p["series"]} == {(HOST, "GPU-0000"), (HOST, "GPU-0001")}
    assert all(s["samples_in_window"] >= 8 and s["scrape_interval_s"] == pytest.approx(0.25, abs=0.05)
               for s in p["series"])
    assert any("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" in q["query"] for q in p["queries"])
    assert any(q["query"].startswith("increase(") for q in p["queries"])
    assert r["cross_check"]["prometheus-power"]["total_j"] == pytest.approx(sum(truth.values()), rel=0.05)
    assert p["coarse_series"] == 0 and not r["notes"]


@pytest.mark.server
def test_power_fallback_without_an_energy_counter(prom):
    exporter, server = prom
    src = PrometheusSource(PrometheusEnergy(url=server.url, energy_metric="no_such_counter", step_s=0.25))
    src.start()
    time.sleep(2.0)
    r = src.stop()
    truth = exporter.window_j(*r["prometheus"]["window_utc"])
    assert r["prometheus"]["method"] == "power-integral"
    assert r["total_j"] == pytest.approx(sum(truth.values()), rel=0.02)
    assert any("no series of the energy counter" in n for n in r["notes"])


@pytest.mark.server
def test_a_run_reports_the_deployment_energy_and_the_series(prom, tmp_path):
    exporter, server = prom
    cfg = write_config(tmp_path / "p.yaml", f"""
name: prom
models: [tiny:llama]
backend: {{kind: transformers, device: cpu, dtype: float32, threads: 1}}
workload: {{input_tokens: 8, output_tokens: 32, batch_sizes: [1], num_batches: 6, warmup: 0}}
energy:
  source: prometheus
  idle_baseline_s: 0
  prometheus: {{url: '{server.url}', preset: dcgm, selector: '{{Hostname=~"h20-node-[12]"}}', min_samples: 1000}}
""")
    p = cli("run", cfg, "--output-dir", tmp_path / "out", "--format", "json")
    assert p.returncode == 0, p.stderr[-2000:]
    (case,) = json.loads(p.stdout)["cases"]
    e = case["energy"]
    assert e["source"] == "prometheus"
    truth = exporter.window_j(*e["prometheus"]["window_utc"])
    assert e["total_j"] == pytest.approx(sum(truth.values()), rel=0.02)
    assert len(e["per_device_j"]) == 2 and len(e["prometheus"]["series"]) == 2
    assert e["j_per_output_tok"] == pytest.approx(e["total_j"] / case["output_tokens"])
    # the case is far shorter than 1000 scrapes: the coarse-scrape validity warning
    v = case["validity"]
    assert v["checks"]["monitoring_samples"]["status"] == "warn" and v["verdict"] in ("warn", "invalid")
    assert "scrape interval too coarse" in e["note"]
    manifest = json.loads((Path(json.loads(p.stdout)["run_dir"]) / "manifest.json").read_text())
    assert manifest["energy_source"]["source"] == "prometheus" and manifest["energy_source"]["preset"] == "dcgm"


def test_unreachable_prometheus_is_one_line_exit_2(tmp_path):
    from fake_dcgm_exporter import free_port

    cfg = write_config(tmp_path / "p.yaml", f"""
name: prom
models: [tiny:llama]
backend: {{kind: transformers, device: cpu}}
workload: {{input_tokens: 8, output_tokens: 4, batch_sizes: [1]}}
energy: {{source: prometheus, prometheus: {{url: 'http://127.0.0.1:{free_port()}', timeout_s: 2}}}}
""")
    p = cli("run", cfg, "--output-dir", tmp_path)
    assert p.returncode == 2 and "energy.source 'prometheus'" in p.stderr and "energy.prometheus.url" in p.stderr
    assert p.stderr.strip().count("\n") == 0
