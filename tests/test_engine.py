"""The engine against River's own evaluator, determinism, time semantics and harm bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import LOGREG, make_scenario
from river import evaluate, linear_model, metrics, preprocessing

import lowstakes
from lowstakes.errors import HarmBoundError
from lowstakes.results import arm_arrays
from lowstakes.simulation import _Simulation, simulate, stream_for


def materialise(scenario, seed=0):
    """The (x, y) pairs that run-seed ``seed`` sees, as River would iterate them."""
    return [(x, bool(y)) for block in stream_for(scenario, seed).blocks()
            for x, y in zip(block.x, block.y.tolist(), strict=True)]


@pytest.mark.parametrize("delay", [0, 1, 7])
def test_mistakes_equal_river_progressive_val_score(delay):
    # No shift, symmetric costs: acting by least expected cost is River's predict_one,
    # and a fixed delay of d time units with one decision per unit is River's delay=d.
    scenario = make_scenario(
        horizon=3000, seeds=1, comparator="hindsight",
        stream={"source": "sea", "params": {"variant": 1}, "label_noise": 0.1},
        objectives={"aligned": {"feedback": "truth"}}, learners={"logreg": LOGREG},
        timing={"feedback_delay": {"fixed": delay}},
    )
    run = simulate(scenario, 0)
    ours = int((run.actions[0] != run.y).sum())

    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    accuracy = evaluate.progressive_val_score(
        materialise(scenario), model, metrics.Accuracy(), delay=delay or None)
    theirs = round((1 - accuracy.get()) * scenario.horizon)
    assert ours == theirs


def _without_timing(summary):
    return {k: v for k, v in summary.items() if k not in ("elapsed_seconds", "finished")}


def test_same_seed_same_results_whatever_the_workers(tmp_path):
    scenario = make_scenario(timing={"feedback_delay": {"exponential": 5},
                                     "arrivals": {"poisson": 2.0}}, seeds=3)
    one = lowstakes.run(scenario, out=tmp_path / "one", workers=1)
    again = lowstakes.run(scenario, out=tmp_path / "again", workers=1)
    two = lowstakes.run(scenario, out=tmp_path / "two", workers=2)
    assert _without_timing(one.summary) == _without_timing(again.summary)
    assert _without_timing(one.summary) == _without_timing(two.summary)
    pd.testing.assert_frame_equal(one.trace, two.trace)


def test_seeds_differ_and_master_seed_matters():
    a, b = simulate(make_scenario(), 0), simulate(make_scenario(), 1)
    c = simulate(make_scenario(seed=8), 0)
    assert not np.array_equal(a.y, b.y)
    assert not np.array_equal(a.y, c.y)


def test_models_that_take_a_seed_are_reproducible_and_vary_with_the_run_seed():
    # ARF draws random numbers; River's default seed (None) made every run different.
    arf = {"model": "forest.ARFClassifier", "params": {"n_models": 3}}
    bagging = {"model": "ensemble.BaggingClassifier",
               "params": {"model": {"model": "tree.HoeffdingTreeClassifier"}, "n_models": 3}}
    scenario = make_scenario(horizon=1500, seeds=2, learners={"arf": arf, "bagging": bagging})
    first, again, other = simulate(scenario, 0), simulate(scenario, 0), simulate(scenario, 1)
    np.testing.assert_array_equal(first.actions, again.actions)
    sim = _Simulation(scenario, 0)
    seeds = {arm: policy.model.seed for arm, policy in zip(sim.arms, sim.policies, strict=True)}
    # The same learner has the same model seed under every objective; learners differ.
    assert seeds[("arf", "aligned")] == seeds[("arf", "misaligned")]
    assert seeds[("bagging", "aligned")] == seeds[("bagging", "misaligned")]
    assert seeds[("arf", "aligned")] != seeds[("bagging", "aligned")]
    assert all(policy.model.seed != seeds[arm]
               for arm, policy in zip(sim.arms, _Simulation(scenario, 1).policies, strict=True))
    assert not np.array_equal(first.actions, other.actions)
    # A seed written in the scenario is kept in every run-seed.
    arf_5 = {**arf, "params": {"n_models": 3, "seed": 5}}
    fixed = make_scenario(horizon=1500, seeds=2, learners={"arf": arf_5})
    assert {p.model.seed for s in (0, 1) for p in _Simulation(fixed, s).policies} == {5}


def test_arms_share_stream_times_and_delays(tmp_path):
    scenario = make_scenario(timing={"feedback_delay": {"exponential": 10},
                                     "arrivals": {"poisson": 1.0}})
    run = lowstakes.run(scenario, out=tmp_path / "run", seeds=1).trace
    by_arm = {k: g.sort_values("step") for k, g in run.groupby(["learner", "objective"])}
    first, *others = by_arm.values()
    for other in others:
        for column in ("time", "truth", "feedback_time", "comparator_action"):
            np.testing.assert_array_equal(first[column].to_numpy(), other[column].to_numpy())


def test_feedback_arrives_after_its_delay():
    fixed = simulate(make_scenario(timing={"feedback_delay": {"fixed": 3.5}}), 0)
    delivered = ~np.isnan(fixed.feedback_time[0])
    np.testing.assert_allclose((fixed.feedback_time[0] - fixed.time)[delivered], 3.5)
    # Only the decisions of the last 3.5 time units are still waiting at the end.
    assert (~delivered).sum() == 4
    np.testing.assert_array_equal(fixed.feedback_time[0], fixed.feedback_time[1])

    poisson = simulate(make_scenario(horizon=20000, timing={
        "arrivals": {"poisson": 4.0}, "feedback_delay": {"exponential": 2.0}}), 0)
    gaps = np.diff(poisson.time)
    delays = (poisson.feedback_time[0] - poisson.time)[~np.isnan(poisson.feedback_time[0])]
    assert gaps.mean() == pytest.approx(0.25, rel=0.03)
    assert delays.mean() == pytest.approx(2.0, rel=0.05)


def test_zero_delay_learns_at_decision_time():
    run = simulate(make_scenario(), 0)
    np.testing.assert_array_equal(run.feedback_time, np.tile(run.time, (2, 1)))
    np.testing.assert_array_equal(run.time, np.arange(1000.0))


def test_every_harm_lies_in_zero_to_bound():
    scenario = make_scenario(harm={"bound": 2.0, "false_positive": 2.0, "false_negative": 0.5})
    run = simulate(scenario, 0)
    for j in range(len(run.arms)):
        harm = arm_arrays(run, scenario, j)["harm"]
        assert harm.min() >= 0 and harm.max() <= 2.0
        assert set(np.unique(harm)) <= {0.0, 0.5, 2.0}


def test_harm_above_bound_fails_loudly(scenario):
    run = simulate(scenario, 0)
    # Bypass validation to get a harm matrix that breaks its own bound.
    broken_harm = scenario.harm.model_construct(bound=0.5, false_positive=1.0, false_negative=1.0,
                                                true_positive=0.0, true_negative=0.0)
    broken = scenario.model_construct(**{**dict(scenario), "harm": broken_harm})
    with pytest.raises(HarmBoundError, match="outside \\[0, B=0.5\\]"):
        arm_arrays(run, broken, 0)


@pytest.mark.parametrize("fast", [True, False])
def test_a_seed_leaves_no_garbage_for_a_later_collection(monkeypatch, fast):
    """A route and its simulation, a recorded model and its hook refer to each other: the
    seed's simulation, policies and records are freed when it ends, not whenever Python's
    collector next runs (with it switched off here, nothing else would free them)."""
    import gc
    import weakref

    alive = []
    call = _Simulation.__call__

    def watched(self):
        alive.extend(weakref.ref(obj) for obj in [self, *self.policies, *self.routes.values()])
        return call(self)

    monkeypatch.setattr(_Simulation, "__call__", watched)
    scenario = make_scenario(
        horizon=1200, seeds=1, learners={"logreg": LOGREG, "tree": {"model": "tree.HoeffdingTreeClassifier"}},
        timing={"overseer": {"capacity": 1, "service": {"exponential": 0.5}}})
    enabled = gc.isenabled()
    gc.disable()
    try:
        run = simulate(scenario, 0, fast=fast)
    finally:
        if enabled:
            gc.enable()
    assert run.linear and len(alive) == 1 + 2 * len(run.arms)
    assert [ref() for ref in alive] == [None] * len(alive)
