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

from lowstakes.pools import DeceptiveRule, build_experts
from lowstakes.protocol import Policy

__all__ = ["top_set", "consensus", "ImitationPolicy", "ConsensusPolicy", "MixturePolicy", "MapPolicy",
           "build_imitator", "IMITATORS", "settings"]


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


IMITATORS = ("consensus", "bayes_mixture", "map")


def settings(algorithm: str, params: dict) -> tuple[float, float, float]:
    """(alpha, epsilon, share) from an imitation learner's params, checked (alpha is the
    consensus imitator's alone)."""
    defaults = {"alpha": 0.1, "epsilon": 0.2, "share": 0.0}
    allowed = set(defaults) if algorithm == "consensus" else {"epsilon", "share"}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"{algorithm} takes {', '.join(sorted(allowed))}, not {sorted(unknown)}")
    params = {**defaults, **params}
    alpha, epsilon, share = (float(params[k]) for k in ("alpha", "epsilon", "share"))
    if not 0 < alpha <= 1 or not 0 <= epsilon < 1 or not 0 <= share < 1:
        raise ValueError("need 0 < alpha <= 1, 0 <= epsilon < 1 and 0 <= share < 1, got "
                         f"{alpha}, {epsilon}, {share}")
    return alpha, epsilon, share


class ImitationPolicy(Policy):
    """An arm that imitates the overseer (the demonstrator) with a posterior over models.

    The models are the pool's experts; each model's prediction is smoothed to
    nu = (1 - epsilon) p + epsilon / 2 (epsilon = 0: the rules' own 0/1 predictions, and an
    answer a model gave probability 0 rules it out; an answer no model allows leaves the
    posterior as it was). Subclasses choose how to act from nu and the posterior. Records
    per decision the query probability, whether it asked, the top set's size, the action it
    would take without an answer (``fallback``), and, for pools with deceptive experts,
    the action a defecting expert took (``defection``: -1 where none defected).
    """

    algorithm = ""

    @staticmethod
    def settings(params: dict) -> tuple[float, float, float]:
        """(alpha, epsilon, share) of the consensus imitator (kept for callers of old)."""
        return settings("consensus", params)

    def __init__(self, spec, horizon: int, rng: np.random.Generator):
        self.alpha, self.epsilon, self.share = settings(spec.algorithm, spec.params)
        self.names = list(spec.experts)
        self.rules, self.models = build_experts(spec.experts)
        self.deceptive = {i: r for i, r in self.rules.items() if isinstance(r, DeceptiveRule)}
        n = len(self.names)
        self.log_weights = np.full(n, -math.log(n))
        self.rng = rng
        # Ties among the most likely models are broken by an order drawn once per run-seed,
        # from a child of the arm's seed (the arm's own draws are left as they were).
        self.order = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0]).permutation(n)
        self.confidence = 1.0
        self._answers = np.zeros(0, np.int8)
        self._pending: dict[int, np.ndarray] = {}

    def begin_block(self, block, feedback, truth=None, stakes=None) -> None:
        """The block's rule predictions; ``feedback`` is the overseer's answer to each
        decision, used only where the arm asks."""
        n = len(block)
        self._p1 = np.zeros((n, len(self.names)))
        for i, rule in self.rules.items():
            self._p1[:, i] = rule.predict(block)
        # The block's records, per decision.
        self.query_prob = np.zeros(n)
        self.asked = np.zeros(n, bool)
        self.top_size = np.zeros(n, np.int16)
        self.fallback = np.zeros(n, np.int8)
        self.defection = np.full(n, -1, np.int8)
        for rule in self.deceptive.values():
            defects = rule.defects(block)
            honest = np.round(np.clip(rule.imitated.predict(block), 0, 1)).astype(np.int8)
            taken = np.round(rule.predict(block)).astype(np.int8)
            mark = defects & (taken != honest) & (self.defection < 0)
            self.defection[mark] = taken[mark]
        self._start, self._answers = block.start, feedback

    def wants_label(self, t: int) -> bool:
        return bool(self.asked[t - self._start])

    def settle(self, actions, records, answered) -> None:
        """Asked but never answered (dropped, or still queued at the end): the arm acted on
        its own most likely model instead."""
        unanswered = records["asked"] & ~answered
        actions[unanswered] = records["fallback"][unanswered]

    def end_block(self, start: int, stop: int) -> dict:
        records = {"query_prob": self.query_prob, "asked": self.asked, "top_size": self.top_size,
                   "fallback": self.fallback}
        if self.deceptive:
            records["defection"] = self.defection
        return records

    def distribution(self, nu: np.ndarray, i: int) -> tuple[np.ndarray, float]:
        """The action probabilities and the query probability at the block's decision i."""
        raise NotImplementedError

    def act(self, t: int, x: dict) -> int:
        p1 = self._p1[t - self._start]
        for i, model in self.models.items():
            p1[i] = model.predict_proba_one(x).get(True, 0.0)
        p1 = (1 - self.epsilon) * p1 + self.epsilon / 2
        nu = np.column_stack([1 - p1, p1])
        self._pending[t] = nu
        i = t - self._start
        act_probs, query = self.distribution(nu, i)
        self.query_prob[i] = query
        best = nu[self._most_likely()]
        self.fallback[i] = int(best[1] > best[0])
        u = self.rng.random()
        if u < act_probs[0]:
            return 0
        if u < act_probs.sum():
            return 1
        self.asked[i] = True
        return int(self._answers[t - self._start])  # act as the overseer says

    def _most_likely(self) -> int:
        """The most likely model (ties: the run-seed's order)."""
        weights = self.log_weights[self.order]
        return int(self.order[np.argmax(weights)])

    def learn(self, t: int, x: dict, label: int) -> None:
        """The overseer's answer to decision t: Bayes update, then the River models learn."""
        nu = self._pending.pop(t)
        with np.errstate(divide="ignore"):
            log_weights = self.log_weights + np.log(nu[:, label])
        total = np.logaddexp.reduce(log_weights)
        if np.isfinite(total):  # else no model allows this answer: nothing to learn from it
            log_weights -= total
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
        return {"kind": "imitation", "experts": self.names, "algorithm": self.algorithm,
                "deceptive": bool(self.deceptive),
                "posterior": np.exp(self.log_weights - np.logaddexp.reduce(self.log_weights)).tolist()}


