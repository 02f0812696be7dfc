"""The low-stakes audit: concentration among harmful decisions, bursts within the reaction
time, the semi-informative catastrophe forecast, and the verdicts on real runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lowstakes
from lowstakes.audit import (
    arm_audit,
    catastrophe_chance,
    harmful_top_share,
    largest_burst,
    reaction_time,
    rule_text,
    run_audit,
    seed_audit,
)
from lowstakes.scenario import Audit


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 5000), st.floats(0.01, 100))
def test_equal_harms_are_never_concentrated_however_rare(mistakes, clean, size):
    harm = np.r_[np.zeros(clean), np.full(mistakes, size)]
    np.random.default_rng(mistakes).shuffle(harm)
    assert harmful_top_share(harm) == pytest.approx(0.01)


def test_concentration_by_hand():
    # 200 harmful decisions: the worst 1% is 2 of them. Two of harm 98 among 198 of harm 1.
    harm = np.r_[np.zeros(800), np.ones(198), 98.0, 98.0]
    assert harmful_top_share(harm) == pytest.approx(196 / (196 + 198))
    # 150 harmful: the worst 1.5 decisions, the second counted half.
    harm = np.r_[np.ones(148), 10.0, 4.0]
    assert harmful_top_share(harm) == pytest.approx((10 + 0.5 * 4) / 162)
    assert harmful_top_share(np.zeros(10)) == 0.0


def test_largest_burst_by_hand():
    harm = np.r_[np.zeros(5), [1, 0, 1, 1], np.zeros(5), [0.5] * 3]
    assert largest_burst(harm, 4) == (3.0, 5)
    assert largest_burst(harm, 1) == (1.0, 5)
    assert largest_burst(harm, 100) == (harm.sum(), 0)
    assert largest_burst(harm, 2, skip=6) == (2.0, 7)


def test_the_cold_start_is_not_a_burst():
    harm = np.zeros(2000)
    harm[:20] = 1.0             # an untrained learner, before any label is back
    harm[100::100] = 1.0
    assert _audit(harm, 20)["low_stakes"]
    harm[500:520] = 1.0         # the same later is a burst
    assert _audit(harm, 20)["burst"]["start"] == 500 and not _audit(harm, 20)["low_stakes"]


def _audit(harm, k, **settings):
    return seed_audit(np.asarray(harm, float), 1.0, Audit(**settings), k, None)


def test_a_burst_is_flagged_only_when_dense_and_a_large_share():
    quiet = np.zeros(1000)
    quiet[::50] = 1  # 20 spread mistakes
    dense = quiet.copy()
    dense[500:510] = 1  # 10 in a row: 100% of 10 x B, a third of the harm
    assert _audit(quiet, 10)["low_stakes"]
    flagged = _audit(dense, 10)
    assert flagged["bursty"] and not flagged["concentrated"] and not flagged["low_stakes"]
    assert flagged["burst"] == {"k": 10, "harm": 10.0, "start": 500, "density": 1.0, "share": 10 / 29,
                                "contrast": (10 / 29) / (10 / 1000)}
    # At the edges of the settings: density exactly 50% or share exactly 5% is not a burst.
    assert not _audit(dense, 10, burst_density=1.0)["bursty"]
    assert not _audit(dense, 10, burst_share=10 / 29)["bursty"]
    assert _audit(dense, 10, burst_share=10 / 29 - 1e-9)["bursty"]
    # Uniformly bad is not a burst: dense everywhere, but no window is a large share.
    assert not _audit(np.ones(10_000), 10)["bursty"]
    # Nor is a pile-up: bad for the second half, so a long window holds a large share, but
    # only about twice what an average window holds.
    pile = np.r_[np.zeros(500), np.ones(500)]
    assert _audit(pile, 100)["burst"]["share"] > 0.05 and not _audit(pile, 100)["bursty"]
    assert _audit(pile, 100, burst_contrast=1.5)["bursty"]


def test_concentration_threshold_is_strict():
    harm = np.r_[np.ones(99), 99.0]  # 100 harmful: the worst one does half of 198
    assert harmful_top_share(harm) == pytest.approx(0.5)
    assert not _audit(harm, 1, concentration=0.5, burst_share=1.0)["concentrated"]
    assert _audit(harm, 1, concentration=0.49, burst_share=1.0)["concentrated"]


def test_the_run_is_low_stakes_only_when_every_arm_is():
    settings_ = Audit()
    spread = np.zeros(1000)
    spread[::50] = 1.0  # 20 equal mistakes, far apart
    good = {"audit": _audit(spread, 5)}
    bad = {"audit": _audit(np.r_[spread[:-1], 1000.0], 5)}  # and one catastrophe
    arms = [arm_audit([good, good], 1000.0, settings_, 1000), arm_audit([good, bad], 1000.0, settings_, 1000)]
    assert arms[0]["low_stakes"] and not arms[1]["low_stakes"]
    assert not run_audit(arms, settings_)["low_stakes"]
    assert run_audit(arms[:1], settings_)["low_stakes"]


def test_reaction_time_defaults():
    def scenario(**changes):
        data = {"name": "r", "horizon": 1000, "stream": {"source": "sea"}, "windows": {"smoothing": 77},
                "learners": {"a": {"model": "linear_model.LogisticRegression"},
                             "b": {"model": "linear_model.LogisticRegression",
                                   "overseer": {"capacity": 1, "service": {"exponential": 3.5}}}}}
        data.update(changes)
        return lowstakes.Scenario.from_dict(data)

    assert reaction_time(scenario(), "a") == 77                    # no delay: the smoothing
    assert reaction_time(scenario(), "b") == 4                     # mean service 3.5 -> 4 decisions
    delayed = scenario(timing={"feedback_delay": {"exponential": 20}, "arrivals": {"every": 0.5}})
    assert reaction_time(delayed, "a") == 40                       # 20 time units, 2 decisions each
    assert reaction_time(delayed, "b") == 47                       # (20 + 3.5) / 0.5
    assert reaction_time(scenario(audit={"reaction": 9}), "b") == 9
    # A fixed service time; Poisson arrivals (4 per time unit: 0.25 apart); short delays.
    fixed = scenario(learners={"a": {"model": "linear_model.LogisticRegression",
                                     "overseer": {"capacity": 1, "service": {"fixed": 2.0}}}})
    assert reaction_time(fixed, "a") == 2
    poisson = scenario(timing={"feedback_delay": {"fixed": 3.0}, "arrivals": {"poisson": 4.0}})
    assert reaction_time(poisson, "a") == 12
    assert reaction_time(scenario(timing={"feedback_delay": {"fixed": 0.5}}), "a") == 1   # not the smoothing
    assert reaction_time(scenario(timing={"feedback_delay": {"fixed": 0.5}, "arrivals": {"every": 2.0}}),
                         "a") == 1                                  # at least one decision
    assert reaction_time(scenario(windows={"smoothing": 1}), "a") == 1


def test_catastrophe_forecast_matches_simulating_the_prior():
    # Draw the per-decision chance from the posterior, then H decisions: the share of
    # draws with at least one catastrophe is the forecast.
    n, k, p0, horizon = 2000, 3, 0.01, 500
    rng = np.random.default_rng(0)
    chance = rng.beta(1 + k, 1 / p0 - 1 + n - k, size=200_000)
    simulated = 1 - np.mean((1 - chance) ** horizon)
    assert catastrophe_chance(n, k, p0, horizon) == pytest.approx(simulated, abs=0.005)
    # With nothing seen, the first-trial probability sets the per-decision chance.
    assert catastrophe_chance(0, 0, p0, 1) == pytest.approx(p0)


@pytest.mark.slow
def test_flagship_is_low_stakes_and_the_contrast_is_not(tmp_path):
    flagship = lowstakes.run("scenarios/shift.yaml", out=tmp_path / "a", horizon=6000, seeds=2, workers=2)
    contrast = lowstakes.run("scenarios/high_stakes.yaml", out=tmp_path / "b", seeds=2, workers=2)
    assert flagship.summary["audit"]["low_stakes"]
    assert flagship.summary["audit"]["top_share_max"] < 0.05
    assert not contrast.summary["audit"]["low_stakes"]
    for arm in contrast.summary["arms"]:
        # Concentrated wherever a catastrophe happened (a seed may see none: hence the forecast).
        assert arm["audit"]["concentrated"] >= 1 and arm["audit"]["top_share_max"] > 0.5
    forecast = contrast.summary["arms"][0]["audit"]["catastrophes"]
    assert forecast["seen"] > 0 and forecast["chance_in_forecast"] > 0.5
    assert contrast.summary["audit"]["max_harm"] == 1000.0


def test_a_near_perfect_learner_is_low_stakes(tmp_path):
    """The report that started it: no label noise, rare equal mistakes."""
    scenario = lowstakes.Scenario.from_dict({
        "name": "clean", "horizon": 20_000, "seeds": 2, "stream": {"source": "sea"},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                                "preprocess": ["preprocessing.StandardScaler"]},
                     "perceptron": {"model": "linear_model.Perceptron",
                                    "preprocess": ["preprocessing.StandardScaler"]}}})
    result = lowstakes.run(scenario, out=tmp_path / "clean", workers=2)
    assert result.summary["audit"]["low_stakes"]
    for arm in result.summary["arms"]:
        for seed in arm["seeds"]:
            audit = seed["audit"]
            assert audit["harmful_decisions"] < 0.05 * 20_000   # rare mistakes...
            assert audit["top_share"] == pytest.approx(0.01)     # ...of equal harm


def test_a_burst_within_the_reaction_time_is_flagged(tmp_path):
    result = lowstakes.run("scenarios/burst.yaml", out=tmp_path / "burst", workers=2)
    assert not result.summary["audit"]["low_stakes"]
    arm = result.summary["arms"][0]["audit"]
    assert arm["max_harm"] == 1.0 == result.summary["harm_bound"]
    assert arm["top_share_max"] == pytest.approx(0.01) and arm["concentrated"] == 0
    assert arm["bursty"] == 3
    for seed in result.summary["arms"][0]["seeds"]:
        burst = seed["audit"]["burst"]
        assert burst["k"] == 50 and 4950 <= burst["start"] <= 5050    # the 50 decisions at 5,000
        assert burst["density"] > 0.9


def test_user_stakes_function_and_the_bound_check(tmp_path, monkeypatch):
    (tmp_path / "my_stakes.py").write_text(
        "import numpy as np\n"
        "def tenfold_when_x0_high(block):\n"
        "    return np.where([x[0] > 9.9 for x in block.x], 10.0, 1.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    base = {"name": "stakes", "horizon": 4000, "stream": {"source": "sea", "label_noise": 0.1},
            "learners": {"logreg": {"model": "linear_model.LogisticRegression"}}}
    stakes = {"function": "my_stakes:tenfold_when_x0_high"}
    ok = lowstakes.run(lowstakes.Scenario.from_dict(
        {**base, "harm": {"bound": 10.0, "stakes": stakes}}), out=tmp_path / "ok")
    assert ok.summary["audit"]["max_harm"] == 10.0
    # The function's multipliers exceed a bound of 5: the run fails loudly, not silently.
    with pytest.raises(lowstakes.HarmBoundError, match="outside \\[0, B=5.0\\]"):
        lowstakes.run(lowstakes.Scenario.from_dict({**base, "harm": {"bound": 5.0, "stakes": stakes}}),
                      out=tmp_path / "bad")
    assert (tmp_path / "bad" / "INCOMPLETE").exists()
    with pytest.raises(lowstakes.ScenarioError, match="harm.stakes.function: module 'my_stakes' has no"):
        missing = {"function": "my_stakes:nope"}
        lowstakes.Scenario.from_dict({**base, "harm": {"bound": 5.0, "stakes": missing}})


def test_user_harm_function_replaces_the_cost_matrix(tmp_path, monkeypatch):
    (tmp_path / "my_harm.py").write_text(
        "import numpy as np\n"
        "def costly_misses(actions, truth, block):\n"
        "    # A missed positive costs 3, a false alarm 1, when x2 > 5; nothing otherwise.\n"
        "    x2 = np.array([x[2] for x in block.x])\n"
        "    miss = (actions == 0) & (truth == 1)\n"
        "    alarm = (actions == 1) & (truth == 0)\n"
        "    return np.where(x2 > 5, 3.0 * miss + 1.0 * alarm, 0.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = lowstakes.Scenario.from_dict({
        "name": "fn", "horizon": 3000, "harm": {"bound": 3.0, "function": "my_harm:costly_misses"},
        "stream": {"source": "sea", "label_noise": 0.1},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression"}}})
    trace = lowstakes.run(scenario, out=tmp_path / "run").trace
    assert set(np.unique(trace["harm"])) == {0.0, 1.0, 3.0}
    expected = np.where((trace["action"] == 0) & (trace["truth"] == 1), 3.0, 1.0)
    harmful = trace["harm"] > 0
    np.testing.assert_array_equal(trace["harm"][harmful], expected[harmful])
    with pytest.raises(lowstakes.ScenarioError, match="harm.function: module 'my_harm' has no"):
        lowstakes.Scenario.from_dict({**scenario.to_dict(), "harm": {"bound": 3.0, "function": "my_harm:x"}})


def test_arm_and_run_audits_field_by_field():
    """Every field of the arm's and the run's audit, from two seeds' audits by hand."""
    settings_ = Audit(catastrophe=0.5, p0=0.01, forecast=100)
    # Seed 0: harms 1, 0.25 (one catastrophe); seed 1: harms 0.25, 0.25, 1, 1 (two).
    first = {"audit": seed_audit(np.r_[np.zeros(6), 1.0, 0.25, np.zeros(2)], 1.0, settings_, 2, 2.0, 0.5)}
    second = {"audit": seed_audit(np.r_[0.25, 0.25, np.zeros(4), 1.0, 1.0, np.zeros(2)], 1.0, settings_,
                                  2, None, 0.5)}
    # Seed 0: the largest pair from decision 2 on is (1, 0.25) at 6: 1.25 of 1.25;
    # seed 1: (1, 1) at 6: 2 of 2.5. Top 1% of harmful decisions: 0.02 x 1 of 1.25, 0.04 x 1 of 2.5.
    assert first["audit"]["burst"] == {"k": 2, "harm": 1.25, "start": 6, "density": 0.625, "share": 1.0,
                                       "contrast": 5.0}
    arm = arm_audit([first, second], 2.0, settings_, horizon=10)
    n, k = 20, 3
    assert arm == {
        "harm_bound": 2.0, "max_harm": 1.0,
        "top_share": pytest.approx((0.02 / 1.25 + 0.04 / 2.5) / 2), "top_share_max": pytest.approx(0.016),
        "largest_share_max": pytest.approx(0.8),
        # B / total harm: 1 / 1.25 and 1 / 2.5; B / transition cost only where one was given.
        "bound_over_harm": pytest.approx((0.8 + 0.4) / 2), "bound_over_transition_cost": 0.5,
        "burst": first["audit"]["burst"],  # the larger share
        "outlier": 0, "outlier_ratio_max": 2.0, "concentrated": 0,
        # Seed 1's burst is 4.0 times an average pair (0.8 / (2 / 10)): not more than 4, no burst.
        "bursty": 1, "seeds": 2, "low_stakes": False,
        "catastrophes": {"threshold": 0.5, "decisions": n, "seen": k, "p0": 0.01,
                         "per_decision": pytest.approx((k + 1) / (100 + n)), "forecast_decisions": 100,
                         "chance_in_forecast": pytest.approx(catastrophe_chance(n, k, 0.01, 100))}}
    # The forecast defaults to the horizon.
    assert arm_audit([first], 1.0, Audit(catastrophe=0.5), 10)["catastrophes"]["forecast_decisions"] == 10
    calm = {"audit": seed_audit(np.full(10, 0.1), 1.0, settings_, 2, None, None)}
    assert arm_audit([calm], 1.0, settings_, 10)["bound_over_transition_cost"] is None
    run = run_audit([arm, arm_audit([calm], 1.0, settings_, 10)], settings_)
    assert run == {"low_stakes": False, "rule": rule_text(settings_), "reaction": None, "outlier": 10.0,
                   "concentration": 0.5, "burst_density": 0.5, "burst_share": 0.05, "burst_contrast": 4.0,
                   "max_harm": 1.0, "top_share_max": pytest.approx(0.016), "burst_share_max": 1.0,
                   "catastrophe": 0.5, "p0": 0.01, "forecast": 100}


