"""Engine profiles: --engine on project, cost --project and capacity; validate --profiles; list published --engine."""
import json

import pytest

from conftest import cli

CHITU = ("--model", "Qwen3-32B", "--input-tokens", "128", "--output-tokens", "1024", "--batch", "64", "--dtype", "bf16")


def _one(*args):
    p = cli(*args, "--format", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_project_names_the_engine_profile_its_rows_and_band():
    (field,) = _one("project", "--hardware", "h20", *CHITU)
    (chitu,) = _one("project", "--hardware", "h20", *CHITU, "--engine", "chitu")
    assert field["profile"] == "h20" and chitu["profile"] == "h20/chitu"
    assert 2 <= chitu["profile_rows"] < field["profile_rows"] and chitu["profile_band_factor"] > 1
    assert "profile h20/chitu: fitted to" in chitu["evidence"]
    # the evidence: Chitu reaches a higher MBU on the H20 than the field's average, so where the step is bound by
    # memory (batch 1; at batch 64 the H20's 148 TFLOPS bind, and MFU decides) it projects faster
    assert chitu["efficiency"]["mbu"] > field["efficiency"]["mbu"]
    b1 = [a if a != "64" else "1" for a in CHITU]
    (f1,) = _one("project", "--hardware", "h20", *b1)
    (c1,) = _one("project", "--hardware", "h20", *b1, "--engine", "chitu")
    assert f1["bound"] == c1["bound"] == "memory"
    assert c1["output_tok_s_per_accelerator"] > f1["output_tok_s_per_accelerator"]


def test_chitu_h20_vs_910b_per_chip_ratio_at_batch_64():
    """IN-SAMPLE since the Chitu page is fitted: the published per-chip ratio is 1333.49 / (805.26 / 2) = 3.31. The
    issue's target: within 10 % with --engine chitu. The projected ratio is also the figure docs/data/accuracy.yaml
    documents (chitu_ratio), held here so that it cannot move without the docs."""
    import yaml

    from test_validate_cli import ACCURACY

    doc = yaml.safe_load(ACCURACY.read_text())["chitu_ratio"]
    (h20,) = _one("project", "--hardware", "h20", *CHITU, "--engine", "chitu")
    (b,) = _one("project", "--hardware", "910b", *CHITU, "--engine", "chitu", "--accelerators", "2")
    ratio = h20["output_tok_s_per_accelerator"] / b["output_tok_s_per_accelerator"]
    assert doc["published"] == pytest.approx(1333.49 / (805.26 / 2), abs=0.005)
    assert ratio == pytest.approx(doc["projected"], abs=0.05)
    assert abs(ratio / doc["published"] - 1) <= 0.10


def test_an_engine_without_rows_on_a_chip_uses_the_chips_field_profile_and_says_so():
    (r,) = _one("project", "--hardware", "h100-sxm", *CHITU, "--engine", "chitu", "--accelerators", "2")
    assert r["profile"].startswith("h100-sxm (field: no chitu rows on h100-sxm)")


def test_an_engine_with_scheduler_defaults_but_no_fitted_rows_uses_the_chips_field_profile():
    """MindIE's published rows are finite runs (never fitted), so it has no profile; its documented scheduler
    limits exist, so `project --engine mindie` runs on the 910B's field profile, named so (it was refused)."""
    (r,) = _one("project", "--hardware", "910b", "--model", "Qwen3-8B", "--engine", "mindie", "--num-prompts", "20",
                "--input-tokens", "256", "--output-tokens", "128", "--dtype", "bf16")
    assert r["profile"].startswith("910b (field: no mindie rows on 910b)")
    (field,) = _one("project", "--hardware", "910b", "--model", "Qwen3-8B", "--num-prompts", "20",
                    "--input-tokens", "256", "--output-tokens", "128", "--dtype", "bf16")
    assert r["max_num_seqs"] != field["max_num_seqs"]  # MindIE's limits, not vLLM's


def test_an_engine_with_no_rows_is_refused():
    p = cli("project", "--hardware", "h20", *CHITU, "--engine", "nosuch")
    assert p.returncode == 2 and "--engine 'nosuch' has no published rows; known: field, chitu" in p.stderr


def test_cost_and_capacity_take_the_engine_and_agree_with_project():
    (proj,) = _one("project", "--hardware", "h20", *CHITU, "--engine", "chitu")
    priced = _one("cost", "--hardware", "h20", "--project", *CHITU, "--engine", "chitu")
    assert priced["profile"] == "h20/chitu"
    assert priced["output_tok_s_per_accelerator"] == pytest.approx(proj["output_tok_s_per_accelerator"], rel=1e-9)
    (row,) = _one("capacity", "--hardware", "h20", "--model", "Qwen3-32B", "--accelerators", "10", "--input-tokens",
                  "128", "--output-tokens", "1024", "--dtype", "bf16", "--engine", "chitu")["rows"]
    assert row["profile"] == "h20/chitu"


def test_validate_profiles_table_per_chip_and_engine():
    table = _one("validate", "--profiles")
    keys = {(r["hardware"], r["engine"]) for r in table}
    assert {("h20", "field"), ("h20", "chitu"), ("910b", "chitu"), ("910b", "field")} <= keys
    for r in table:
        assert 0 < r["mbu"] <= 1 and 0 < r["mfu"] <= 1 and r["rows"] >= 1
    only = _one("validate", "--profiles", "--engine", "chitu", "--hardware", "910b")
    assert {r["engine"] for r in only} == {"field", "chitu"} and {r["hardware"] for r in only} == {"910b"}


def test_list_published_by_engine():
    rows = _one("list", "published", "--engine", "Chitu")
    assert len(rows) >= 40 and {r["engine_class"] for r in rows} == {"chitu"}
    assert all(r["used_in_fits"] for r in rows)  # the page is fitted (no 'held out' exclude)
    p = cli("list", "models", "--engine", "chitu")
    assert p.returncode == 2 and "drop --engine" in p.stderr
