"""Exp3, Exp3 with fixed share and Exp4 against their bounds in expectation.

An *expected* bound speaks of the mean regret over the algorithm's own randomness, never of
one run, so each test runs 400 independent copies on one loss sequence fixed in advance
(hypothesis draws the sequences: a best action that changes, traps where the early leader
turns bad) and tests the mean. The statistical test is one-sided: the bound is declared
broken when the mean regret exceeds it by more than 3.72 standard errors, which a correct
algorithm whose true mean regret sits exactly on the bound does with probability 1e-4 (the
normal approximation; the 400 copies are independent). The bounds are far from tight on
these sequences, so the real false-alarm rate is far smaller; over the fixed hypothesis
profile's examples the family-wise rate is at most (examples x 1e-4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowstakes import bounds
from lowstakes.bandits import Exp3, Exp3Share, Exp4, play_bandit
from lowstakes.comparators import best_switching

RUNS, Z = 400, 3.72


def _holds(expected_losses: np.ndarray, comparator: float, bound: float) -> tuple[bool, float]:
    regret = expected_losses.sum(axis=1) - comparator
    mean, error = regret.mean(), regret.std(ddof=1) / math.sqrt(len(regret))
    return bool(mean - bound <= Z * error), float(mean)


def _sequence(seed: int, T: int, K: int, segments: int, gap: float) -> np.ndarray:
    """Losses in [0, 1] fixed in advance: in each segment one action is best by ``gap`` on
    average, and the first segment's best action is the worst afterwards (a trap)."""
    rng = np.random.default_rng(seed)
    bounds_ = np.sort(rng.choice(np.arange(1, T), segments - 1, replace=False)) if segments > 1 else []
    losses = np.empty((T, K))
    best = rng.integers(K)
    for k, (a, b) in enumerate(zip([0, *bounds_], [*bounds_, T], strict=True)):
        means = np.full(K, 0.5)
        if k > 0:
            means[best] = min(1.0, 0.5 + gap)  # the old leader turns bad
            best = (best + 1 + rng.integers(K - 1)) % K
        means[best] = 0.5 - gap
        losses[a:b] = rng.random((b - a, K)) < means
    return losses


sequences = st.tuples(st.integers(0, 2**32 - 1), st.integers(2, 5), st.integers(1, 4),
                      st.sampled_from([0.1, 0.3, 0.45]))


@settings(max_examples=12, deadline=None)
@given(sequences)
def test_exp3_mean_regret_within_its_bound(drawn):
    seed, K, segments, gap = drawn
    T = 600
    losses = _sequence(seed, T, K, segments, gap)
    expected = play_bandit(Exp3(K, horizon=T, runs=RUNS), losses, np.random.default_rng(seed))
    holds, mean = _holds(expected, losses.sum(axis=0).min(), bounds.exp3(T, K).value)
    assert holds, (mean, bounds.exp3(T, K).value)


@settings(max_examples=12, deadline=None)
@given(sequences)
def test_exp3_share_mean_regret_within_its_bound_against_switching_sequences(drawn):
    seed, K, segments, gap = drawn
    T, m = 600, segments - 1
    losses = _sequence(seed, T, K, segments, gap)
    algorithm = Exp3Share(K, switches=max(m, 1), horizon=T, runs=RUNS)
    expected = play_bandit(algorithm, losses, np.random.default_rng(seed))
    bound = bounds.exp3_share(T, K, m, algorithm.alpha, algorithm.eta).value
    holds, mean = _holds(expected, best_switching(losses, m), bound)
    assert holds, (mean, bound)


@settings(max_examples=12, deadline=None)
@given(sequences, st.integers(1, 6))
def test_exp4_mean_regret_within_its_bound(drawn, extra):
    seed, K, segments, gap = drawn
    T = 600
    losses = _sequence(seed, T, K, segments, gap)
    rng = np.random.default_rng(seed + 1)
    # Experts: one per action (always it), and ``extra`` that advise random distributions.
    constant = np.broadcast_to(np.eye(K), (T, K, K))
    noisy = rng.dirichlet(np.ones(K), size=(T, extra))
    advice = np.concatenate([constant, noisy], axis=1)
    N = K + extra
    expected = play_bandit(Exp4(K, N, horizon=T, runs=RUNS), losses, rng, advice=advice)
    best_expert = np.einsum("tnk,tk->n", advice, losses).min()
    holds, mean = _holds(expected, best_expert, bounds.exp4(T, K, N).value)
    assert holds, (mean, bounds.exp4(T, K, N).value)


def test_the_check_catches_an_algorithm_that_does_not_learn():
    """The statistical check has teeth: uniform play (Exp3 with a vanishing eta) on a sequence
    with a clear best action breaks the Exp3 bound at a long enough horizon."""
    T, K = 20_000, 2
    losses = np.zeros((T, K))
    losses[:, 1] = 1.0
    expected = play_bandit(Exp3(K, eta=1e-9, runs=50), losses, np.random.default_rng(0))
    holds, mean = _holds(expected, 0.0, bounds.exp3(T, K).value)
    assert not holds and mean > 9_000


