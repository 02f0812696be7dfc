"""Learners that choose among K actions and may see only the cost of the action they took.

An objective's ``feedback_mode`` says what its overseer reports: ``full``, the label (so
the cost of every action, a row of the objective's cost matrix), or ``bandit``, the cost
of the action taken and nothing else. :class:`BanditPolicy` is the one place where a
label becomes costs: it remembers each decision's action until its label arrives, and
hands its learner only the cost of that action (bandit) or of every action (full),
scaled to [0, 1] by the objective's largest cost. The learners:

- :class:`RiverBandit`: a River bandit policy (``bandit.UCB``, ``EpsilonGreedy``,
  ``ThompsonSampling``, ``Exp3``, ``BayesUCB``; contextual: ``LinUCBDisjoint``), rewarded
  with 1 - cost;
- :class:`Exp3Policy`: :class:`lowstakes.bandits.Exp3` or its fixed-share variant, whose
  expected regret against the best action has a bound (:mod:`lowstakes.bounds`);
- :class:`Exp4Policy`: :class:`lowstakes.bandits.Exp4` over experts that each advise an
  action per decision (:data:`ADVICE`: a fixed action, or a concept's Bayes-optimal action),
  with a bound against the best expert;
- :class:`OracleBandit`: a regression-oracle contextual bandit: one River regressor per
  action predicts that action's cost from the context; the learner acts greedily, with
  epsilon-greedy exploration, or by SquareCB's inverse-gap weighting (Foster & Rakhlin
  2020). Under full feedback every action's regressor learns at every label; under bandit
  feedback only the one taken. The same learner under both modes is the pair that prices
  partial feedback.

Every one records, per decision, whether it *explored*: took an action its own current
estimates rate strictly worse than their best (the summary's exploration harm).

Examples
--------
>>> import numpy as np
>>> from lowstakes.objectives import named_matrix
>>> from lowstakes.learners import build_model
>>> policy = RiverBandit(build_model("bandit.UCB", {"delta": 1.0, "seed": 0}, task="bandit"),
...                      named_matrix("zero_one", 3), mode="bandit")
>>> actions = []
>>> for t in range(300):               # outcome 2 every time: only action 2 costs nothing
...     actions.append(policy.act(t, {}))
...     policy.learn(t, {}, 2)
>>> actions[-1], bool(policy.end_block(0, 300)["explored"].any())
(2, True)
"""

from __future__ import annotations

import math

import numpy as np
from river import bandit as river_bandit

from lowstakes.bandits import Exp3, Exp3Share, Exp4, draw
from lowstakes.objectives import least_cost_action
from lowstakes.protocol import Policy
from lowstakes.registry import Registry

__all__ = ["BanditPolicy", "RiverBandit", "Exp3Policy", "Exp4Policy", "OracleBandit", "EXPLORATION",
           "BANDIT_ALGORITHMS", "BINARY_REWARD", "ADVICE"]

#: How a regression-oracle bandit explores (``explore: {policy: ...}``), with its params.
EXPLORATION = {"greedy": (), "epsilon_greedy": ("epsilon",), "squarecb": ("gamma",)}
#: River bandit policies whose posterior is a Beta: they count a reward as 0 or 1 (their
#: subclasses too, whatever they are called).
BINARY_REWARD = (river_bandit.ThompsonSampling, river_bandit.BayesUCB)
#: The expert-free algorithms of :mod:`lowstakes.bandits` a learner may name.
BANDIT_ALGORITHMS = {"exp3": Exp3, "exp3_share": Exp3Share}


