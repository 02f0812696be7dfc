"""Building each arm's policy from the scenario: the one place that knows the learner kinds.

The simulation asks :func:`build_policy` for every (learner, objective) arm and then drives
it only through :class:`lowstakes.protocol.Policy`; a new learner kind is added here (and in
its own module), not in the simulation.
"""

from __future__ import annotations

import math

from lowstakes import linear
from lowstakes.consensus import IMITATORS, build_imitator
from lowstakes.learners import RegressionPolicy, RiverPolicy
from lowstakes.metrics import transition_spans
from lowstakes.pools import ExpertPolicy
from lowstakes.protocol import Policy
from lowstakes.streams import SOURCES

__all__ = ["build_policy", "decisions_of_delay"]


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
    learner, objective = scenario.learners[lname], scenario.objectives[oname]
    costs = (objective.costs or scenario.harm).matrix()
    if learner.algorithm in IMITATORS:
        return build_imitator(learner, scenario.horizon, rng)
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
    return ExpertPolicy(learner, costs, scenario.harm.matrix(), scenario.horizon, shifts, windows,
                        decisions_of_delay(scenario.timing), rng, model_seeds)
