"""Regret bounds as functions of a run's own parameters.

Every function returns a :class:`Bound`: its value, whether it is *guaranteed* (holds for
every loss sequence; a correct implementation never exceeds it) or *expected* (compare
with a confidence interval across seeds), the parameters it was computed from, and its
source. Losses lie in [0, B]; the algorithms here run on losses divided by B, so ``eta``
is the learning rate on those normalised losses and every bound is multiplied by B.

This module depends on nothing else in lowstakes.

Examples
--------
>>> b = hedge_fixed(T=10_000, N=10)
>>> round(b.value, 2), b.kind
(107.3, 'guaranteed')
>>> hedge_fixed_eta(T=10_000, N=10) == math.sqrt(8 * math.log(10) / 10_000)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

__all__ = [
    "Bound", "hedge_fixed", "hedge_fixed_eta", "hedge_eta", "hedge_anytime", "hedge_anytime_eta",
    "hedge_doubling", "fixed_share", "fixed_share_tuned", "fixed_share_window",
    "hedge_constant_delay", "fixed_share_constant_delay", "fixed_share_window_constant_delay",
    "hedge_delays", "ogd", "exp3", "exp3_eta", "exp3_general", "exp4", "exp4_eta",
    "exp3_share", "exp3_share_tuned", "bernoulli_expected_regret",
    "minimax_lower", "binary_entropy", "goodhart_lower", "goodhart_set",
]

GUARANTEED, EXPECTED, ASYMPTOTIC = "guaranteed", "expected", "asymptotic"
#: A guaranteed *lower* bound: the measured value is never below it.
GUARANTEED_LOWER = "guaranteed lower"


@dataclass(frozen=True)
class Bound:
    """A theorem's value for one run."""

    name: str
    value: float
    kind: str
    source: str
    params: dict = field(default_factory=dict)

    def holds(self, measured: float, tolerance: float = 1e-9) -> bool:
        if self.kind == GUARANTEED_LOWER:
            return measured >= self.value - tolerance
        return measured <= self.value + tolerance

    def to_dict(self, measured: float | None = None) -> dict:
        out = {"name": self.name, "kind": self.kind, "value": self.value, "source": self.source,
               "params": self.params}
        if measured is not None:
            out["measured"] = measured
            out["holds"] = self.holds(measured)
        return out


def _check(T, N):
    if T < 1 or N < 1:
        raise ValueError(f"need T >= 1 and N >= 1, got T={T}, N={N}")


def binary_entropy(p: float) -> float:
    """H(p) in nats; H(0) = H(1) = 0.

    >>> round(binary_entropy(0.5), 6) == round(math.log(2), 6)
    True
    """
    if p <= 0 or p >= 1:
        return 0.0
    return -p * math.log(p) - (1 - p) * math.log(1 - p)


def hedge_fixed_eta(T: int, N: int) -> float:
    """The learning rate sqrt(8 ln N / T) that :func:`hedge_fixed` assumes."""
    _check(T, N)
    return math.sqrt(8 * math.log(N) / T) if N > 1 else 1.0


def hedge_fixed(T: int, N: int, B: float = 1.0) -> Bound:
    """Hedge with eta = sqrt(8 ln N / T) against the best fixed expert: B sqrt((T/2) ln N)."""
    _check(T, N)
    return Bound("hedge_fixed", B * math.sqrt(T / 2 * math.log(N)), GUARANTEED,
                 "Cesa-Bianchi & Lugosi 2006, Thm 2.2", {"T": T, "N": N, "B": B})


def hedge_eta(T: int, N: int, eta: float, B: float = 1.0) -> Bound:
    """Hedge with any fixed eta against the best fixed expert: B (ln N / eta + eta T / 8).

    Equal to :func:`hedge_fixed` at eta = sqrt(8 ln N / T); holds after every prefix of T.
    """
    _check(T, N)
    return Bound("hedge_eta", B * (math.log(N) / eta + eta * T / 8), GUARANTEED,
                 "Cesa-Bianchi & Lugosi 2006, proof of Thm 2.2", {"T": T, "N": N, "eta": eta, "B": B})