class BanditPolicy(Policy):
    """Turns each arriving label into the costs this policy may see (see the module notes).

    Subclasses implement :meth:`choose` (the action and whether it explored) and
    :meth:`update` (the scaled costs of the action taken, or of all actions). They never see
    a label."""

    #: Feedback modes this learner can learn from.
    modes: tuple[str, ...] = ("bandit",)

    def __init__(self, costs: np.ndarray, mode: str):
        if mode not in self.modes:
            raise ValueError(f"{type(self).__name__} learns from {' or '.join(self.modes)} feedback, "
                             f"not {mode}")
        scale = float(costs.max())
        #: The objective's largest cost: costs reach the learner divided by it.
        self.scale = scale if scale > 0 else 1.0
        self._costs = np.asarray(costs, float) / self.scale
        #: Per outcome, every action's scaled cost (plain lists: read once per decision).
        self._columns = self._costs.T.tolist()
        self.k = costs.shape[0]
        self.full = mode == "full"
        self._taken: dict[int, tuple] = {}
        self._explored: list[bool] = []

    def choose(self, t: int, x: dict) -> tuple[int, bool, object]:
        """The action for decision ``t``, whether it explored, and what :meth:`update`
        needs to know of the moment it was taken (or None)."""
        raise NotImplementedError

    def update(self, x: dict, action: int, costs, moment) -> None:
        """The scaled cost of ``action`` (bandit: a float) or of every action (full: a
        list of K) at a decision taken in context ``x``."""
        raise NotImplementedError

    def act(self, t, x):
        action, explored, moment = self.choose(t, x)
        self._taken[t] = (action, moment)
        self._explored.append(explored)
        return action

    def learn(self, t, x, label):
        action, moment = self._taken.pop(t)
        column = self._columns[label]
        self.update(x, action, column if self.full else column[action], moment)

    def forget(self, t):
        self._taken.pop(t, None)

    def end_block(self, start, stop):
        explored, self._explored = np.array(self._explored, dtype=bool), []
        return {"explored": explored}

    #: What the learner is called in the summary.
    label = "bandit learner"

    def finish(self):
        """``kind: bandit``, the learner's name, and what a regret bound needs (None: none
        applies to this learner)."""
        return {"kind": "bandit", "algorithm": self.label, "k": self.k, "scale": self.scale,
                "bound": self.bound_params()}

    def bound_params(self) -> dict | None:
        return None


def _estimate(policy, arm, x):
    """A River bandit policy's current estimate of ``arm``'s mean reward (None: unknown)."""
    if hasattr(policy, "_bayes_lin_regs"):  # LinUCBDisjoint: its regression's mean at x
        return policy._bayes_lin_regs[arm].predict_one(x) if policy._counts[arm] else None
    if not policy._counts[arm]:
        return None
    estimate = getattr(policy, "_posteriors", policy._rewards)[arm]
    if hasattr(estimate, "alpha") and hasattr(estimate, "beta"):  # a Beta posterior
        return estimate.alpha / (estimate.alpha + estimate.beta)
    return estimate.get()


class RiverBandit(BanditPolicy):
    """A River bandit policy on actions 0..K-1, rewarded with 1 - the scaled cost; a
    contextual one (``LinUCBDisjoint``) is given the context too.

    A policy with a Beta posterior (:data:`BINARY_REWARD`) counts a reward as a success or
    a failure (River's ``proba.Beta`` counts any reward above 0 as a success). A reward r
    strictly between 0 and 1 is given to it as a success with probability r, drawn from
    ``rng`` (the arm's random stream): the Bernoulli trick of Agrawal & Goyal (2012), which
    keeps the posterior a Beta and its expected update that of the reward r."""

    def __init__(self, policy, costs, mode, rng=None):
        super().__init__(costs, mode)
        self.policy, self.rng = policy, rng
        self.binary = isinstance(policy, BINARY_REWARD)
        self.label = f"bandit.{type(policy).__name__}"
        self.arms = list(range(self.k))
        self.contextual = is_contextual(policy)
        #: Without context an arm's estimate changes only when it is updated: kept here, with
        #: the best of them, instead of asking the policy for all K at every decision.
        self._estimates: list = [None] * self.k
        self._best = None

    def choose(self, t, x):
        policy = self.policy
        if self.contextual:
            action = policy.pull(self.arms, context=x)
            estimates = [_estimate(policy, a, x) for a in self.arms]
            known = [e for e in estimates if e is not None]
            best = max(known) if known else None
        else:
            action = policy.pull(self.arms)
            estimates, best = self._estimates, self._best
        own = estimates[action]
        explored = best is not None and (own is None or own < best)
        return int(action), explored, None

    def update(self, x, action, cost, moment):
        if self.contextual:
            self.policy.update(action, x, 1.0 - cost)
            return
        reward = 1.0 - cost
        if self.binary and 0.0 < reward < 1.0:
            if self.rng is None:
                raise ValueError(f"{self.label} counts rewards as 0 or 1: give it a random stream (rng) "
                                 f"to draw one from the reward {reward}")
            reward = float(self.rng.random() < reward)
        self.policy.update(action, reward)
        estimates = self._estimates
        estimates[action] = _estimate(self.policy, action, x)
        self._best = max(e for e in estimates if e is not None)


