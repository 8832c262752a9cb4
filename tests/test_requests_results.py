"""The typed requests of ``compare``, ``report``, ``check``, ``validate`` and ``list``
(bench/analysis/requests_results.py): each rule names the flag, takes its bound from config/limits.py, and the first
broken rule in the commands' order is one line (an InputError)."""
from __future__ import annotations

import os

import pytest

from conftest import ROOT
from bench.analysis.requests_results import (CheckRequest, CompareRequest, ListRequest, ReportRequest,
                                             ValidateRequest, output_file)
from bench.config import limits
from bench.errors import InputError

RUN = str(ROOT / "tests" / "data" / "runs" / "fake-a100-run")
TOP = limits.COST_MAXIMA["rental_usd_per_hour"]


def _refused(cls, flags: dict) -> str:
    with pytest.raises(InputError) as exc:
        cls.from_flags(flags)
    return str(exc.value)


# ---------------------------------------------------------------------------- compare
def test_compare_rules_in_order_with_the_rental_bound_cost_takes():
    assert _refused(CompareRequest, {"run_dirs": [RUN], "rental_usd_per_hour": TOP * 2}) == \
        f"--rental-usd-per-hour must be at most {TOP:g}; found {TOP * 2:g}"
    assert CompareRequest.from_flags({"run_dirs": [RUN], "rental_usd_per_hour": TOP}).rental_usd_per_hour == TOP
    assert _refused(CompareRequest, {"run_dirs": [RUN], "rental_usd_per_hour": 0.0}) == \
        "--rental-usd-per-hour must be > 0; found 0"
    # parquet without a file comes before the rental, as the command checked them
    assert _refused(CompareRequest, {"run_dirs": [RUN], "format": "parquet", "rental_usd_per_hour": -1.0}) == \
        "--format parquet writes a binary file: give --output PATH"


def test_compare_output_is_checked_before_the_rental_and_its_directory_made(tmp_path):
    assert _refused(CompareRequest, {"run_dirs": [RUN], "output": str(tmp_path), "rental_usd_per_hour": -1.0}) == \
        f"--output '{tmp_path}': is a directory; give a file path"
    req = CompareRequest.from_flags({"run_dirs": [RUN], "output": str(tmp_path / "new" / "c.csv")})
    assert (tmp_path / "new").is_dir() and req.output_path == tmp_path / "new" / "c.csv"
    assert CompareRequest.from_flags({"run_dirs": [RUN]}).output_path is None


def test_compare_pivot_is_checked_when_asked_after_the_runs_are_read():
    req = CompareRequest.from_flags({"run_dirs": [RUN], "pivot": "hardware_name_nope"})  # built: no runs read yet
    with pytest.raises(InputError, match="--pivot 'hardware_name_nope' is not a metric; known: "):
        req.pivot_metric()
    assert CompareRequest.from_flags({"run_dirs": [RUN], "pivot": "output_tok_s"}).pivot_metric().key == "output_tok_s"
    assert CompareRequest.from_flags({"run_dirs": [RUN], "layout": "stacked", "pivot": "output_tok_s"}).side_by_side
    assert not CompareRequest.from_flags({"run_dirs": [RUN], "layout": "stacked"}).side_by_side


# ---------------------------------------------------------------------------- report
def test_report_needs_a_file_then_checks_each_then_the_rental(tmp_path):
    assert _refused(ReportRequest, {"run_dirs": [RUN], "rental_usd_per_hour": -1.0}) == \
        "report needs --html PATH and/or --markdown PATH"
    assert _refused(ReportRequest, {"run_dirs": [RUN], "html": str(tmp_path), "markdown": str(tmp_path)}) == \
        f"--html '{tmp_path}': is a directory; give a file path"
    assert _refused(ReportRequest, {"run_dirs": [RUN], "html": str(tmp_path / "r.html"), "markdown": str(tmp_path)}) \
        == f"--markdown '{tmp_path}': is a directory; give a file path"
    assert _refused(ReportRequest, {"run_dirs": [RUN], "markdown": str(tmp_path / "r.md"),
                                    "rental_usd_per_hour": TOP + 1}).startswith("--rental-usd-per-hour must be at most")
    req = ReportRequest.from_flags({"run_dirs": [RUN], "markdown": "~/r.md"})
    assert req.markdown_path == os.path.expanduser("~/r.md") and req.html_path is None


def test_an_output_file_that_is_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        output_file("--html", str(fifo))


# ---------------------------------------------------------------------------- check
def test_check_rules_in_order():
    base = {"candidate": RUN, "baseline": RUN}
    assert _refused(CheckRequest, {**base, "max_regression": "lots", "metric": ["nope"]}) == \
        "--max-regression: 'lots' is not a percentage; write it like 5% or 0.05"
    assert _refused(CheckRequest, {**base, "metric": ["nope"], "min_compared": -1}).startswith(
        "--metric 'nope' is unknown; known: output_tok_s")
    assert _refused(CheckRequest, {**base, "min_compared": limits.MAX_COUNT + 1}) == \
        (f"--min-compared {limits.MAX_COUNT + 1}: give a whole number of cases >= 1 (to pass with none compared: "
         "--allow-missing)")
    assert CheckRequest.from_flags({**base, "min_compared": limits.MAX_COUNT}).min_compared == limits.MAX_COUNT
    assert CheckRequest.from_flags({**base, "max_regression": "12.5%"}).tolerance == pytest.approx(0.125)
    assert CheckRequest.from_flags(base).tolerance == pytest.approx(0.05)  # the default, 5%


# ---------------------------------------------------------------------------- validate, list
def test_validate_resolves_the_chip_then_the_engine_then_the_combination():
    assert _refused(ValidateRequest, {"hardware": "nope", "profiles": True, "include": [RUN]}).startswith(
        "hardware 'nope' is unknown; known: ")
    assert _refused(ValidateRequest, {"engine": "Nope", "profiles": True, "include": [RUN]}).startswith(
        "--engine 'Nope' has no published rows; known: field, ")
    assert _refused(ValidateRequest, {"profiles": True, "include": [RUN]}) == \
        "--profiles prints the catalog's fitted profiles; drop --include"
    req = ValidateRequest.from_flags({"hardware": "H20", "engine": " SGLang "})
    assert (req.chip_id, req.engine_key) == ("h20", "sglang")
    assert (ValidateRequest.from_flags({}).chip_id, ValidateRequest.from_flags({}).engine_key) == (None, None)


def test_list_takes_engine_for_published_only():
    assert _refused(ListRequest, {"what": "models", "engine": "chitu"}) == \
        "--engine filters `list published`; `list models` has no engines (drop --engine)"
    assert ListRequest.from_flags({"what": "published", "engine": "chitu"}).engine == "chitu"
