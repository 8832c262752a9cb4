"""`check`: a run against itself passes; a copy made 30 % slower (request timestamps stretched) fails with
exit 1 naming the cases; runs that differ are not comparable; bad input exits 2."""
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from bench.summary import metrics
from bench.analysis import check
from bench.cli import main
from bench.measure import trials
from bench.summary.metrics import RequestRecord
from conftest import write_config

CONFIG = """
name: chk
models: [tiny:llama]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 16, batch_sizes: [1, 2], num_batches: 2, warmup: 1, trials: 5}
"""


def scripted_run_batch(seed: int = 0):
    """The decode loop's run_batch on a scripted clock: each step takes 10 ms x (1 ± up to 3 %, seeded), so
    the run's trials differ a little, as real ones do, but this shared machine's noise (its CPU pressure
    swings trials by ±30 %) cannot make the gate's verdicts flaky. Everything after run_batch is the real
    runner, result files and CLI."""
    import random

    rng, clock = random.Random(seed), [1000.0]

    def run_batch(self, prompts, output_tokens, batch_id):
        step = 0.010 * (1 + rng.uniform(-0.03, 0.03))
        t0 = clock[0]
        times = [t0 + step * (k + 1) for k in range(output_tokens)]
        clock[0] = times[-1] + 0.001
        return [RequestRecord(f"{batch_id}.{i}", len(p), output_tokens, t0, token_times_s=list(times),
                              batch_id=batch_id) for i, p in enumerate(prompts)]
    return run_batch


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend

    tmp = tmp_path_factory.mktemp("chk")
    cfg = write_config(tmp / "c.yaml", CONFIG)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DecodeLoopBackend, "run_batch", scripted_run_batch())
        assert main(["run", str(cfg), "--output-dir", str(tmp / "out"), "--format", "json"]) == 0
    return next((tmp / "out").iterdir())


def stretched_copy(src: Path, dst: Path, factor: float) -> Path:
    """A copy of a run whose every request timestamp is stretched by ``factor`` from the start of its
    trial (so each request takes ``factor`` times as long), with each case re-derived from the stretched
    records by the package's own functions (per-trial summaries, the trials block, the headline)."""
    shutil.copytree(src, dst)
    by_case = defaultdict(lambda: defaultdict(list))
    lines = []
    for line in (dst / "requests.jsonl").read_text().splitlines():
        d = json.loads(line)
        by_case[d["case_id"]][d["trial"]].append(d)
    for cid, per_trial in by_case.items():
        for recs in per_trial.values():
            t0 = min(d["submitted_s"] for d in recs)
            s = lambda t: None if t is None else t0 + (t - t0) * factor  # noqa: E731
            for d in recs:
                d["token_times_s"] = [s(t) for t in d["token_times_s"]]
                for k in ("submitted_s", "first_token_s", "done_s", "first_token_at_s", "done_at_s"):
                    d[k] = s(d[k])
                lines.append(json.dumps(d))
    (dst / "requests.jsonl").write_text("\n".join(lines) + "\n")
    cases = []
    for line in (dst / "cases.jsonl").read_text().splitlines():
        c = json.loads(line)
        done = []
        for k in sorted(by_case[c["case_id"]]):
            recs = [RequestRecord.from_json(d) for d in by_case[c["case_id"]][k]]
            summ = metrics.summarize(recs)
            summ["output_tok_s_per_accelerator"] = summ["output_tok_s"]
            done.append(trials.Trial(recs, summ, {}))
        plan = trials.Plan(fixed=len(done), max_trials=len(done), done=done)
        c.update(trials.headline(done))
        c["trials"] = trials.trials_block(done, plan)
        cases.append(json.dumps(c))
    (dst / "cases.jsonl").write_text("\n".join(cases) + "\n")
    return dst


