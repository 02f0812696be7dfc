"""Expert arms in the engine: the same numbers as the algorithms alone, bounds that hold,
and the headline scenarios' claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_scenario

import lowstakes
from lowstakes import bounds, metrics
from lowstakes.experts import FixedShare, Hedge, play
from lowstakes.simulation import simulate, stream_for

EXPERTS = {
    "rule_A": {"rule": "concept", "params": {"concept": 0}},
    "rule_B": {"rule": "concept", "params": {"concept": 1}},
    "always_0": {"rule": "constant", "params": {"label": 0}},
}


def pool_scenario(algorithm="hedge", **overrides):
    return make_scenario(
        horizon=3000, seeds=2,
        stream={"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
                "shifts": [{"at": 1000, "params": {"variant": 3}}]},
        learners={"pool": {"algorithm": algorithm, "experts": EXPERTS}},
        **overrides)


@pytest.mark.parametrize("algorithm, make", [
    ("hedge", lambda n, t: Hedge(n, horizon=t)),
    ("fixed_share", lambda n, t: FixedShare(n, horizon=t, switches=1)),
])
def test_engine_mixture_loss_equals_the_algorithm_run_alone(algorithm, make):
    scenario = pool_scenario(algorithm)
    run = simulate(scenario, 0)
    block = next(stream_for(scenario, 0).blocks(size=scenario.horizon))
    actions = np.stack([block.labels[0], block.labels[1], np.zeros(len(block), np.int8)], axis=1)
    for j, (_, objective) in enumerate(run.arms):
        losses = (actions != run.feedback[objective][:, None]).astype(float)
        expected = play(make(3, scenario.horizon), losses)
        np.testing.assert_allclose(run.records[j]["mixture_loss"], expected, atol=1e-9)
        assert run.pools[j]["mixture_loss"] == pytest.approx(expected.sum(), rel=1e-12)


@pytest.mark.parametrize("algorithm, timing", [
    ("hedge", {}),
    ("hedge_anytime", {}),
    ("fixed_share", {}),
    ("hedge", {"feedback_delay": {"exponential": 15}, "arrivals": {"poisson": 1.0}}),
    ("hedge_interleaved", {"feedback_delay": {"fixed": 6}}),
    ("fixed_share_interleaved", {"feedback_delay": {"fixed": 6}}),
    ("hedge", {"overseer": {"capacity": 1, "service": {"exponential": 1.2}, "patience": 40}}),
])
def test_every_guaranteed_bound_holds_in_the_engine(algorithm, timing, tmp_path):
    result = lowstakes.run(pool_scenario(algorithm, timing=timing), out=tmp_path / "run")
    for arm in result.summary["arms"]:
        checks = [b for seed in arm["seeds"] for b in seed["pool"]["bounds"]]
        assert checks, "some bound applies to every arm here"
        assert all(b["holds"] for b in checks), checks
        if algorithm == "fixed_share_interleaved":  # the run's bound and the window's, under the delay
            names = {b["name"] for b in checks}
            assert names == {"fixed_share_constant_delay", "fixed_share_window_constant_delay"}
            assert arm["guarantee"]["applies"]
    curves = result.bounds
    measured = curves["tracking_regret"] if algorithm.startswith("fixed_share") else curves["proxy_regret"]
    assert (measured <= curves["bound"] + 1e-9).all()  # at every checkpoint, not only the end
    assert (result.path / "figures" / "bounds.png").stat().st_size > 10_000


def test_interleaved_fixed_share_bounds_are_the_sums_of_its_copies_bounds(tmp_path):
    """Worked out here from the tuning alone: copy k of d + 1 takes ceil((T - k)/(d + 1))
    decisions (those of a window: counted one by one) and is tuned to them for m switches."""
    scenario = pool_scenario("fixed_share_interleaved", timing={"feedback_delay": {"fixed": 6}})
    result = lowstakes.run(scenario, out=tmp_path / "run", seeds=1)
    pool = result.summary["arms"][0]["seeds"][0]["pool"]
    horizon, n, d, m = 3000, 3, 5, 1  # a delay of 6 time units, one decision each: d = 5
    assert pool["late_decisions"] == 0 and pool["switches"] == m
    tuned = [bounds.fixed_share_tuned(math.ceil((horizon - k) / (d + 1)), n, m) for k in range(d + 1)]
    run_bound, *window_bounds = pool["bounds"]
    expected = sum(bounds.fixed_share(math.ceil((horizon - k) / (d + 1)), n, m, a, e).value
                   for k, (a, e) in enumerate(tuned))
    assert run_bound["name"] == "fixed_share_constant_delay" and run_bound["kind"] == "guaranteed"
    assert run_bound["value"] == pytest.approx(expected, rel=1e-12)
    assert run_bound["params"] == {"T": horizon, "N": n, "m": m, "d": d, "B": 1.0}
    assert run_bound["measured"] == pytest.approx(pool["proxy_regret"]["best_switching"])
    (start, end), = metrics.transition_spans([1000], horizon, scenario.windows.length)
    (window,) = window_bounds
    taken = [sum(1 for t in range(start, end) if t % (d + 1) == k) for k in range(d + 1)]
    expected = sum(bounds.fixed_share_window(tau, n, a, e).value
                   for tau, (a, e) in zip(taken, tuned, strict=True))
    assert window["name"] == "fixed_share_window_constant_delay" and window["kind"] == "guaranteed"
    assert window["value"] == pytest.approx(expected, rel=1e-12)
    assert window["params"] == {"tau": end - start, "N": n, "d": d, "B": 1.0}
    assert window["measured"] == pytest.approx(pool["windows"][0]["regret"])


def test_delayed_bound_uses_the_delays_that_happened(tmp_path):
    quick = lowstakes.run(pool_scenario(), out=tmp_path / "quick", seeds=1)
    slow = lowstakes.run(pool_scenario(timing={"feedback_delay": {"fixed": 30}}), out=tmp_path / "slow",
                         seeds=1)
    (quick_bound,) = quick.summary["arms"][0]["seeds"][0]["pool"]["bounds"]
    (slow_bound,) = slow.summary["arms"][0]["seeds"][0]["pool"]["bounds"]
    assert slow_bound["name"] == "hedge_delays" and slow_bound["params"]["max_unrevealed"] == 29
    assert slow_bound["value"] > quick_bound["value"]


def test_sampling_an_expert_realises_the_mixture_in_expectation():
    scenario = make_scenario(
        horizon=20000, seeds=1,
        stream={"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
                "shifts": [{"at": 5000, "params": {"variant": 3}}]},
        learners={"pool": {"algorithm": "hedge", "experts": EXPERTS, "act": "sample"}})
    run = simulate(scenario, 0)
    harm = (run.actions[0] != run.y).astype(float)
    expected = run.records[0]["mixture_harm"]
    assert harm.sum() == pytest.approx(expected.sum(), rel=0.05)


def test_hedge_transition_cost_grows_with_the_lead_fixed_share_does_not(tmp_path):
    result = lowstakes.run("scenarios/hedge_vs_fixed_share.yaml", out=tmp_path / "run", seeds=2,
                           workers=2)
    cost = {a["learner"]: [w["cost"] for w in a["windows"]] for a in result.summary["arms"]}
    # Leads before the shifts: ~2,000 decisions, none, ~8,000 decisions.
    assert cost["hedge"][1] < cost["hedge"][0] < cost["hedge"][2]
    assert cost["fixed_share"][2] < cost["hedge"][2] / 4
    assert max(cost["fixed_share"]) < 2 * min(cost["fixed_share"]) + 50


def test_misaligned_expert_arm_proxy_bounded_true_regret_linear(tmp_path):
    result = lowstakes.run("scenarios/proxy_regret.yaml", out=tmp_path / "run", seeds=2, workers=2)
    arms = {(a["learner"], a["objective"]): a for a in result.summary["arms"]}
    for learner in ("hedge", "fixed_share"):
        aligned, misaligned = arms[learner, "aligned"], arms[learner, "misaligned"]
        for seed in misaligned["seeds"]:
            pool = seed["pool"]
            assert all(b["holds"] for b in pool["bounds"])
            assert pool["goodhart"]["holds"]
            # Linear: about 0.1 extra harm per decision over 16,000 post-shift decisions.
            assert pool["true_regret"]["best_fixed"] > 1000
        assert aligned["pool"]["true_regret"]["mean"] < 200


@pytest.mark.parametrize("learner, message", [
    ({"algorithm": "hedge", "experts": {"a": {"rule": "concpt"}, "b": {"rule": "constant"}}},
     "did you mean 'concept'"),
    ({"algorithm": "hedge", "experts": {"a": {"rule": "concept"}}}, "at least two experts"),
    ({"algorithm": "hedge", "model": "linear_model.LogisticRegression"}, "give exactly one"),
    ({"algorithm": "hedge", "experts": {"a": {"rule": "concept", "model": "x"}, "b": {"rule": "concept"}}},
     "either a 'rule' or a 'model'"),
    ({"algorithm": "hedge_interleaved", "experts": EXPERTS}, "needs a fixed feedback delay"),
    ({"algorithm": "fixed_share", "params": {"alpha": 2}, "experts": EXPERTS}, "0 < alpha < 1"),
    ({"algorithm": "consensus", "params": {"alpha": 0}, "experts": EXPERTS}, "0 < alpha <= 1"),
    ({"algorithm": "consensus", "experts": {**EXPERTS, "x": {"rule": "treshold"}}},
     "learners.pool.experts.x.rule: unknown rule 'treshold' \\(did you mean 'threshold'"),
    ({"algorithm": "consensus", "query": {"policy": "all"}, "experts": EXPERTS}, "decides itself"),
    ({"model": "linear_model.LogisticRegression", "query": {"policy": "fraction", "rate": 2}},
     "learners.pool.query: rate must be in"),
])
def test_bad_pools_are_refused(learner, message):
    with pytest.raises(lowstakes.ScenarioError, match=message):
        make_scenario(learners={"pool": learner}, timing={"feedback_delay": {"exponential": 3}})


@pytest.mark.parametrize("timing", [
    {"feedback_delay": {"exponential": 15}, "arrivals": {"poisson": 1.0}},
    {"overseer": {"capacity": 1, "service": {"exponential": 1.2}, "patience": 40}},
])
def test_the_policy_counts_what_was_unrevealed_as_the_definition_does(timing):
    """The delayed-Hedge bound's m_t, counted by the policy as labels arrive (never kept per
    decision), equals regret.unrevealed on the seed's recorded times."""
    from lowstakes.regret import unrevealed

    run = simulate(pool_scenario(timing=timing), 0)
    m = unrevealed(run.time, run.feedback_time[0])
    counted = run.pools[0]["unrevealed"]
    eta = run.pools[0]["algorithm"].eta
    assert counted["max"] == int(m.max()) > 0 and counted["sum"] == int(m.sum())
    assert counted["penalty"] == pytest.approx(float(np.expm1(eta * m).sum()), rel=1e-12)


