"""The energy: block as a union of the sources' specs (bench/config/energy.py): the YAML keeps its flat shape, a
run's manifest keeps the shape runs have always written, and every stored hash is reproduced."""
from __future__ import annotations

import json

import pytest

from conftest import ROOT

from bench.config.load import config_doc, config_sha256, load_config, parse_config
from bench.config.schema import energy_spec
from bench.errors import ConfigError
from bench.measure import energy_registry

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
# reference runs whose stored hash the code reproduces (two older gpu-8b runs predate a field and never did)
REFERENCE = sorted(p for p in (ROOT / "results" / "reference").rglob("manifest.json") if "gpu-8b-" in p.parent.name
                   and p.parent.name.split("-")[2] in ("c", "e"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_a_config_round_trips_through_its_manifest_form(path):
    cfg, _ = load_config(path)
    doc = config_doc(cfg)
    assert list(doc["energy"])[:6] == ["source", "prometheus", "sample_hz", "idle_baseline_s", "tdp_w", "utilisation"]
    again = parse_config(json.loads(json.dumps(doc)), "manifest")
    assert again == cfg and config_sha256(again) == config_sha256(cfg)


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.parent.name)
def test_a_stored_run_loads_and_keeps_its_hash(path):
    m = json.loads(path.read_text())
    cfg = parse_config(m["config"], str(path))
    assert config_sha256(cfg) == m["config_sha256"]
    stored = m["config"]["energy"]  # runs older than the prometheus source have no 'prometheus' key
    assert {k: v for k, v in config_doc(cfg)["energy"].items() if k in stored or k != "prometheus"} == stored


def test_reference_runs_were_found():
    assert len(REFERENCE) >= 4


def test_each_source_takes_its_own_fields_only():
    assert energy_spec(source="estimate-tdp", tdp_w=400, utilisation=0.5).tdp_w == 400
    assert "tdp_w" not in type(energy_spec(source="nvml")).model_fields
    # what older manifests held for every source: dropped at those defaults
    assert energy_spec(source="rapl", prometheus=None, tdp_w=None, utilisation=1.0).source == "rapl"
    assert energy_spec().source == "auto"
    assert set(energy_registry.SOURCES) >= {"auto", "none", "estimate-tdp", "nvml", "amdsmi", "npu-smi", "dcmi", "rapl",
                                            "prometheus"}


@pytest.mark.parametrize("block,line", [
    ("{source: nvml, tdp_w: 300}", "energy.tdp_w: is for energy.source estimate-tdp, not 'nvml'; remove it or set "
                                  "source: estimate-tdp"),
    ("{utilisation: 0.5}", "energy.utilisation: is for energy.source estimate-tdp, not 'auto'"),
    ("{source: rapl, prometheus: {url: 'http://p:9090'}}", "energy.prometheus: is for energy.source prometheus"),
    ("{source: wattmeter}", "energy.source: 'wattmeter' is unknown; known: 'auto'"),
    ("nvml", "energy: must be a mapping of the source's fields, e.g. {source: auto}"),
    ("{source: rapl, bogus: 1}", "energy.bogus: unknown key; allowed here: source, sample_hz, idle_baseline_s"),
    ("{source: estimate-tdp}", "'source: estimate-tdp' needs 'tdp_w'"),
])
def test_a_bad_block_is_one_line_naming_the_field_and_the_fix(tmp_path, block, line):
    text = (ROOT / "configs" / "smoke-cpu.yaml").read_text().replace("energy:\n  source: auto\n", f"energy: {block}\n")
    assert f"energy: {block}" in text
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "c.yaml")
    assert line in str(exc.value) and "\n" not in str(exc.value)


def test_every_registered_source_opens_its_reader():
    """The registry's contract: each spec names its source and defines ``open(req)`` itself (the shared base has
    none, so a new spec without one fails here, not at a user's first run)."""
    from bench.measure import energy_registry
    from bench.measure.energy_spec import EnergySpec

    for kind in energy_registry.SOURCES:
        cls = energy_registry.spec(kind)
        assert issubclass(cls, EnergySpec) and "open" in vars(cls), kind