def run_check(capsys, *args):
    code = main(["check", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_run_checked_against_itself_passes(run_dir, capsys):
    code, out, _ = run_check(capsys, run_dir, "--baseline", run_dir, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["exit_code"] == 0 and doc["regressed"] == [] and doc["not_comparable"] == []
    assert {r["verdict"] for r in doc["rows"]} == {"unchanged"}
    assert {r["metric"] for r in doc["rows"]} == {"output_tok_s", "tpot_p50_s"}
    assert all(r["method"] == "Welch n=5/5" and r["delta_rel"] == 0 for r in doc["rows"])
    assert doc["compared"] == sorted(doc["compared"]) and len(doc["compared"]) == 2
    code, out, _ = run_check(capsys, run_dir, "--baseline", run_dir)
    assert code == 0 and "pass: 2 of 2 baseline case(s) compared, 0 regressed, 0 improved, 0 not comparable" in out
    assert "TPOT p50 ms" in out  # times in ms, as in every other table


def test_a_copy_30_percent_slower_fails_naming_the_cases(run_dir, tmp_path, capsys):
    slow = stretched_copy(run_dir, tmp_path / "slow", 1.3)
    same = stretched_copy(run_dir, tmp_path / "same", 1.0)
    code, out, _ = run_check(capsys, same, "--baseline", run_dir, "--format", "json")
    assert code == 0, out  # the re-derivation itself changes nothing
    code, out, _ = run_check(capsys, slow, "--baseline", run_dir, "--format", "json",
                             "--metric", "output_tok_s", "--metric", "e2e_p50_s")
    doc = json.loads(out)
    assert code == 1
    assert doc["regressed"] == ["tiny-llama_bs1_in8_out16", "tiny-llama_bs2_in8_out16"]
    for r in doc["rows"]:
        assert r["verdict"] == "regressed" and r["p_value"] < check.ALPHA
        # throughput falls to 1/1.3 of the baseline, latency rises by 30 %
        expect = 1 / 1.3 - 1 if r["metric"] == "output_tok_s" else 0.3
        assert r["delta_rel"] == pytest.approx(expect, rel=1e-6)
    code, out, _ = run_check(capsys, slow, "--baseline", run_dir, "--format", "md")
    assert code == 1 and out.startswith("### bench check: FAIL: 2 of 2 baseline case(s) compared, 2 regressed")
    assert "| tiny-llama_bs1_in8_out16 | out tok/s |" in out and "❌ regressed" in out
    code, out, _ = run_check(capsys, slow, "--baseline", run_dir, "--max-regression", "40%")
    assert code == 0  # a 30 % slowdown is within a 40 % tolerance


def test_other_hardware_or_an_invalid_case_is_not_comparable(run_dir, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    m = json.loads((other / "manifest.json").read_text())
    m["hardware"] = "NVIDIA H200"
    m["environment"]["versions"]["torch"] = "0.0-other"
    (other / "manifest.json").write_text(json.dumps(m))
    code, out, _ = run_check(capsys, other, "--baseline", run_dir, "--format", "json")
    doc = json.loads(out)
    # nothing compared is never a pass: exit 3, with the reasons counted
    assert code == 3 and doc["exit_code"] == 3 and doc["regressed"] == [] and len(doc["not_comparable"]) == 2
    assert any("hardware differs" in n for n in doc["run_notes"]) and any("torch version" in n for n in doc["run_notes"])
    assert {r["verdict"] for r in doc["rows"]} == {"not comparable"}
    assert list(doc["not_comparable_reasons"].values()) == [2] and doc["compared"] == []
    code, out, _ = run_check(capsys, other, "--baseline", run_dir)
    assert code == 3 and "NOT ENOUGH COMPARED: 0 of 2 baseline case(s) compared" in out
    code, out, _ = run_check(capsys, other, "--baseline", run_dir, "--allow-missing")
    assert code == 0 and "pass: 0 of 2 baseline case(s) compared" in out  # accepted explicitly, and said

    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    cases = [json.loads(x) for x in (bad / "cases.jsonl").read_text().splitlines()]
    cases[0]["validity"] = {"verdict": "invalid", "reasons": ["3/4 requests failed"]}
    (bad / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    code, out, _ = run_check(capsys, bad, "--baseline", run_dir, "--format", "json")
    doc = json.loads(out)
    assert code == 3 and doc["not_comparable"] == [cases[0]["case_id"]]  # 1 of the baseline's 2 compared
    assert "measurement invalid: 3/4 requests failed" in doc["rows"][0]["note"]
    code, out, _ = run_check(capsys, bad, "--baseline", run_dir, "--min-compared", "1")
    assert code == 0 and "1 of 2 baseline case(s) compared, 0 regressed, 0 improved, 1 not comparable" in out


def test_bad_input_exits_2(run_dir, tmp_path, capsys):
    code, _, err = run_check(capsys, run_dir, "--baseline", tmp_path)
    assert code == 2 and err.startswith("error: ") and "not a run directory" in err and len(err.splitlines()) == 1
    code, _, err = run_check(capsys, run_dir, "--baseline", run_dir, "--max-regression", "five")
    assert code == 2 and "--max-regression" in err
    code, _, err = run_check(capsys, run_dir, "--baseline", run_dir, "--metric", "speed")
    assert code == 2 and "known: output_tok_s" in err
    code, _, err = run_check(capsys, run_dir, "--baseline", run_dir, "--min-compared", "-1")
    assert code == 2 and "--min-compared -1" in err and len(err.splitlines()) == 1


def case(cid, values=None, headline=100.0, verdict="ok"):
    c = {"case_id": cid, "status": "ok", "output_tok_s": headline, "validity": {"verdict": verdict, "reasons": []}}
    if values is not None:
        c["trials"] = {"metrics": {"output_tok_s": {"values": values}}}
    return c


M = {"config_sha256": "x", "hardware": "cpu"}


def run(*cases, m=M):
    """A typed run of these case lines (the gate reads runs as bench.results gives them)."""
    from pathlib import Path

    from bench.results.run import Manifest, Run
    from bench.results.schema import CaseResult

    return Run(Path("/nowhere"), Manifest.from_json(m, Path("/nowhere")), [CaseResult.from_json(c) for c in cases])


def test_one_trial_uses_a_fixed_tolerance_and_says_so():
    rep = check.check(run(case("a", headline=100.0)), run(case("a", headline=94.0)), ["output_tok_s"])
    [row] = rep.rows
    assert row.verdict == "regressed" and row.method == "±5%, 1 trial" and row.p_value is None
    assert rep.exit_code() == 1
    rep = check.check(run(case("a", headline=100.0)), run(case("a", headline=96.0)), ["output_tok_s"])
    assert rep.rows[0].verdict == "unchanged" and rep.exit_code() == 0


def test_noisy_difference_beyond_tolerance_but_not_significant_is_unchanged():
    base, cand = [100.0, 80.0, 120.0], [90.0, 70.0, 110.0]  # -10 %, but p = 0.56
    rep = check.check(run(case("a", base)), run(case("a", cand)), ["output_tok_s"])
    [row] = rep.rows
    assert row.verdict == "unchanged" and "not significant" in row.note and row.p_value > 0.5
    warned = check.check(run(case("a", base, verdict="warn")), run(case("a", base)), ["output_tok_s"])
    assert warned.rows[0].verdict == "unchanged" and warned.rows[0].note == "validity warn on the baseline"
    better = check.check(run(case("a", [100.0, 101.0, 99.0])), run(case("a", [120.0, 121.0, 119.0])),
                         ["output_tok_s"])
    assert better.rows[0].verdict == "improved" and better.exit_code() == 0
    missing = check.check(run(case("a", base)), run(case("b", base)), ["output_tok_s"])
    assert [r.verdict for r in missing.rows] == ["not comparable"] * 2 and missing.exit_code() == 3
    assert dict(missing.reasons()) == {"missing from the candidate": 1, "new case: not in the baseline": 1}
    assert check.check(run(case("a", base)), run(case("b", base)), ["output_tok_s"], allow_missing=True).exit_code() == 0


def test_the_gate_never_passes_on_nothing():
    # no case at all, on either side
    empty = check.check(run(), run(), ["output_tok_s"])
    assert empty.exit_code() == 3 and "NOT ENOUGH COMPARED: 0 of 0" in check.summary_line(empty)
    # another config: every case not comparable
    other = check.check(run(case("a")), run(case("a"), m={**M, "config_sha256": "y"}), ["output_tok_s"])
    assert other.exit_code() == 3 and other.not_comparable == ["a"]
    # trial values that are all NaN (or the headline NaN): not measured, so not compared
    nan = float("nan")
    assert check.check(run(case("a", [nan, nan])), run(case("a", [nan, nan])), ["output_tok_s"]).exit_code() == 3
    assert check.check(run(case("a", headline=nan)), run(case("a", headline=nan)), ["output_tok_s"]).exit_code() == 3
    # fewer compared than asked
    two = [case("a"), case("b")]
    assert check.check(run(*two), run(case("a")), ["output_tok_s"]).exit_code() == 3
    assert check.check(run(*two), run(case("a")), ["output_tok_s"], min_compared=1).exit_code() == 0
    # a regression still fails even when others are missing
    assert check.check(run(*two), run(case("a", headline=50.0)), ["output_tok_s"]).exit_code() == 1


def test_json_is_strict_even_with_nan_values(run_dir, tmp_path, capsys):
    nan_run = tmp_path / "nan"
    shutil.copytree(run_dir, nan_run)
    cases = [json.loads(x) for x in (nan_run / "cases.jsonl").read_text().splitlines()]
    for c in cases:
        c["trials"]["metrics"]["output_tok_s"]["values"] = [None] * 5
    (nan_run / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    code, out, _ = run_check(capsys, nan_run, "--baseline", nan_run, "--format", "json")
    assert code == 3 and "NaN" not in out and "Infinity" not in out
    json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def test_tolerance_parsing():
    assert check.parse_tolerance("5%") == pytest.approx(0.05) and check.parse_tolerance("0.1") == 0.1
    for bad in ("5", "-1%", "abc"):
        with pytest.raises(ValueError):
            check.parse_tolerance(bad)


def test_adaptive_trials_follow_the_rule(tmp_path, capsys):
    cfg = write_config(tmp_path / "a.yaml", CONFIG.replace("trials: 5", "until: {ci_rel: 0.5, min_trials: 2, max_trials: 3}")
                       .replace("batch_sizes: [1, 2]", "batch_sizes: [2]"))
    assert main(["run", str(cfg), "--output-dir", str(tmp_path / "out"), "--format", "json"]) == 0
    [c] = json.loads(capsys.readouterr().out)["cases"]
    t = c["trials"]
    assert t["rule"]["mode"] == "adaptive" and 2 <= t["n"] <= 3
    vals = t["metrics"]["output_tok_s"]["values"]
    rel = t["rule"]["achieved_ci_rel"]
    # it stopped because it converged, or because it hit max_trials; and not before min_trials
    assert (t["rule"]["converged"] and rel <= 0.5) or t["n"] == 3
    if t["n"] == 3:  # the rule asked for a third trial only if two did not converge
        from bench.summary import stats

        assert stats.ci_rel_half_width(vals[:2]) > 0.5


def test_trials_and_until_together_is_a_config_error(tmp_path, capsys):
    cfg = write_config(tmp_path / "b.yaml", CONFIG.replace("trials: 5", "trials: 5, until: {ci_rel: 0.1}"))
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "workload" in err and "not both" in err and len(err.splitlines()) == 1
