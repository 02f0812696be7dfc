"""The Goodhart lower bound: never above the true regret, for any weights on any losses; both
correction terms are needed; the pools' streaming statistics equal the direct computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import lowstakes
from lowstakes import bounds
from lowstakes.experts import build_algorithm
from lowstakes.pools import GoodhartPairs


def _regrets(weights, proxy, true, a, b):
    """(feedback regret against b, true regret against a) of the weights' mixture."""
    proxy_regret = float(np.einsum("tn,tn->", weights, proxy) - proxy[:, b].sum())
    true_regret = float(np.einsum("tn,tn->", weights, true) - true[:, a].sum())
    return proxy_regret, true_regret


def _margins(proxy, true, a, b):
    """The least strict margins where the feedback prefers b and the truth prefers a."""
    dp, dt = proxy[:, a] - proxy[:, b], true[:, b] - true[:, a]
    mask = (dp > 0) & (dt > 0)
    return (float(dp[mask].min()), float(dt[mask].min())) if mask.any() else (None, None)


@st.composite
def sequences(draw):
    """Losses (T, N) on the feedback and the truth, and weights: random, adversarial (all on
    the expert best at t on the truth), or Hedge's own on the feedback."""
    n, t = draw(st.integers(2, 5)), draw(st.integers(5, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # experts act: losses depend on the action (two actions)
        actions = rng.integers(0, 2, (t, n))
        per_action_p, per_action_t = rng.choice([0.0, 0.5, 1.0], (t, 2)), rng.choice([0.0, 1.0, 2.0], (t, 2))
        proxy = np.take_along_axis(per_action_p, actions, axis=1)
        true = np.take_along_axis(per_action_t, actions, axis=1)
    else:
        proxy, true = rng.uniform(0, 1, (t, n)), rng.uniform(0, 1, (t, n))
    kind = draw(st.sampled_from(["random", "adversarial", "hedge"]))
    if kind == "random":
        weights = rng.dirichlet(np.ones(n) * 0.3, t)
    elif kind == "adversarial":
        weights = np.eye(n)[true.argmin(axis=1)]
    else:
        hedge = build_algorithm("hedge", n, t, {})
        weights = np.empty((t, n))
        for k in range(t):
            weights[k] = hedge.weights(k)
            hedge.update(proxy[k], k)
    return proxy, true, weights


def _phases(first, second):
    """Two experts (a = 0, b = 1) and Hedge's weights over a two-phase sequence."""
    proxy = np.vstack([np.tile(first[0], (40, 1)), np.tile(second[0], (40, 1))])
    true = np.vstack([np.tile(first[1], (40, 1)), np.tile(second[1], (40, 1))])
    hedge = build_algorithm("hedge", 2, 80, {"eta": 0.5})
    weights = np.empty((80, 2))
    for k in range(80):
        weights[k] = hedge.weights(k)
        hedge.update(proxy[k], k)
    return proxy, true, weights


# Where P is needed: first the feedback favours a (b loses on it, outside S) while the truth
# is indifferent; then S. Hedge's weight stays on a, so its feedback regret against b is
# very negative, and without P the line would exceed the true regret.
NEEDS_P = _phases(([0.0, 1.0], [0.0, 0.0]), ([1.0, 0.0], [0.0, 1.0]))
# Where Q is needed: first the truth favours b (a loses on it, outside S) while the feedback
# is indifferent; then S. The true regret against a starts negative.
NEEDS_Q = _phases(([0.0, 0.0], [1.0, 0.0]), ([1.0, 0.0], [0.0, 1.0]))


@settings(max_examples=300, deadline=None)
@given(sequences())
@example(NEEDS_P)
@example(NEEDS_Q)
def test_the_goodhart_lower_bound_never_exceeds_the_true_regret(case):
    proxy, true, weights = case
    # a: the best expert on the truth over the run; b: the best on the feedback. The lemma
    # holds for any pair; these are the ones the tool reports.
    a, b = int(true.sum(axis=0).argmin()), int(proxy.sum(axis=0).argmin())
    if a == b:
        b = (a + 1) % proxy.shape[1]
    delta, g = _margins(proxy, true, a, b)
    if delta is None:
        return
    proxy_regret, true_regret = _regrets(weights, proxy, true, a, b)
    for slack in (0.0, 1.0, 10.0):  # the measured feedback regret, or any bound above it
        line = bounds.goodhart_lower(proxy, true, a, b, delta, g, proxy_regret + slack)
        assert line.kind == "guaranteed lower"
        assert line.holds(true_regret), (line, true_regret)
        assert line.value <= true_regret + 1e-9


@pytest.mark.parametrize("case, term", [(NEEDS_P, "P"), (NEEDS_Q, "Q")])
def test_each_correction_term_is_needed(case, term):
    proxy, true, weights = case
    proxy_regret, true_regret = _regrets(weights, proxy, true, 0, 1)
    line = bounds.goodhart_lower(proxy, true, 0, 1, 1.0, 1.0, proxy_regret)
    assert line.value <= true_regret
    p = line.params
    without = {"P": p["g"] * (p["S"] - proxy_regret / p["delta"]) - p["Q"],
               "Q": p["g"] * (p["S"] - (proxy_regret + p["P"]) / p["delta"])}[term]
    assert without > true_regret + 1, (term, without, true_regret)


def test_the_goodhart_bound_by_hand():
    # S: 3 decisions (feedback prefers b by 1, truth prefers a by 2); outside S, b loses 0.5
    # on the feedback once (P) and a loses 1 on the truth once (Q).
    proxy = np.array([[1, 0], [1, 0], [1, 0], [0, 0.5], [0, 0]], dtype=float)
    true = np.array([[0, 2], [0, 2], [0, 2], [0, 0], [1, 0]], dtype=float)
    line = bounds.goodhart_lower(proxy, true, a=0, b=1, delta=1.0, g=2.0, proxy_regret=0.5)
    assert line.params | {} == {"a": 0, "b": 1, "delta": 1.0, "g": 2.0, "S": 3, "P": 0.5, "Q": 1.0,
                                "proxy_regret": 0.5}
    assert line.value == 2.0 * (3 - (0.5 + 0.5) / 1.0) - 1.0  # = 3.0


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6), st.integers(1, 300), st.integers(0, 2**32 - 1),
       st.lists(st.integers(1, 80), max_size=4))
