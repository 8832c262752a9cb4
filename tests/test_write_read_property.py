"""The writer never writes what the reader refuses (issue 24, item 7): Hypothesis generates the raw records of
a case (degenerate ones too: one output token, zero successes, one-token prompts, a context of two tokens,
several trials), the runner's own assembly (``runner.run_case`` under a scripted backend, then the failure rule
of ``execute``) builds its result, ``RunDir.append_case`` writes it, and every reader takes it back:
``RunDir.cases`` (read_case), ``case_results`` (typed), ``read_jsonl`` of the records and ``--resume``'s
recount."""
from dataclasses import dataclass, field

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.config.cases import expand
from bench.config.load import parse_config
from bench.measure import runner
from bench.measure.backends.base import LoadedModel, Measured
from bench.measure.energy import choose_source
from bench.summary.metrics import RequestRecord
from bench.results.rundir import RunDir, read_jsonl

CFG = """
name: wr
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: %d, output_tokens: %d, batch_sizes: [%d], num_batches: 1, warmup: 0, trials: %d}
energy: {source: none}
"""


@dataclass
class Scripted:
    """A backend that returns the generated records (one list per trial) instead of running a model."""

    trials: list
    kind: str = "transformers"
    runs_on: str = "cpu"
    dtype: str = "float32"
    accelerators: int = 1
    model_in_process: bool = True
    power_is_local: bool = True
    max_model_len: int | None = None
    calls: list = field(default_factory=list)

    def warmup(self, workload, loaded):
        pass

    def reset_peak_memory(self):
        pass

    def measure(self, workload, loaded):
        recs = self.trials[len(self.calls) % len(self.trials)]
        self.calls.append(workload.trial)
        return Measured([RequestRecord(**r) for r in recs], {})

    def memory_stats(self):
        return {}


def record(i: int, n_in: int, n_out: int, ok: bool, t0: float, gaps: list[float]) -> dict:
    times, t = [], t0
    for g in gaps[:n_out] if ok else []:
        t += g
        times.append(t)
    return {"request_id": f"r{i}", "input_tokens": n_in, "output_tokens": len(times), "submitted_s": t0,
            "token_times_s": times, "success": ok and bool(times), "error": None if ok and times else "boom",
            "batch_id": "b0"}


GAP = st.floats(min_value=1e-6, max_value=5.0, allow_nan=False)
TRIAL = st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.booleans(), st.floats(0, 10),
                           st.lists(GAP, min_size=3, max_size=3)), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(trials=st.lists(TRIAL, min_size=1, max_size=3), n_in=st.integers(1, 4), n_out=st.integers(1, 3))
def test_every_case_the_runner_writes_its_readers_take_back(tmp_path_factory, trials, n_in, n_out):
    cfg = parse_config(yaml.safe_load(CFG % (n_in, n_out, len(trials[0]), len(trials))), "wr.yaml")
    case = expand(cfg)[0]
    recs = [[record(i, a, b, ok, t0, gaps) for i, (a, b, ok, t0, gaps) in enumerate(t)] for t in trials]
    backend = Scripted(recs, max_model_len=2)
    loaded = LoadedModel(label="tiny:llama", kind="tiny", model_type="llama", params=1000, weight_bytes=4000,
                         vocab_size=64, special_token_ids=[0], load_s=0.1)
    sensors = runner.Sensors(choose_source(cfg.energy, [], local=True), None)
    result = runner.case_identity(case, cfg, backend, loaded, "cpu-test")
    records = runner.run_case(case, cfg, backend, loaded, sensors, None, 0, result)
    req = result.requests
    if req.total and not req.succeeded:  # execute's rule: a case with no success is a failed case
        result.update(status="failed", error=f"all {req.total} requests failed")
    summary = result.to_json()

    rd = RunDir.create(tmp_path_factory.mktemp("runs"), "wr")
    rd.append_case(summary, [{"case_id": case.case_id, **r.to_json()} for r in records])
    back = rd.cases()  # read_case: raises InputError on anything a reader refuses
    assert len(back) == 1 and back[0]["case_id"] == case.case_id and back[0]["status"] == summary["status"]
    typed = rd.case_results()
    assert typed[0].identity.case_id == case.case_id
    assert len(read_jsonl(rd.requests_path)) == len(records)
    rd.prepare_resume()  # the recount keeps every record of a written case
    assert len(read_jsonl(rd.requests_path)) == len(records) and rd.cases()[0]["records"]["count"] == len(records)
    rd.write_summary_csv()
