"""The SimPy simulation of one seed: decisions arrive, every arm acts, feedback comes back.

One :class:`simpy.Environment` per seed holds every arm, so all arms see the same
contexts, truths, arrival times and feedback delays (common random numbers): their
differences are caused by the learner and the objective alone.

Time and delays
---------------
Decision ``t`` happens at time ``time[t]`` (fixed spacing or Poisson arrivals). Its
feedback arrives at ``time[t] + delay``; feedback that arrives at the same instant as
a decision is learned *before* that decision. So with one decision per time unit, a
fixed delay of d means d - 1 further decisions are taken without it, which is what
River's ``progressive_val_score(delay=d)`` does; zero delay means the arm learns right
after acting. Feedback still in flight when the last decision is taken is never learned.

Examples
--------
>>> from lowstakes.scenario import Scenario
>>> scenario = Scenario.from_dict({
...     "name": "demo", "horizon": 200, "timing": {"feedback_delay": {"fixed": 5}},
...     "stream": {"source": "sea"},
...     "learners": {"logreg": {"model": "linear_model.LogisticRegression"}}})
>>> run = simulate(scenario, seed=0)
>>> run.actions.shape, run.arms
((1, 200), [('logreg', 'aligned')])
>>> float(run.feedback_time[0] - run.time[0])
5.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy
from simpy.events import URGENT

from lowstakes.learners import RiverPolicy
from lowstakes.metrics import transition_spans
from lowstakes.objectives import build_feedback, least_cost_action
from lowstakes.pools import ExpertPolicy
from lowstakes.streams import Shift, Stream

__all__ = ["SeedRun", "simulate", "seed_sequence", "stream_for"]

BLOCK = 4096


@dataclass
class SeedRun:
    """Everything one seed recorded, one entry per decision (arrays, not dicts).

    ``actions[j]`` belongs to arm ``arms[j]`` = (learner, objective); ``feedback[name]``
    is the label objective ``name`` gave each decision; ``comparator`` is the
    comparator's action (-1 where it is decided after the run, e.g. best constant).
    """

    seed: int
    arms: list[tuple[str, str]]
    time: np.ndarray
    feedback_time: np.ndarray
    y: np.ndarray
    segment: np.ndarray
    comparator: np.ndarray
    actions: np.ndarray
    feedback: dict[str, np.ndarray]
    pools: dict = field(default_factory=dict)


def seed_sequence(master: int, n_seeds: int, seed: int) -> np.random.SeedSequence:
    """The SeedSequence of run-seed ``seed``: the same whatever the number of workers."""
    return np.random.SeedSequence(master).spawn(n_seeds)[seed]


def decisions_of_delay(timing) -> int:
    """For a fixed delay D and fixed spacing: the number of decisions taken after a
    decision before its feedback is in (the d of Weinberger & Ordentlich); 0 otherwise."""
    delay = timing.feedback_delay
    if delay.kind != "fixed" or timing.arrivals.every is None:
        return 0
    return max(0, math.ceil(delay.fixed / timing.arrivals.every - 1e-12) - 1)


def _seeds(scenario, seed):
    stream_seq, timing_seq, objective_seq = seed_sequence(scenario.seed, scenario.seeds, seed).spawn(3)
    return stream_seq, timing_seq, objective_seq


def stream_for(scenario, seed: int) -> Stream:
    """The stream that run-seed ``seed`` of ``scenario`` sees (a fresh copy, from its start).

    >>> from lowstakes.scenario import Scenario
    >>> scenario = Scenario.from_dict({"name": "s", "horizon": 10, "stream": {"source": "sea"},
    ...     "learners": {"m": {"model": "linear_model.LogisticRegression"}}})
    >>> a, b = (next(stream_for(scenario, 0).blocks()) for _ in range(2))
    >>> a.x == b.x
    True
    """
    spec = scenario.stream
    return Stream(spec.source, spec.params, [Shift(s.at, s.params, s.width) for s in spec.shifts],
                  spec.label_noise, scenario.horizon, _seeds(scenario, seed)[0])


class _Feedback(simpy.Event):
    """The overseer's answer to one decision, delivered ``delay`` time units later.

    Scheduled as URGENT so that feedback due at the same instant as a decision is
    learned first (see the module notes on time).
    """

    def __init__(self, env, delay, value, callback):
        super().__init__(env)
        self._ok = True
        self._value = value
        self.callbacks = [callback]
        env.schedule(self, URGENT, delay)


class _Simulation:
    def __init__(self, scenario, seed, progress=None):
        _, timing_seq, objective_seq = _seeds(scenario, seed)
        policy_seq = objective_seq.spawn(1)[0]
        self.stream = stream_for(scenario, seed)
        self.timing = scenario.timing
        self.timing_rng = np.random.default_rng(timing_seq)
        self.harm = scenario.harm.matrix()
        self.comparator_kind = scenario.comparator
        self.objectives = {
            name: (build_feedback(o.feedback, o.params), np.random.default_rng(s))
            for (name, o), s in zip(scenario.objectives.items(),
                                    objective_seq.spawn(len(scenario.objectives)), strict=True)
        }
        self.arms = [(lname, oname) for lname in scenario.learners for oname in scenario.objectives]
        self.policies = [self.policy(scenario, lname, oname, np.random.default_rng(s))
                         for (lname, oname), s in zip(self.arms, policy_seq.spawn(len(self.arms)),
                                                      strict=True)]
        self.pools = [j for j, p in enumerate(self.policies) if isinstance(p, ExpertPolicy)]
        self.learns = [p.learn for p in self.policies]
        self.progress = progress
        horizon = scenario.horizon
        self.run = SeedRun(
            seed=seed, arms=self.arms,
            time=np.empty(horizon), feedback_time=np.full(horizon, np.nan),
            y=np.empty(horizon, np.int8), segment=np.empty(horizon, np.int8),
            comparator=np.full(horizon, -1, np.int8),
            actions=np.empty((len(self.arms), horizon), np.int8),
            feedback={name: np.empty(horizon, np.int8) for name in self.objectives},
        )
        self.env = simpy.Environment()

    @staticmethod
    def policy(scenario, lname, oname, rng):
        learner, objective = scenario.learners[lname], scenario.objectives[oname]
        costs = (objective.costs or scenario.harm).matrix()
        if not learner.is_pool:
            return RiverPolicy.build(learner.model, learner.params,
                                     [(s.model, s.params) for s in learner.preprocess], costs=costs)
        shifts = [s.at for s in scenario.stream.shifts]
        windows = transition_spans(shifts, scenario.horizon, scenario.windows.length)
        return ExpertPolicy(learner, costs, scenario.harm.matrix(), scenario.horizon, shifts, windows,
                            decisions_of_delay(scenario.timing), rng)

    # -- timing ------------------------------------------------------------------------

    def gaps(self, n: int, first: bool) -> np.ndarray:
        arrivals = self.timing.arrivals
        if arrivals.poisson is not None:
            gaps = self.timing_rng.exponential(1.0 / arrivals.poisson, n)
        else:
            gaps = np.full(n, arrivals.every)
        if first:
            gaps[0] = 0.0  # the first decision is at time 0
        return gaps

    def delays(self, n: int) -> np.ndarray | None:
        delay = self.timing.feedback_delay
        if delay.kind == "exponential":
            return self.timing_rng.exponential(delay.exponential, n)
        if delay.kind == "fixed":
            return np.full(n, delay.fixed)
        return None

    # -- the processes -------------------------------------------------------------------

    def record_block(self, block) -> list[tuple]:
        """Store the block's truths, comparator and feedback; return each decision's labels per arm."""
        run, span = self.run, slice(block.start, block.start + len(block))
        run.y[span] = block.y
        run.segment[span] = block.segment
        if self.comparator_kind == "oracle":
            run.comparator[span] = least_cost_action(self.harm, block.p)
        elif self.comparator_kind == "hindsight":
            run.comparator[span] = self.harm[:, block.y].argmin(axis=0)
        for name, (rule, rng) in self.objectives.items():
            run.feedback[name][span] = rule.feedback(block, rng)
        per_arm = [run.feedback[oname][span].tolist() for _, oname in self.arms]
        return list(zip(*per_arm, strict=True))

    def decisions(self):
        """The arrivals process: each decision, every arm acts, and feedback is sent for."""
        env, run = self.env, self.run
        acts, learns, deliver = [p.act for p in self.policies], self.learns, self.deliver
        for block in self.stream.blocks(BLOCK):
            labels = self.record_block(block)
            span = slice(block.start, block.start + len(block))
            for j in self.pools:
                self.policies[j].begin_block(block, self.run.feedback[self.arms[j][1]][span], block.y)
            gaps = self.gaps(len(block), first=block.start == 0).tolist()
            delays = self.delays(len(block))
            delays = None if delays is None else delays.tolist()
            # Per-decision values go to plain lists first: appending is cheaper than
            # writing numpy items one by one, and this loop runs once per decision.
            times, actions = [], [[] for _ in acts]
            for t, x, gap, arm_labels in zip(block.steps.tolist(), block.x, gaps, labels, strict=True):
                if gap:
                    yield env.timeout(gap)
                times.append(env.now)
                if delays is None:
                    # Arms are independent, so each may learn right after its own action.
                    for act, out, learn, label in zip(acts, actions, learns, arm_labels, strict=True):
                        out.append(act(t, x))
                        learn(t, x, label)
                else:
                    for act, out in zip(acts, actions, strict=True):
                        out.append(act(t, x))
                    _Feedback(env, delays[t - block.start], (t, x, arm_labels), deliver)
            span = slice(block.start, block.start + len(block))
            run.time[span] = times
            run.actions[:, span] = actions
            if delays is None:
                run.feedback_time[span] = times
            for j in self.pools:
                self.policies[j].end_block(span.start, span.stop)
            if self.progress is not None:
                self.progress(len(block))

    def deliver(self, event):
        """Feedback arrives: every arm learns from its own objective's label."""
        t, x, labels = event.value
        for learn, label in zip(self.learns, labels, strict=True):
            learn(t, x, label)
        self.run.feedback_time[t] = self.env.now

    def __call__(self) -> SeedRun:
        process = self.env.process(self.decisions())
        self.env.run(until=process)
        self.run.pools = {j: self.policies[j].finish() for j in self.pools}
        if self.comparator_kind == "best_constant":
            totals = self.harm[:, self.run.y].sum(axis=1)
            self.run.comparator[:] = int(np.argmin(totals))
        return self.run


def simulate(scenario, seed: int, progress=None) -> SeedRun:
    """Run every arm of ``scenario`` on run-seed ``seed`` (0 .. scenario.seeds - 1).

    ``progress``, if given, is called with the number of decisions just finished.
    """
    if not 0 <= seed < scenario.seeds:
        raise ValueError(f"seed must be in 0..{scenario.seeds - 1}, got {seed}")
    return _Simulation(scenario, seed, progress)()
