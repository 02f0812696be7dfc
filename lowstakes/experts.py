"""Expert algorithms with guarantees: Hedge (fixed and anytime), Fixed Share, and interleaved
copies of Hedge and of Fixed Share for a constant feedback delay.

All work in log space on losses in [0, 1] (divide by B first), so neither overflow nor
underflow can happen however long the run: the log-weights are renormalised at every
update. None of them loops over experts in Python.

An algorithm gives ``weights(t)`` for decision t (0-based) and learns from
``update(losses, t)`` when decision t's losses are revealed, in any order, so the same
objects serve delayed feedback.

Examples
--------
>>> import numpy as np
>>> hedge = Hedge(n=3, eta=1.0)
>>> hedge.update(np.array([1.0, 0.0, 0.0]), t=0)
>>> hedge.weights(1).round(3).tolist()
[0.155, 0.422, 0.422]
>>> losses = np.tile([0.0, 1.0], (1000, 1))
>>> float(play(FixedShare(n=2, eta=0.5, alpha=0.01), losses).sum()) < 20
True
"""

from __future__ import annotations

import math

import numpy as np

from lowstakes import bounds
from lowstakes.registry import check_params, suggest

__all__ = ["Hedge", "AnytimeHedge", "FixedShare", "Interleaved", "InterleavedFixedShare", "play",
           "build_algorithm", "rounds", "ALGORITHMS"]


def learning_rate(eta: float | None, horizon: int | None, tuned) -> float:
    """``eta`` if given, else ``tuned(horizon)``: the rate a bound assumes for that horizon."""
    if eta is None:
        if horizon is None:
            raise ValueError("give eta, or the horizon to tune it to")
        eta = tuned(horizon)
    if eta <= 0:
        raise ValueError(f"eta must be positive, got {eta}")
    return float(eta)


def share_rates(eta: float | None, alpha: float | None, horizon: int | None, tuned) -> tuple[float, float]:
    """(alpha, eta): each as given, or from ``tuned(horizon)`` (an (alpha, eta) pair) when it is
    missing: the rates a fixed-share bound assumes for that horizon."""
    if eta is None or alpha is None:
        if horizon is None:
            raise ValueError("give eta and alpha, or the horizon to tune them to")
        tuned_alpha, tuned_eta = tuned(horizon)
        alpha = tuned_alpha if alpha is None else alpha
        eta = tuned_eta if eta is None else eta
    return alpha, eta


def _normalise(log_weights: np.ndarray) -> np.ndarray:
    top = log_weights.max()
    return log_weights - (top + math.log(np.exp(log_weights - top).sum()))


class Hedge:
    """Exponential weights with a fixed learning rate: w_i proportional to exp(-eta L_i).

    ``eta=None`` tunes it to the horizon: eta = sqrt(8 ln N / T).
    """

    name = "hedge"

    def __init__(self, n: int, eta: float | None = None, horizon: int | None = None):
        self.n, self.eta = n, learning_rate(eta, horizon, lambda T: bounds.hedge_fixed_eta(T, n))
        self._log_weights = np.full(n, -math.log(n))

    def weights(self, t: int, out: np.ndarray | None = None) -> np.ndarray:
        """The weights at decision t (written into ``out`` if given)."""
        return np.exp(self._log_weights, out=out)

    def update(self, losses: np.ndarray, t: int) -> None:
        self._log_weights = _normalise(self._log_weights - self.eta * losses)


class AnytimeHedge:
    """Hedge without a horizon: round t uses eta_t = sqrt(8 ln N / t) on the revealed
    cumulative losses, w_i proportional to exp(-eta_t L_i)."""

    name = "hedge_anytime"

    def __init__(self, n: int):
        self.n = n
        self._cumulative = np.zeros(n)

    def eta(self, t: int) -> float:
        return bounds.hedge_anytime_eta(t + 1, self.n)

    def weights(self, t: int, out: np.ndarray | None = None) -> np.ndarray:
        return np.exp(_normalise(-self.eta(t) * self._cumulative), out=out)

    def update(self, losses: np.ndarray, t: int) -> None:
        self._cumulative = self._cumulative + losses


