"""Building each arm's policy from the scenario: the one place that knows the learner kinds.

The simulation asks :func:`build_policy` for every (learner, objective) arm and then drives
it only through :class:`lowstakes.protocol.Policy`; a new learner kind is added here (and in
its own module), not in the simulation.
"""

from __future__ import annotations

import math

from lowstakes import linear
from lowstakes.bandit_policies import (
    ADVICE,
    BANDIT_ALGORITHMS,
    Exp3Policy,
    Exp4Policy,
    OracleBandit,
    RiverBandit,
)
from lowstakes.bandits import Exp4
from lowstakes.consensus import IMITATORS, build_imitator
from lowstakes.learners import RegressionPolicy, RiverPolicy, build_model
from lowstakes.metrics import transition_spans
from lowstakes.pools import ExpertPolicy
from lowstakes.protocol import Policy
from lowstakes.streams import SOURCES

__all__ = ["build_policy", "decisions_of_delay", "learner_kind", "KIND_MODES"]

#: The feedback modes each kind of learner learns from (see :func:`learner_kind`).
KIND_MODES = {"imitation": ("full",), "pool": ("full",), "river": ("full",), "exp3": ("bandit",),
              "exp4": ("bandit",), "river_bandit": ("bandit",), "oracle_bandit": ("full", "bandit")}


def is_bandit_policy(name: str | None) -> bool:
    """Whether ``name`` is a River bandit policy (``bandit.UCB``, or user code subclassing one)."""
    from river.bandit.base import Policy as RiverBanditPolicy

    from lowstakes.registry import resolve_river

    try:
        cls = resolve_river(name)
    except Exception:  # noqa: BLE001 - an unknown name is reported by the checks
        return False
    return isinstance(cls, type) and issubclass(cls, RiverBanditPolicy)


def learner_kind(learner) -> str:
    """What a learner is: ``imitation``, ``pool`` (an expert algorithm), ``exp3`` (exp3 or
    exp3_share over the actions), ``exp4`` (over experts advising actions), ``river_bandit``
    (a River bandit policy), ``oracle_bandit``
    (River regressors with ``explore``) or ``river`` (a River classifier or regressor)."""
    if learner.algorithm in IMITATORS:
        return "imitation"
    if learner.algorithm in BANDIT_ALGORITHMS:
        return "exp3"
    if learner.algorithm == "exp4":
        return "exp4"
    if learner.is_pool:
        return "pool"
    if learner.explore is not None:
        return "oracle_bandit"
    return "river_bandit" if is_bandit_policy(learner.model) else "river"


def decisions_of_delay(timing) -> int:
    """For a fixed delay D and fixed spacing: the number of decisions taken after a
    decision before its feedback is in (the d of Weinberger & Ordentlich); 0 otherwise."""
    delay = timing.feedback_delay
    if delay.kind != "fixed" or timing.arrivals.every is None:
        return 0
    return max(0, math.ceil(delay.fixed / timing.arrivals.every - 1e-12) - 1)


def build_policy(scenario, lname: str, oname: str, rng, model_seeds) -> Policy:
    """The policy of arm (``lname``, ``oname``): an imitator, an expert pool, or a River model
    (recorded for the OGD bound when it is a linear model the bound covers). ``rng``: the
    arm's own random stream; ``model_seeds``: the learner's model seeds."""
    learner, mode = scenario.learners[lname], scenario.objectives[oname].feedback_mode
    costs = scenario.costs_of(oname)
    kind = learner_kind(learner)
    if kind == "imitation":
        return build_imitator(learner, scenario.horizon, rng)
    if kind == "exp3":
        algorithm = BANDIT_ALGORITHMS[learner.algorithm](k=costs.shape[0], horizon=scenario.horizon,
                                                         **learner.params)
        return Exp3Policy(algorithm, costs, mode, rng)
    if kind == "exp4":
        algorithm = Exp4(k=costs.shape[0], n=len(learner.experts), horizon=scenario.horizon, **learner.params)
        advisers = {name: ADVICE.get(e.rule)(**e.params) for name, e in learner.experts.items()}
        return Exp4Policy(algorithm, advisers, costs, mode, rng)
    if kind == "river_bandit":
        return RiverBandit(build_model(learner.model, learner.params, task="bandit", seeds=model_seeds),
                           costs, mode, rng)
    if kind == "oracle_bandit":
        explore = dict(learner.explore)
        steps = [(s.model, s.params) for s in learner.preprocess]
        models = [build_model(learner.model, learner.params, steps, task="regression", seeds=model_seeds)
                  for _ in range(costs.shape[0])]
        return OracleBandit(models, costs, mode, rng, explore.pop("policy", "greedy"),
                            horizon=scenario.horizon, **explore)
    shifts = [s.at for s in scenario.stream.shifts]
    windows = transition_spans(shifts, scenario.horizon, scenario.windows.length)
    # Linear models the OGD bound covers record their learning events at these decisions.
    marks = linear.marks(windows, scenario.horizon)
    if SOURCES.get(scenario.stream.source).task == "regression":
        return RegressionPolicy.build(learner.model, learner.params,
                                      [(s.model, s.params) for s in learner.preprocess],
                                      seeds=model_seeds, marks=marks)
    if not learner.is_pool:
        return RiverPolicy.build(learner.model, learner.params,
                                 [(s.model, s.params) for s in learner.preprocess], costs=costs,
                                 seeds=model_seeds, marks=marks)
    return ExpertPolicy(learner, costs, scenario.harm_matrix(), scenario.horizon, shifts, windows,
                        decisions_of_delay(scenario.timing), rng, model_seeds)