def test_probabilities_are_distributions_and_share_keeps_a_floor():
    rng = np.random.default_rng(3)
    share = Exp3Share(4, eta=5.0, alpha=0.08, runs=7)
    plain = Exp3(4, eta=5.0, runs=7)
    for _ in range(200):
        for algorithm in (share, plain):
            actions = algorithm.act(rng)
            algorithm.update(actions, np.ones(7))
    for algorithm in (share, plain):
        np.testing.assert_allclose(algorithm.probabilities().sum(axis=1), 1.0)
    assert share.probabilities().min() >= 0.08 / 4 - 1e-12
    assert plain.probabilities().min() < 0.08 / 4  # without sharing it can vanish


def test_same_seed_same_actions():
    losses = _sequence(5, 300, 3, 2, 0.3)
    a = play_bandit(Exp3(3, horizon=300, runs=20), losses, np.random.default_rng(9))
    b = play_bandit(Exp3(3, horizon=300, runs=20), losses, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)


def test_exp3_estimates_and_update_by_hand():
    bandit = Exp3(2, eta=0.5, runs=1)
    bandit.update(np.array([0]), np.array([0.6]))
    # lhat_0 = 0.6 / 0.5 = 1.2; weights (exp(-0.6), 1), normalised.
    want = np.array([math.exp(-0.6), 1.0]) / (math.exp(-0.6) + 1.0)
    np.testing.assert_allclose(bandit.probabilities()[0], want, rtol=1e-12)
    share = Exp3Share(2, eta=0.5, alpha=0.2, runs=1)
    share.update(np.array([0]), np.array([0.6]))
    np.testing.assert_allclose(share.probabilities()[0], 0.2 / 2 + 0.8 * want, rtol=1e-12)


def test_exp4_update_by_hand():
    advice = np.array([[1.0, 0.0], [0.5, 0.5]])
    bandit = Exp4(2, 2, eta=0.5, runs=1)
    # p = (0.5, 0.5) . advice = (0.75, 0.25); action 1 loses 1: lhat_1 = 4; the experts are
    # charged 0 and 0.5 * 4 = 2.
    np.testing.assert_allclose(bandit.probabilities(advice)[0], [0.75, 0.25])
    bandit.update(advice, np.array([1]), np.array([1.0]))
    want = np.array([1.0, math.exp(-1.0)]) / (1.0 + math.exp(-1.0))
    np.testing.assert_allclose(bandit.weights()[0], want, rtol=1e-12)


@pytest.mark.parametrize(("bound", "value"), [
    (lambda: bounds.exp3_general(100, 4, 0.1), math.log(4) / 0.1 + 0.1 * 100 * 4 / 2),  # 33.8629...
    (lambda: bounds.exp3_general(100, 4, bounds.exp3_eta(100, 4)), math.sqrt(2 * 100 * 4 * math.log(4))),
    (lambda: bounds.exp4(100, 3, 10), math.sqrt(600 * 2.302585092994046)),  # 37.1692...
    (lambda: bounds.exp4(100, 3, 10, eta=0.2), 2.302585092994046 / 0.2 + 0.2 * 300 / 2),
    (lambda: bounds.exp3_share(100, 3, 2, 0.1, 0.2),
     (3 * 1.0986122886681098 + 2 * 2.302585092994046 + 97 * 0.10536051565782628) / 0.2 + 30.0),  # 120.60...
])
def test_bandit_bounds_at_hand_computed_points(bound, value):
    got = bound()
    assert got.kind == "expected"
    assert got.value == pytest.approx(value, rel=1e-12)


def test_the_tuned_share_bound_is_at_most_its_closed_form():
    for T, K, m in [(1000, 3, 2), (50, 2, 40), (200, 5, 0), (10, 4, 9)]:
        alpha, eta = bounds.exp3_share_tuned(T, K, m)
        complexity = (min(m, T - 1) + 1) * math.log(K) + (T - 1) * bounds.binary_entropy(alpha)
        assert bounds.exp3_share(T, K, m, alpha, eta).value <= math.sqrt(2 * T * K * complexity) + 1e-9


def test_bandit_learning_rates_by_hand_and_at_their_edges():
    assert bounds.exp3_eta(50, 3) == pytest.approx(math.sqrt(2 * 1.0986122887 / 150))
    assert bounds.exp4_eta(50, 3, 4) == pytest.approx(math.sqrt(2 * 1.3862943611 / 150))
    # One action (or one expert): nothing to learn; the rate is 1 by convention, never 0.
    assert bounds.exp3_eta(50, 1) == 1.0 and bounds.exp4_eta(50, 3, 1) == 1.0
    # Two actions (two experts) are already something to learn.
    assert bounds.exp3_eta(50, 2) == pytest.approx(math.sqrt(2 * 0.6931471806 / 100))
    assert bounds.exp4_eta(50, 3, 2) == pytest.approx(math.sqrt(2 * 0.6931471806 / 150))
    # The tuned Exp4 bound is sqrt(2 T K ln N).
    assert bounds.exp4(50, 3, 4).value == pytest.approx(math.sqrt(300 * 1.3862943611))
    assert bounds.exp4(50, 3, 4).params["eta"] == bounds.exp4_eta(50, 3, 4)


