"""`project`, `cost`, `capacity` and the Exhibit 63 rebuild print tables that fit the terminal: every line at
most $COLUMNS wide at 80 and 120 columns, numbers never cut, one footnote per chip, no scientific notation."""
import json
import re

import pytest

from conftest import cli

PROJECT = ("project", "--model", "Qwen3-32B", "--hardware", "h20,910b,h100-sxm", "--input-tokens", "1024",
           "--output-tokens", "256", "--batch", "32", "--dtype", "bf16")
COMMANDS = {
    "project": PROJECT,
    "project-run": ("project", "--model", "Qwen3-32B", "--hardware", "h20,910b", "--num-prompts", "50",
                    "--input-tokens", "1024", "--output-tokens", "256", "--dtype", "bf16"),
    "cost": ("cost", "--hardware", "h20,910b", "--model", "Qwen3-32B", "--project", "--input-tokens", "1024",
             "--output-tokens", "256", "--batch", "16", "--dtype", "bf16", "--accelerators", "2"),
    "capacity": ("capacity", "--compare", "h20,910b", "--model", "DeepSeek-V3", "--power-mw", "100",
                 "--input-tokens", "1024", "--output-tokens", "1024"),
    "exhibit63": ("capacity", "--scenario", "exhibit63"),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_line_fits_the_terminal(name, width, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    p = cli(*COMMANDS[name])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) > 5
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, too_wide
    assert not re.search(r"\d\.?\d*e[+-]\d", p.stdout), "scientific notation"
    assert "None" not in p.stdout and "nan" not in p.stdout.lower().replace("nanos", "")


def test_a_projected_number_is_never_cut_and_each_chip_has_one_footnote(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = cli(*PROJECT).stdout
    js = json.loads(cli(*PROJECT, "--format", "json").stdout)
    h20 = next(r for r in js if r["hardware"] == "h20")
    assert f"{h20['output_tok_s_per_accelerator']:,.0f}" in out  # whole, on one line
    starts = [line.split(":")[0] for line in out.splitlines()]
    assert [starts.count(c) for c in ("h20", "910b", "h100-sxm")] == [1, 1, 1]


def test_capacity_compare_projects_every_chip_on_one_replica_size(monkeypatch):
    """DeepSeek-V3 int8 fits one request on 8 H20s (96 GB) but needs 16 910Bs (64 GB): compared at their own
    minimum, the H20 would run with a KV cache of a few GB beside 671 GB of weights and look 2x slower than on 16;
    a comparison projects both on the larger replica unless --replica-accelerators says otherwise."""
    base = COMMANDS["capacity"] + ("--format", "json")
    rows = json.loads(cli(*base).stdout)["rows"]
    assert [r["replica_accelerators"] for r in rows] == [16, 16]
    alone = json.loads(cli("capacity", "--hardware", "h20", *base[3:]).stdout)["rows"][0]
    assert alone["replica_accelerators"] == 8  # one chip: its own smallest replica
    assert rows[0]["output_tok_s_per_accelerator"] > alone["output_tok_s_per_accelerator"]
    asked = json.loads(cli(*base, "--replica-accelerators", "32").stdout)["rows"]
    assert [r["replica_accelerators"] for r in asked] == [32, 32]
    text = cli(*COMMANDS["capacity"]).stdout
    assert "replica: 16 accelerators on every chip" in text


def test_a_hanging_indent_never_puts_a_space_inside_a_long_name():
    """A footnote's lines after its first are indented and that much narrower; a name wider than a line is broken
    after its '_' or '-', never split by a space on one line and never wider than the line (both happened: the
    indented lines were re-wrapped from a joined text, 'ab_ cdefgh-', and a 40-character name on an indented line
    of 38)."""
    from bench.present import wrap_words

    for n, pre in ((7, "h20: see results/"), (8, "h20: "), (3, "a b c d e f g: x/")):
        name = "ab_cdefgh-" * n + "tail_xyz"
        lines = wrap_words(f"{pre}{name} and more words here", 40, indent="  ")
        assert all(len(x) <= 40 for x in lines) and all(x.startswith("  ") for x in lines[1:]), lines
        assert all(sum("_" in tok for tok in x.split()) <= 1 for x in lines), lines  # one piece of the name a line
        assert name in "".join(x.strip() for x in lines)  # read back whole, line by line
    assert wrap_words("one\ntwo three", 80, indent="  ") == ["one", "two three"]
