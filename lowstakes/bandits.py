"""Exponential weights under bandit feedback: only the loss of the action taken is seen.

- :class:`Exp3`: K actions, importance-weighted loss estimates lhat_i = l 1{I = i} / p_i,
  p proportional to exp(-eta Lhat) (Auer, Cesa-Bianchi, Freund & Schapire 2002; in the loss
  form of Bubeck & Cesa-Bianchi 2012, Thm 3.1);
- :class:`Exp3Share`: Exp3 followed by fixed-share mixing, p <- alpha / K + (1 - alpha) p,
  for a best action that switches (bound: :func:`lowstakes.bounds.exp3_share`);
- :class:`Exp4`: N experts each advising a distribution over the K actions; the learner
  plays the weighted advice and each expert is charged its advice's estimated loss
  (Bubeck & Cesa-Bianchi 2012, Thm 4.2).

All work in log space (weights renormalised every step) on losses in [0, 1], and run
``runs`` independent copies at once: the engine uses one, the tests hundreds, so that the
mean regret an *expected* bound speaks of is measured over many runs in one numpy pass.
Every copy draws its own actions from ``rng``.

Examples
--------
>>> import numpy as np
>>> bandit = Exp3(k=3, horizon=100, runs=2)
>>> bandit.probabilities().round(3).tolist()
[[0.333, 0.333, 0.333], [0.333, 0.333, 0.333]]
>>> bandit.update(np.array([0, 2]), np.array([1.0, 0.0]))   # copy 0 took action 0 and lost 1
>>> bool(bandit.probabilities()[0, 0] < 1 / 3), bool(np.isclose(bandit.probabilities()[1], 1 / 3).all())
(True, True)
"""

from __future__ import annotations

import math

import numpy as np

from lowstakes import bounds
from lowstakes.experts import learning_rate, share_rates

__all__ = ["Exp3", "Exp3Share", "Exp4", "play_bandit", "draw"]


def _normalise(log_weights: np.ndarray) -> np.ndarray:
    """Each row's log weights shifted so that its weights sum to 1."""
    top = log_weights.max(axis=1, keepdims=True)
    return log_weights - (top + np.log(np.exp(log_weights - top).sum(axis=1, keepdims=True)))


class Exp3:
    """Exp3 on K actions; ``eta=None`` tunes it to the horizon: sqrt(2 ln K / (T K))."""

    name = "exp3"

    def __init__(self, k: int, eta: float | None = None, horizon: int | None = None, runs: int = 1):
        if k < 2:
            raise ValueError(f"need at least 2 actions, got {k}")
        self.k, self.runs = k, runs
        self.eta = learning_rate(eta, horizon, lambda T: bounds.exp3_eta(T, k))
        self._log_weights = np.full((runs, k), -math.log(k))
        self._rows = np.arange(runs)

    def probabilities(self) -> np.ndarray:
        """(runs, K): each copy's distribution over the actions for the next decision."""
        return np.exp(self._log_weights)

    def act(self, rng: np.random.Generator) -> np.ndarray:
        """Each copy's action, drawn from its distribution."""
        return draw(self.probabilities(), rng)

    def update(self, actions: np.ndarray, losses: np.ndarray, probabilities=None) -> None:
        """Each copy saw the loss of its own action only. ``probabilities``: the chance each
        copy's action had when it was drawn (default: its chance now, the same thing when
        each loss arrives before the next draw)."""
        p = (np.exp(self._log_weights[self._rows, actions]) if probabilities is None
             else np.asarray(probabilities, float))
        self._log_weights[self._rows, actions] -= self.eta * np.asarray(losses, float) / p
        self._log_weights = self._mix(_normalise(self._log_weights))

    def _mix(self, log_weights: np.ndarray) -> np.ndarray:
        return log_weights


class Exp3Share(Exp3):
    """Exp3, then fixed-share mixing: p <- alpha / K + (1 - alpha) p after every update, so
    no action's probability falls below alpha / K and a new best action is found quickly.
    ``alpha`` and ``eta`` default to :func:`lowstakes.bounds.exp3_share_tuned` for
    ``switches`` switches over ``horizon`` decisions."""

    name = "exp3_share"

    def __init__(self, k: int, eta: float | None = None, alpha: float | None = None,
                 switches: int = 1, horizon: int | None = None, runs: int = 1):
        alpha, eta = share_rates(eta, alpha, horizon, lambda T: bounds.exp3_share_tuned(T, k, switches))
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        super().__init__(k, eta, horizon, runs)
        self.alpha, self.switches = float(alpha), switches

    def _mix(self, log_weights: np.ndarray) -> np.ndarray:
        return np.log(self.alpha / self.k + (1 - self.alpha) * np.exp(log_weights))


class Exp4:
    """Exp4: N experts, each advising a distribution over K actions per decision; the
    learner plays the weighted advice, q . advice. ``eta=None``: sqrt(2 ln N / (T K))."""

    name = "exp4"

    def __init__(self, k: int, n: int, eta: float | None = None, horizon: int | None = None,
                 runs: int = 1):
        if k < 2 or n < 1:
            raise ValueError(f"need at least 2 actions and 1 expert, got K={k}, N={n}")
        self.k, self.n, self.runs = k, n, runs
        self.eta = learning_rate(eta, horizon, lambda T: bounds.exp4_eta(T, k, n))
        self._log_weights = np.full((runs, n), -math.log(n))
        self._rows = np.arange(runs)

    def weights(self) -> np.ndarray:
        """(runs, N): each copy's weights on the experts."""
        return np.exp(self._log_weights)

    def probabilities(self, advice: np.ndarray) -> np.ndarray:
        """(runs, K) from the experts' advice, an (N, K) matrix of distributions."""
        return self.weights() @ np.asarray(advice, float)

    def update(self, advice: np.ndarray, actions: np.ndarray, losses: np.ndarray, probabilities=None) -> None:
        """Each expert is charged its advice's estimated loss: advice[j, I] l / p_I.
        ``probabilities``: p_I when the action was drawn (default: now; see :meth:`Exp3.update`)."""
        advice = np.asarray(advice, float)
        p = (self.probabilities(advice)[self._rows, actions] if probabilities is None
             else np.asarray(probabilities, float))
        estimate = np.asarray(losses, float) / p  # (runs,)
        charged = estimate[:, None] * advice[:, actions].T  # (runs, N)
        self._log_weights = _normalise(self._log_weights - self.eta * charged)


def play_bandit(algorithm, losses: np.ndarray, rng: np.random.Generator, advice=None) -> np.ndarray:
    """Run ``algorithm`` (all its copies) on a (T, K) loss matrix fixed in advance, seeing
    only the loss of each action taken; return each copy's expected loss per decision
    (p_t . l_t: what its regret in expectation is made of) as a (runs, T) array, and leave
    the copies trained. ``advice``: a (T, N, K) array for :class:`Exp4`."""
    out = np.empty((algorithm.runs, len(losses)))
    for t, row in enumerate(np.asarray(losses, float)):
        if advice is None:
            p = algorithm.probabilities()
            actions = draw(p, rng)
            algorithm.update(actions, row[actions])
        else:
            p = algorithm.probabilities(advice[t])
            actions = draw(p, rng)
            algorithm.update(advice[t], actions, row[actions])
        out[:, t] = p @ row
    return out


def draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of probabilities (inverse transform of one uniform draw)."""
    cumulative = np.cumsum(p, axis=1)
    u = rng.random((len(p), 1)) * cumulative[:, -1:]
    return np.minimum((cumulative <= u).sum(axis=1), p.shape[1] - 1)