def hedge_anytime_eta(t: int, N: int) -> float:
    """The anytime learning rate sqrt(8 ln N / t) of round t (1-based)."""
    _check(t, N)
    return math.sqrt(8 * math.log(N) / t) if N > 1 else 1.0


def hedge_anytime(T: int, N: int, B: float = 1.0) -> Bound:
    """Hedge with eta_t = sqrt(8 ln N / t): B (sqrt(2 T ln N) + sqrt(ln N / 8))."""
    _check(T, N)
    value = math.sqrt(2 * T * math.log(N)) + math.sqrt(math.log(N) / 8)
    return Bound("hedge_anytime", B * value, GUARANTEED, "Cesa-Bianchi & Lugosi 2006, Thm 2.3",
                 {"T": T, "N": N, "B": B})


def hedge_doubling(T: int, N: int, B: float = 1.0) -> Bound:
    """Hedge restarted with doubling horizons: sqrt2/(sqrt2 - 1) times the fixed-eta bound."""
    factor = math.sqrt(2) / (math.sqrt(2) - 1)
    return Bound("hedge_doubling", factor * hedge_fixed(T, N, B).value, GUARANTEED,
                 "doubling trick (standard)", {"T": T, "N": N, "B": B})


def fixed_share(T: int, N: int, m: int, alpha: float, eta: float, B: float = 1.0) -> Bound:
    """Fixed Share against the best expert sequence with at most m switches.

    [(m+1) ln N + m ln(1/alpha) + (T-m-1) ln(1/(1-alpha))] / eta + eta T / 8, times B.
    """
    _check(T, N)
    if not 0 < alpha < 1 or eta <= 0:
        raise ValueError(f"need 0 < alpha < 1 and eta > 0, got alpha={alpha}, eta={eta}")
    m = min(m, T - 1)
    value = ((m + 1) * math.log(N) + m * math.log(1 / alpha)
             + (T - m - 1) * math.log(1 / (1 - alpha))) / eta + eta * T / 8
    return Bound("fixed_share", B * value, GUARANTEED, "Cesa-Bianchi & Lugosi 2006, Thm 5.1",
                 {"T": T, "N": N, "m": m, "alpha": alpha, "eta": eta, "B": B})


def fixed_share_tuned(T: int, N: int, m: int) -> tuple[float, float]:
    """(alpha, eta) that make :func:`fixed_share` at most sqrt((T/2) C), C = (m+1) ln N + (T-1) H(alpha)
    (equal when alpha = m/(T-1); the middle terms are at most (T-1) H(alpha) for alpha <= 1/2).

    With m = 0 a tiny alpha = 1/T keeps Fixed Share close to Hedge; alpha is at most 1/2, so
    the tuned Fixed Share is valid for any m and T.

    >>> alpha, eta = fixed_share_tuned(T=1000, N=4, m=2)
    >>> round(alpha, 6)
    0.002002
    """
    _check(T, N)
    # At most T - 1 switches; switching more than every other decision tunes like every other.
    m = min(m, T - 1)
    alpha = min(m / (T - 1), 0.5) if m > 0 else 1.0 / max(T, 2)
    complexity = (m + 1) * math.log(N) + (T - 1) * binary_entropy(alpha)
    eta = math.sqrt(8 * max(complexity, 1e-12) / T)
    return alpha, eta


def fixed_share_window(tau: int, N: int, alpha: float, eta: float, B: float = 1.0) -> Bound:
    """Fixed Share over any window of tau decisions against any single expert.

    [ln(N/alpha) + tau ln(1/(1-alpha))] / eta + eta tau / 8, times B; it holds because
    the weights never fall below alpha/N.
    """
    value = (math.log(N / alpha) + tau * math.log(1 / (1 - alpha))) / eta + eta * tau / 8
    return Bound("fixed_share_window", B * value, GUARANTEED,
                 "weights never fall below alpha/N (see BOUNDS)",
                 {"tau": tau, "N": N, "alpha": alpha, "eta": eta, "B": B})


