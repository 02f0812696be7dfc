"""Guaranteed bounds never exceeded on adversarial loss sequences; exact expectations; DP comparator."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lowstakes import bounds
from lowstakes.comparators import best_fixed, best_in_windows, best_switching, brute_force_switching
from lowstakes.experts import (
    AnytimeHedge,
    FixedShare,
    Hedge,
    Interleaved,
    InterleavedFixedShare,
    build_algorithm,
    play,
)
from lowstakes.regret import _bound_at, _taken

TOL = 1e-9


@st.composite
def loss_matrices(draw, max_t=300, max_n=8):
    """Random, binary, and hand-built hard sequences for the experts."""
    t = draw(st.integers(2, max_t))
    n = draw(st.integers(2, max_n))
    kind = draw(st.sampled_from(["uniform", "binary", "alternating", "late_collapse", "switching"]))
    if kind == "uniform":
        return draw(arrays(np.float64, (t, n), elements=st.floats(0, 1)))
    if kind == "binary":
        return draw(arrays(np.float64, (t, n), elements=st.sampled_from([0.0, 1.0])))
    losses = np.ones((t, n))
    if kind == "alternating":  # the leader changes every step
        losses[np.arange(t), np.arange(t) % 2] = 0.0
    elif kind == "late_collapse":  # a perfect leader that fails for good near the end
        cut = draw(st.integers(1, t - 1))
        losses[:cut, 0] = 0.0
        losses[cut:, 1] = 0.0
    else:  # a few switches of the best expert
        cuts = sorted(draw(st.lists(st.integers(1, t - 1), min_size=1, max_size=4)))
        for k, (a, b) in enumerate(zip([0, *cuts], [*cuts, t], strict=True)):
            losses[a:b, k % n] = 0.0
    return losses


def adaptive_adversary(algorithm, t, n):
    """Hits whatever the algorithm currently trusts: loss 1 for the half with most weight."""
    mixture = np.empty(t)
    losses = np.zeros((t, n))
    for s in range(t):
        w = algorithm.weights(s)
        losses[s, np.argsort(-w, kind="stable")[: n // 2]] = 1.0
        mixture[s] = w @ losses[s]
        algorithm.update(losses[s], s)
    return mixture, losses


@settings(max_examples=150, deadline=None)
@given(loss_matrices())
def test_hedge_fixed_eta_never_exceeds_its_bound(losses):
    t, n = losses.shape
    regret = play(Hedge(n, horizon=t), losses).sum() - best_fixed(losses)
    assert regret <= bounds.hedge_fixed(t, n).value + TOL


@settings(max_examples=150, deadline=None)
@given(loss_matrices())
def test_anytime_hedge_never_exceeds_its_bound(losses):
    t, n = losses.shape
    regret = play(AnytimeHedge(n), losses).sum() - best_fixed(losses)
    assert regret <= bounds.hedge_anytime(t, n).value + TOL


@settings(max_examples=100, deadline=None)
@given(loss_matrices(max_t=200, max_n=6), st.floats(0.001, 0.5), st.floats(0.01, 3.0))
def test_fixed_share_never_exceeds_its_tracking_bound(losses, alpha, eta):
    t, n = losses.shape
    mixture = play(FixedShare(n, eta=eta, alpha=alpha), losses).sum()
    for m in range(4):
        bound = bounds.fixed_share(t, n, m, alpha, eta).value
        assert mixture - best_switching(losses, m) <= bound + TOL


@settings(max_examples=100, deadline=None)
@given(loss_matrices(max_t=200, max_n=6), st.floats(0.001, 0.5), st.floats(0.01, 3.0), st.data())
def test_fixed_share_never_exceeds_its_window_bound(losses, alpha, eta, data):
    t, n = losses.shape
    mixture = play(FixedShare(n, eta=eta, alpha=alpha), losses)
    start = data.draw(st.integers(0, t - 1))
    end = data.draw(st.integers(start + 1, t))
    (best,) = best_in_windows(losses, [(start, end)])
    bound = bounds.fixed_share_window(end - start, n, alpha, eta).value
    assert mixture[start:end].sum() - best <= bound + TOL


@pytest.mark.parametrize("make", [
    lambda t, n: Hedge(n, horizon=t), lambda t, n: AnytimeHedge(n),
    lambda t, n: FixedShare(n, horizon=t, switches=2),
])
def test_adaptive_adversary_stays_within_bounds(make):
    t, n = 2000, 10
    algorithm = make(t, n)
    mixture, losses = adaptive_adversary(algorithm, t, n)
    regret = mixture.sum() - best_fixed(losses)
    if isinstance(algorithm, FixedShare):
        bound = bounds.fixed_share(t, n, 0, algorithm.alpha, algorithm.eta).value
    elif isinstance(algorithm, AnytimeHedge):
        bound = bounds.hedge_anytime(t, n).value
    else:
        bound = bounds.hedge_fixed(t, n).value
    assert regret <= bound + TOL
    assert regret > 0  # the adversary does make it lose more than the best expert


@settings(max_examples=60, deadline=None)
@given(loss_matrices(max_t=200, max_n=6), st.integers(0, 5))
def test_interleaved_hedge_under_constant_delay(losses, d):
    # Losses of decision s are revealed only at decision s + d + 1.
    t, n = losses.shape
    algorithm = Interleaved(n, delay=d, horizon=t)
    mixture = 0.0
    for s in range(t):
        if s - d - 1 >= 0:
            algorithm.update(losses[s - d - 1], s - d - 1)
        mixture += algorithm.weights(s) @ losses[s]
    assert mixture - best_fixed(losses) <= bounds.hedge_constant_delay(t, n, d).value + TOL


def _delayed_play(algorithm, losses, d):
    """The mixture loss per decision when decision s's losses come only before decision s + d + 1."""
    mixture = np.empty(len(losses))
    for s in range(len(losses)):
        if s - d - 1 >= 0:
            algorithm.update(losses[s - d - 1], s - d - 1)
        mixture[s] = algorithm.weights(s) @ losses[s]
    return mixture


