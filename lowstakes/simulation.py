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
>>> float(run.feedback_time[0, 0] - run.time[0])
5.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy
from simpy.events import URGENT

from lowstakes import linear
from lowstakes.consensus import IMITATORS, ImitationPolicy, build_imitator
from lowstakes.learners import (
    ModelSeeds,
    RecordedRegressionPolicy,
    RecordedRiverPolicy,
    RegressionPolicy,
    RiverPolicy,
)
from lowstakes.metrics import transition_spans
from lowstakes.objectives import build_feedback, in_region, least_cost_action
from lowstakes.oversight import Overseer, build_query, service_time
from lowstakes.pools import ExpertPolicy
from lowstakes.registry import load_attribute
from lowstakes.streams import SOURCES, Shift, Stream

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
    task: str
    time: np.ndarray
    feedback_time: np.ndarray  # (arms, decisions): when the label arrived; NaN: never
    y: np.ndarray
    segment: np.ndarray
    comparator: np.ndarray
    actions: np.ndarray
    feedback: dict[str, np.ndarray]
    #: The harm multiplier of each decision (1 except in a high-stakes region).
    stakes: np.ndarray | None = None
    #: With a user harm function: each arm's harm, and the comparator's, per decision.
    harm: np.ndarray | None = None
    comparator_harm: np.ndarray | None = None
    pools: dict = field(default_factory=dict)
    #: Per arm and decision: was a label asked for, how long it queued, the queue it met.
    requested: np.ndarray | None = None
    wait: np.ndarray | None = None
    queue: np.ndarray | None = None
    #: Per routed arm: overseer statistics; per consensus arm: its records.
    oversight: dict = field(default_factory=dict)
    consensus: dict = field(default_factory=dict)
    #: Per arm whose linear model the OGD bound covers: its learning events (lowstakes.linear).
    linear: dict = field(default_factory=dict)
    #: Per other arm: why no window guarantee applies (see lowstakes.guarantees).
    no_guarantee: dict = field(default_factory=dict)
    #: Filled by lowstakes.results.seed_metrics: per linear arm, its bound curves per window.
    guarantee_curves: dict = field(default_factory=dict)


def seed_sequence(master: int, n_seeds: int, seed: int) -> np.random.SeedSequence:
    """The SeedSequence of run-seed ``seed``: the same whatever the number of workers."""
    return np.random.SeedSequence(master).spawn(n_seeds)[seed]


def stakes_of(spec):
    """The per-block harm multiplier of a scenario's ``harm.stakes`` (None: all ones)."""
    if spec is None:
        return None
    if spec.function is not None:
        function = load_attribute(spec.function)
        return lambda block: np.asarray(function(block), dtype=np.float32)
    return lambda block: np.where(in_region(block.x, spec.region), spec.factor, 1.0)


def decisions_of_delay(timing) -> int:
    """For a fixed delay D and fixed spacing: the number of decisions taken after a
    decision before its feedback is in (the d of Weinberger & Ordentlich); 0 otherwise."""
    delay = timing.feedback_delay
    if delay.kind != "fixed" or timing.arrivals.every is None:
        return 0
    return max(0, math.ceil(delay.fixed / timing.arrivals.every - 1e-12) - 1)


def _seeds(scenario, seed):
    """The run-seed's streams of randomness: stream, timing, objectives (and query policies,
    experts), River models. Spawned children are positional, so adding one at the end left
    the first three, and every earlier result, unchanged."""
    return seed_sequence(scenario.seed, scenario.seeds, seed).spawn(4)


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


def _routed(scenario, learner_name) -> bool:
    """Whether an arm's feedback goes its own way (an overseer, a query policy, consensus)."""
    learner = scenario.learners[learner_name]
    return (scenario.timing.overseer is not None or learner.overseer is not None
            or learner.query is not None or learner.algorithm == "consensus")


class _Route:
    """One arm's way to its labels: which decisions it asks about, through its overseer."""

    def __init__(self, sim, j, scenario):
        self.sim, self.j = sim, j
        self.env, self.run = sim.env, sim.run
        self.policy = sim.policies[j]
        learner = scenario.learners[sim.arms[j][0]]
        self.query = None if learner.algorithm == "consensus" else build_query(learner.query)
        spec = self.spec = learner.overseer or scenario.timing.overseer
        self.overseer = None if spec is None else Overseer(self.env, spec.capacity, spec.patience)
        self.pending: dict[int, tuple[dict, int]] = {}

    def send(self, t, x, label, delay, draw):
        unit, u = draw
        service = 0.0 if self.spec is None else service_time(self.spec.service, unit)
        if self.query is None:
            wants = self.policy.asked[t]
        else:
            wants = self.query.wants(self.env.now, self.policy.confidence, u)
        if not wants:
            forget = getattr(self.policy, "forget", None)
            if forget is not None:
                forget(t)
            return
        self.run.requested[self.j, t] = True
        if self.overseer is not None:
            self.run.queue[self.j, t] = self.overseer.queue_length
        self.pending[t] = (x, label)
        if delay == 0:
            self.ask(t, service)
        else:
            _Feedback(self.env, delay, (t, service), lambda event: self.ask(*event.value))

    def ask(self, t, service):
        if self.overseer is None:
            self.answer(t)
        else:
            self.overseer.ask(t, service, self.answer, self.drop)

    def answer(self, t):
        x, label = self.pending.pop(t)
        self.policy.learn(t, x, label)
        self.run.feedback_time[self.j, t] = self.env.now
        if self.overseer is not None:
            self.run.wait[self.j, t] = self.overseer.waits.pop(t)

    def drop(self, t):
        self.pending.pop(t, None)
        forget = getattr(self.policy, "forget", None)
        if forget is not None:
            forget(t)

    def finish(self) -> dict:
        if self.overseer is None:
            return {}
        return {"capacity": self.overseer.resource.capacity,
                "busy_time": self.overseer.busy_until_now(), "dropped": self.overseer.dropped}