def is_contextual(policy) -> bool:
    """Whether a River bandit policy takes the context (``pull(arms, context)``)."""
    from river.bandit.base import ContextualPolicy

    return isinstance(policy, ContextualPolicy)


class Exp3Policy(BanditPolicy):
    """:class:`~lowstakes.bandits.Exp3` (or :class:`~lowstakes.bandits.Exp3Share`) as a
    policy: it draws its action from its own distribution with the arm's random stream and
    weights each cost by the probability the action had *when it was taken* (with delayed
    feedback the distribution has moved on by the time the cost arrives)."""

    def __init__(self, algorithm, costs, mode, rng):
        super().__init__(costs, mode)
        if algorithm.k != self.k:
            raise ValueError(f"{algorithm.name} has {algorithm.k} actions, the costs {self.k}")
        self.algorithm, self.rng = algorithm, rng
        self.label = algorithm.name

    def choose(self, t, x):
        p = self.algorithm.probabilities()
        action = int(draw(p, self.rng)[0])
        return action, bool(p[0, action] < p[0].max()), float(p[0, action])

    def update(self, x, action, cost, probability):
        self.algorithm.update(np.array([action]), np.array([cost]), np.array([probability]))

    def bound_params(self):
        return {"eta": self.algorithm.eta, "alpha": getattr(self.algorithm, "alpha", None)}


class OracleBandit(BanditPolicy):
    """One River regressor per action predicts its scaled cost from the context; the action
    is chosen from the predictions by ``explore``: ``greedy`` (least predicted cost),
    ``epsilon_greedy`` (a uniform action with probability ``epsilon``), or ``squarecb``
    (Foster & Rakhlin 2020: p_a = 1 / (K + gamma (yhat_a - yhat_best)) for each action but
    the best, which takes the rest). Learns from full or bandit feedback."""

    modes = ("full", "bandit")

    def __init__(self, models, costs, mode, rng, explore: str = "greedy", epsilon: float = 0.05,
                 gamma: float | None = None, horizon: int = 1):
        super().__init__(costs, mode)
        if len(models) != self.k:
            raise ValueError(f"need one regressor per action ({self.k}), got {len(models)}")
        if explore not in EXPLORATION:
            raise ValueError(f"unknown exploration {explore!r}; one of: {', '.join(EXPLORATION)}")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        if gamma is not None and not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        self.models, self.rng, self.explore, self.epsilon = models, rng, explore, float(epsilon)
        self.label = f"{type(models[0]).__name__} per action, {explore}"
        #: SquareCB's gamma; default sqrt(K T), the order its analysis tunes to.
        self.gamma = float(gamma) if gamma is not None else math.sqrt(self.k * horizon)

    def predictions(self, x) -> np.ndarray:
        out = np.empty(self.k)
        for a, model in enumerate(self.models):
            y = model.predict_one(x)
            out[a] = 0.0 if y is None else y
        return out

    def choose(self, t, x):
        predicted = self.predictions(x)
        best = int(np.argmin(predicted))
        if self.explore == "greedy":
            action = best
        elif self.explore == "epsilon_greedy":
            action = int(self.rng.integers(self.k)) if self.rng.random() < self.epsilon else best
        else:
            action = int(draw(self.inverse_gap(predicted)[None, :], self.rng)[0])
        return action, bool(predicted[action] > predicted[best]), None

    def inverse_gap(self, predicted: np.ndarray) -> np.ndarray:
        """SquareCB's distribution over the actions given their predicted costs: each action
        but the best gets 1 / (K + gamma (yhat_a - yhat_best)), the best the rest (the first
        of equal bests counts as the best).

        >>> policy = OracleBandit([None] * 3, np.ones((3, 3)), "bandit", None, "squarecb", gamma=10.0)
        >>> (policy.inverse_gap(np.array([0.2, 0.5, 0.3])) * 12).round(6).tolist()
        [7.0, 2.0, 3.0]
        """
        best = int(np.argmin(predicted))
        p = 1.0 / (self.k + self.gamma * (predicted - predicted[best]))
        p[best] = 0.0
        p[best] = 1.0 - p.sum()
        return p

    def update(self, x, action, cost, moment):
        if self.full:
            for model, c in zip(self.models, cost, strict=True):
                model.learn_one(x, c)
        else:
            self.models[action].learn_one(x, cost)