def test_catastrophe_chance_counts_the_catastrophes_seen():
    # Beta(1 + k, 1/p0 - 1 + n - k) with k = 2, n = 10, p0 = 0.1: Beta(3, 17); one more
    # decision is a catastrophe with chance 3 / 20.
    assert catastrophe_chance(n=10, k=2, p0=0.1, horizon=1) == pytest.approx(3 / 20)
    # Two more: 1 - (17/20)(18/21).
    assert catastrophe_chance(n=10, k=2, p0=0.1, horizon=2) == pytest.approx(1 - 17 / 20 * 18 / 21)


def test_one_seed_audit_field_by_field():
    # Ten decisions, k = 3: from decision 3 on, the largest 3-decision harm is 1.0, first at
    # decisions 5..7 (0 + 0.5 + 0.5; the cold start's 0.75 at decision 1 does not count).
    harm = np.r_[0.0, 0.75, 0.0, 0.0, 0.25, 0.0, 0.5, 0.5, 0.0, 0.0]
    out = seed_audit(harm, 1.0, Audit(catastrophe=0.5), 3, 1.5, 0.25)
    assert out["max_harm"] == 0.75 and out["total_harm"] == 2.0 and out["harmful_decisions"] == 4
    assert out["catastrophes"] == 1  # above the threshold, not at it
    assert out["burst"]["harm"] == 1.0 and out["burst"]["start"] == 5
    assert out["largest_share"] == 0.375 and out["bound_over_harm"] == 0.5
    assert out["outlier_ratio"] == 3.0
    # No harm at all: the largest harm is 0, not the start of max().
    calm = seed_audit(np.zeros(5), 1.0, Audit(), 2, None, 1.0)
    assert calm["max_harm"] == 0.0 and calm["harmful_decisions"] == 0 and calm["outlier_ratio"] == 0.0
    # k as long as the run: no decision is left after a cold start of k, so the burst is the
    # whole run's harm from its first decision.
    whole = seed_audit(np.r_[1.0, 0.0, 0.5], 1.0, Audit(), 3, None)
    assert whole["burst"]["harm"] == 1.5 and whole["burst"]["start"] == 0