class _Simulation:
    def __init__(self, scenario, seed, progress=None):
        _, timing_seq, objective_seq, model_seq = _seeds(scenario, seed)
        model_seeds = {name: ModelSeeds(s) for name, s in
                       zip(scenario.learners, model_seq.spawn(len(scenario.learners)), strict=True)}
        policy_seq = objective_seq.spawn(1)[0]
        self.stream = stream_for(scenario, seed)
        self.timing = scenario.timing
        self.timing_rng = np.random.default_rng(timing_seq)
        self.harm = scenario.harm.matrix()
        self.stakes = stakes_of(scenario.harm.stakes)
        function = scenario.harm.function
        self.harm_function = None if function is None else load_attribute(function)
        self.comparator_kind = scenario.comparator
        self.objectives = {
            name: (build_feedback(o.feedback, o.params), np.random.default_rng(s))
            for (name, o), s in zip(scenario.objectives.items(),
                                    objective_seq.spawn(len(scenario.objectives)), strict=True)
        }
        self.arms = [(lname, oname) for lname in scenario.learners for oname in scenario.objectives]
        self.policies = [self.policy(scenario, lname, oname, np.random.default_rng(s),
                                     model_seeds[lname].fresh())
                         for (lname, oname), s in zip(self.arms, policy_seq.spawn(len(self.arms)),
                                                      strict=True)]
        self.pools = [j for j, p in enumerate(self.policies) if isinstance(p, ExpertPolicy)]
        self.learns = [self.policies[j].learn for j in range(len(self.arms))]
        self.progress = progress
        horizon = scenario.horizon
        # Labels and actions are classes (int8) or, for a regression source, real values.
        self.task = SOURCES.get(scenario.stream.source).task
        value = np.float64 if self.task == "regression" else np.int8
        self.run = SeedRun(
            seed=seed, arms=self.arms, task=self.task,
            time=np.empty(horizon), feedback_time=np.full((len(self.arms), horizon), np.nan),
            y=np.empty(horizon, value), segment=np.empty(horizon, np.int8),
            comparator=np.full(horizon, -1, value),
            actions=np.empty((len(self.arms), horizon), value),
            feedback={name: np.empty(horizon, value) for name in self.objectives},
            stakes=np.ones(horizon, np.float32),
            harm=None if self.harm_function is None else np.zeros((len(self.arms), horizon)),
            comparator_harm=None if self.harm_function is None else np.zeros(horizon),
            requested=np.zeros((len(self.arms), horizon), bool),
            wait=np.full((len(self.arms), horizon), np.nan, np.float32),
            queue=np.zeros((len(self.arms), horizon), np.int16),
        )
        self.env = simpy.Environment()
        self.query_rng = np.random.default_rng(timing_seq.spawn(1)[0])
        self.routes = {j: _Route(self, j, scenario) for j in range(len(self.arms))
                       if _routed(scenario, self.arms[j][0])}
        self.shared = [j for j in range(len(self.arms)) if j not in self.routes]
        self.shared_learns = [self.learns[j] for j in self.shared]
        self.shared_arrival = np.full(horizon, np.nan)
        self.consensus = [j for j, p in enumerate(self.policies) if isinstance(p, ImitationPolicy)]

    @staticmethod
    def policy(scenario, lname, oname, rng, model_seeds):
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
        if self.stakes is not None:
            run.stakes[span] = self.stakes(block)
        if block.noise is not None:  # regression: the oracle predicts the clean value
            run.comparator[span] = (block.labels[block.row, np.arange(len(block))]
                                    if self.comparator_kind == "oracle" else block.y)
        elif self.comparator_kind == "oracle":
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
        acts = [p.act for p in self.policies]
        shared = self.shared
        shared_learns = [self.learns[j] for j in shared]
        routes = list(self.routes.items())
        for block in self.stream.blocks(BLOCK):
            labels = self.record_block(block)
            span = slice(block.start, block.start + len(block))
            for j in self.pools:
                self.policies[j].begin_block(block, self.run.feedback[self.arms[j][1]][span], block.y,
                                             self.run.stakes[span])
            for j in self.consensus:
                self.policies[j].begin_block(block, self.run.feedback[self.arms[j][1]][span])
            gaps = self.gaps(len(block), first=block.start == 0).tolist()
            delays = self.delays(len(block))
            delays = None if delays is None else delays.tolist()
            draws = self.route_draws(len(block)) if routes else None
            # Per-decision values go to plain lists first: appending is cheaper than
            # writing numpy items one by one, and this loop runs once per decision.
            times, actions = [], [[] for _ in acts]
            if not routes and delays is None:
                # The common case, kept lean: every arm acts, then learns at once (arms
                # are independent, so each may learn right after its own action).
                for t, x, gap, arm_labels in zip(block.steps.tolist(), block.x, gaps, labels, strict=True):
                    if gap:
                        yield env.timeout(gap)
                    times.append(env.now)
                    for act, out, learn, label in zip(acts, actions, shared_learns, arm_labels, strict=True):
                        out.append(act(t, x))
                        learn(t, x, label)
            else:
                yield from self.general_loop(block, gaps, delays, labels, draws, times, actions)
            run.time[span] = times
            run.actions[:, span] = actions
            if delays is None:
                self.shared_arrival[span] = times
            run.requested[shared, span] = True
            if self.harm_function is not None:
                self.user_harm(block, span)
            for j in self.pools:
                self.policies[j].end_block(span.start, span.stop)
            if self.progress is not None:
                self.progress(len(block))

    def general_loop(self, block, gaps, delays, labels, draws, times, actions):
        """Decisions of one block when feedback is delayed or some arms have a route."""
        env, acts, shared = self.env, [p.act for p in self.policies], self.shared
        shared_learns, deliver = [self.learns[j] for j in shared], self.deliver
        routes = list(self.routes.items())
        if not routes:
            # Delayed feedback for every arm: one event per decision carries all labels.
            for t, x, gap, delay, arm_labels in zip(block.steps.tolist(), block.x, gaps, delays, labels,
                                                    strict=True):
                if gap:
                    yield env.timeout(gap)
                times.append(env.now)
                for act, out in zip(acts, actions, strict=True):
                    out.append(act(t, x))
                _Feedback(env, delay, (t, x, arm_labels), deliver)
            return
        for i, (t, x, gap, arm_labels) in enumerate(
                zip(block.steps.tolist(), block.x, gaps, labels, strict=True)):
            if gap:
                yield env.timeout(gap)
            times.append(env.now)
            for act, out in zip(acts, actions, strict=True):
                out.append(act(t, x))
            shared_labels = [arm_labels[j] for j in shared]
            if delays is None:
                for learn, label in zip(shared_learns, shared_labels, strict=True):
                    learn(t, x, label)
            elif shared:
                _Feedback(env, delays[i], (t, x, shared_labels), deliver)
            for j, route in routes:
                route.send(t, x, arm_labels[j], 0.0 if delays is None else delays[i], draws[i])

    def user_harm(self, block, span) -> None:
        """The user's harm of every arm's actions, and of the comparator's, for one block."""
        run, harm = self.run, self.harm_function
        for j in range(len(self.arms)):
            run.harm[j, span] = np.asarray(harm(run.actions[j, span], run.y[span], block), dtype=float)
        run.comparator_harm[span] = np.asarray(harm(run.comparator[span], run.y[span], block), dtype=float)

    def route_draws(self, n: int) -> list[tuple[float, float]]:
        """Per decision, shared by every arm: a unit-mean exponential that each overseer
        scales to its own service time, and a uniform draw for random query policies
        (common random numbers: arms differ by their overseer and policy, not by luck)."""
        unit = self.timing_rng.exponential(1.0, n)
        return list(zip(unit.tolist(), self.query_rng.random(n).tolist(), strict=True))

    def deliver(self, event):
        """Feedback arrives for the arms without a route: each learns its own objective's label."""
        t, x, labels = event.value
        for learn, label in zip(self.shared_learns, labels, strict=True):
            learn(t, x, label)
        # Every arm without a route hears at the same time; copied to their rows at the end.
        self.shared_arrival[t] = self.env.now

    def __call__(self) -> SeedRun:
        process = self.env.process(self.decisions())
        self.env.run(until=process)
        self.run.feedback_time[self.shared] = self.shared_arrival
        self.run.pools = {j: self.policies[j].finish() for j in self.pools}
        self.run.oversight = {j: route.finish() for j, route in self.routes.items()}
        for j, policy in enumerate(self.policies):
            if isinstance(policy, RecordedRiverPolicy | RecordedRegressionPolicy):
                self.run.linear[j] = policy.finish()
            elif isinstance(policy, RiverPolicy | RegressionPolicy):
                self.run.no_guarantee[j] = linear.support(policy.model)
        for j in self.consensus:
            records = self.run.consensus[j] = self.policies[j].finish()
            # Asked but never answered (dropped, or still queued at the end): the arm
            # acted on its own best model instead.
            unanswered = records["asked"] & np.isnan(self.run.feedback_time[j])
            self.run.actions[j, unanswered] = records["fallback"][unanswered]
        if self.comparator_kind == "best_constant":
            if self.task == "regression":  # the constant of least absolute error: a median
                self.run.comparator[:] = float(np.median(self.run.y))
            else:
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
