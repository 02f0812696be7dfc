"""Every scenario file validates and runs small; the flagship shows what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

import lowstakes

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


def arm(result, learner, objective):
    (found,) = [a for a in result.summary["arms"]
                if a["learner"] == learner and a["objective"] == objective]
    return found


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs_small(path, tmp_path):
    scenario = lowstakes.load_scenario(path)
    assert scenario.description, "every scenario says what it is for"
    result = lowstakes.run(scenario, out=tmp_path / "run", horizon=1000, seeds=1)
    assert len(result.trace) == 1000 * len(result.summary["arms"])
    assert (result.path / "figures" / "regret.png").stat().st_size > 10_000
    # Without shifts the transition figure only says so.
    minimum = 10_000 if result.summary["shifts"] else 1_000
    assert (result.path / "figures" / "transition.png").stat().st_size > minimum


def test_flagship_shows_bounded_transition_versus_linear_pile_up(tmp_path):
    result = lowstakes.run("scenarios/shift.yaml", out=tmp_path / "run", horizon=6000, seeds=2,
                           workers=2)
    for learner in ("logreg", "tree"):
        aligned = arm(result, learner, "aligned")
        misaligned = arm(result, learner, "misaligned")
        assert misaligned["regret"] > aligned["regret"] + 100
    # Logistic regression recovers from the shift on the truth, never on the stale proxy.
    assert arm(result, "logreg", "aligned")["windows"][0]["recovered"] == 2
    assert arm(result, "logreg", "misaligned")["windows"][0]["recovered"] == 0


def cost(result, learner, objective, shift=0):
    return arm(result, learner, objective)["windows"][shift]["cost"]


def total(result, learner, objective):
    return arm(result, learner, objective)["regret"]


CLAIMS = {
    "gradual": lambda r: total(r, "logreg", "misaligned") > total(r, "logreg", "aligned") + 150,
    # The stale proxy is wrong only while B is in force.
    "recurring": lambda r: cost(r, "logreg", "misaligned", 1) < cost(r, "logreg", "misaligned", 0) / 2,
    "noise_is_not_misalignment": lambda r: cost(r, "logreg", "misaligned") > 2 * cost(r, "logreg", "noisy"),
    "cost_mismatch": lambda r: total(r, "logreg", "misaligned") > 5 * total(r, "logreg", "aligned"),
    # Before the shift the proxy is the truth; after it, it costs a lot.
    "covariate_shift": lambda r: cost(r, "logreg", "misaligned") > 5 * cost(r, "logreg", "aligned"),
    "friedman": lambda r: cost(r, "tree", "misaligned") > cost(r, "tree", "aligned") + 500,
    # "roughly 0.1 x d on top of the undelayed transition": d = 500, paired on the same seeds.
    "delayed_feedback": lambda r: 25 < paired(r, ("late_500", "aligned"), ("now", "aligned")) < 80,
    # Poorly calibrated probabilities with asymmetric costs: the stale proxy looks better for
    # logistic regression, worse for the tree.
    "asymmetric_costs": lambda r: (total(r, "logreg", "misaligned") < total(r, "logreg", "aligned")
                                   and total(r, "tree", "misaligned") > total(r, "tree", "aligned")),
    # Every label reversed: the stale arms act wrongly on almost every page after the shift.
    "phishing": lambda r: all(
        (total(r, learner, "misaligned") - total(r, learner, "aligned")) / after_shift(r) > 0.6
        for learner in ("logreg", "forest")),
    # Every learner's stale arm piles up harm; among the aligned ones logistic regression
    # recovers first and the adaptive tree last.
    "learners": lambda r: all(total(r, learner, "misaligned") > total(r, learner, "aligned") + 200
                              for learner in ("logreg", "hat", "arf", "adwin_bagging", "retrain"))
    and recovery(r, "logreg") < min(recovery(r, learner) for learner in ("arf", "adwin_bagging", "hat"))
    and recovery(r, "hat") > max(recovery(r, learner) for learner in ("logreg", "retrain")),
    "incremental": lambda r: (total(r, "logreg", "misaligned") > 1.3 * total(r, "logreg", "aligned")
                              and total(r, "tree", "misaligned") > total(r, "tree", "aligned")),
    # Fixed-share mixing finds the new best arm; Exp3 tuned to the horizon pays far more.
    "bandit_shift": lambda r: cost(r, "exp3_share", "aligned") < cost(r, "exp3", "aligned") / 2,
    # The stale overseer's arms pay about 0.4 per decision after the shift.
    "bandit_misaligned": lambda r: all(
        0.25 < (total(r, learner, "stale") - total(r, learner, "aligned")) / after_shift(r) < 0.45
        for learner in ("ucb", "exp3_share")),
    # Softmax regression relearns the relabelling from the truth, not from the stale labels;
    # naive Bayes, which never forgets, pays more on the truth than softmax regression does.
    "multiclass_shift": lambda r: (
        (total(r, "softmax", "misaligned") - total(r, "softmax", "aligned")) / after_shift(r) > 0.3
        and total(r, "bayes", "aligned") > 1.3 * total(r, "softmax", "aligned")
        and total(r, "bayes", "misaligned") > total(r, "bayes", "aligned")),
    # The stale overseer's bandit arms pile up harm (about 0.57 per decision after the shift).
    "contextual_bandit": lambda r: all(
        (total(r, learner, "stale_bandit") - total(r, learner, "full")) / after_shift(r) > 0.4
        for learner in ("squarecb", "epsilon")),
}


def paired(result, a, b, shift=0):
    pair = next(p for p in result.summary["paired"] if tuple(p["arm"]) == a and tuple(p["minus"]) == b)
    return pair["windows"][shift]["mean"]


def after_shift(result):
    return result.summary["horizon"] - result.summary["shifts"][0]


def recovery(result, learner):
    window = arm(result, learner, "aligned")["windows"][0]
    return window["recovery_median"] if window["recovery_median"] is not None else float("inf")


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_library_scenario_shows_its_claim(name, tmp_path):
    result = lowstakes.run(f"scenarios/{name}.yaml", out=tmp_path / "run", horizon=10000, seeds=2,
                           workers=2)
    assert CLAIMS[name](result)


def test_transition_sweep_shows_cost_growing_with_shift_size_and_delay(tmp_path):
    grid = {"stream.shifts.0.params.threshold": [8.5, 12], "timing.feedback_delay.exponential": [1, 1000]}
    result = lowstakes.sweep("scenarios/transition_sweep.yaml", grid, tmp_path / "sweep", horizon=10000,
                             seeds=2, workers=2, figures=False)
    assert result.complete
    rows = lowstakes.load_sweep(result.path)
    mean = rows.groupby(["set.stream.shifts.0.params.threshold", "set.timing.feedback_delay.exponential",
                         "objective"])[["transition_cost", "regret"]].mean()
    aligned, misaligned = mean.xs("aligned", level=2), mean.xs("misaligned", level=2)
    # The aligned arm pays more for a bigger shift and for later feedback...
    assert aligned.loc[(12, 1), "transition_cost"] > 2 * aligned.loc[(8.5, 1), "transition_cost"]
    assert aligned.loc[(12, 1000), "transition_cost"] > 1.5 * aligned.loc[(12, 1), "transition_cost"]
    # ...the stale proxy's window cost does not depend on the delay (it never learns the new
    # rule), and its extra regret over the run follows shift size x (1 - 2 noise) per decision.
    assert misaligned.loc[(12, 1000), "transition_cost"] == pytest.approx(
        misaligned.loc[(12, 1), "transition_cost"], rel=0.1)
    relabelled, after = 1 - 8**2 / 200 - 8**2 / 200, 5000
    excess = misaligned.loc[(12, 1), "regret"] - aligned.loc[(12, 1), "regret"]
    assert 0.75 * relabelled * 0.8 * after < excess < relabelled * 0.8 * after