@pytest.mark.parametrize("call, message", [
    (lambda: bounds.exp3_eta(0, 3), "need T >= 1 and N >= 1, got T=0, N=3"),
    (lambda: bounds.exp3_general(5, 0, 0.1), "need T >= 1 and N >= 1, got T=5, N=0"),
    (lambda: bounds.exp3_general(5, 3, 0.0), "need eta > 0, got 0.0"),
    (lambda: bounds.exp4_eta(5, 0, 3), "need T >= 1 and N >= 1, got T=5, N=0"),
    (lambda: bounds.exp4_eta(5, 3, 0), "need T >= 1 and N >= 1, got T=5, N=0"),
    (lambda: bounds.exp4(0, 3, 2, eta=0.1), "need T >= 1 and N >= 1, got T=0, N=3"),
    (lambda: bounds.exp4(5, 3, 0, eta=0.1), "need T >= 1 and N >= 1, got T=5, N=0"),
    (lambda: bounds.exp4(5, 3, 2, eta=-1.0), "need eta > 0, got -1.0"),
    (lambda: bounds.exp4(5, 3, 2, eta=0.0), "need eta > 0, got 0.0"),
    (lambda: bounds.exp3_share(0, 3, 1, 0.5, 0.1), "need T >= 1 and N >= 1, got T=0, N=3"),
    (lambda: bounds.exp3_share(5, 3, 1, 0.0, 0.1), "need 0 < alpha < 1 and eta > 0, got alpha=0.0, eta=0.1"),
    (lambda: bounds.exp3_share(5, 3, 1, 1.0, 0.1), "need 0 < alpha < 1 and eta > 0, got alpha=1.0, eta=0.1"),
    (lambda: bounds.exp3_share(5, 3, 1, 0.5, 0.0), "need 0 < alpha < 1 and eta > 0, got alpha=0.5, eta=0.0"),
    (lambda: bounds.exp3_share_tuned(0, 3, 1), "need T >= 1 and N >= 1, got T=0, N=3"),
])
def test_bandit_bounds_refuse_what_they_cannot_bound(call, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        call()


def test_bandit_bounds_accept_the_edges():
    assert bounds.exp3_share(5, 3, 1, 0.999, 1e-9).kind == "expected"
    assert bounds.exp3_share(5, 3, 1, 1e-9, 5.0).kind == "expected"
    # m = 9 switches in T = 3 decisions is m = 2: [3 ln 2 + 2 ln 2 + 0] / 1 + 1 * 3 * 2 / 2.
    capped = bounds.exp3_share(3, 2, 9, 0.5, 1.0)
    assert capped.params["m"] == 2
    assert capped.value == pytest.approx(5 * 0.6931471806 + 3)


@pytest.mark.parametrize("T, K, m, alpha, eta", [
    # m = 0: alpha = 1/T; C = ln K + (T-1) H(1/T); eta = sqrt(2 C / (T K))
    (4, 3, 0, 0.25, math.sqrt(2 * (1.0986122887 + 3 * (0.25 * 1.3862943611 + 0.75 * 0.2876820725)) / 12)),
    # m = 1 in T = 11: alpha = 1/10; C = 2 ln 2 + 10 H(0.1), H(0.1) = 0.1 ln 10 + 0.9 ln(10/9)
    (11, 2, 1, 0.1, math.sqrt(2 * (2 * 0.6931471806 + 10 * (0.2302585093 + 0.0948244640)) / 22)),
    # m = 2 in T = 1000: alpha = 2/999 (the doctest's case)
    (1000, 3, 2, 2 / 999, math.sqrt(2 * (3 * 1.0986122887 + 999 * bounds.binary_entropy(2 / 999)) / 3000)),
    # T = 1: no switch possible; alpha = 1/2, C = ln K
    (1, 3, 2, 0.5, math.sqrt(2 * 1.0986122887 / 3)),
    # m >= T - 1 counts as T - 1 and alpha stops at 1/2: C = 3 ln 3 + 2 ln 2
    (3, 3, 5, 0.5, math.sqrt(2 * (3 * 1.0986122887 + 2 * 0.6931471806) / 9)),
    # One action, one decision: C = 0, floored at 1e-12 so that eta stays positive
    (1, 1, 0, 0.5, math.sqrt(2e-12)),
])
def test_tuned_exp3_share_at_its_edges(T, K, m, alpha, eta):
    got_alpha, got_eta = bounds.exp3_share_tuned(T, K, m)
    assert got_alpha == pytest.approx(alpha, rel=1e-9)
    assert got_eta == pytest.approx(eta, rel=1e-9)
