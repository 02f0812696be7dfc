"""The consensus imitation learner of Cohen, Hutter & Nanda ("Fully General Online Imitation
Learning", 2022), as sketched in BOUNDS.md.

A pool of models nu_i(a | x) of the demonstrator (here: the overseer) carries a posterior,
updated on the overseer's answers. The *top set* holds the most likely models: sorted by
posterior weight, model i is in it when its weight is at least ``alpha`` times the total
weight of the models at least as likely as it. The learner takes action a with
probability min over the top set of nu(a | x), and with the leftover probability
1 - sum_a min nu(a | x) asks the overseer and acts as it says.

Models are the pool's experts (fixed rules or River classifiers); every prediction is
smoothed, nu = (1 - epsilon) p + epsilon / 2, so that one noisy answer cannot rule a model
out. ``share`` (default 0, the paper's algorithm) returns a fraction of the posterior
mass to every model after each answer, like Fixed Share. Set ``epsilon`` near twice the
overseer's label-noise rate (default 0.2, for 10%): then a rule that is right apart from
the noise gains on a model that knows nothing.

Examples
--------
>>> import numpy as np
>>> weights = np.log(np.array([0.6, 0.3, 0.1]))
>>> nu = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
>>> top = top_set(weights, alpha=0.2)
>>> top.tolist()
[0, 1]
>>> act_probs, query = consensus(nu[top])
>>> act_probs.round(3).tolist(), round(query, 3)
([0.8, 0.1], 0.1)
"""

from __future__ import annotations

import math

import numpy as np

from lowstakes.pools import build_experts

__all__ = ["top_set", "consensus", "ConsensusPolicy"]


def top_set(log_weights: np.ndarray, alpha: float) -> np.ndarray:
    """Indices of the top set: by decreasing weight, each model whose weight is at least
    ``alpha`` times the total weight of the models at least as likely. Never empty."""
    order = np.argsort(-log_weights, kind="stable")
    weights = np.exp(log_weights[order] - log_weights[order[0]])
    at_least_as_likely = np.cumsum(weights)
    return order[weights >= alpha * at_least_as_likely]


def consensus(nu_top: np.ndarray) -> tuple[np.ndarray, float]:
    """Action probabilities (min over the top set) and the leftover query probability."""
    act = nu_top.min(axis=0)
    return act, max(0.0, 1.0 - float(act.sum()))


class ConsensusPolicy:
    """An arm that imitates the overseer by consensus of its top models, asking when they
    disagree. Records per decision the query probability, whether it asked, the top set's
    size, and the action it would take without an answer (``fallback``)."""

    @staticmethod
    def settings(params: dict) -> tuple[float, float, float]:
        """(alpha, epsilon, share) from a learner's params, checked."""
        params = {"alpha": 0.1, "epsilon": 0.2, "share": 0.0, **params}
        unknown = set(params) - {"alpha", "epsilon", "share"}
        if unknown:
            raise ValueError(f"consensus takes alpha, epsilon and share, not {sorted(unknown)}")
        alpha, epsilon, share = (float(params[k]) for k in ("alpha", "epsilon", "share"))
        if not 0 < alpha <= 1 or not 0 < epsilon < 1 or not 0 <= share < 1:
            raise ValueError("need 0 < alpha <= 1, 0 < epsilon < 1 and 0 <= share < 1, got "
                             f"{alpha}, {epsilon}, {share}")
        return alpha, epsilon, share

    def __init__(self, spec, horizon: int, rng: np.random.Generator):
        self.alpha, self.epsilon, self.share = self.settings(spec.params)
        self.names = list(spec.experts)
        self.rules, self.models = build_experts(spec.experts)
        n = len(self.names)
        self.log_weights = np.full(n, -math.log(n))
        self.rng = rng
        self.query_prob = np.zeros(horizon)
        self.asked = np.zeros(horizon, bool)
        self.top_size = np.zeros(horizon, np.int16)
        self.fallback = np.zeros(horizon, np.int8)
        self.confidence = 1.0
        self._answers = np.zeros(0, np.int8)
        self._pending: dict[int, np.ndarray] = {}

    def begin_block(self, block, answers) -> None:
        self._p1 = np.zeros((len(block), len(self.names)))
        for i, rule in self.rules.items():
            self._p1[:, i] = rule.predict(block)
        self._start, self._answers = block.start, answers

    def act(self, t: int, x: dict) -> int:
        p1 = self._p1[t - self._start]
        for i, model in self.models.items():
            p1[i] = model.predict_proba_one(x).get(True, 0.0)
        p1 = (1 - self.epsilon) * p1 + self.epsilon / 2
        nu = np.column_stack([1 - p1, p1])
        self._pending[t] = nu
        top = top_set(self.log_weights, self.alpha)
        act_probs, query = consensus(nu[top])
        self.query_prob[t], self.top_size[t] = query, len(top)
        best = nu[top[0]]
        self.fallback[t] = int(best[1] > best[0])
        u = self.rng.random()
        if u < act_probs[0]:
            return 0
        if u < act_probs.sum():
            return 1
        self.asked[t] = True
        return int(self._answers[t - self._start])  # act as the overseer says

    def learn(self, t: int, x: dict, label: int) -> None:
        """The overseer's answer to decision t: Bayes update, then the River models learn."""
        nu = self._pending.pop(t)
        log_weights = self.log_weights + np.log(nu[:, label])
        log_weights -= np.logaddexp.reduce(log_weights)
        if self.share:
            # Not in the paper: share a little posterior mass back to every model after
            # each answer (as Fixed Share does), so that a model the data ruled out can
            # return when the overseer changes its mind.
            log_weights = np.logaddexp(np.log1p(-self.share) + log_weights,
                                       np.log(self.share / len(log_weights)))
        self.log_weights = log_weights
        for model in self.models.values():
            model.learn_one(x, bool(label))

    def forget(self, t: int) -> None:
        """Decision t was not asked about, or its request was dropped."""
        self._pending.pop(t, None)

    def finish(self) -> dict:
        return {"query_prob": self.query_prob, "asked": self.asked, "top_size": self.top_size,
                "fallback": self.fallback, "experts": self.names,
                "posterior": np.exp(self.log_weights - np.logaddexp.reduce(self.log_weights)).tolist()}
