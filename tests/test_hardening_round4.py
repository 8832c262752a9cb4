"""Hardening, round four: hostile input on the surfaces added this round (project --dataset jsonl PATH,
--engine-version, capacity --scenario exhibit63's tables). Each defect found by probing the CLI is held here:
one line naming the file or flag, the field and the fix, exit 2, no traceback; tables that fit the width."""
import json

import pytest

from conftest import cli

PROJECT = ["project", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--dtype", "bf16", "--num-prompts", "20"]


def one_error_line(r) -> str:
    lines = [x for x in r.stderr.strip().splitlines() if x]
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr \
        and "internal" not in r.stderr, r.stderr
    return lines[0]


def lengths(tmp_path, text: str | bytes, name: str = "l.jsonl"):
    p = tmp_path / name
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p


# 1 ------------------------------------------------------------------------------------ --engine-version
@pytest.mark.parametrize("version", ["junk", "[bold]x[/]<script>", "-1", "0.9.1; rm -rf /"])
def test_engine_version_that_is_no_version_is_refused(version):
    """Was: exit 0, the version silently ignored (the engine's current defaults, the version named nowhere)."""
    line = one_error_line(cli(*PROJECT, "--input-tokens", "100", "--output-tokens", "50", "--engine", "vllm",
                              "--engine-version", version))
    assert "--engine-version" in line and "0.9.1" in line and version[:10] in line


def test_engine_version_not_in_engines_yaml_is_named_in_the_output():
    """A well-formed version engines.yaml has no block for runs on the engine's current defaults, and says so."""
    r = cli(*PROJECT, "--input-tokens", "100", "--output-tokens", "50", "--engine", "vllm", "--engine-version",
            "99.99.99", "--format", "json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert "version 99.99.99: engines.yaml lists no other defaults" in row["scheduler_limits"]
    table = cli(*PROJECT, "--input-tokens", "100", "--output-tokens", "50", "--engine", "vllm", "--engine-version",
                "99.99.99")
    assert "99.99.99" in " ".join(table.stdout.split())


def test_engine_version_in_engines_yaml_is_not_flagged():
    r = cli("project", "--model", "qwen3-8b", "--hardware", "910b", "--dtype", "bf16", "--num-prompts", "20",
            "--input-tokens", "100", "--output-tokens", "50", "--engine", "vllm-ascend", "--engine-version", "0.9.1",
            "--format", "json")
    assert r.returncode == 0, r.stderr
    limits = json.loads(r.stdout)[0]["scheduler_limits"]
    assert "v0.9.1" in limits and "lists no" not in limits


# 2 ------------------------------------------------------------------------------- --dataset jsonl PATH
def test_lengths_integer_of_too_many_digits_is_one_plain_line(tmp_path):
    """Was: Python's own 'Exceeds the limit (4300 digits) ... use sys.set_int_max_str_digits() t' cut mid-word."""
    p = lengths(tmp_path, '{"input_tokens": ' + "9" * 5000 + ', "output_tokens": 5}\n')
    line = one_error_line(cli(*PROJECT, "--dataset", "jsonl", p))
    assert f"{p}:1" in line and "set_int_max_str_digits" not in line and "4,300 digits" in line


def test_lengths_float_out_of_range_shows_the_value_as_written(tmp_path):
    """Was: 1e308 shown as its 309 digits ('found 100,000,000,...…(412 chars)')."""
    p = lengths(tmp_path, '{"input_tokens": 1e308, "output_tokens": 5}\n')
    line = one_error_line(cli(*PROJECT, "--dataset", "jsonl", p))
    assert "found 1e+308" in line and "000,000,000" not in line and len(line) < 250


def test_lengths_file_with_a_byte_order_mark_reads(tmp_path):
    """Was: 'Unexpected UTF-8 BOM (decode using utf-8-sig)', a fix for Python, not for the file (Notepad saves one)."""
    p = lengths(tmp_path, "\ufeff" + '{"input_tokens": 100, "output_tokens": 50}\n', "bom.jsonl")
    plain = lengths(tmp_path, '{"input_tokens": 100, "output_tokens": 50}\n', "plain.jsonl")
    r = cli(*PROJECT, "--dataset", "jsonl", p, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert r.stdout == cli(*PROJECT, "--dataset", "jsonl", plain, "--format", "json").stdout


def test_lengths_beyond_the_context_name_the_fix(tmp_path):
    p = lengths(tmp_path, '{"input_tokens": 130000, "output_tokens": 5000}\n')
    line = one_error_line(cli(*PROJECT, "--dataset", "jsonl", p))
    assert f"{p}:1" in line and "131,072" in line and "fix or remove that row" in line


# 3 ----------------------------------------------------------------------------- tables that fit the width
def test_exhibit63_tables_fit_40_columns(monkeypatch):
    """Was: the token rows' 'out tokens/day (bn)' and 'out tok/s per MW' blocks 73 wide at COLUMNS=40 (a value
    with its band did not fit beside the three key columns, and the fallback laid it out at natural width)."""
    monkeypatch.setenv("COLUMNS", "40")
    r = cli("capacity", "--scenario", "exhibit63")
    assert r.returncode == 0, r.stderr
    wide = [x for x in r.stdout.splitlines() if len(x) > 40]
    assert not wide, wide
    import json

    rows = json.loads(cli("capacity", "--scenario", "exhibit63", "--format", "json").stdout)["token_rows"]
    hi = rows[0]["output_tokens_s_per_mw_range"][1]
    assert f"{hi:,.0f})" in r.stdout  # a range's numbers are whole: the cell breaks after the dash, never inside one


# 4 ------------------------------------------------------------------------------------- numeric flags
@pytest.mark.parametrize("flag", ["--power-mw", "--tokens-per-day"])
def test_a_tiny_flag_value_is_not_told_that_0_would_do(flag):
    """Was: '--power-mw: 1e-30 is out of range (from 1e-09 to 1e+18 in size, or 0)'; 0 is then refused too."""
    r = cli("capacity", "--model", "DeepSeek-R1", "--input-tokens", "1000", "--output-tokens", "200", "--compare",
            "h20,910b", flag, "1e-30")
    line = one_error_line(r)
    assert flag in line and "1e-30" in line and "or 0" not in line
    assert "must be > 0" in one_error_line(cli("capacity", "--model", "DeepSeek-R1", "--input-tokens", "1000",
                                                "--output-tokens", "200", "--compare", "h20,910b", flag, "0"))


# 5 --------------------------------------------------------------------- compare / report / check requests
RUN_A = "results/reference/h200/gpu-8b-20261127T053118Z"
RUN_B = "results/reference/h200/gpu-8b-c-llama-20261128T195152Z"


@pytest.mark.parametrize("flag", ["--output", "--html", "--markdown"])
def test_an_output_name_too_long_is_bad_input(tmp_path, flag):
    """Was: 'error: internal: OSError: [Errno 36] File name too long', exit 1."""
    path = str(tmp_path / ("x" * 300 + ".out"))
    args = ["compare", RUN_A, "--format", "csv", "--output", path] if flag == "--output" else \
        ["report", RUN_A, flag, path]
    line = one_error_line(cli(*args))
    assert flag in line and "too long" in line and "choose another path" in line


def test_min_compared_0_is_refused_as_the_gate_needs_one():
    """Was: accepted, then 'NOT ENOUGH COMPARED ... the gate needs 1: ... lower --min-compared' (exit 3)."""
    line = one_error_line(cli("check", RUN_A, "--baseline", RUN_B, "--min-compared", "0"))
    assert "--min-compared 0" in line and ">= 1" in line and "--allow-missing" in line


def test_two_runs_under_one_label_or_one_run_labelled_twice_are_refused():
    """Was: exit 0 with two columns both named 'x' (which run is which?), or the later label silently winning."""
    line = one_error_line(cli("compare", RUN_A, RUN_B, "--label", f"{RUN_A}=x", "--label", f"{RUN_B}=x"))
    assert "--label" in line and "'x'" in line
    line = one_error_line(cli("compare", RUN_A, RUN_B, "--label", f"{RUN_A}=x", "--label", f"{RUN_A}=y"))
    assert "--label" in line and "twice" in line and "'x'" in line and "'y'" in line
    ok = cli("compare", RUN_A, RUN_B, "--label", f"{RUN_A}=a=b", "--label", f"{RUN_B}=[bold]c</b>")
    assert ok.returncode == 0 and "a=b" in ok.stdout and "[bold]c</b>" in ok.stdout, ok.stderr


# 6 ------------------------------------------------------------------------------ capacity --compare a,b
CAP = ["capacity", "--model", "DeepSeek-R1", "--input-tokens", "1000", "--output-tokens", "200", "--compare", "h20,910b"]


@pytest.mark.parametrize("budget", [["--power-mw", "0.5", "--replica-accelerators", "4096"], ["--power-mw", "0.01"],
                                    ["--accelerators", "8"]])
def test_a_fleet_smaller_than_one_replica_is_refused(budget):
    """Was: exit 0, '439 accelerators' with a 4096-accelerator replica (or 8 accelerators serving DeepSeek-R1 on a
    16-accelerator replica), their tokens per day printed as if served."""
    line = one_error_line(cli(*CAP, *budget))
    assert budget[0] in line and "replica" in line and "h20" in line


def test_a_replica_size_given_is_not_called_the_smallest_that_holds_the_model():
    """Was: 'replica: 32 accelerators on every chip (the smallest power of two that holds one request on each ...)'
    for a size the user chose."""
    r = cli(*CAP, "--power-mw", "10", "--replica-accelerators", "32")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "replica: 32 accelerators on every chip (--replica-accelerators)" in text and "smallest" not in text
    auto = " ".join(cli(*CAP, "--power-mw", "10").stdout.split())
    assert "replica: 16 accelerators on every chip (the smallest power of two" in auto


# 7 ------------------------------------------------------------------------------ project --num-prompts
class NoSteps:
    """A step model that must not be asked: the run is refused before its first step."""

    from bench.catalog.models import get_model
    m = get_model("Qwen2.5-7B")

    def step_s(self, *args):
        raise AssertionError("the simulation ran a step")


@pytest.mark.parametrize("seqs, tokens", [(1, 1), (1, 10 ** 6)])
def test_a_run_longer_than_the_step_limit_is_refused_before_simulating(seqs, tokens):
    """Was: --num-prompts 100000 --max-num-seqs 1 --max-num-batched-tokens 1 simulated two million steps (about a
    minute on this machine) before its refusal; the fewest steps the run needs (prompt tokens over the step's token
    budget, output tokens over the decode batch) decides at once."""
    from bench.analysis import whole_run
    from bench.errors import InputError

    reqs = whole_run.requests(100_000, [(100, 50)], None)
    with pytest.raises(InputError, match=r"at least [0-9,]+ engine steps, more than 2,000,000; lower --num-prompts"):
        whole_run.simulate(reqs, NoSteps(), seqs, tokens, 10 ** 9)
    line = one_error_line(cli("project", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--dtype", "bf16",
                              "--num-prompts", "100000", "--input-tokens", "100", "--output-tokens", "50",
                              "--max-num-seqs", str(seqs), "--max-num-batched-tokens", str(tokens)))
    assert "engine steps" in line


def test_engine_version_whose_block_skips_mla_models_says_so():
    """vllm-ascend 0.9.1's block is for non-MLA models: DeepSeek-R1 keeps the engine's defaults, and the note says
    why (not 'engines.yaml lists no other defaults', which its block contradicts)."""
    r = cli("project", "--model", "DeepSeek-R1", "--hardware", "910b", "--dtype", "int8", "--accelerators", "16",
            "--num-prompts", "20", "--input-tokens", "100", "--output-tokens", "50", "--engine", "vllm-ascend",
            "--engine-version", "0.9.1", "--format", "json")
    assert r.returncode == 0, r.stderr
    limits = json.loads(r.stdout)[0]["scheduler_limits"]
    assert "version 0.9.1: its engines.yaml defaults are for non-MLA models" in limits and "lists no" not in limits


# 8 ------------------------------------------------------------------------------------ cost --project
def test_a_chip_without_interconnect_is_not_advised_more_accelerators():
    """Was: 'cpu: does not fit ...; fits on 8 x cpu: --accelerators 8', and --accelerators 8 then refused with
    'hardware 'cpu' has no interconnect bandwidth in the catalog; use --accelerators 1'."""
    r = cli("cost", "--project", "--model", "Llama-3.1-70B", "--input-tokens", "1000", "--output-tokens", "200",
            "--batch", "32", "--dtype", "bf16", "--hardware", "h20,cpu")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "fits on 8 x cpu" not in text and "--accelerators 8" not in text
    assert "cpu: does not fit at batch 32 on 1 x cpu" in text and "fits on 2 x h20: --accelerators 2" in text


@pytest.mark.parametrize("args", [["compare", "{long}"], ["cost", "--results", "{long}", "--hardware", "h20"],
                                  ["run", "{long}.yaml"], ["check", RUN_A, "--baseline", "{long}"]])
def test_an_input_path_name_too_long_is_bad_input(tmp_path, args):
    """Was: 'error: internal: OSError: [Errno 36] File name too long' (exit 1) for a RUN_DIR or a config path."""
    long = str(tmp_path / ("x" * 300))
    line = one_error_line(cli(*[a.format(long=long) for a in args]))
    assert "too long" in line.lower() and "internal" not in line


# 9 ------------------------------------------------------------------------------------ energy: block
ENERGY_CFG = """name: e
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1], num_batches: 1, warmup: 0}
energy: {source: none, sample_hz: HZ, idle_baseline_s: 0}
"""


@pytest.mark.parametrize("hz", ["1e-300", "0.001", "0"])
def test_a_sample_rate_too_slow_to_sample_is_refused(tmp_path, hz):
    """Was: sample_hz 1e-300 accepted (> 0); the sampler thread died mid-run with 'OverflowError: timestamp out of
    range for platform time_t' and its traceback on stderr."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(ENERGY_CFG.replace("HZ", hz))
    line = one_error_line(cli("run", cfg, "--output-dir", tmp_path / "out"))
    assert str(cfg) in line and "energy.sample_hz" in line and "0.01" in line


def test_the_slowest_sample_rate_loads():
    from bench.config.energy import energy_spec

    assert energy_spec(source="none", sample_hz=0.01).sample_hz == 0.01


# 10 ------------------------------------------------------------------------------------------- validate
def test_validate_engine_with_published_rows_but_no_fitted_profile_runs():
    """Was: 'validate --engine mindie: --engine 'mindie' has no published rows' (exit 2), while `list published
    --engine mindie` lists them and validate checks MindIE's usable and finite-run rows."""
    r = cli("validate", "--engine", "mindie", "--hardware", "910b", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["engine"] == "mindie" and doc["finite_runs"]["rows"]
    assert {row["engine"] for row in doc["finite_runs"]["rows"]} == {"mindie"}
    line = one_error_line(cli("validate", "--engine", "[b]nope</b>"))
    assert "[b]nope</b>" in line and "mindie" in line