@pytest.mark.parametrize("delay", [{}, {"feedback_delay": {"exponential": 2500}}])
def test_labels_blocks_late_and_costs_over_one_give_what_the_algorithm_alone_gives(delay):
    """Costs up to 4 (the algorithm sees them scaled to [0, 1]), labels that come blocks
    after their decision or never, an arm whose feedback is the harm and one whose is not:
    each arm's mixture is Hedge fed each label's scaled losses at the moment it came, and
    its comparators on feedback and on harm are those of the whole run's loss matrices."""
    from lowstakes.comparators import best_switching

    scenario = make_scenario(
        horizon=10000, seeds=1, harm={"bound": 4.0, "false_positive": 1.0, "false_negative": 4.0},
        stream={"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
                "shifts": [{"at": 5000, "params": {"variant": 3}}]},
        learners={"pool": {"algorithm": "hedge", "experts": EXPERTS}}, timing=delay)
    run = simulate(scenario, 0)
    block = next(stream_for(scenario, 0).blocks(size=scenario.horizon))
    actions = np.stack([block.labels[0], block.labels[1], np.zeros(len(block), np.int8)], axis=1)
    costs = np.array([[0.0, 4.0], [1.0, 0.0]])  # [action, label]
    harm = costs[actions, run.y[:, None]]
    late = 0
    for j, (_, objective) in enumerate(run.arms):
        proxy = costs[actions, run.feedback[objective][:, None]]
        arrival = run.feedback_time[j]
        late += int((np.nan_to_num(arrival, nan=np.inf) > run.time + 4096).sum())
        order = sorted((a, s) for s, a in enumerate(arrival) if not np.isnan(a))
        algorithm, mixture, k = Hedge(3, horizon=scenario.horizon), np.empty(len(proxy)), 0
        for t, now in enumerate(run.time):
            while k < len(order) and order[k][0] <= now and order[k][1] < t:  # came before t
                algorithm.update(proxy[order[k][1]] / 4.0, order[k][1])
                k += 1
            mixture[t] = algorithm.weights(t) @ proxy[t]
        # (the engine's dot products are einsums over the block: the last bit may differ)
        np.testing.assert_allclose(run.records[j]["mixture_loss"], mixture, rtol=1e-12, atol=0)
        pool = run.pools[j]
        assert pool["loss_scale"] == 4.0
        assert pool["best_switching_loss"] == best_switching(proxy, pool["switches"])
        assert pool["best_switching_harm"] == best_switching(harm, pool["switches"])
        assert pool["expert_harm"] == harm.sum(axis=0).tolist()
        marks = pool["checkpoints"]
        np.testing.assert_array_equal(pool["curves"]["best_fixed_harm"],
                                      np.cumsum(harm, axis=0)[marks].min(axis=1))
    assert late > 100 if delay else late == 0  # labels that came blocks later were exercised


