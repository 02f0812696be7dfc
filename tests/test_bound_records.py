"""Every bound's whole record, as the summary and the guarantee table show it: name, kind,
source, parameters and a value computed by hand; and the edges of every argument check.

Mutation testing (README, 'Development') found that the value tests of test_exact.py left
the rest of each record unchecked: a bound could lose its name or its source, report the
wrong kind or parameters, or change its default B, and no test failed. The values below are
arithmetic on the formulas of BOUNDS.md with ln 3 = 1.0986122887 written out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lowstakes import bounds
from lowstakes.experts import FixedShare

LN3 = 1.0986122887
G, E, A = "guaranteed", "expected", "asymptotic"
CL = "Cesa-Bianchi & Lugosi 2006"

RECORDS = [
    # name, call with the default B, kind, source, params, value by hand (B = 1)
    ("hedge_fixed", lambda **b: bounds.hedge_fixed(50, 3, **b), G, f"{CL}, Thm 2.2",
     {"T": 50, "N": 3}, math.sqrt(25 * LN3)),
    ("hedge_eta", lambda **b: bounds.hedge_eta(50, 3, 0.25, **b), G, f"{CL}, proof of Thm 2.2",
     {"T": 50, "N": 3, "eta": 0.25}, LN3 / 0.25 + 0.25 * 50 / 8),
    ("hedge_anytime", lambda **b: bounds.hedge_anytime(50, 3, **b), G, f"{CL}, Thm 2.3",
     {"T": 50, "N": 3}, math.sqrt(100 * LN3) + math.sqrt(LN3 / 8)),
    ("hedge_doubling", lambda **b: bounds.hedge_doubling(50, 3, **b), G, "doubling trick (standard)",
     {"T": 50, "N": 3}, 1.4142135624 / 0.4142135624 * math.sqrt(25 * LN3)),
    # [(m+1) ln N + m ln(1/alpha) + (T-m-1) ln(1/(1-alpha))] / eta + eta T / 8
    ("fixed_share", lambda **b: bounds.fixed_share(50, 3, 2, 0.1, 0.25, **b), G, f"{CL}, Thm 5.1",
     {"T": 50, "N": 3, "m": 2, "alpha": 0.1, "eta": 0.25},
     (3 * LN3 + 2 * 2.302585093 + 47 * 0.1053605157) / 0.25 + 0.25 * 50 / 8),
    ("fixed_share_window", lambda **b: bounds.fixed_share_window(50, 3, 0.1, 0.25, **b), G,
     "weights never fall below alpha/N (see BOUNDS)", {"tau": 50, "N": 3, "alpha": 0.1, "eta": 0.25},
     (LN3 + 2.302585093 + 50 * 0.1053605157) / 0.25 + 0.25 * 50 / 8),
    ("hedge_constant_delay", lambda **b: bounds.hedge_constant_delay(50, 3, 4, **b), G,
     "Weinberger & Ordentlich 2002", {"T": 50, "N": 3, "d": 4}, math.sqrt(5 * 25 * LN3)),
    # ln N / eta + eta T / 8 + (1/2) sum (e^(eta m_t) - 1) with m = 0, 2, 1, 0
    ("hedge_delays", lambda **b: bounds.hedge_delays(3, 0.25, [0, 2, 1, 0], **b), G,
     "direct proof (see BOUNDS)", {"T": 4, "N": 3, "eta": 0.25, "max_unrevealed": 2,
                                   "mean_unrevealed": 0.75},
     LN3 / 0.25 + 0.125 + 0.5 * (0.6487212707 + 0.2840254167)),
    ("exp3", lambda **b: bounds.exp3(50, 3, **b), E, "Bubeck & Cesa-Bianchi 2012, Thm 3.1",
     {"T": 50, "K": 3}, math.sqrt(300 * LN3)),
    # ln K / eta + eta T K / 2
    ("exp3_general", lambda **b: bounds.exp3_general(50, 3, 0.25, **b), E,
     "Bubeck & Cesa-Bianchi 2012, proof of Thm 3.1", {"T": 50, "K": 3, "eta": 0.25}, LN3 / 0.25 + 18.75),
    # ln N / eta + eta T K / 2 with N = 4
    ("exp4", lambda **b: bounds.exp4(50, 3, 4, eta=0.25, **b), E, "Bubeck & Cesa-Bianchi 2012, Thm 4.2",
     {"T": 50, "K": 3, "N": 4, "eta": 0.25}, 1.3862943611 / 0.25 + 18.75),
    # Fixed Share's numerator with K for N, over eta, + eta T K / 2
    ("exp3_share", lambda **b: bounds.exp3_share(50, 3, 2, 0.1, 0.25, **b), E,
     "direct proof (Fixed Share's argument on Exp3's estimates)",
     {"T": 50, "K": 3, "m": 2, "alpha": 0.1, "eta": 0.25},
     (3 * LN3 + 2 * 2.302585093 + 47 * 0.1053605157) / 0.25 + 18.75),
    ("minimax_lower", lambda **b: bounds.minimax_lower(50, 3, **b), A, f"{CL}, Thm 3.7",
     {"T": 50, "N": 3}, math.sqrt(25 * LN3)),
]


@pytest.mark.parametrize("name, call, kind, source, params, value", RECORDS, ids=[r[0] for r in RECORDS])
def test_each_bound_record_in_full(name, call, kind, source, params, value):
    record = call().to_dict()
    assert record == {"name": name, "kind": kind, "value": pytest.approx(value, rel=1e-8),
                      "source": source, "params": {**params, "B": 1.0}}
    # B scales the value and nothing else.
    scaled = call(B=2.5).to_dict()
    assert scaled["value"] == pytest.approx(2.5 * value, rel=1e-8)
    assert scaled["params"] == {**params, "B": 2.5}


def test_records_without_a_loss_scale():
    assert bounds.ogd(50, 2.0, 0.5).to_dict() == {
        "name": "ogd", "kind": G, "value": pytest.approx(1.5 * 2.0 * 0.5 * math.sqrt(50)),
        "source": "Hazan, OCO book, Thm 3.1", "params": {"T": 50, "D": 2.0, "G": 0.5}}
    # T/2 - [P(Bin(2, 1/2) > 0)^2 + P(Bin(2, 1/2) > 1)^2] = 1 - (9/16 + 1/16)
    assert bounds.bernoulli_expected_regret(2, 2).to_dict() == {
        "name": "bernoulli_expected_regret", "kind": E, "value": pytest.approx(0.375),
        "source": "exact value (see BOUNDS)", "params": {"T": 2, "N": 2}}


def test_goodhart_record_and_boolean_losses():
    # Decisions 0 and 2 are in S; decision 1 is not: there P = l~(b) - min l~ = 1, Q = 0.
    # R_a >= g (|S| - (proxy_regret + P) / delta) - Q = 2 - 1.5 = 0.5.
    proxy = [[True, False], [False, True], [True, False]]  # losses given as mistakes
    true = [[False, True], [False, True], [False, True]]
    record = bounds.goodhart_lower(proxy, true, a=0, b=1, delta=1.0, g=1.0, proxy_regret=0.5).to_dict()
    assert record == {"name": "goodhart_lower", "kind": "guaranteed lower", "value": 0.5,
                      "source": "BOUNDS.md, 'The Goodhart lower bound, made exact'",
                      "params": {"a": 0, "b": 1, "delta": 1.0, "g": 1.0, "S": 2, "P": 1.0, "Q": 0.0,
                                 "proxy_regret": 0.5}}


def test_goodhart_needs_positive_margins():
    proxy, true = np.zeros((2, 2)), np.zeros((2, 2))
    for delta, g in [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0)]:
        with pytest.raises(ValueError, match=f"need delta > 0 and g > 0, got {delta}, {g}"):
            bounds.goodhart_lower(proxy, true, 0, 1, delta, g, 0.0)
    assert bounds.goodhart_lower(proxy, true, 0, 1, 1e-9, 1e-9, 0.0).params["S"] == 0


def test_goodhart_set_margins_are_inclusive():
    # Every difference exactly at its margin: still in S.
    proxy = np.array([[0.5, 0.0, 0.5]])
    true = np.array([[0.0, 0.25, 0.25]])
    assert bounds.goodhart_set(proxy, true, a=0, b=1, delta=0.5, g=0.25).tolist() == [True]
    assert bounds.goodhart_set(proxy, true, a=0, b=1, delta=0.5000001, g=0.25).tolist() == [False]


@pytest.mark.parametrize("T, N, ok", [(1, 1, True), (0, 1, False), (1, 0, False), (0, 0, False)])
def test_the_shared_check_of_t_and_n(T, N, ok):
    for f in (bounds.hedge_fixed, bounds.hedge_anytime, bounds.hedge_fixed_eta, bounds.hedge_anytime_eta):
        if ok:
            f(T, N)
        else:
            with pytest.raises(ValueError, match=f"need T >= 1 and N >= 1, got T={T}, N={N}"):
                f(T, N)


def test_learning_rates_by_hand_and_with_one_expert():
    assert bounds.hedge_fixed_eta(50, 3) == pytest.approx(math.sqrt(8 * LN3 / 50))
    assert bounds.hedge_anytime_eta(2, 3) == pytest.approx(math.sqrt(4 * LN3))
    # One expert: no regret to bound; the rate is 1 by convention (never 0, which would divide).
    assert bounds.hedge_fixed_eta(50, 1) == 1.0
    assert bounds.hedge_anytime_eta(7, 1) == 1.0


def test_binary_entropy_at_its_edges():
    assert bounds.binary_entropy(0.0) == 0.0
    assert bounds.binary_entropy(1.0) == 0.0
    assert bounds.binary_entropy(-0.5) == 0.0
    assert bounds.binary_entropy(0.25) == pytest.approx(0.25 * 1.3862943611 + 0.75 * 0.2876820725)


@pytest.mark.parametrize("alpha, eta, ok", [(0.5, 0.1, True), (0.0, 0.1, False), (1.0, 0.1, False),
                                            (0.5, 0.0, False), (0.999, 1e-9, True), (1e-9, 5.0, True)])
def test_fixed_share_argument_edges(alpha, eta, ok):
    if ok:
        bounds.fixed_share(10, 2, 1, alpha, eta)
    else:
        with pytest.raises(ValueError, match=f"need 0 < alpha < 1 and eta > 0, got alpha={alpha}, eta={eta}"):
            bounds.fixed_share(10, 2, 1, alpha, eta)


def test_fixed_share_counts_at_most_t_minus_one_switches():
    # m = 9 switches in T = 3 decisions is m = 2: [3 ln 2 + 2 ln 2 + 0] / 1 + 3/8.
    b = bounds.fixed_share(3, 2, 9, 0.5, 1.0)
    assert b.params["m"] == 2
    assert b.value == pytest.approx(5 * 0.6931471806 + 0.375)


@pytest.mark.parametrize("T, N, m, alpha, eta", [
    # m = 0: alpha = 1/T; C = ln N + (T-1) H(1/T)
    (4, 3, 0, 0.25, math.sqrt(8 * (LN3 + 3 * (0.25 * 1.3862943611 + 0.75 * 0.2876820725)) / 4)),
    # T = 1: no switch is possible, so m = 0; alpha = 1/2 and C = ln N
    (1, 3, 0, 0.5, math.sqrt(8 * LN3)),
    (1, 3, 2, 0.5, math.sqrt(8 * LN3)),
    # m = 1, T = 3: alpha = 1/2; C = 2 ln 3 + 2 ln 2
    (3, 3, 1, 0.5, math.sqrt(8 * (2 * LN3 + 2 * 0.6931471806) / 3)),
    # m >= T - 1 counts as T - 1 and alpha stops at 1/2 (m / (T - 1) = 1 would share everything).
    (2, 3, 1, 0.5, math.sqrt(8 * (2 * LN3 + 0.6931471806) / 2)),
    (3, 3, 5, 0.5, math.sqrt(8 * (3 * LN3 + 2 * 0.6931471806) / 3)),
    # One expert and one decision: C = 0, floored at 1e-12 so that eta stays positive.
    (1, 1, 0, 0.5, math.sqrt(8e-12)),
])
def test_tuned_fixed_share_at_its_edges(T, N, m, alpha, eta):
    got_alpha, got_eta = bounds.fixed_share_tuned(T, N, m)
    assert got_alpha == pytest.approx(alpha, rel=1e-9)
    assert got_eta == pytest.approx(eta, rel=1e-9)
    FixedShare(N, horizon=T, switches=m)  # the tuning is always a valid Fixed Share


def test_hedge_delays_with_nothing_to_count():
    b = bounds.hedge_delays(3, 0.5, [])
    assert b.value == pytest.approx(LN3 / 0.5)
    assert b.params["max_unrevealed"] == 0 and b.params["mean_unrevealed"] == 0.0


def test_holds_within_its_tolerance_and_not_beyond():
    upper = bounds.Bound("x", 1.0, G, "s")
    assert upper.holds(1.0 + 5e-10) and not upper.holds(1.0 + 2e-9)
    assert upper.holds(1.0, tolerance=0.0) and not upper.holds(1.0 + 1e-12, tolerance=0.0)
    lower = bounds.Bound("x", 1.0, bounds.GUARANTEED_LOWER, "s")
    assert lower.holds(1.0 - 5e-10) and not lower.holds(1.0 - 2e-9)
    assert lower.holds(1.0, tolerance=0.0) and not lower.holds(1.0 - 1e-12, tolerance=0.0)
    assert upper.to_dict(measured=1.5) == {"name": "x", "kind": G, "value": 1.0, "source": "s",
                                           "params": {}, "measured": 1.5, "holds": False}
    assert lower.to_dict(measured=1.5)["holds"] is True


def test_hedge_delays_from_its_sums_and_in_double_precision():
    # The summed form with its default scale B = 1 equals the per-decision form.
    m = [0, 2, 1, 0]
    summed = bounds.hedge_delays_summed(3, 0.25, 4, float(np.expm1(0.25 * np.array(m)).sum()), 2, 0.75)
    assert summed.value == bounds.hedge_delays(3, 0.25, m).value
    assert summed.params["B"] == 1.0
    # Counts given in single precision are still summed in double precision.
    single = bounds.hedge_delays(3, 0.3, np.array([7, 3, 11], np.float32)).value
    assert single == bounds.hedge_delays(3, 0.3, [7.0, 3.0, 11.0]).value
