"""YAML merge keys ('<<'): merged as YAML 1.1 says (own keys win), or refused in one line naming file and line.
Was: "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'" for every merge key."""
import pytest

from bench.config.yaml_reader import parse_yaml
from bench.errors import ConfigError
from conftest import run_cli

WORKLOAD = "workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1], num_batches: 1, warmup: 0}\n"


def test_a_merge_key_merges_and_the_mappings_own_keys_win():
    doc = parse_yaml("base: &b {kind: transformers, device: cpu, threads: 1}\n"
                     "backend:\n  <<: *b\n  threads: 2\n", "x.yaml")
    assert doc["backend"] == {"kind": "transformers", "device": "cpu", "threads": 2}
    both = parse_yaml("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n", "x.yaml")
    assert both["c"] == {"x": 1, "y": 1, "z": 3}  # the first mapping in the list wins, then the own key


def test_a_config_with_a_merge_key_loads(tmp_path):
    from bench.config.load import load_config

    p = tmp_path / "c.yaml"
    p.write_text("name: t\nmodels: [tiny:llama]\nbackend:\n  <<: {kind: transformers, device: cpu, dtype: float16}\n"
                 "  dtype: float32\n" + WORKLOAD)
    cfg, _ = load_config(p)
    assert (cfg.backend.kind, cfg.backend.device, cfg.backend.dtype) == ("transformers", "cpu", "float32")


@pytest.mark.parametrize("backend,said", [
    ("  <<: 5\n", "c.yaml:4: merge key '<<' takes a mapping (or a list of mappings) to merge; found a scalar"),
    ("  <<: [{kind: transformers}, cpu]\n", "c.yaml:4: merge key '<<' takes a mapping"),
    ("  <<: {kind: transformers, kind: vllm}\n", "c.yaml:4: key 'kind' is given twice"),
    ("  <<: {kind: transformers}\n  dtype: float32\n  dtype: float16\n", "c.yaml:6: key 'dtype' is given twice"),
])
def test_a_broken_merge_is_one_line_naming_file_and_line(tmp_path, backend, said):
    p = tmp_path / "c.yaml"
    p.write_text("name: t\nmodels: [tiny:llama]\nbackend:\n" + backend + WORKLOAD)
    with pytest.raises(ConfigError, match=None) as exc:
        parse_yaml(p.read_text(), str(p))
    assert said in str(exc.value) and "\n" not in str(exc.value) and "tag:yaml.org" not in str(exc.value)


def test_the_cli_refuses_a_broken_merge_with_exit_2(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: t\nmodels: [tiny:llama]\nbackend:\n  <<: 5\n" + WORKLOAD)
    r = run_cli("run", p)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {p}:4: merge key '<<' takes a mapping (or a list of mappings) "
                                             "to merge; found a scalar; write '<<: *name' of an anchored mapping "
                                             "('name: &name {...}')"]