def hedge_constant_delay(T: int, N: int, d: int, B: float = 1.0) -> Bound:
    """d+1 interleaved Hedge copies under a constant delay d: B sqrt((d+1)(T/2) ln N)."""
    _check(T, N)
    return Bound("hedge_constant_delay", B * math.sqrt((d + 1) * T / 2 * math.log(N)), GUARANTEED,
                 "Weinberger & Ordentlich 2002", {"T": T, "N": N, "d": d, "B": B})


def fixed_share_constant_delay(copies, N: int, m: int, d: int, B: float = 1.0) -> Bound:
    """d+1 interleaved Fixed Share copies under a constant delay d, against the best expert
    sequence with at most m switches: the sum over copies of :func:`fixed_share` for the
    T_k decisions copy k took, at its own (alpha_k, eta_k). ``copies``: (T_k, alpha_k, eta_k)
    per copy; a copy that has not acted (T_k = 0) adds nothing.

    Why it holds for every loss sequence: copy k sees decisions k, k+d+1, ... and, the delay
    being d, each one's losses before its next, so it is Fixed Share on its own sequence. The
    comparator's sequence, read on copy k's decisions only, switches at most m times (each
    switch of it shows in a copy at most once), and the Fixed Share bound grows with m for
    alpha <= 1/2 (each switch adds ln N + ln((1 - alpha)/alpha) >= 0; the tuned alpha_k is at
    most 1/2), so copy k's regret against it is at most fixed_share(T_k, N, m). The regrets
    of the copies add up to the whole run's.

    >>> fixed_share_constant_delay([(5, 0.25, 0.5), (0, 0.25, 0.5)], N=2, m=1, d=1).value == (
    ...     fixed_share(5, 2, 1, 0.25, 0.5).value)
    True
    """
    if any(alpha > 0.5 for t, alpha, _ in copies if t > 0):
        raise ValueError("the interleaved bound needs alpha <= 1/2 in every copy (the bound grows with m)")
    value = sum(fixed_share(t, N, m, alpha, eta).value for t, alpha, eta in copies if t > 0)
    return Bound("fixed_share_constant_delay", B * value, GUARANTEED,
                 "Fixed Share (Cesa-Bianchi & Lugosi 2006, Thm 5.1) in each of d+1 interleaved copies "
                 "(Weinberger & Ordentlich 2002's reduction)",
                 {"T": sum(t for t, _, _ in copies), "N": N, "m": m, "d": d, "B": B})


def fixed_share_window_constant_delay(copies, N: int, d: int, B: float = 1.0) -> Bound:
    """d+1 interleaved Fixed Share copies over one window, against any single expert: the sum
    over copies of :func:`fixed_share_window` for the tau_k decisions of the window that copy
    k took (``copies``: (tau_k, alpha_k, eta_k)). Each copy's weights never fall below
    alpha_k / N, and the window read on a copy's decisions is a window of that copy's own.

    >>> fixed_share_window_constant_delay([(3, 0.1, 0.5), (2, 0.1, 0.5)], N=2, d=1).value == (
    ...     fixed_share_window(3, 2, 0.1, 0.5).value + fixed_share_window(2, 2, 0.1, 0.5).value)
    True
    """
    value = sum(fixed_share_window(tau, N, alpha, eta).value for tau, alpha, eta in copies if tau > 0)
    return Bound("fixed_share_window_constant_delay", B * value, GUARANTEED,
                 "weights of each interleaved copy never fall below alpha/N (see BOUNDS)",
                 {"tau": sum(tau for tau, _, _ in copies), "N": N, "d": d, "B": B})


