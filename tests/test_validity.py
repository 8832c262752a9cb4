"""Validity checks: each one on either side of its documented threshold."""
import pytest

from bench.summary import validity as v
from bench.summary.metrics import RequestRecord


def recs(n=100, out=4, failed=0, send_lag=None, inp=8, requested=8):
    rs = []
    for i in range(n):
        r = RequestRecord(f"r{i}", inp, out, float(i), token_times_s=[i + 0.1 * k for k in range(1, out + 1)],
                          send_lag_s=send_lag, requested_input_tokens=requested, queue_wait_s=0.0)
        if i < failed:
            r.success, r.error, r.token_times_s = False, "HTTP 500", []
        rs.append(r)
    return rs


def test_clean_case_is_ok_and_unmeasured_checks_are_skipped():
    out = v.verdict(v.Evidence(records=recs(), expected_output_tokens=4))
    assert out["verdict"] == "ok" and out["reasons"] == []
    assert set(out["checks"]) == {"token_counts", "failed_requests"}
    assert "gpu" in out["skipped"] and "trial_cv" in out["skipped"] and "send_lag" in out["skipped"]


@pytest.mark.parametrize("failed,expect", [(1, "ok"), (2, "invalid")])  # 1 % is allowed, 2 % is not
def test_failed_requests_threshold(failed, expect):
    assert v.verdict(v.Evidence(records=recs(failed=failed)))["verdict"] == expect


def test_output_tokens_other_than_requested_is_invalid():
    out = v.verdict(v.Evidence(records=recs(out=3), expected_output_tokens=4))
    assert out["verdict"] == "invalid" and "output tokens" in out["reasons"][0]


def test_prompt_tokens_from_the_server_differ():
    ev = v.Evidence(records=recs(inp=9, requested=8), check_prompt_tokens=True)
    out = v.verdict(ev)
    assert out["verdict"] == "warn" and "9 vs 8" in out["reasons"][0]
    ev.check_prompt_tokens = False  # chat templates add tokens: not checked
    assert v.verdict(ev)["verdict"] == "ok"


@pytest.mark.parametrize("lag,expect", [(0.04, "ok"), (0.06, "warn"), (1.5, "invalid")])
def test_send_lag(lag, expect):
    assert v.verdict(v.Evidence(records=recs(send_lag=lag), scheduled=True))["verdict"] == expect


def test_client_health_and_host_pressure():
    assert v.verdict(v.Evidence(loop_lag_s=[0.001] * 99 + [0.5]))["verdict"] == "ok"  # p99 of 100 = 5.0 ms
    assert v.verdict(v.Evidence(loop_lag_s=[0.001] * 90 + [0.5] * 10))["verdict"] == "warn"
    assert v.verdict(v.Evidence(client_cpu_fraction=0.85))["verdict"] == "ok"
    assert "core" in v.verdict(v.Evidence(client_cpu_fraction=0.97))["reasons"][0]
    assert v.verdict(v.Evidence(host_cpu_pressure_pct=9.0))["verdict"] == "ok"
    assert "busy" in v.verdict(v.Evidence(host_cpu_pressure_pct=25.0))["reasons"][0]


def test_gpu_throttling_and_sharing():
    assert v.verdict(v.Evidence(gpu_slowdown_mask=0x1 | 0x2, gpu_other_processes=[]))["verdict"] == "ok"  # idle, app clocks
    out = v.verdict(v.Evidence(gpu_slowdown_mask=0x40 | 0x4, gpu_other_processes=[4242]))
    assert out["verdict"] == "warn"
    assert "thermal (HW)" in out["reasons"][0] and "power cap" in out["reasons"][0] and "4242" in out["reasons"][0]


def test_server_counters():
    assert v.verdict(v.Evidence(server={"preemptions": 0.0}))["verdict"] == "ok"
    assert "preempted 3" in v.verdict(v.Evidence(server={"preemptions": 3.0}))["reasons"][0]
    hits = {"prefix_cache_hits": 60.0, "prefix_cache_queries": 1000.0}
    assert "prefix-cache" in v.verdict(v.Evidence(server=hits))["reasons"][0]
    assert v.verdict(v.Evidence(server=hits, shared_prefixes=True))["verdict"] == "ok"
    assert v.verdict(v.Evidence(server={**hits, "prefix_cache_hits": 40.0}))["verdict"] == "ok"


def test_trial_cv_and_worst_finding_wins():
    assert v.verdict(v.Evidence(trial_cv=0.09))["verdict"] == "ok"
    out = v.verdict(v.Evidence(trial_cv=0.2, records=recs(failed=50)))
    assert out["verdict"] == "invalid" and len(out["reasons"]) == 2
    from bench.present import verdict_cell, verdict_mark

    assert verdict_mark(out["verdict"]) == "✗" and verdict_mark(None) == "—" and verdict_cell("warn") == "! warn"