def test_a_river_model_expert_under_late_labels_and_costs_over_one():
    """A pool whose second expert is a River model that learns as labels come: each
    decision's mixture is Hedge over the rule's and the model's actions at that moment (a
    twin model fed the same labels in the same order), with losses scaled from costs up to 4,
    and labels that come blocks later."""
    from river import linear_model

    scenario = make_scenario(
        horizon=9000, seeds=1, harm={"bound": 4.0, "false_positive": 1.0, "false_negative": 4.0},
        stream={"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
                "shifts": [{"at": 4500, "params": {"variant": 3}}]},
        objectives={"aligned": {"feedback": "truth"}},
        timing={"feedback_delay": {"exponential": 1500}},
        learners={"pool": {"algorithm": "hedge", "experts": {
            "rule_A": {"rule": "concept", "params": {"concept": 0}},
            "model": {"model": "linear_model.LogisticRegression"}}}})
    run = simulate(scenario, 0)
    block = next(stream_for(scenario, 0).blocks(size=scenario.horizon))
    costs = np.array([[0.0, 4.0], [1.0, 0.0]])  # [action, label]
    feedback, arrival = run.feedback["aligned"], run.feedback_time[0]
    order = sorted((a, s) for s, a in enumerate(arrival) if not np.isnan(a))
    algorithm, twin, k = Hedge(2, horizon=scenario.horizon), linear_model.LogisticRegression(), 0
    mixture, proxy = np.empty(len(feedback)), np.empty((len(feedback), 2))
    for t, now in enumerate(run.time):
        while k < len(order) and order[k][0] <= now and order[k][1] < t:
            s = order[k][1]
            algorithm.update(proxy[s] / 4.0, s)
            twin.learn_one(block.x[s], bool(feedback[s]))
            k += 1
        p1 = twin.predict_proba_one(block.x[t]).get(True, 0.0)
        actions = [int(block.labels[0][t]), int(p1 * 4.0 > (1 - p1) * 1.0)]
        proxy[t] = costs[actions, feedback[t]]
        mixture[t] = algorithm.weights(t) @ proxy[t]
    assert len(order) < len(feedback) and any(a > run.time[s] + 4096 for a, s in order)
    np.testing.assert_allclose(run.records[0]["mixture_loss"], mixture, rtol=1e-12, atol=0)
    assert run.pools[0]["expert_loss"] == proxy.sum(axis=0).tolist()