class FixedShare:
    """Fixed Share: after each exponential update, share a fraction alpha of the weight
    equally: w_i <- alpha W / N + (1 - alpha) v_i. ``alpha``/``eta`` default to the tuning
    of Cesa-Bianchi & Lugosi Thm 5.1 for ``switches`` switches over ``horizon`` decisions."""

    name = "fixed_share"

    def __init__(self, n: int, eta: float | None = None, alpha: float | None = None,
                 horizon: int | None = None, switches: int = 1):
        alpha, eta = share_rates(eta, alpha, horizon, lambda T: bounds.fixed_share_tuned(T, n, switches))
        if not 0 < alpha < 1 or eta <= 0:
            raise ValueError(f"need 0 < alpha < 1 and eta > 0, got alpha={alpha}, eta={eta}")
        self.n, self.eta, self.alpha = n, float(eta), float(alpha)
        self._keep = math.log1p(-alpha)
        self._share = math.log(alpha / n)
        self._log_weights = np.full(n, -math.log(n))

    def weights(self, t: int, out: np.ndarray | None = None) -> np.ndarray:
        """The weights at decision t (written into ``out`` if given)."""
        return np.exp(self._log_weights, out=out)

    def update(self, losses: np.ndarray, t: int) -> None:
        v = _normalise(self._log_weights - self.eta * losses)
        # Shared mass alpha/N to everyone, the rest kept in proportion; v sums to 1.
        self._log_weights = np.logaddexp(self._keep + v, self._share)


class Interleaved:
    """d+1 independent copies of Hedge for a constant feedback delay d: copy t mod (d+1)
    acts at decision t, so its previous decision's losses have arrived, when every loss
    comes within d decisions. ``late`` counts the decisions at which that failed (the
    copy had not yet learned all its earlier decisions' losses: a label that came later,
    or never): the interleaved bound assumes there are none."""

    name = "hedge_interleaved"

    def __init__(self, n: int, delay: int, horizon: int):
        self.copies = [self._copy(n, rounds(horizon, delay, k)) for k in range(delay + 1)]
        self.n, self.delay = n, delay
        self.late = 0
        self._learned = [0] * (delay + 1)  # losses each copy has learned
        self._seen = -1  # the last decision checked

    def weights(self, t: int, out: np.ndarray | None = None) -> np.ndarray:
        copy = t % len(self.copies)
        if t > self._seen:  # copy's earlier decisions: t // (d+1) of them
            self._seen = t
            self.late += self._learned[copy] < t // len(self.copies)
        return self.copies[copy].weights(t, out)

    def update(self, losses: np.ndarray, t: int) -> None:
        copy = t % len(self.copies)
        self._learned[copy] += 1
        self.copies[copy].update(losses, t)

    def _copy(self, n: int, horizon: int):
        """One copy, tuned to the ``horizon`` decisions it takes."""
        return Hedge(n, horizon=horizon)


class InterleavedFixedShare(Interleaved):
    """d+1 independent copies of Fixed Share for a constant feedback delay d, each tuned to
    its own decisions for ``switches`` switches: the interleaving of :class:`Interleaved`,
    for a best expert that changes. A switch of the comparator's sequence is at most one
    switch in each copy's decisions, so each copy's Fixed Share bound holds with the same m
    (:func:`lowstakes.bounds.fixed_share_constant_delay`)."""

    name = "fixed_share_interleaved"

    def __init__(self, n: int, delay: int, horizon: int, switches: int = 1):
        self.switches = switches
        super().__init__(n, delay, horizon)

    def _copy(self, n: int, horizon: int):
        return FixedShare(n, horizon=horizon, switches=self.switches)


def rounds(t: int, delay: int, copy: int) -> int:
    """How many of decisions 0..t-1 copy ``copy`` of d+1 interleaved copies takes (those
    equal to ``copy`` mod d+1), at least 1 (a copy's tuning needs a horizon).

    >>> [rounds(10, 2, k) for k in range(3)]
    [4, 3, 3]
    """
    return max(1, math.ceil((t - copy) / (delay + 1)))


ALGORITHMS = {cls.name: cls for cls in (Hedge, AnytimeHedge, FixedShare, Interleaved, InterleavedFixedShare)}


def build_algorithm(name: str, n: int, horizon: int, params: dict):
    """An algorithm by name, tuned to the run where its params are not given."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}{suggest(name, ALGORITHMS)}; "
                         f"known: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    check_params(cls, params, supplied=("n", "horizon"))
    if cls is AnytimeHedge:
        return cls(n, **params)
    return cls(n, horizon=horizon, **params)


def play(algorithm, losses: np.ndarray) -> np.ndarray:
    """Run ``algorithm`` on a (T, N) loss matrix with immediate feedback; the mixture loss
    p_t . l_t of every decision."""
    out = np.empty(len(losses))
    for t, row in enumerate(losses):
        out[t] = algorithm.weights(t) @ row
        algorithm.update(row, t)
    return out
