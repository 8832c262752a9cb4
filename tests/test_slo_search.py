"""The SLO search is a scenario over any online backend: a scripted backend, no server."""
import ast

import pytest

from bench.config.schema import SloSearch
from bench.measure import slo_search
from bench.measure.backends.base import LoadedModel, OnlineBackend
from bench.measure.workload import CaseWorkload
from bench.summary.metrics import RequestRecord
from conftest import ROOT


class ScriptedServer(OnlineBackend):
    """Every request takes 4 tokens; TPOT is 10 ms up to 5 requests/s, 50 ms above (a scripted clock)."""

    kind, runs_on, dtype = "openai", "endpoint", "server"

    def __init__(self):
        self.loads = []

    def preflight(self):
        return []

    def load(self, spec):
        return LoadedModel(label="m", kind="tiny", model_type=None, params=None, weight_bytes=None, vocab_size=10)

    def unload(self):
        pass

    def run_load(self, workload, n, tag, rate, concurrency):
        self.loads.append((n, tag, rate, concurrency))
        tpot = 0.010 if rate <= 5 else 0.050
        return [RequestRecord(f"{tag}{i}", workload.input_tokens, 4, submitted_s=i * 1.0,
                              token_times_s=[i + 0.1 + k * tpot for k in range(4)]) for i in range(n)]


def workload(over="rate", lo=1.0, hi=16.0):
    return CaseWorkload(case_id="c", kind="slo-search", input_tokens=8, output_tokens=4, seed=0,
                        slo_limits_ms={"tpot_ms": 20.0},
                        slo_search=SloSearch(over=over, lo=lo, hi=hi, tolerance=0.05, num_prompts=3))


def test_search_over_rate_finds_the_scripted_capacity():
    backend = ScriptedServer()
    measured = slo_search.run(backend, workload())
    block = measured.blocks["slo_search"]
    assert 5 * 0.95 <= block["best"] <= 5 and block["stopped_by_budget"] is False
    assert [p["rate"] for p in block["points"]] == [n_tag_rate[2] for n_tag_rate in backend.loads]
    assert all(n == 3 and conc is None for n, _, _, conc in backend.loads)
    best = next(p for p in block["points"] if p["rate"] == block["best"])
    assert best["good_fraction"] == 1.0 and best["tpot_p50_s"] == pytest.approx(0.010)
    assert [r.request_id[:len(f"p{block['best']}-")] for r in measured.records] == [f"p{block['best']}-"] * 3


def test_search_over_concurrency_probes_integers_at_full_rate():
    backend = ScriptedServer()
    slo_search.run(backend, workload("concurrency", 1, 8))
    assert all(rate == float("inf") and isinstance(conc, int) for _, _, rate, conc in backend.loads)


def test_no_backend_answers_its_contract_with_not_implemented():
    for path in (ROOT / "bench" / "measure").rglob("*.py"):
        tree = ast.parse(path.read_text())
        raised = [n.exc for n in ast.walk(tree) if isinstance(n, ast.Raise) and n.exc is not None]
        names = [getattr(e, "id", None) or getattr(getattr(e, "func", None), "id", None) for e in raised]
        assert "NotImplementedError" not in names, path