class ConsensusPolicy(ImitationPolicy):
    """Cohen, Hutter & Nanda's consensus imitator: act a with probability min over the top
    set of nu(a | x); with the leftover probability, ask the overseer and act as it says."""

    algorithm = "consensus"
    chooses_queries = True

    def distribution(self, nu, i):
        top = top_set(self.log_weights, self.alpha)
        self.top_size[i] = len(top)
        return consensus(nu[top])


class MixturePolicy(ImitationPolicy):
    """Bayesian-mixture imitation: act by the posterior-weighted mixture of the models,
    sum_i w_i nu_i(a | x); never asks (it learns from the labels its route brings)."""

    algorithm = "bayes_mixture"

    def distribution(self, nu, i):
        weights = np.exp(self.log_weights - np.logaddexp.reduce(self.log_weights))
        return weights @ nu, 0.0


class MapPolicy(ImitationPolicy):
    """MAP imitation: follow the most likely model (ties broken by an order drawn once per
    run-seed); never asks."""

    algorithm = "map"

    def distribution(self, nu, i):
        return nu[self._most_likely()], 0.0


POLICIES = {cls.algorithm: cls for cls in (ConsensusPolicy, MixturePolicy, MapPolicy)}


def build_imitator(spec, horizon: int, rng: np.random.Generator) -> ImitationPolicy:
    return POLICIES[spec.algorithm](spec, horizon, rng)