def hedge_delays(N: int, eta: float, unrevealed, B: float = 1.0) -> Bound:
    """Hedge that learns losses when they arrive; m_t losses still unrevealed at step t.

    ln N / eta + eta T / 8 + (1/2) sum_t (exp(eta m_t) - 1), times B.
    """
    unrevealed = np.asarray(unrevealed, dtype=float)
    T = len(unrevealed)
    return hedge_delays_summed(N, eta, T, float(np.expm1(eta * unrevealed).sum()),
                               int(unrevealed.max(initial=0)), float(unrevealed.mean()) if T else 0.0, B)


def hedge_delays_summed(N: int, eta: float, T: int, penalty: float, max_unrevealed: int,
                        mean_unrevealed: float, B: float = 1.0) -> Bound:
    """:func:`hedge_delays` from its sums (what a long run keeps instead of every m_t):
    ``penalty`` = sum_t (exp(eta m_t) - 1).

    >>> hedge_delays_summed(2, 1.0, 8, 0.0, 0, 0.0).value == hedge_delays(2, 1.0, [0] * 8).value
    True
    """
    value = math.log(N) / eta + eta * T / 8 + 0.5 * penalty
    return Bound("hedge_delays", B * value, GUARANTEED, "direct proof (see BOUNDS)",
                 {"T": T, "N": N, "eta": eta, "B": B, "max_unrevealed": max_unrevealed,
                  "mean_unrevealed": mean_unrevealed})


def ogd(T: int, D: float, G: float) -> Bound:
    """Online gradient descent with eta_t = D / (G sqrt t): (3/2) D G sqrt(T)."""
    return Bound("ogd", 1.5 * D * G * math.sqrt(T), GUARANTEED, "Hazan, OCO book, Thm 3.1",
                 {"T": T, "D": D, "G": G})


def exp3(T: int, K: int, B: float = 1.0) -> Bound:
    """Exp3 with eta = sqrt(2 ln K / (T K)), bandit feedback: B sqrt(2 T K ln K), in expectation."""
    return Bound("exp3", B * math.sqrt(2 * T * K * math.log(K)), EXPECTED,
                 "Bubeck & Cesa-Bianchi 2012, Thm 3.1", {"T": T, "K": K, "B": B})


def exp3_eta(T: int, K: int) -> float:
    """The learning rate sqrt(2 ln K / (T K)) that :func:`exp3` assumes."""
    _check(T, K)
    return math.sqrt(2 * math.log(K) / (T * K)) if K > 1 else 1.0


def exp3_general(T: int, K: int, eta: float, B: float = 1.0) -> Bound:
    """Exp3 with any eta (losses fixed in advance): E[regret] <= B (ln K / eta + eta T K / 2).

    Equal to :func:`exp3` at eta = sqrt(2 ln K / (T K)). The proof of Bubeck & Cesa-Bianchi
    2012, Thm 3.1: exp(-x) <= 1 - x + x^2/2 for the estimates x = eta l/p >= 0, and
    E[sum_i p_i lhat_i^2] = sum_i l_i^2 <= K per decision.
    """
    _check(T, K)
    if eta <= 0:
        raise ValueError(f"need eta > 0, got {eta}")
    return Bound("exp3_general", B * (math.log(K) / eta + eta * T * K / 2), EXPECTED,
                 "Bubeck & Cesa-Bianchi 2012, proof of Thm 3.1", {"T": T, "K": K, "eta": eta, "B": B})


def exp4_eta(T: int, K: int, N: int) -> float:
    """The learning rate sqrt(2 ln N / (T K)) that :func:`exp4` assumes."""
    _check(T, K)
    _check(T, N)
    return math.sqrt(2 * math.log(N) / (T * K)) if N > 1 else 1.0


