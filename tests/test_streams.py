"""Streams know their concept: oracle correctness, shift schedules, noise and proxies."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LOGREG, make_scenario

import lowstakes
from lowstakes.objectives import FEEDBACK, cost_matrix, least_cost_action
from lowstakes.results import arm_arrays
from lowstakes.simulation import simulate
from lowstakes.streams import SEA, Shift, Stream

SOURCES = {
    "sea": ({"variant": 0}, {"variant": 3}),
    "stagger": ({"classification_function": 0}, {"classification_function": 2}),
    "sine": ({"classification_function": 0}, {"classification_function": 2}),
    "agrawal": ({"classification_function": 0}, {"classification_function": 4}),
}


def one_block(source, params, shifts, noise=0.1, horizon=6000, seed=0):
    stream = Stream(source, params, shifts, noise, horizon, np.random.SeedSequence(seed))
    return next(stream.blocks(size=horizon))


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_oracle_is_the_clean_label_and_errs_at_the_noise_rate(source):
    before, after = SOURCES[source]
    block = one_block(source, before, [Shift(3000, after)])
    oracle = least_cost_action(cost_matrix(), block.p)
    clean = block.labels[block.row, np.arange(len(block))]
    # Abrupt shift, noise < 1/2, symmetric costs: Bayes-optimal = the active concept's label.
    np.testing.assert_array_equal(oracle, clean)
    error = (oracle != block.y).mean()
    assert error == pytest.approx(0.1, abs=4 * np.sqrt(0.09 / len(block)))
    # The shift is real: the two concepts disagree somewhere after it.
    assert (block.labels[0, 3000:] != block.labels[1, 3000:]).any()
    np.testing.assert_array_equal(block.segment, np.r_[np.zeros(3000), np.ones(3000)])


def test_hyperplane_oracle_tracks_the_moving_concept():
    block = one_block("hyperplane", {"mag_change": 0.01, "n_features": 4}, [], noise=0.0)
    oracle = least_cost_action(cost_matrix(), block.p)
    np.testing.assert_array_equal(oracle, block.y)
    # The frozen first hyperplane drifts away from the moving one.
    disagreement = block.labels[0] != block.labels[1]
    assert disagreement[:500].mean() < disagreement[-500:].mean()


def test_concept_functions_are_checked_against_river(monkeypatch):
    monkeypatch.setitem(SEA.thresholds, 0, 8.5)  # a concept that is not River's
    with pytest.raises(RuntimeError, match="disagrees with River"):
        one_block("sea", {"variant": 0}, [])


def test_sea_threshold_sets_the_shift_size_continuously():
    block = one_block("sea", {"variant": 0}, [Shift(3000, {"threshold": 10.5})], noise=0.0, seed=5)
    x = np.array([[c[0], c[1]] for c in block.x])
    np.testing.assert_array_equal(block.labels[1], x.sum(axis=1) > 10.5)
    np.testing.assert_array_equal(block.y[3000:], block.labels[1, 3000:])
    # The contexts whose label changes lie between the lines x0 + x1 = 8 and = 10.5 in the
    # 10 x 10 square: 1 - 8^2/200 - 9.5^2/200 = 0.229 of it (two corner triangles left out).
    changed = (block.labels[0] != block.labels[1]).mean()
    assert abs(changed - (1 - 8**2 / 200 - 9.5**2 / 200)) < 0.02
    # A threshold equal to a variant's gives that variant's labels.
    same = one_block("sea", {"variant": 0}, [Shift(3000, {"threshold": 9.5})], noise=0.0, seed=5)
    other = one_block("sea", {"variant": 0}, [Shift(3000, {"variant": 3})], noise=0.0, seed=5)
    np.testing.assert_array_equal(same.labels, other.labels)


def test_gradual_shift_mixes_linearly_and_oracle_follows_the_majority():
    block = one_block("sea", {"variant": 0}, [Shift(2000, {"variant": 3}, width=2000)],
                      horizon=6000, seed=3)
    ramp = block.segment[2000:4000].reshape(4, 500).mean(axis=1)
    np.testing.assert_allclose(ramp, [0.125, 0.375, 0.625, 0.875], atol=0.06)
    assert (block.segment[:2000] == 0).all() and (block.segment[4000:] == 1).all()
    oracle = least_cost_action(cost_matrix(), block.p)
    steps = np.arange(len(block))
    majority = np.where(steps < 3000, block.labels[0], block.labels[1])
    tie = 2999  # the new concept's weight is exactly 1/2 here
    np.testing.assert_array_equal(np.delete(oracle, tie), np.delete(majority, tie))


def test_phishing_has_no_oracle_and_flips_on_shift():
    block = one_block("phishing", {}, [Shift(1500, {"flip_labels": True})], noise=0.0, horizon=3000)
    assert block.p is None
    np.testing.assert_array_equal(block.labels[1], 1 - block.labels[0])
    np.testing.assert_array_equal(block.y[1500:], block.labels[1, 1500:])


def test_proxies_differ_from_truth_only_where_they_should():
    block = one_block("sea", {"variant": 0}, [Shift(3000, {"variant": 3})])
    rng = np.random.default_rng(0)
    stale = FEEDBACK.get("stale")().feedback(block, rng)
    np.testing.assert_array_equal(stale[:3000], block.y[:3000])
    active = block.labels[block.row, np.arange(len(block))]
    np.testing.assert_array_equal(stale != block.y, block.labels[0] != active)

    region = FEEDBACK.get("region_flip")(region={0: [0, 5], 1: [0, 5]})
    flipped = region.feedback(block, rng) != block.y
    inside = np.array([x[0] <= 5 and x[1] <= 5 for x in block.x])
    np.testing.assert_array_equal(flipped, inside)

    noisy = FEEDBACK.get("noise")(rate=0.2).feedback(block, rng) != block.y
    assert noisy.mean() == pytest.approx(0.2, abs=0.03)


def test_misaligned_excess_matches_the_proxys_disagreement():
    # After the shift a stale-trained learner converges to the old concept. On contexts
    # where the concepts disagree (probability q), the oracle errs with the noise rate r
    # and the stale action with 1 - r: expected excess harm q (1 - 2 r) per decision.
    noise = 0.1
    scenario = make_scenario(
        horizon=12000, seeds=3, stream={"source": "sea", "params": {"variant": 0}, "label_noise": noise,
                                        "shifts": [{"at": 2000, "params": {"variant": 3}}]},
        learners={"logreg": LOGREG})
    late = slice(6000, 12000)
    measured, disagreement = [], []
    for seed in range(3):
        run = simulate(scenario, seed)
        wrong = run.actions != run.y  # per arm, symmetric unit costs
        oracle_wrong = run.comparator != run.y
        excess = wrong[:, late].astype(float) - oracle_wrong[late]
        aligned, misaligned = excess.mean(axis=1)
        measured.append(misaligned - aligned)
        disagreement.append((run.feedback["misaligned"] != run.y)[late].mean())
    q = np.mean(disagreement)
    analytic = (9.5**2 - 8**2) / 200  # P(8 < x0 + x1 <= 9.5) for x0, x1 ~ U[0, 10]
    assert q == pytest.approx(analytic, abs=0.01)
    assert np.mean(measured) == pytest.approx(q * (1 - 2 * noise), abs=0.015)


def test_recurring_shifts_return_to_the_first_concept():
    block = one_block("sea", {"variant": 0}, [Shift(2000, {"variant": 3}), Shift(4000, {"variant": 0})])
    np.testing.assert_array_equal(np.unique(block.segment), [0, 1, 2])
    np.testing.assert_array_equal(block.labels[0], block.labels[2])
    oracle = least_cost_action(cost_matrix(), block.p)
    np.testing.assert_array_equal(oracle[4000:], block.labels[0, 4000:])


def test_user_feedback_by_module_attribute(tmp_path, monkeypatch):
    (tmp_path / "my_overseer.py").write_text(
        "import numpy as np\n"
        "from lowstakes import Feedback\n"
        "class AlwaysPositive(Feedback):\n"
        "    def feedback(self, block, rng):\n"
        "        return np.ones(len(block), dtype=np.int8)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = make_scenario(objectives={"yes": {"feedback": "my_overseer:AlwaysPositive"}})
    run = simulate(scenario, 0)
    assert (run.feedback["yes"] == 1).all()
    assert run.actions[0, -200:].mean() == 1.0  # it learned to always say yes


def test_focus_moves_contexts_but_not_the_concept():
    block = one_block("sea", {"variant": 0, "focus": {0: [0, 3]}},
                      [Shift(3000, {"focus": {"0": [7, 10]}})], noise=0.0)
    x0 = np.array([x[0] for x in block.x])
    assert x0[:3000].max() <= 3 and x0[3000:].min() >= 7
    np.testing.assert_array_equal(block.labels[0], block.labels[1])  # a pure covariate shift
    with pytest.raises(ValueError, match="never reached"):
        one_block("sea", {"focus": {0: [11, 12]}}, [], horizon=10)


def test_friedman_regression_oracle_noise_and_clipped_harm():
    block = one_block("friedman", {}, [Shift(3000, {"roles": [3, 4, 0, 1, 2]})], noise=1.0)
    f = np.array([[x[i] for i in range(10)] for x in block.x])
    before = 10 * np.sin(np.pi * f[:, 0] * f[:, 1]) + 20 * (f[:, 2] - 0.5) ** 2 + 10 * f[:, 3] + 5 * f[:, 4]
    np.testing.assert_allclose(block.labels[0], before)
    np.testing.assert_allclose(block.y - block.labels[block.row, np.arange(len(block))], block.noise)
    assert block.noise.std() == pytest.approx(1.0, rel=0.05)
    stale = FEEDBACK.get("stale")().feedback(block, np.random.default_rng(0))
    np.testing.assert_allclose(stale[3000:] - block.labels[0, 3000:], block.noise[3000:])


FRIEDMAN = {"source": "friedman", "label_noise": 1.0,
            "shifts": [{"at": 500, "params": {"roles": [3, 4, 0, 1, 2]}}]}
LINEAR = {"lin": {"model": "linear_model.LinearRegression", "preprocess": ["preprocessing.StandardScaler"]}}


def test_regression_harm_is_clipped_absolute_error():
    scenario = make_scenario(horizon=2000, harm={"bound": 2.0}, stream=FRIEDMAN, learners=LINEAR)
    run = simulate(scenario, 0)
    harm = arm_arrays(run, scenario, 0)["harm"]
    np.testing.assert_allclose(harm, np.minimum(np.abs(run.actions[0] - run.y), 2.0))
    assert harm.max() == 2.0 and harm.min() >= 0


def test_regression_streams_refuse_classification_parts():
    with pytest.raises(lowstakes.ScenarioError, match="region_flip is for classification"):
        make_scenario(stream=FRIEDMAN, learners=LINEAR,
                      objectives={"x": {"feedback": "region_flip", "params": {"region": {0: [0, 1]}}}})
    with pytest.raises(lowstakes.ScenarioError, match="not a River regressor"):
        make_scenario(stream=FRIEDMAN, learners={"m": {"model": "linear_model.LogisticRegression"}})
