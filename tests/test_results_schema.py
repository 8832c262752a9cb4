"""The typed case result: every run already written loads and dumps back to the same JSON."""
import json
from pathlib import Path

import pytest

from bench.errors import InputError
from bench.measure.runner import derived_rates
from bench.results import schema as rs
from bench.results.rundir import RunDir
from conftest import ROOT

RUN_FILES = sorted([*(ROOT / "results" / "reference").glob("*/*/cases.jsonl"),
                    *(ROOT / "tests" / "data" / "runs").glob("*/cases.jsonl")])


def test_there_are_old_runs_to_guard():
    assert len(RUN_FILES) >= 4  # both reference runs and both fake runs


@pytest.mark.parametrize("path", RUN_FILES, ids=lambda p: p.parent.name)
def test_old_runs_round_trip_to_identical_json(path: Path):
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        case = rs.CaseResult.from_json(d)
        assert json.dumps(case.to_json()) == json.dumps(d)  # same keys, order, values and JSON types
        assert case.identity.case_id == d["case_id"]
        assert case.throughput.output_tokens_total == d["output_tokens"]  # the case total
        assert case.workload.output_tokens == d["workload"]["output_tokens"]  # per request
        assert case.latency.tpot_s.p50 == d["tpot_s"]["p50"]
        assert case.identity.backend.runs_on == d["backend"]["device"]


def test_reference_run_reads_typed_through_rundir():
    rd = RunDir.open_existing(RUN_FILES[0].parent)
    typed = rd.case_results()
    assert [c.to_json() for c in typed] == rd.latest_cases()
    assert all(c.ok and c.energy.total_j > 0 for c in typed)


def test_unknown_blocks_from_newer_code_survive_a_round_trip():
    d = {"schema_version": 1, "case_id": "x_bs1", "status": "ok", "error": None, "output_tokens": 8,
         "newer_trials": [{"output_tok_s": 1.5}], "validity": {"ok": True}, "queue_wait_s": {"p50": 0.1},
         "energy": {"source": "none", "total_j": None, "newer_field_j": 2.0},
         "model": {"label": "m", "revision": "abc"}}
    case = rs.CaseResult.from_json(d)
    assert case.to_json() == d and list(case.to_json()) == list(d)
    assert case.model_extra["newer_trials"] == [{"output_tok_s": 1.5}]
    assert case.validity.model_extra == {"ok": True}  # a typed block keeps its unknown keys too
    assert case.energy.model_extra == {"newer_field_j": 2.0}


def test_wrong_type_is_one_line_naming_the_field(tmp_path):
    with pytest.raises(ValueError, match=r"case 'x': requests.total: .*integer"):
        rs.CaseResult.from_json({"case_id": "x", "requests": {"total": "many"}})
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 1, "hardware": "cpu"}))
    (tmp_path / "cases.jsonl").write_text(json.dumps({
        "schema_version": 1, "case_id": "x", "status": "failed", "model": {"label": "m"},
        "backend": {"kind": "transformers", "dtype": "float32"}, "energy": {"total_j": "lots"}}) + "\n")
    with pytest.raises(InputError, match="cases.jsonl:1: energy.total_j is \"lots\", not a number"):
        RunDir.open_existing(tmp_path).case_results()


def test_accelerators_one_rule():
    assert rs.accelerators_on_disk("cpu", 4) == 0 and rs.accelerators_on_disk("cuda:0", 4) == 4
    assert rs.Identity(accelerators=0).accelerator_count is None  # n/a, never 0 accelerators
    assert rs.Identity(accelerators=8).accelerator_count == 8
    assert [rs.rate_divisor(n) for n in (None, 0, 1, 8)] == [1, 1, 1, 8]


def test_derived_rates_by_hand():
    lat = rs.Latency(tpot_s=rs.Distribution(n=4, p50=0.025))
    tp = rs.Throughput(output_tok_s=800.0)
    derived_rates(lat, tp, 8)
    assert tp.tok_s_per_user == pytest.approx(40.0) and tp.output_tok_s_per_accelerator == pytest.approx(100.0)
    derived_rates(lat, tp, 0)  # the CPU: the machine counts as one
    assert tp.output_tok_s_per_accelerator == pytest.approx(800.0)
    nothing = rs.Throughput(output_tok_s=None)
    derived_rates(rs.Latency(tpot_s=rs.Distribution(n=0)), nothing, 1)
    assert nothing.tok_s_per_user is None and nothing.output_tok_s_per_accelerator is None  # None, never 0


def test_a_new_result_writes_schema_1_keys():
    case = rs.CaseResult(identity=rs.Identity(case_id="c", accelerators=0,
                                              backend=rs.BackendInfo(kind="transformers", runs_on="cpu")),
                         status="ok", error=None)
    case.update(throughput={"output_tokens": 10, "output_tok_s": 5.0}, requests={"total": 1, "succeeded": 1, "failed": 0})
    d = case.to_json()
    assert d == {"case_id": "c", "backend": {"kind": "transformers", "device": "cpu"}, "accelerators": 0,
                 "status": "ok", "error": None, "requests": {"total": 1, "succeeded": 1, "failed": 0},
                 "output_tokens": 10, "output_tok_s": 5.0}
    assert isinstance(case.requests, rs.Requests)
