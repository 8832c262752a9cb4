"""The typed requests of ``cost``, ``project`` and ``capacity`` (bench/analysis/requests.py): each rule names the
flag, takes its bound from config/limits.py, and a broken one is one line (an InputError), the first in order."""
from __future__ import annotations

import pytest

from bench.analysis.requests import CapacityRequest, CostRequest, ProjectRequest
from bench.config import limits
from bench.errors import InputError

PROJECT = {"model": "llama-3.1-8b", "hardware": "h20", "input_tokens": 128, "output_tokens": 64, "dtype": "bf16",
           "batch": 8}
CAPACITY = {"hardware": "h20", "model": "llama-3.1-8b", "input_tokens": 128, "output_tokens": 64, "power_mw": 10.0}


def _refused(cls, flags: dict) -> str:
    with pytest.raises(InputError) as exc:
        cls.from_flags(flags)
    return str(exc.value)


def test_a_bound_names_the_flag_and_comes_from_limits():
    top = limits.MAX_TOKENS
    assert _refused(ProjectRequest, {**PROJECT, "input_tokens": top + 1}) == \
        f"--input-tokens must be a whole number from 1 to {top:,}; found {top + 1:g}"
    assert ProjectRequest.from_flags({**PROJECT, "input_tokens": top}).input_tokens == top


def test_cost_rules_run_in_order_and_keep_their_words():
    assert _refused(CostRequest, {"hardware": "h20", "output_tok_s": 0.0}) == "--output-tok-s must be > 0; found 0"
    most = limits.COST_MAXIMA["capex_usd"]
    assert _refused(CostRequest, {"hardware": "h20", "capex_usd": most * 2}) == \
        f"--capex-usd must be at most {most:g}; found {most * 2:g}"
    # two broken flags: the positivity pass comes before the maxima, as the command always checked
    assert _refused(CostRequest, {"hardware": "h20", "capex_usd": most * 2, "power_w": -1.0}) == \
        "--power-w must be > 0; found -1"
    assert _refused(CostRequest, {"hardware": "h20", "server_overhead": 0.5}).startswith("--server-overhead must be >= 1")
    assert _refused(CostRequest, {"hardware": "h20", "pue": 11.0}) == \
        "--pue must be >= 1 (facility power / IT power) and at most 10; found 11"


def test_project_mixing_steady_state_and_whole_run_is_refused():
    req = ProjectRequest.from_flags({**PROJECT, "seed": 3})
    with pytest.raises(InputError, match="--seed describe a whole run: add --num-prompts N"):
        req.check_run_flags()
    run = ProjectRequest.from_flags({**PROJECT, "batch": None, "num_prompts": limits.MAX_PROJECT_PROMPTS + 1})
    with pytest.raises(InputError, match="--num-prompts must be a whole number from 1 to 100,000"):
        run.run_rate()
    assert ProjectRequest.from_flags({**PROJECT, "batch": None, "num_prompts": 10,
                                      "request_rate": "2.5"}).run_rate() == 2.5


def test_capacity_needs_a_size_and_exhibit63_takes_nothing_else():
    assert _refused(CapacityRequest, {**CAPACITY, "power_mw": None}) == \
        "capacity needs one of --power-mw, --accelerators or --tokens-per-day"
    assert _refused(CapacityRequest, {**CAPACITY, "power_mw": limits.MAX_POWER_MW * 10}) == \
        f"--power-mw must be at most {limits.MAX_POWER_MW:g}; found {limits.MAX_POWER_MW * 10:g}"
    assert _refused(CapacityRequest, {"scenario": "exhibit63", "model": "x", "power_mw": 1.0}).endswith(
        "drop --model, --power-mw")
    assert CapacityRequest.from_flags({"scenario": "exhibit63"}).scenario == "exhibit63"
    assert CapacityRequest.from_flags({**CAPACITY, "compare": None, "extra": object()}).chip_ids == "h20"