def test_the_audit_of_one_seed_from_its_statistics():
    from lowstakes.audit import HarmStats, audit_of

    settings_ = Audit(outlier=4.0)
    stats = HarmStats(n=200, total=0.5, largest=0.25, harmful=3, top_share=0.3, burst=(0.4, 7))
    out = audit_of(stats, 2.0, settings_, 4, 0.5, typical=0.0625)
    assert out["total_harm"] == 0.5 and out["harmful_decisions"] == 3 and out["typical_worst"] == 0.0625
    assert out["burst"] == {"k": 4, "harm": 0.4, "start": 7, "density": 0.4 / 8, "share": 0.8,
                            "contrast": 0.8 / (4 / 200)}
    assert out["largest_share"] == 0.5 and out["bound_over_harm"] == 4.0
    assert out["bound_over_transition_cost"] == 4.0
    assert out["outlier_ratio"] == 4.0 and out["outlier"] is False      # at the threshold: not above it
    assert out["top_share"] == 0.3 and "catastrophes" not in out
    # No harm at all, and no decision: nothing to divide by.
    none = audit_of(HarmStats(n=0, total=0.0, largest=0.0, harmful=0, top_share=0.0, burst=(0.0, 0)),
                    1.0, settings_, 3, 0.0)
    assert (none["burst"]["share"], none["burst"]["contrast"], none["largest_share"]) == (0.0, 0.0, 0.0)
    assert none["bound_over_harm"] is None and none["bound_over_transition_cost"] is None
    assert none["outlier_ratio"] is None and none["low_stakes"] is True
    # k longer than the run: the contrast compares with the whole run, not more.
    short = audit_of(HarmStats(n=2, total=1.0, largest=0.5, harmful=2, top_share=0.5, burst=(1.0, 0)),
                     1.0, settings_, 5, None)
    assert short["burst"]["contrast"] == 1.0
    # One flag is enough to make an arm high-stakes.
    outlier = audit_of(stats, 2.0, settings_, 4, None, typical=0.05)
    assert outlier["outlier"] and not outlier["concentrated"] and not outlier["bursty"]
    assert outlier["low_stakes"] is False


def test_the_largest_burst_is_summed_in_double_precision():
    # In single precision 3e7 + 1 is 3e7: the 1 after it must still count.
    harm = np.array([0.0, 3e7, 1.0, 1.0], np.float32)
    assert largest_burst(harm, 2, skip=1) == (30_000_001.0, 1)


def test_a_seed_without_decisions_has_nothing_to_flag():
    out = seed_audit(np.zeros(0), 1.0, Audit(), 2, None)
    assert out["max_harm"] == 0.0 and out["total_harm"] == 0.0 and out["low_stakes"] is True
