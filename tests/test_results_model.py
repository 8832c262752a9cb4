"""The typed read model (bench.results.run) and the metric registry (bench.results.registry)."""
import json
import shutil

import pytest

from bench.errors import InputError
from bench.analysis.compare import load_runs  # labels with the catalog id of known chips
from bench.results import load_run, registry

A100, H20 = "tests/data/runs/fake-a100-run", "tests/data/runs/fake-h20-run"
H100 = "results/reference/h100/gpu-8b-20261127T121344Z"
H200 = "results/reference/h200/gpu-8b-20261127T053118Z"


def test_run_is_typed_with_its_manifest():
    run = load_run(H100)
    m = run.manifest
    assert (m.name, m.hardware, m.engine, m.config_sha256[:8]) == ("gpu-8b", "NVIDIA H100 80GB HBM3",
                                                                   "transformers 5.17.0", "8780e915")
    assert m.started_utc.startswith("2026-11-27") and m.machine
    c = run.cases[0]
    assert c.case_id == "llama-3.1-8b_bs1_in512_out128" and c.ok
    assert c.at("ttft_s.p50") == c.latency.ttft_s.p50 and c.at("model.label") == "Llama-3.1-8B"
    assert c.at("energy.source") == "nvml-energy" and c.at("no.such.path") is None
    assert c.at("output_tokens") == c.throughput.output_tokens_total  # the disk name of the case total


def test_labels_are_short_and_unique():
    runs = load_runs([A100, H20, H100, H200])
    assert [r.label for r in runs] == ["fake-a100-run", "fake-h20-run", "gpu-8b h100-sxm", "gpu-8b h200"]
    runs = load_runs([H100, H200], labels=[f"{H200}=new"])
    assert [r.label for r in runs] == ["gpu-8b", "new"]


def test_same_name_same_hardware_gets_the_date_or_time(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(H100, a)
    shutil.copytree(H100, b)
    m = json.loads((b / "manifest.json").read_text())
    m["started_utc"] = "2026-11-28T09:30:00.0Z"
    (b / "manifest.json").write_text(json.dumps(m))
    assert [r.label for r in load_runs([str(a), str(b)])] == ["gpu-8b h100-sxm 2026-11-27",
                                                            "gpu-8b h100-sxm 2026-11-28"]
    shutil.copytree(H100, tmp_path / "c")
    labels = [r.label for r in load_runs([str(a), str(tmp_path / "c")])]  # one run copied: its id, then #2
    assert labels == ["gpu-8b-20261127T121344Z", "gpu-8b-20261127T121344Z #2"]


@pytest.mark.parametrize("item", ["nolabel", "=x", f"{H100}=", f"{H100}=a\nb", f"{H100}=" + "x" * 41])
def test_bad_label_is_one_line(item):
    with pytest.raises(InputError, match="--label"):
        load_runs([H100], labels=[item])


def test_a_label_may_hold_an_equals_sign():
    """The split is where the left side is a RUN_DIR given, not at the last '='."""
    (run,) = load_runs([H100], labels=[f"{H100}=tp=8 a=b"])
    assert run.label == "tp=8 a=b"


def test_label_for_a_run_not_given():
    with pytest.raises(InputError, match="not one of the RUN_DIRs"):
        load_runs([H100], labels=[f"{H200}=x"])


def test_every_metric_declared_once_with_a_unit_and_a_source():
    keys = [m.key for m in registry.METRICS]
    assert len(keys) == len(set(keys))
    for m in registry.METRICS:
        assert (m.path is None) == (m.source == "derived"), m.key
        assert m.key.endswith(("_s", "_tok_s", "_w", "_bytes", "_rate", "_usd", "_tok", "accelerator", "source",
                               "mbu", "mfu", "limit", "blended", "output", "user")) or m.unit in ("%", "fraction"), m.key
    assert registry.get("ttft_p50_s").header == "TTFT p50 ms"
    assert registry.get("ttft_p50_s").display(0.0008544) == "0.8544"
    with pytest.raises(KeyError, match="known: output_tok_s"):
        registry.get("nope")


@pytest.mark.parametrize("value,text", [
    (0.0008544, "0.0008544"), (1234.5, "1,234"), (33.66, "33.66"), (12.0, "12"), (1e-9, "0.000000001"),
    (123456789.0, "123,456,789"), (0, "0"), (None, "—"), (float("nan"), "—"), (float("inf"), "—"), (5, "5"),
    (0.12345, "0.1235"), (999.95, "1,000"), (-2.5, "-2.5"), (1e20, "100,000,000,000,000,000,000")])
def test_numbers_for_people(value, text):
    assert registry.fmt(value) == text
    assert "e" not in registry.fmt(value).lower() or value is None


def test_trials_headline_is_the_registry():
    from bench.measure import trials

    assert trials.HEADLINE == {m.key: m.path for m in registry.METRICS if m.trials}