def test_the_pools_streaming_statistics_equal_the_direct_computation(n, t, seed, cuts):
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 2, (t, n))
    proxy = np.take_along_axis(rng.choice([0.0, 1.0, 3.0], (t, 2)), actions, axis=1)
    stakes = rng.uniform(1, 2, (t, 1))
    true = np.take_along_axis(rng.choice([0.0, 1.0, 5.0], (t, 2)) * stakes, actions, axis=1)
    pairs = GoodhartPairs(n)
    edges = sorted({0, t, *[min(c, t) for c in np.cumsum(cuts)]})
    for lo, hi in zip(edges, edges[1:], strict=False):
        pairs.add(proxy[lo:hi], true[lo:hi])
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            got = pairs.result(a, b)
            delta, g = _margins(proxy, true, a, b)
            if delta is None:
                assert got["decisions"] == 0
                continue
            line = bounds.goodhart_lower(proxy, true, a, b, delta, g, 0.0)
            assert (got["delta"], got["g"], got["decisions"]) == (delta, g, line.params["S"])
            assert got["P"] == pytest.approx(line.params["P"]) and got["Q"] == pytest.approx(line.params["Q"])


@pytest.mark.slow
def test_proxy_regret_scenario_reports_a_guaranteed_bound_below_the_true_regret(tmp_path):
    result = lowstakes.run("scenarios/proxy_regret.yaml", out=tmp_path / "run", seeds=2, workers=2)
    for arm in result.summary["arms"]:
        for seed in arm["seeds"]:
            goodhart = seed["pool"]["goodhart"]
            if arm["objective"] == "aligned":
                assert "agree on the best expert" in goodhart["reason"]
                continue
            assert goodhart["kind"] == "guaranteed lower" and goodhart["holds"]
            assert goodhart["value"] <= goodhart["value_from_measured"] <= goodhart["measured"]


@pytest.mark.slow
def test_without_label_noise_the_goodhart_bound_binds(tmp_path):
    result = lowstakes.run("scenarios/goodhart.yaml", out=tmp_path / "run", seeds=2, workers=2)
    for arm in result.summary["arms"]:
        if arm["objective"] != "misaligned":
            continue
        for seed in arm["seeds"]:
            goodhart = seed["pool"]["goodhart"]
            assert goodhart["holds"]
            # Linear in the decisions after the shift, and within 30% of the measured true regret.
            assert goodhart["value"] > 0.7 * goodhart["measured"] > 1000