def _interleaved_fixed_share_within_its_bounds(losses, d, m, window):
    t, n = losses.shape
    algorithm = InterleavedFixedShare(n, delay=d, horizon=t, switches=m)
    mixture = _delayed_play(algorithm, losses, d)
    assert algorithm.late == 0
    for prefix in {t, max(1, t // 3)}:  # the bound at every prefix, as the curves draw it
        bound = _bound_at(algorithm, n, 1.0, prefix, None, m, True)
        assert mixture[:prefix].sum() - best_switching(losses[:prefix], m) <= bound.value + TOL
    start, end = window
    copies = [(_taken(start, end, d, k), c.alpha, c.eta) for k, c in enumerate(algorithm.copies)]
    bound = bounds.fixed_share_window_constant_delay(copies, n, d)
    assert mixture[start:end].sum() - losses[start:end].sum(axis=0).min() <= bound.value + TOL


@settings(max_examples=80, deadline=None)
@given(loss_matrices(max_t=200, max_n=6), st.integers(0, 4), st.integers(0, 3), st.data())
def test_interleaved_fixed_share_under_constant_delay(losses, d, m, data):
    t = len(losses)
    start = data.draw(st.integers(0, t - 1))
    end = data.draw(st.integers(start + 1, t))
    _interleaved_fixed_share_within_its_bounds(losses, d, m, (start, end))


def test_interleaved_fixed_share_on_a_best_expert_that_changes():
    # The best expert changes halfway: Hedge copies (no sharing) fall far behind the
    # switching comparator, and the bound holds only because the copies share.
    t, d = 600, 2
    losses = np.zeros((t, 2))
    losses[: t // 2, 1] = losses[t // 2:, 0] = 1.0
    _interleaved_fixed_share_within_its_bounds(losses, d, 1, (t // 2, t // 2 + 150))
    hedges = Interleaved(2, delay=d, horizon=t)
    stale = _delayed_play(hedges, losses, d).sum() - best_switching(losses, 1)
    interleaved = InterleavedFixedShare(2, delay=d, horizon=t, switches=1)
    assert stale > _bound_at(interleaved, 2, 1.0, t, None, 1, True).value


@settings(max_examples=100, deadline=None)
@given(loss_matrices(max_t=150, max_n=6), st.floats(0.01, 1.0), st.data())
def test_hedge_with_arbitrary_delays_stays_within_the_delay_bound(losses, eta, data):
    t, n = losses.shape
    delays = np.array(data.draw(st.lists(st.integers(0, 12), min_size=t, max_size=t)))
    arrival = np.arange(t) + delays  # revealed before decision arrival[s] + 1
    hedge, mixture, unrevealed, revealed = Hedge(n, eta=eta), 0.0, np.zeros(t), set()
    for s in range(t):
        for r in np.flatnonzero(arrival < s):
            if r not in revealed:
                hedge.update(losses[r], r)
                revealed.add(int(r))
        unrevealed[s] = s - len(revealed)
        mixture += hedge.weights(s) @ losses[s]
    assert mixture - best_fixed(losses) <= bounds.hedge_delays(n, eta, unrevealed).value + TOL


def test_bernoulli_losses_expected_regret_is_inside_the_seeds_interval():
    t, n, seeds = 200, 5, 400
    rng = np.random.default_rng(12345)
    regrets = []
    for _ in range(seeds):
        losses = rng.integers(0, 2, size=(t, n)).astype(float)
        regrets.append(play(Hedge(n, horizon=t), losses).sum() - best_fixed(losses))
    mean, half = np.mean(regrets), 1.96 * np.std(regrets, ddof=1) / math.sqrt(seeds)
    exact = bounds.bernoulli_expected_regret(t, n).value
    assert mean - half <= exact <= mean + half


def test_no_overflow_or_underflow_over_ten_million_steps():
    # Hedge's update is additive, so one update with 10^7 times a loss row is exactly
    # 10^7 steps of that row: log-weights 10^7 * eta apart.
    row = np.array([0.0, 1.0, 0.5])
    for algorithm in (Hedge(3, eta=0.5), AnytimeHedge(3)):
        algorithm.update(row * 1e7, 0)
        w = algorithm.weights(10**7)
        assert np.isfinite(w).all() and abs(w.sum() - 1) < 1e-12 and w[0] == 1.0
    # Fixed Share mixes every step, so run the steps: a huge eta pushes the losers'
    # log-weights down by 50 a step, yet the shared mass keeps them at alpha / N.
    share = FixedShare(3, eta=50.0, alpha=1e-12)
    for s in range(100_000):
        share.update(row, s)
    w = share.weights(100_000)
    assert np.isfinite(w).all() and abs(w.sum() - 1) < 1e-12
    assert w[1] >= 1e-12 / 3 * (1 - 1e-9) and w[0] > 0.999


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 3)), elements=st.floats(0, 1)),
       st.integers(0, 3))
def test_switching_dp_agrees_with_brute_force(losses, m):
    assert best_switching(losses, m) == pytest.approx(brute_force_switching(losses, m), abs=1e-9)


def test_every_bound_of_bounds_md_has_its_value_kind_and_source():
    t, n = 10_000, 16
    fixed = bounds.hedge_fixed(t, n).value
    assert bounds.hedge_doubling(t, n).value == pytest.approx(3.4142 * fixed, rel=1e-4)
    assert bounds.hedge_eta(t, n, bounds.hedge_fixed_eta(t, n)).value == pytest.approx(fixed)
    assert bounds.hedge_constant_delay(t, n, 3).value == pytest.approx(2 * fixed)
    assert bounds.hedge_delays(n, 0.1, np.zeros(t)).value == pytest.approx(bounds.hedge_eta(t, n, 0.1).value)
    assert bounds.ogd(t, D=2.0, G=3.0).value == pytest.approx(1.5 * 2 * 3 * 100)
    assert bounds.exp3(t, 4).kind == "expected"
    assert bounds.exp3(t, 4).value == pytest.approx(math.sqrt(2 * t * 4 * math.log(4)))
    assert bounds.minimax_lower(t, n).kind == "asymptotic"
    alpha, eta = bounds.fixed_share_tuned(t, n, 3)
    tuned = bounds.fixed_share(t, n, 3, alpha, eta).value
    complexity = 4 * math.log(n) + (t - 1) * bounds.binary_entropy(3 / (t - 1))
    assert tuned == pytest.approx(math.sqrt(t / 2 * complexity), rel=1e-9)
    for b in (bounds.hedge_fixed(t, n), bounds.fixed_share_window(100, n, alpha, eta),
              bounds.hedge_anytime(t, n)):
        assert b.kind == "guaranteed" and b.source and b.params
    # Losses in [0, B]: the bound scales with B.
    assert bounds.hedge_fixed(t, n, B=5.0).value == pytest.approx(5 * fixed)


# --- Exact weights, tuning and argument checks (killed mutants; README, 'Development') ---

def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def test_anytime_hedge_uses_the_rate_of_its_round():
    # Decision t (0-based) is round t + 1: eta = sqrt(8 ln 2 / (t + 1)) on the revealed losses.
    algorithm = AnytimeHedge(2)
    algorithm.update(np.array([1.0, 0.0]), 0)
    for t in (1, 3):
        eta = math.sqrt(8 * 0.6931471806 / (t + 1))
        assert algorithm.weights(t) == pytest.approx(_softmax([-eta, 0.0]), rel=1e-9)


def test_interleaved_copies_each_see_their_own_decisions():
    # Delay 1 over T = 5: copy 0 acts at 0, 2, 4 (horizon 3), copy 1 at 1, 3 (horizon 2).
    losses = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    algorithm = Interleaved(2, delay=1, horizon=5)
    assert [c.eta for c in algorithm.copies] == pytest.approx(
        [math.sqrt(8 * 0.6931471806 / 3), math.sqrt(8 * 0.6931471806 / 2)])
    mixture = play(algorithm, losses)
    even, odd = Hedge(2, horizon=3), Hedge(2, horizon=2)
    expected = [play(even, losses[0::2]), play(odd, losses[1::2])]
    assert mixture[0::2] == pytest.approx(expected[0]) and mixture[1::2] == pytest.approx(expected[1])
    # A copy with no decision left still gets a valid horizon (1, not 0).
    assert [c.eta for c in Interleaved(2, delay=3, horizon=2).copies] == pytest.approx(
        [math.sqrt(8 * 0.6931471806)] * 4)


def test_interleaved_counts_the_decisions_a_copy_takes_without_its_earlier_losses():
    from lowstakes.regret import _bound_at

    on_time, late = Interleaved(2, delay=2, horizon=30), Interleaved(2, delay=2, horizon=30)
    losses = np.random.default_rng(0).random((30, 2))
    for t in range(30):
        on_time.weights(t)
        late.weights(t)
        late.weights(t)  # asked twice for one decision: counted once
        if t >= 2:
            on_time.update(losses[t - 2], t - 2)  # decision t - 2's loss, before decision t + 1
        if t >= 2 and t - 2 != 4:
            late.update(losses[t - 2], t - 2)
    # Decision 4's loss never came: copy 1 (decisions 1, 4, 7, ...) lacks it from decision 7 on.
    assert on_time.late == 0 and late.late == len(range(7, 30, 3))
    assert _bound_at(on_time, 2, 1.0, 30, None, 1, True).name == "hedge_constant_delay"
    assert _bound_at(late, 2, 1.0, 30, None, 1, True) is None
    # No delay: decision 0's loss missing is seen from decision 1 on.
    alone = Interleaved(2, delay=0, horizon=5)
    for t in range(5):
        alone.weights(t)
    assert alone.late == 4


def test_the_interleaved_fixed_share_bounds_add_up_their_copies():
    copies = [(5, 0.25, 0.5), (3, 0.1, 0.4), (0, 0.2, 0.3)]
    run = bounds.fixed_share_constant_delay(copies, N=3, m=2, d=2, B=2.0)
    assert run.value == pytest.approx(2.0 * (bounds.fixed_share(5, 3, 2, 0.25, 0.5).value
                                             + bounds.fixed_share(3, 3, 2, 0.1, 0.4).value), rel=1e-12)
    assert (run.name, run.kind, run.params) == ("fixed_share_constant_delay", bounds.GUARANTEED,
                                                {"T": 8, "N": 3, "m": 2, "d": 2, "B": 2.0})
    assert run.source == ("Fixed Share (Cesa-Bianchi & Lugosi 2006, Thm 5.1) in each of d+1 interleaved "
                          "copies (Weinberger & Ordentlich 2002's reduction)")
    assert bounds.fixed_share_constant_delay(copies, N=3, m=2, d=2).value == pytest.approx(run.value / 2)
    with pytest.raises(ValueError, match="alpha <= 1/2 in every copy"):
        bounds.fixed_share_constant_delay([(5, 0.6, 0.5)], N=3, m=1, d=0)
    # A copy that has not acted adds nothing, whatever its rates.
    assert bounds.fixed_share_constant_delay([(5, 0.25, 0.5), (0, 0.6, 0.5)], N=3, m=1, d=1).value == (
        bounds.fixed_share(5, 3, 1, 0.25, 0.5).value)
    window = bounds.fixed_share_window_constant_delay(copies, N=3, d=2, B=2.0)
    assert window.value == pytest.approx(2.0 * (bounds.fixed_share_window(5, 3, 0.25, 0.5).value
                                                + bounds.fixed_share_window(3, 3, 0.1, 0.4).value), rel=1e-12)
    assert (window.name, window.kind) == ("fixed_share_window_constant_delay", bounds.GUARANTEED)
    assert window.params == {"tau": 8, "N": 3, "d": 2, "B": 2.0}
    assert window.source == "weights of each interleaved copy never fall below alpha/N (see BOUNDS)"
    assert bounds.fixed_share_window_constant_delay(copies, N=3, d=2).value == pytest.approx(window.value / 2)
    # After one decision only copy 0 has acted: the bound is its own.
    algorithm = InterleavedFixedShare(3, delay=2, horizon=30, switches=1)
    first = algorithm.copies[0]
    assert _bound_at(algorithm, 3, 2.0, 1, None, 1, True).value == pytest.approx(
        2.0 * bounds.fixed_share(1, 3, 1, first.alpha, first.eta).value, rel=1e-12)


def test_a_windows_decisions_are_counted_per_copy():
    for start, end, d in itertools.product(range(12), range(14), range(4)):
        if end >= start:
            for copy in range(d + 1):
                assert _taken(start, end, d, copy) == sum(1 for t in range(start, end) if t % (d + 1) == copy)


def test_interleaved_fixed_share_copies_are_tuned_to_their_own_decisions():
    # Copy k takes ceil((T - k) / (d + 1)) decisions and is tuned to them for m switches.
    for switches in (1, 3):
        algorithm = InterleavedFixedShare(4, delay=2, horizon=100, switches=switches)
        for copy, decisions in zip(algorithm.copies, (34, 33, 33), strict=True):
            assert (copy.alpha, copy.eta) == bounds.fixed_share_tuned(decisions, 4, switches)
    default = InterleavedFixedShare(4, delay=2, horizon=100).copies[0]
    assert (default.alpha, default.eta) == bounds.fixed_share_tuned(34, 4, 1)  # one switch, as fixed_share


def test_fixed_share_tunes_only_what_is_not_given():
    alpha, eta = bounds.fixed_share_tuned(100, 3, 1)
    for fixed, expected in [({}, (alpha, eta)), ({"eta": 0.3}, (alpha, 0.3)), ({"alpha": 0.2}, (0.2, eta))]:
        algorithm = FixedShare(3, horizon=100, **fixed)
        assert (algorithm.alpha, algorithm.eta) == expected
    assert FixedShare(3, horizon=100, switches=4).alpha == pytest.approx(4 / 99)


@pytest.mark.parametrize("alpha, eta, ok", [(0.5, 0.1, True), (0.0, 0.1, False), (1.0, 0.1, False),
                                            (0.5, 0.0, False), (0.999, 1e-9, True), (1e-9, 5.0, True)])
def test_fixed_share_argument_edges(alpha, eta, ok):
    if ok:
        FixedShare(2, eta=eta, alpha=alpha)
    else:
        with pytest.raises(ValueError, match=f"need 0 < alpha < 1 and eta > 0, got alpha={alpha}, eta={eta}"):
            FixedShare(2, eta=eta, alpha=alpha)


def test_untuned_algorithms_say_what_they_need():
    with pytest.raises(ValueError, match="^give eta and alpha, or the horizon to tune them to$"):
        FixedShare(2, eta=0.5)
    with pytest.raises(ValueError, match="^give eta, or the horizon to tune it to$"):
        Hedge(2)
    with pytest.raises(ValueError, match="^eta must be positive, got 0$"):
        Hedge(2, eta=0)
    assert Hedge(2, eta=1e-12).eta == 1e-12


def test_build_algorithm_passes_params_and_names_the_known_ones():
    assert build_algorithm("hedge", 3, 100, {"eta": 0.5}).eta == 0.5
    assert build_algorithm("hedge", 3, 100, {}).eta == pytest.approx(math.sqrt(8 * 1.0986122887 / 100))
    assert build_algorithm("fixed_share", 3, 100, {"alpha": 0.2}).alpha == 0.2
    assert build_algorithm("hedge_interleaved", 3, 100, {"delay": 4}).delay == 4
    with pytest.raises(ValueError, match=r"^unknown param 'eta'; AnytimeHedge takes: no params$"):
        build_algorithm("hedge_anytime", 3, 100, {"eta": 0.5})  # anytime Hedge takes no rate
    with pytest.raises(ValueError, match=r"^unknown param 'alpah' \(did you mean 'alpha'\?\); "
                                         r"FixedShare takes: eta, alpha, switches$"):
        build_algorithm("fixed_share", 3, 100, {"alpah": 0.1})
    with pytest.raises(ValueError, match=r"^unknown algorithm 'hedg' \(did you mean 'hedge'\?\); "
                                         r"known: hedge, hedge_anytime, fixed_share, hedge_interleaved, "
                                         r"fixed_share_interleaved$"):
        build_algorithm("hedg", 3, 100, {})


def test_best_in_windows_by_hand():
    losses = np.array([[0, 1], [0, 1], [1, 0], [1, 0], [0, 3]], dtype=float)
    assert best_in_windows(losses, [(2, 4), (1, 5), (0, 1)]) == [0.0, 2.0, 0.0]


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 40), st.integers(1, 4), st.integers(0, 3), st.data())
def test_switching_fed_in_blocks_and_read_at_marks(t, n, m, data):
    """The comparator as the engine feeds it: block by block, read at chosen decisions. Each
    reading equals the exact dynamic programme on the prefix, whatever the block split."""
    from lowstakes.comparators import Switching

    losses = np.array(data.draw(st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n),
                                         min_size=t, max_size=t)))
    cuts = sorted(data.draw(st.sets(st.integers(1, t - 1), max_size=4)) if t > 1 else set())
    marks = sorted(data.draw(st.sets(st.integers(0, t - 1), min_size=1, max_size=5)))
    comparator, read = Switching(n, m), []
    for lo, hi in zip([0, *cuts], [*cuts, t], strict=True):
        # Integer losses, as a caller may pass them: summed as floats all the same.
        read += comparator.add(losses[lo:hi], record=[k - lo for k in marks if lo <= k < hi])
    assert read == [pytest.approx(best_switching(losses[:k + 1].astype(float), m), abs=1e-9) for k in marks]
    assert comparator.value == pytest.approx(best_switching(losses.astype(float), m), abs=1e-9)


@pytest.mark.parametrize("make", [
    lambda: Hedge(4, horizon=50), lambda: AnytimeHedge(4), lambda: FixedShare(4, horizon=50, switches=2),
    lambda: Interleaved(4, delay=2, horizon=50)])
def test_weights_written_into_a_given_array_are_the_weights(make):
    """The engine hands each algorithm a row of its block's array to write the weights into:
    the same weights as a fresh array, written there and returned, at every decision (the
    interleaved copies take turns)."""
    algorithm, fresh = make(), make()
    losses = np.random.default_rng(3).random((12, 4))
    rows = np.zeros((12, 4))
    for t, row in enumerate(losses):
        got = algorithm.weights(t, out=rows[t])
        assert got is rows[t] or np.shares_memory(got, rows)
        np.testing.assert_array_equal(rows[t], fresh.weights(t))
        algorithm.update(row, t)
        fresh.update(row, t)
    assert len({tuple(r) for r in rows}) > 1  # the weights moved
