"""bench.summary.stats against hand-computed numbers (and scipy as the oracle for the t distribution and Welch)."""
import math

import pytest

from bench.summary import stats


def test_t_interval_by_hand():
    # [10, 12, 14]: mean 12, s = sqrt(((-2)^2 + 0 + 2^2) / 2) = 2, t(0.975, 2) = 4.302653 (table value)
    # half-width = 4.302653 * 2 / sqrt(3) = 4.968275
    s = stats.summary([10.0, 12.0, 14.0])
    assert s["mean"] == 12.0 and s["stdev"] == 2.0 and s["n"] == 3
    assert s["ci95"] == pytest.approx([12 - 4.968275, 12 + 4.968275], abs=1e-6)
    assert s["cv"] == pytest.approx(2 / 12)
    assert s["values"] == [10.0, 12.0, 14.0]


def test_t_quantiles_match_the_printed_table():
    # Student t two-sided 95 % critical values, any statistics textbook table
    for df, t in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)):
        assert stats.t_ppf(0.975, df) == pytest.approx(t, abs=5e-4)
    assert stats.t_ppf(0.025, 4) == pytest.approx(-2.776, abs=5e-4)


def test_one_trial_has_no_interval_and_none_is_not_zero():
    s = stats.summary([5.0])
    assert s["mean"] == 5.0 and s["stdev"] is None and s["ci95"] is None and s["cv"] is None and s["n"] == 1
    assert stats.summary([None, None]) is None
    s = stats.summary([None, 4.0, 6.0])  # a trial that did not measure it is kept in values, left out of n
    assert s["n"] == 2 and s["mean"] == 5.0 and s["values"] == [None, 4.0, 6.0]


def test_t_distribution_against_scipy():
    sp = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3.7, 8.97, 25, 300):
        for t in (0.0, 0.4, 1.3, 2.5, 7.0):
            assert stats.t_sf(t, df) == pytest.approx(float(sp.t.sf(t, df)), rel=1e-9, abs=1e-14)
        for q in (0.6, 0.9, 0.975, 0.999):
            assert stats.t_ppf(q, df) == pytest.approx(float(sp.t.ppf(q, df)), rel=1e-9)


def test_welch_on_known_samples_by_hand_and_scipy():
    a = [10.0, 11.0, 12.0, 13.0, 14.0]  # mean 12, s² = 2.5, s²/n = 0.5
    b = [12.0, 13.5, 14.0, 15.0, 16.2, 17.0]  # mean 14.616667, s² = 3.361667, s²/n = 0.560278
    w = stats.welch(a, b)
    # t = 2.616667 / sqrt(1.060278) = 2.541198 ; df = 1.060278² / (0.5²/4 + 0.560278²/5) = 8.97...
    assert w["t"] == pytest.approx(2.616667 / math.sqrt(0.5 + 3.361667 / 6), rel=1e-5)
    assert w["df"] == pytest.approx((0.5 + 3.361667 / 6) ** 2 / (0.25 / 4 + (3.361667 / 6) ** 2 / 5), rel=1e-5)
    sp = pytest.importorskip("scipy.stats")
    ref = sp.ttest_ind(b, a, equal_var=False)
    assert w["t"] == pytest.approx(float(ref.statistic), rel=1e-12)
    assert w["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-9)
    assert 0.02 < w["p_value"] < 0.05


def test_welch_edges():
    assert stats.welch([1.0], [1.0, 2.0]) is None
    assert stats.welch([3.0, 3.0], [3.0, 3.0])["p_value"] == 1.0
    assert stats.welch([3.0, 3.0], [4.0, 4.0])["p_value"] == 0.0
    same = stats.welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["t"] == 0.0 and same["p_value"] == pytest.approx(1.0)


def test_adaptive_rule():
    # below min_trials: always go on, even when already tight
    assert stats.keep_going([100.0, 100.0], ci_rel=0.05, min_trials=3, max_trials=10)
    # [100, 101, 99]: s = 1, half = 4.302653 / sqrt(3) = 2.484 -> 2.5 % of the mean: stop at 5 %
    assert not stats.keep_going([100.0, 101.0, 99.0], ci_rel=0.05, min_trials=3, max_trials=10)
    assert stats.keep_going([100.0, 101.0, 99.0], ci_rel=0.02, min_trials=3, max_trials=10)
    assert stats.ci_rel_half_width([100.0, 101.0, 99.0]) == pytest.approx(4.302653 / math.sqrt(3) / 100, rel=1e-6)
    # noisy: [100, 130, 80] never converges at 5 %, the cap stops it
    assert stats.keep_going([100.0, 130.0, 80.0], 0.05, 3, 4)
    assert not stats.keep_going([100.0, 130.0, 80.0, 95.0], 0.05, 3, 4)
    assert stats.keep_going([None, None, None], 0.05, 3, 10)  # nothing measured never converges
    assert not stats.keep_going([None] * 10, 0.05, 3, 10)


def test_trial_plan_fixed_adaptive_and_slo_search():
    from types import SimpleNamespace

    from bench.config.schema import Until
    from bench.measure.trials import Plan, Trial

    def run(plan, values):
        it = iter(values)
        while plan.more():
            plan.done.append(Trial([], {"output_tok_s": next(it)}, {}))
        return len(plan.done)

    assert run(Plan.of(SimpleNamespace(trials=4, until=None)), [1.0] * 10) == 4
    assert run(Plan.of(SimpleNamespace(trials=4, until=None), "slo-search"), [1.0] * 10) == 1
    adaptive = SimpleNamespace(trials=1, until=Until(ci_rel=0.05, min_trials=3, max_trials=6))
    # [100, 101, 99] converges at 2.5 % after the minimum of 3
    p = Plan.of(adaptive)
    assert run(p, [100.0, 101.0, 99.0, 500.0]) == 3 and p.describe()["converged"] is True
    p = Plan.of(adaptive)
    assert run(p, [100.0, 130.0, 80.0, 120.0, 90.0, 110.0, 1.0]) == 6 and p.describe()["converged"] is False