# ---------------------------------------------------------------- where the verdict shows
def _run_with_invalid_case(tmp_path):
    import json
    import shutil

    from conftest import ROOT

    run = tmp_path / "run"
    shutil.copytree(ROOT / "tests" / "data" / "runs" / "fake-a100-run", run)
    cases = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    cases[0]["validity"] = {"verdict": "invalid", "reasons": ["5/64 requests failed (7.8% > 1%)"]}
    cases[1]["validity"] = {"verdict": "ok", "reasons": []}
    cases[1]["trials"] = {"n": 3, "metrics": {"output_tok_s": {"mean": 100.0, "ci95": [98.0, 102.0], "values": [98, 100, 102]}}}
    (run / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    return run, cases


def test_cost_and_calibration_warn_about_an_invalid_case(tmp_path, capsys):
    import json

    from bench.cli import main

    run, cases = _run_with_invalid_case(tmp_path)
    assert main(["cost", "--hardware", "a100", "--results", str(run), "--rental-usd-per-hour", "2",
                 "--format", "json"]) == 0
    out = capsys.readouterr()
    entries = json.loads(out.out)["entries"]
    assert [e["validity"] for e in entries][:2] == ["invalid", "ok"]
    assert f"case {cases[0]['case_id']} is judged invalid (5/64 requests failed" in out.err
    assert len(out.err.strip().splitlines()) == 1
    main(["project", "--model", "Llama-3.1-8B", "--hardware", "h20", "--input-tokens", "512", "--output-tokens",
          "128", "--batch", "1", "--dtype", "bf16", "--calibrate", str(run), "--format", "json"])
    assert "is judged invalid" in capsys.readouterr().err


def test_compare_column_and_report_badge(tmp_path, capsys):
    import json

    from bench.cli import main

    run, cases = _run_with_invalid_case(tmp_path)
    assert main(["compare", str(run), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["validity"] for r in doc["rows"]][:2] == ["invalid", "ok"]
    assert doc["rows"][1]["output_tok_s_ci95_half"] == pytest.approx(2.0) and doc["rows"][1]["trials"] == 3
    assert any("judged invalid" in w for w in doc["warnings"])
    assert main(["compare", str(run)]) == 0
    table = capsys.readouterr().out
    assert "✗" in table and "✓" in table and "±" in table  # narrow cells wrap: the marks and the ± survive
    assert main(["report", str(run), "--html", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.md")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert 'data-verdict="invalid"' in page and "5/64 requests failed" in page
    md = (tmp_path / "r.md").read_text()
    assert f"- ❌ invalid `{cases[0]['case_id']}`: 5/64 requests failed" in md
    assert " ± 2</td>" in page  # output tok/s with half its 95 % interval over the 3 trials


def test_nvml_slowdown_reasons_and_other_gpu_processes_reach_the_verdict(monkeypatch):
    """NVML mocked with autospec: clock-event reasons OR-ed over the samples, processes at start that are
    not this run's, and the verdict they give."""
    import os
    import time
    from types import SimpleNamespace
    from unittest import mock

    import pynvml
    from test_energy import FakeGpus

    from bench.measure.trackers.device_sampler import DeviceSampler
    from bench.measure.vendors.nvidia import NvmlDevices

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    reasons = iter([0x1] + [0x40 | 0x4] * 1000)  # idle first, then thermal (HW) + power cap
    procs = [SimpleNamespace(pid=os.getpid()), SimpleNamespace(pid=4242)]
    fake = FakeGpus({"idx0": 300.0})
    patches = fake.patches() + [
        mock.patch.object(pynvml, "nvmlDeviceGetCurrentClocksEventReasons",
                          mock.create_autospec(pynvml.nvmlDeviceGetCurrentClocksEventReasons,
                                               side_effect=lambda h: next(reasons))),
        mock.patch.object(pynvml, "nvmlDeviceGetComputeRunningProcesses",
                          mock.create_autospec(pynvml.nvmlDeviceGetComputeRunningProcesses, return_value=procs))]
    for p in patches:
        p.start()
    try:
        src = DeviceSampler(NvmlDevices([0]), hz=20)
        first = src.start()
        time.sleep(0.2)
        src.stop(first)
        tel = src.telemetry()
        power = src.power_samples()
    finally:
        for p in patches:
            p.stop()
    assert tel["slowdown_reasons_mask"] == 0x1 | 0x40 | 0x4 and tel["other_processes_at_start"] == [4242]
    assert len(power) >= 3 and all(w == 300.0 for _, w in power)
    out = v.verdict(v.Evidence(gpu_slowdown_mask=tel["slowdown_reasons_mask"],
                               gpu_other_processes=tel["other_processes_at_start"]))
    assert out["verdict"] == "warn" and "thermal (HW)" in out["reasons"][0] and "pid 4242" in out["reasons"][0]
