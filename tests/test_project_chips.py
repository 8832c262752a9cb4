"""`project` across chips never aborts for one chip; one footnote per chip; `capacity --compare` runs one dtype."""
import json

from conftest import cli

ARGS = ("--model", "Qwen3-32B", "--input-tokens", "1024", "--output-tokens", "256", "--batch", "32")


def test_a_chip_the_model_does_not_fit_is_a_row():
    p = cli("project", "--hardware", "h20,910b,910c", *ARGS, "--dtype", "bf16", "--format", "json")
    assert p.returncode == 0, p.stderr
    h20, b, c = json.loads(p.stdout)
    assert h20["fits"] and c["fits"] and h20["output_tok_s_per_accelerator"] > 0
    # 66 GB of bf16 weights + KV on one 64 GB 910B: a row that says so and how many would fit
    assert b["fits"] is False and b["output_tok_s_per_accelerator"] is None
    assert b["fewest_accelerators_that_fit"] == 2 and "--accelerators 2" in b["note"]
    table = cli("project", "--hardware", "h20,910b,910c", *ARGS, "--dtype", "bf16").stdout
    assert "fits on 2 x 910b" in table.replace("\n", " ")


def test_a_chip_without_the_dtype_is_a_row():
    p = cli("project", "--hardware", "h20,910b", *ARGS, "--dtype", "fp8", "--format", "json")
    assert p.returncode == 0, p.stderr
    h20, b = json.loads(p.stdout)
    assert h20["fits"] and b["fits"] is None and "no fp8 peak" in b["note"]


def test_footnotes_once_per_chip_and_moe_wording_only_for_moe():
    out = cli("project", "--hardware", "h20,910c", *ARGS, "--dtype", "bf16").stdout
    assert "h20: h20:" not in out and "910c: 910c:" not in out
    starts = [line.split(":")[0] for line in out.splitlines()]  # a footnote starts with its chip
    assert starts.count("h20") == 1 and starts.count("910c") == 1
    assert "per MoE layer" not in out  # Qwen3-32B is dense
    moe = cli("project", "--hardware", "h20", "--model", "Qwen3-235B-A22B", "--input-tokens", "1024",
              "--output-tokens", "256", "--batch", "32", "--dtype", "fp8", "--accelerators", "8").stdout
    assert "per MoE layer" in " ".join(moe.split())  # footnotes wrap at the terminal's width


def test_capacity_compare_runs_one_dtype_unless_asked():
    base = ("capacity", "--compare", "h20,910b", "--model", "Qwen3-32B", "--power-mw", "10", "--input-tokens",
            "1000", "--output-tokens", "1000")
    rows = json.loads(cli(*base, "--format", "json").stdout)["rows"]
    assert [r["dtype"] for r in rows] == ["int8", "int8"]  # the 910B has no fp8: both run int8
    assert "dtype: int8 on every chip" in cli(*base).stdout
    each = json.loads(cli(*base, "--dtype", "best-each", "--format", "json").stdout)["rows"]
    assert [r["dtype"] for r in each] == ["fp8", "int8"]