def exp4(T: int, K: int, N: int, eta: float | None = None, B: float = 1.0) -> Bound:
    """Exp4 (bandit feedback, N experts advising distributions over K actions) against the
    best expert: E[regret] <= B (ln N / eta + eta T K / 2); B sqrt(2 T K ln N) at
    eta = sqrt(2 ln N / (T K))."""
    _check(T, K)
    _check(T, N)
    eta = exp4_eta(T, K, N) if eta is None else eta
    if eta <= 0:
        raise ValueError(f"need eta > 0, got {eta}")
    return Bound("exp4", B * (math.log(N) / eta + eta * T * K / 2), EXPECTED,
                 "Bubeck & Cesa-Bianchi 2012, Thm 4.2", {"T": T, "K": K, "N": N, "eta": eta, "B": B})


def exp3_share(T: int, K: int, m: int, alpha: float, eta: float, B: float = 1.0) -> Bound:
    """Exp3 with fixed-share mixing against the best action sequence with at most m switches
    (losses fixed in advance), in expectation:

        [(m+1) ln K + m ln(1/alpha) + (T-m-1) ln(1/(1-alpha))] / eta + eta T K / 2, times B.

    Fixed Share's argument (Cesa-Bianchi & Lugosi 2006, Thm 5.1) run on Exp3's estimates: the
    mixing keeps the total weight, so ln(W_T+1 / W_1) <= sum_t ln(sum_i p_ti exp(-eta lhat_ti))
    <= -eta sum_t p_t . lhat_t + (eta^2 / 2) sum_t sum_i p_ti lhat_ti^2 (exp(-x) <= 1 - x + x^2/2,
    x >= 0), while a switching sequence keeps at least (1/K) (alpha/K)^m (1-alpha)^(T-m-1)
    exp(-eta Lhat_sequence); expectations as in Exp3's proof (E lhat = l, E sum_i p_i lhat_i^2 <= K).
    A direct proof, not a published theorem; Exp3.S (Auer et al. 2002, Thm 8.1) is the
    published relative, with explicit exploration.
    """
    _check(T, K)
    if not 0 < alpha < 1 or eta <= 0:
        raise ValueError(f"need 0 < alpha < 1 and eta > 0, got alpha={alpha}, eta={eta}")
    m = min(m, T - 1)
    value = ((m + 1) * math.log(K) + m * math.log(1 / alpha)
             + (T - m - 1) * math.log(1 / (1 - alpha))) / eta + eta * T * K / 2
    return Bound("exp3_share", B * value, EXPECTED,
                 "direct proof (Fixed Share's argument on Exp3's estimates)",
                 {"T": T, "K": K, "m": m, "alpha": alpha, "eta": eta, "B": B})


def exp3_share_tuned(T: int, K: int, m: int) -> tuple[float, float]:
    """(alpha, eta) that make :func:`exp3_share` at most sqrt(2 T K C), with
    C = (m+1) ln K + (T-1) H(alpha), alpha = m/(T-1) capped at 1/2 (1/T when m = 0): the
    bound's middle terms are at most (T-1) H(alpha) for alpha <= 1/2 (equal at m/(T-1)).

    >>> alpha, eta = exp3_share_tuned(T=1000, K=3, m=2)
    >>> round(alpha, 6), round(eta, 6)
    (0.002002, 0.108692)
    """
    _check(T, K)
    m = min(m, T - 1)
    alpha = min(m / (T - 1), 0.5) if m > 0 else 1.0 / max(T, 2)
    complexity = (m + 1) * math.log(K) + (T - 1) * binary_entropy(alpha)
    eta = math.sqrt(2 * max(complexity, 1e-12) / (T * K))
    return alpha, eta


def bernoulli_expected_regret(T: int, N: int) -> Bound:
    """E[R_T] = T/2 - sum_{k<T} P(Bin(T, 1/2) > k)^N for i.i.d. Bernoulli(1/2) losses, exactly.

    Any algorithm's expected loss is T/2; the sum is the expected loss of the best expert.

    >>> bernoulli_expected_regret(1, 2).value     # T/2 - P(both lose) = 0.5 - 0.25
    0.25
    """
    k = np.arange(T)
    tail = special.bdtrc(k, T, 0.5)  # P(Bin(T, 1/2) > k)
    value = T / 2 - float(np.sum(tail ** N))
    return Bound("bernoulli_expected_regret", value, EXPECTED, "exact value (see BOUNDS)",
                 {"T": T, "N": N})