ADVICE = Registry("advice rule")


@ADVICE.register("action")
class ActionAdvice:
    """Always advises ``action``."""

    def __init__(self, action: int = 0):
        if isinstance(action, bool) or not isinstance(action, int) or action < 0:
            raise ValueError(f"action must be a whole number >= 0, got {action!r}")
        self.action = action

    def advise(self, block, costs) -> np.ndarray:
        if self.action >= costs.shape[0]:
            raise ValueError(f"action {self.action} does not exist; there are {costs.shape[0]} actions")
        return np.full(len(block), self.action)


@ADVICE.register("concept")
class ConceptAdvice:
    """Advises the action of least expected cost under concept row ``concept``'s P(y | x)
    (0: the first, pre-shift one): what the Bayes-optimal learner of that concept would do."""

    def __init__(self, concept: int = 0):
        if isinstance(concept, bool) or not isinstance(concept, int) or concept < 0:
            raise ValueError(f"concept must be a concept index >= 0, got {concept!r}")
        self.concept = concept

    def advise(self, block, costs) -> np.ndarray:
        if block.concept_proba is None:
            raise ValueError("concept advice needs a source that knows P(y | x) (an oracle)")
        return least_cost_action(costs, block.concept_proba(self.concept))


class Exp4Policy(BanditPolicy):
    """:class:`~lowstakes.bandits.Exp4` as a policy: at the start of each block every expert
    advises an action per decision (a point mass); the policy plays the weighted advice and
    charges each expert the importance-weighted cost of what it advised, with the probability
    the action had when it was drawn. It also keeps each expert's cost on the feedback at
    every decision (from ``begin_block``'s labels, which it never acts on): the best expert
    is the comparator of Exp4's bound."""

    def __init__(self, algorithm: Exp4, advisers: dict, costs, mode, rng):
        super().__init__(costs, mode)
        if algorithm.k != self.k or algorithm.n != len(advisers):
            raise ValueError(f"exp4 has {algorithm.k} actions and {algorithm.n} experts; "
                             f"the costs have {self.k} actions and there are {len(advisers)} experts")
        self.algorithm, self.rng, self.label = algorithm, rng, "exp4"
        self.names, self.advisers = list(advisers), list(advisers.values())
        self._eye = np.eye(self.k)
        self._advice = np.zeros((0, len(advisers), self.k))
        self._start = 0
        #: Each expert's scaled cost on the arm's feedback, summed over every decision so far.
        self.expert_loss = np.zeros(len(advisers))

    def begin_block(self, block, feedback, truth, stakes):
        advised = np.stack([a.advise(block, self._costs) for a in self.advisers], axis=1)  # (n, N)
        self._advice = self._eye[advised]
        self._start = block.start
        self.expert_loss += self._costs[advised, np.asarray(feedback)[:, None]].sum(axis=0)

    def choose(self, t, x):
        advice = self._advice[t - self._start]
        p = self.algorithm.probabilities(advice)
        action = int(draw(p, self.rng)[0])
        return action, bool(p[0, action] < p[0].max()), (advice, float(p[0, action]))

    def update(self, x, action, cost, moment):
        advice, probability = moment
        self.algorithm.update(advice, np.array([action]), np.array([cost]), np.array([probability]))

    def bound_params(self):
        return {"eta": self.algorithm.eta, "experts": len(self.names)}

    def finish(self):
        return {**super().finish(), "experts": self.names,
                "expert_loss": (self.expert_loss * self.scale).tolist()}