def minimax_lower(T: int, N: int, B: float = 1.0) -> Bound:
    """The experts minimax lower bound, sqrt((T/2) ln N) as T and N grow."""
    return Bound("minimax_lower", B * math.sqrt(T / 2 * math.log(N)), ASYMPTOTIC,
                 "Cesa-Bianchi & Lugosi 2006, Thm 3.7", {"T": T, "N": N, "B": B})


def goodhart_set(proxy: np.ndarray, true: np.ndarray, a: int, b: int, delta: float, g: float) -> np.ndarray:
    """The decisions S of :func:`goodhart_lower`: where the feedback's losses make expert b
    the best and the truth's make a the best, and every expert either loses at least g to a
    on the truth or at least delta to b on the feedback. ``proxy``, ``true``: (T, N) losses.

    >>> proxy = np.array([[1.0, 0.0], [0.0, 1.0]]); true = np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> goodhart_set(proxy, true, a=0, b=1, delta=1.0, g=1.0).tolist()
    [True, False]
    """
    best_proxy = proxy[:, b] <= proxy.min(axis=1)
    best_true = true[:, a] <= true.min(axis=1)
    each = (true - true[:, [a]] >= g) | (proxy - proxy[:, [b]] >= delta)
    # Expert a itself is never g worse than a, so ``each`` already asks l~(a) - l~(b) >= delta.
    return best_proxy & best_true & each.all(axis=1)


def goodhart_lower(proxy: np.ndarray, true: np.ndarray, a: int, b: int, delta: float, g: float,
                   proxy_regret: float) -> Bound:
    """A guaranteed lower bound on the true regret against expert a of ANY weights p_t
    (an expert algorithm's mixture) whose regret on the feedback against expert b is at most
    ``proxy_regret`` (the algorithm's guaranteed bound, or the measured value):

        R_a >= g (|S| - (proxy_regret + P) / delta) - Q

    with S from :func:`goodhart_set`, P = sum outside S of (l~_t(b) - min_i l~_t(i)) (what b
    loses on the feedback to the best expert of the moment) and Q = sum outside S of
    (l_t(a) - min_i l_t(i)) (what a loses on the truth). Proof (BOUNDS.md, 'The Goodhart
    lower bound, made exact', for N experts): on S the weight q_t on experts within g of a on
    the truth costs at least q_t delta on the feedback against b, so sum_S q_t <=
    (R~_b + P) / delta; every other expert costs at least g on the truth there, so
    R_a >= g sum_S (1 - q_t) - Q.

    >>> proxy = np.array([[1.0, 0.0]] * 10); true = np.array([[0.0, 1.0]] * 10)
    >>> goodhart_lower(proxy, true, a=0, b=1, delta=1.0, g=1.0, proxy_regret=3.0).value
    7.0
    """
    if not delta > 0 or not g > 0:
        raise ValueError(f"need delta > 0 and g > 0, got {delta}, {g}")
    proxy, true = np.asarray(proxy, float), np.asarray(true, float)
    in_s = goodhart_set(proxy, true, a, b, delta, g)
    outside = ~in_s
    P = float((proxy[outside, b] - proxy[outside].min(axis=1)).sum())
    Q = float((true[outside, a] - true[outside].min(axis=1)).sum())
    size = int(in_s.sum())
    value = g * (size - (proxy_regret + P) / delta) - Q
    return Bound("goodhart_lower", value, GUARANTEED_LOWER,
                 "BOUNDS.md, 'The Goodhart lower bound, made exact'",
                 {"a": a, "b": b, "delta": delta, "g": g, "S": size, "P": P, "Q": Q,
                  "proxy_regret": proxy_regret})
