"""The SimPy simulation of one seed: decisions arrive, every arm acts, feedback comes back.

One :class:`simpy.Environment` per seed holds every arm, so all arms see the same
contexts, truths, arrival times and feedback delays (common random numbers): their
differences are caused by the learner and the objective alone.

SimPy is the simulation of record (``fast=False``). By default arms without a route skip
events altogether (:meth:`_Simulation.fast_loop`), and each routed arm runs on a
:class:`lowstakes.events.Calendar` of its own, which orders events exactly as SimPy does
without its objects (:meth:`_Simulation.routed_loop`): the same numbers to the last bit
(``tests/test_fast_paths.py``), in less time.

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

import contextlib
import gc
import heapq
from dataclasses import dataclass, field

import numpy as np
import simpy
from simpy.events import URGENT

from lowstakes.events import Calendar, Desk, FifoDesk
from lowstakes.learners import ModelSeeds
from lowstakes.objectives import build_feedback, in_region, least_cost_action
from lowstakes.oversight import All, Overseer, build_query
from lowstakes.policies import build_policy
from lowstakes.registry import load_attribute
from lowstakes.streams import SOURCES, Shift, Stream

__all__ = ["BlockRecord", "SeedInfo", "SeedRun", "run_seed", "simulate", "seed_sequence", "stream_for"]

BLOCK = 4096


@dataclass
class SeedRun:
    """Everything one seed recorded, one entry per decision (arrays, not dicts): the blocks
    of :func:`run_seed` put end to end, as :func:`simulate` returns them.

    ``actions[j]`` belongs to arm ``arms[j]`` = (learner, objective); ``feedback[name]``
    is the label objective ``name`` gave each decision; ``comparator`` is the
    comparator's action.
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
    #: Per routed arm: overseer statistics; per imitation arm: what it reported and its
    #: records per decision (query probability, asked, top-set size, fallback, defection).
    oversight: dict = field(default_factory=dict)
    consensus: dict = field(default_factory=dict)
    #: Per arm whose policy keeps records per decision (``Policy.end_block``): those arrays.
    records: dict = field(default_factory=dict)
    #: Per arm whose linear model the OGD bound covers: its learning events (lowstakes.linear).
    linear: dict = field(default_factory=dict)
    #: Per other arm: why no window guarantee applies (see lowstakes.guarantees).
    no_guarantee: dict = field(default_factory=dict)
    #: Per arm choosing among K actions from costs: what its policy reported (lowstakes.bandit_policies).
    bandits: dict = field(default_factory=dict)
    #: The first decision of these arrays (0: the whole run).
    start: int = 0


@dataclass
class BlockRecord(SeedRun):
    """One block of decisions (at most :data:`BLOCK`), with the same per-decision fields as
    :class:`SeedRun`; ``records[j]`` holds arm j's per-decision policy records.

    A block is handed on only once it is *settled*: all its decisions are taken and no
    label it asked for is still on its way (labels still in flight when the run ends are
    never learned, and settle then). Until then ``pending`` counts the labels on their way.
    """

    pending: int = 0
    shared_arrival: np.ndarray | None = None
    block: object = None


@dataclass
class SeedInfo:
    """What one seed knows only at its end: per arm, what its policy and route report."""

    seed: int
    arms: list[tuple[str, str]]
    task: str
    pools: dict = field(default_factory=dict)
    oversight: dict = field(default_factory=dict)
    consensus: dict = field(default_factory=dict)
    linear: dict = field(default_factory=dict)
    no_guarantee: dict = field(default_factory=dict)
    #: Per arm that chooses among K actions from costs (lowstakes.bandit_policies): its report.
    bandits: dict = field(default_factory=dict)
    #: The best constant action (``comparator: best_constant``), else None.
    constant: float | None = None


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


def later(env, delay, callback, value) -> None:
    """``callback(value)`` ``delay`` from now on ``env`` (a SimPy environment or a
    calendar), before any decision taken at that instant (URGENT)."""
    if isinstance(env, Calendar):
        env.schedule(delay, URGENT, callback, value)
    else:
        _Feedback(env, delay, value, callback)


class _Feedback(simpy.Event):
    """``callback(value)`` ``delay`` time units later on SimPy (see :func:`later`): delayed
    feedback, or a routed arm's request made once its delay has passed.

    Scheduled as URGENT so that feedback due at the same instant as a decision is
    learned first (see the module notes on time).
    """

    def __init__(self, env, delay, value, callback):
        super().__init__(env)
        self._ok = True
        self._value = value
        self._call = callback
        self.callbacks = [self._fire]
        env.schedule(self, URGENT, delay)

    def _fire(self, _event):
        self._call(self._value)


def needs_route(scenario, learner_name, policy) -> bool:
    """Whether an arm's feedback goes its own way: an overseer, a query policy, or a policy
    that chooses its own queries."""
    learner = scenario.learners[learner_name]
    return (scenario.timing.overseer is not None or learner.overseer is not None
            or learner.query is not None or policy.chooses_queries)


class _Route:
    """One arm's way to its labels: which decisions it asks about, through its overseer."""

    def __init__(self, sim, j, scenario):
        self.sim, self.j = sim, j
        # On the fast path each route has a calendar of its own: arms share nothing but the
        # stream, so an arm's events keep their order whatever the other arms do, and the
        # arm can take a whole block at once (_Simulation.routed_loop).
        self.env = Calendar() if sim.fast else sim.env
        self.policy = sim.policies[j]
        learner = scenario.learners[sim.arms[j][0]]
        self.query = None if self.policy.chooses_queries else build_query(learner.query)
        spec = learner.overseer or scenario.timing.overseer
        self.always = type(self.query) is All  # asks for every label: no need to ask the policy
        timing = scenario.timing
        #: The commonest route (every label through an overseer without patience, asked at
        #: its decision, decisions at fixed spacing) is worked out a block at a time, with no
        #: event per label (_Simulation.queued_loop); the others run on the calendar.
        self.fifo = (FifoDesk(spec.capacity)
                     if sim.fast and spec is not None and self.always and spec.patience is None
                     and timing.feedback_delay.kind == "none" and timing.arrivals.every is not None
                     else None)
        desk = Desk if sim.fast else Overseer
        self.overseer = (None if spec is None else self.fifo if self.fifo is not None else
                         desk(self.env, spec.capacity, spec.patience, self.answer, self.drop))
        #: Ask for a label: a request the overseer answers, or (no overseer) the label at once.
        #: What is asked about is the key (t, x, label, record), handed back with the answer.
        self.ask = (self.answer_now if self.overseer is None
                    else None if self.fifo is not None else self.overseer.ask)
        #: The current block's rows this arm asked about, and the queue each met: written
        #: into the record when the block's decisions are taken (a list append per decision
        #: costs less than two numpy item writes).
        self.asked: list[int] = []
        self.queued: list[int] = []
        self.forget = getattr(self.policy, "forget", None)
        service = None if spec is None else spec.service
        #: A service time: the decision's unit-mean exponential draw (shared by every arm, so
        #: overseers with different means share their luck) times the mean, or fixed.
        self._mean = None if service is None else service.exponential
        self._fixed = 0.0 if service is None else service.fixed

    def services(self, unit: np.ndarray) -> list[float]:
        """Each decision's service time, from its unit-mean exponential draw (the same
        product as mean * unit one decision at a time)."""
        return [self._fixed] * len(unit) if self._mean is None else (self._mean * unit).tolist()

    def send(self, t, x, label, delay, service, u, record, i):
        """Decision ``t`` (row ``i`` of ``record``) was taken: ask for its label, or not
        (``service``: its service time; ``u``: the uniform draw a random query policy uses)."""
        if self.always:
            wants = True
        elif self.query is None:
            wants = self.policy.wants_label(t)
        else:
            wants = self.query.wants(self.env.now, self.policy.confidence, u)
        if not wants:
            if self.forget is not None:
                self.forget(t)
            return
        self.asked.append(i)
        if self.overseer is not None:
            self.queued.append(len(self.overseer.queue))
        record.pending += 1
        if delay:
            later(self.env, delay, self.ask_later, ((t, x, label, record), service))
        else:
            self.ask((t, x, label, record), service)

    def write_block(self, record) -> None:
        """The block's decisions are taken: note in ``record`` which this arm asked about
        and the queue each met."""
        if self.fifo is not None:
            record.requested[self.j] = True
            record.queue[self.j] = self.queued
            return
        record.requested[self.j, self.asked] = True
        if self.overseer is not None:
            record.queue[self.j, self.asked] = self.queued
        self.asked, self.queued = [], []

    def ask_later(self, value):
        self.ask(*value)

    def answer_now(self, key, service):
        """No overseer: the label is made when asked for."""
        self.answer(key)

    def answer(self, key, wait=None):
        """The label of decision ``key = (t, x, label, record)`` is made (``wait``: how long it
        queued for the overseer)."""
        t, x, label, record = key
        self.policy.learn(t, x, label)
        i = t - record.start
        record.feedback_time[self.j, i] = self.env.now
        if wait is not None:
            record.wait[self.j, i] = wait
        record.pending -= 1

    def drop(self, key):
        """The request for decision ``key``'s label gave up: it is never learned."""
        t, _, _, record = key
        record.pending -= 1
        if self.forget is not None:
            self.forget(t)

    def answered(self, answers) -> list:
        """Note in their records the labels of ``answers`` (as :meth:`FifoDesk.block` returns
        them): when each was answered and how long it waited. Returns the keys in order."""
        keys, asked, start, finish = answers[:4]
        if not keys:
            return keys
        steps = np.fromiter((key[0] for key in keys), np.int64, len(keys))
        wait = start - asked
        blocks = steps // BLOCK
        for b in np.unique(blocks).tolist():
            mine = blocks == b
            record = self.sim.open[b]
            rows = steps[mine] - record.start
            record.feedback_time[self.j, rows] = finish[mine]
            record.wait[self.j, rows] = wait[mine]
            record.pending -= len(rows)
        return keys

    def end(self) -> None:
        """The decisions are over: on its own calendar, the events due now are processed
        as SimPy processes them before it notices the end (Calendar.end)."""
        if self.fifo is not None:
            learn = self.policy.learn
            for t, x, label in self.answered(self.fifo.end()):
                learn(t, x, label)
        elif self.env is not self.sim.env:
            self.env.end()

    def finish(self) -> dict:
        if self.overseer is None:
            return {}
        return {"capacity": self.overseer.capacity,
                "busy_time": self.overseer.busy_until_now(), "dropped": self.overseer.dropped}


class _Simulation:
    def __init__(self, scenario, seed, sink=None, progress=None, fast=True):
        _, timing_seq, objective_seq, model_seq = _seeds(scenario, seed)
        model_seeds = {name: ModelSeeds(s) for name, s in
                       zip(scenario.learners, model_seq.spawn(len(scenario.learners)), strict=True)}
        policy_seq = objective_seq.spawn(1)[0]
        self.stream = stream_for(scenario, seed)
        self.timing = scenario.timing
        self.timing_rng = np.random.default_rng(timing_seq)
        self.harm = scenario.harm_matrix()
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
        self.policies = [build_policy(scenario, lname, oname, np.random.default_rng(s),
                                      model_seeds[lname].fresh())
                         for (lname, oname), s in zip(self.arms, policy_seq.spawn(len(self.arms)),
                                                      strict=True)]
        self.learns = [self.policies[j].learn for j in range(len(self.arms))]
        self.progress = progress
        # Labels and actions are classes (int8) or, for a regression source, real values.
        self.task = SOURCES.get(scenario.stream.source).task
        self.value = (np.float64 if self.task == "regression"
                      else np.int8 if scenario.classes <= 127 else np.int16)
        self.seed = seed
        #: SimPy itself, or (``fast``) a calendar that only runs the arrivals process: on the
        #: fast path each routed arm's events go on the route's own calendar, and the other
        #: arms schedule none.
        self.env = Calendar() if fast else simpy.Environment()
        #: Run the decisions without SimPy's objects (:meth:`fast_loop`, :meth:`routed_loop`:
        #: the same numbers).
        self.fast = fast
        self.query_rng = np.random.default_rng(timing_seq.spawn(1)[0])
        self.routes = {j: _Route(self, j, scenario) for j in range(len(self.arms))
                       if needs_route(scenario, self.arms[j][0], self.policies[j])}
        self.shared = [j for j in range(len(self.arms)) if j not in self.routes]
        self.shared_learns = [self.learns[j] for j in self.shared]
        self.sink = sink if sink is not None else (lambda record: None)
        self.clock = 0.0
        self.heap: list = []
        #: Blocks decided or being decided whose labels may still be on their way, by index.
        self.open: dict[int, BlockRecord] = {}
        #: For the best constant comparator: how often each class was the truth (classification).
        self.class_counts = np.zeros(self.harm.shape[1], np.int64)
        self.regression_truths: list[np.ndarray] = []

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

    def new_record(self, block) -> tuple[BlockRecord, list[list]]:
        """The block's record with its truths, comparator and feedback filled in, and each
        arm's labels for the block's decisions (one list per arm)."""
        n, arms = len(block), len(self.arms)
        value = self.value
        record = BlockRecord(
            seed=self.seed, arms=self.arms, task=self.task, start=block.start,
            time=np.empty(n), feedback_time=np.full((arms, n), np.nan),
            y=np.asarray(block.y, value), segment=np.asarray(block.segment, np.int8),
            comparator=np.full(n, -1, value), actions=np.empty((arms, n), value),
            feedback={}, stakes=np.ones(n, np.float32),
            requested=np.zeros((arms, n), bool),
            wait=np.full((arms, n), np.nan, np.float32), queue=np.zeros((arms, n), np.int32),
            shared_arrival=np.full(n, np.nan), block=block)
        if self.stakes is not None:
            record.stakes[:] = self.stakes(block)
        if block.noise is not None:  # regression: the oracle predicts the clean value
            record.comparator[:] = (block.labels[block.row, np.arange(n)]
                                    if self.comparator_kind == "oracle" else block.y)
        elif self.comparator_kind == "oracle":
            record.comparator[:] = least_cost_action(self.harm, block.p)
        elif self.comparator_kind == "hindsight":
            record.comparator[:] = self.harm[:, block.y].argmin(axis=0)
        if self.comparator_kind == "best_constant":
            if self.task == "regression":
                self.regression_truths.append(record.y.copy())
            else:
                self.class_counts += np.bincount(record.y, minlength=len(self.class_counts))
        for name, (rule, rng) in self.objectives.items():
            record.feedback[name] = np.asarray(rule.feedback(block, rng), value)
        return record, [record.feedback[oname].tolist() for _, oname in self.arms]

    def decisions(self):
        """The arrivals process: each decision, every arm acts, and feedback is sent for."""
        env = self.env
        acts = [p.act for p in self.policies]
        shared = self.shared
        shared_learns = [self.learns[j] for j in shared]
        routes = list(self.routes.items())
        for block in self.stream.blocks(BLOCK):
            record, per_arm = self.new_record(block)
            labels = zip(*per_arm, strict=True)  # per decision, every arm's label
            self.open[block.start // BLOCK] = record
            for j, policy in enumerate(self.policies):
                policy.begin_block(block, record.feedback[self.arms[j][1]], record.y, record.stakes)
            gaps = self.gaps(len(block), first=block.start == 0).tolist()
            delays = self.delays(len(block))
            delays = None if delays is None else delays.tolist()
            draws = self.route_draws(len(block)) if routes else None
            # Per-decision values go to plain lists first: appending is cheaper than
            # writing numpy items one by one, and this loop runs once per decision.
            times, actions = [], [[] for _ in acts]
            if self.fast:
                self.fast_loop(block, gaps, delays, per_arm, times, actions, record)
                for j, route in routes:
                    if route.fifo is not None:
                        self.queued_loop(route, block, times, per_arm[j], draws, actions[j], record)
                    else:
                        self.routed_loop(route, block, gaps, delays, per_arm[j], draws, actions[j], record)
            elif not routes and delays is None:
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
                yield from self.general_loop(block, gaps, delays, labels, draws, times, actions, record)
            record.time[:] = times
            record.actions[:] = actions
            if delays is None:
                record.shared_arrival[:] = times
            record.requested[shared] = True
            for _, route in routes:
                route.write_block(record)
            for j, policy in enumerate(self.policies):
                policy_records = policy.end_block(block.start, block.start + len(block))
                if policy_records is not None:
                    record.records[j] = policy_records
            self.flush()
            if self.progress is not None:
                self.progress(len(block))

    def fast_loop(self, block, gaps, delays, per_arm, times, actions, record):
        """The arrival times of one block's decisions, and the decisions of the arms without
        a route: the same as the SimPy processes, to the last bit, without them. For these
        arms nothing but the arrivals and their feedback is ever scheduled, so the clock is a
        float advanced as SimPy advances its own (now + gap), and delayed feedback waits in a
        heap ordered as SimPy orders its events (time, then scheduling order). SimPy hands
        out feedback only when the arrivals process yields (a positive gap): at that point
        everything due up to the next decision's time is learned, first due first.

        Without delays, each arm takes the whole block (``Policy.take_block``), one arm
        after the other: an arm learns each label right after its own action, and arms share
        nothing but the stream, so the order in which arms take their turns changes no
        number (the test against ``fast=False`` on every bundled scenario holds this), and no
        per-decision tuple of every arm's label is built."""
        now = self.clock
        for gap in gaps:
            if gap:
                now = now + gap
            times.append(now)
        self.clock = now
        shared, heap = self.shared, self.heap
        if not shared:
            return
        outs, labels = [actions[j] for j in shared], [per_arm[j] for j in shared]
        steps, xs = block.steps.tolist(), block.x
        if delays is None:
            for j, out, arm_labels in zip(shared, outs, labels, strict=True):
                self.policies[j].take_block(steps, xs, arm_labels, out)
            return
        arms = [(self.policies[j].act, out.append) for j, out in zip(shared, outs, strict=True)]
        learns = self.shared_learns
        record.pending += len(block)
        # Each label arrives at now + delay, the sum SimPy computes; one still in flight at
        # the end is never learned, and its arrival is taken back then (_never_learned).
        record.shared_arrival[:] = np.add(times, delays)
        push, pop = heapq.heappush, heapq.heappop
        for t, x, gap, now, delay, arm_labels in zip(steps, xs, gaps, times, delays,
                                                     zip(*labels, strict=True),
                                                     strict=True):
            if gap:
                while heap and heap[0][0] <= now:
                    _, _, s, context, due, owner = pop(heap)
                    for learn, label in zip(learns, due, strict=True):
                        learn(s, context, label)
                    owner.pending -= 1
            for act, append in arms:
                append(act(t, x))
            push(heap, (now + delay, t, t, x, arm_labels, record))

    def routed_loop(self, route, block, gaps, delays, labels, draws, out, record):
        """One routed arm's decisions over a whole block, on the route's own calendar: the
        calendar advances as the SimPy process does (a timeout per positive gap, which
        processes every event due before it), the arm acts, and the route asks for the
        label. Arms share nothing but the stream, so taking them one after another gives
        each arm's events the order they have in the one SimPy environment of record
        (the test against ``fast=False`` on every bundled scenario holds this)."""
        timeout, act, send, append = route.env.timeout, route.policy.act, route.send, out.append
        unit, uniform = draws
        delays = [0.0] * len(block) if delays is None else delays
        for i, (t, x, gap, label, delay, service, u) in enumerate(zip(
                block.steps.tolist(), block.x, gaps, labels, delays, route.services(unit), uniform,
                strict=True)):
            if gap:
                timeout(gap)
            append(act(t, x))
            send(t, x, label, delay, service, u, record, i)

    def queued_loop(self, route, block, times, labels, draws, out, record):
        """One arm's decisions over a whole block through a :class:`FifoDesk`: when each
        label is answered is worked out first (the same as the desk on its calendar, to the
        last bit), then the arm takes the block, learning each label before the first
        decision that comes after it (``Policy.take_queued``)."""
        steps = block.steps.tolist()
        record.pending += len(steps)
        keys = list(zip(steps, block.x, labels, strict=True))
        queue, answers = route.fifo.block(times, route.services(draws[0]), keys)
        route.queued = queue
        learned = route.answered(answers)
        route.policy.take_queued(steps, block.x, out, learned, answers[4].tolist())

    def _never_learned(self) -> None:
        """The decisions are over: the shared arms' labels still in flight (fast path) never
        arrive."""
        for _, _, s, _, _, owner in self.heap:
            owner.shared_arrival[s - owner.start] = np.nan
        self.heap.clear()

    def general_loop(self, block, gaps, delays, labels, draws, times, actions, record):
        """Decisions of one block through SimPy when feedback is delayed or some arms have a
        route: the simulation of record, which the fast path (:meth:`fast_loop`,
        :meth:`routed_loop`) reproduces."""
        env, acts, shared = self.env, [p.act for p in self.policies], self.shared
        shared_learns, deliver = [self.learns[j] for j in shared], self.deliver
        unit, uniform = draws if draws is not None else (None, None)
        sends = [(j, route.send, route.services(unit)) for j, route in self.routes.items()]
        if not sends:
            # Delayed feedback for every arm: one event per decision carries all labels.
            for t, x, gap, delay, arm_labels in zip(block.steps.tolist(), block.x, gaps, delays, labels,
                                                    strict=True):
                if gap:
                    yield env.timeout(gap)
                times.append(env.now)
                for act, out in zip(acts, actions, strict=True):
                    out.append(act(t, x))
                later(env, delay, deliver, (t, x, arm_labels, record))
            record.pending += len(block)
            return
        for i, (t, x, gap, arm_labels) in enumerate(
                zip(block.steps.tolist(), block.x, gaps, labels, strict=True)):
            if gap:
                yield env.timeout(gap)
            times.append(env.now)
            for act, out in zip(acts, actions, strict=True):
                out.append(act(t, x))
            if shared:
                shared_labels = [arm_labels[j] for j in shared]
                if delays is None:
                    for learn, label in zip(shared_learns, shared_labels, strict=True):
                        learn(t, x, label)
                else:
                    later(env, delays[i], deliver, (t, x, shared_labels, record))
                    record.pending += 1
            delay = 0.0 if delays is None else delays[i]
            for j, send, services in sends:
                send(t, x, arm_labels[j], delay, services[i], uniform[i], record, i)

    def route_draws(self, n: int) -> tuple[np.ndarray, list[float]]:
        """Per decision, shared by every arm: a unit-mean exponential that each overseer
        scales to its own service time, and a uniform draw for random query policies
        (common random numbers: arms differ by their overseer and policy, not by luck)."""
        unit = self.timing_rng.exponential(1.0, n)
        return unit, self.query_rng.random(n).tolist()

    def deliver(self, value):
        """Feedback arrives for the arms without a route: each learns its own objective's label."""
        t, x, labels, record = value
        for learn, label in zip(self.shared_learns, labels, strict=True):
            learn(t, x, label)
        # Every arm without a route hears at the same time; copied to their rows when settled.
        record.shared_arrival[t - record.start] = self.env.now
        record.pending -= 1

    # -- settling ------------------------------------------------------------------------

    def flush(self, final: bool = False) -> None:
        """Hand on, in order, every decided block with no label on its way (all of them
        once the run is over: what is still on its way then is never learned)."""
        while self.open:
            index = min(self.open)
            record = self.open[index]
            # Called after a block's decisions: every open block is decided by then.
            if not final and record.pending:
                return
            del self.open[index]
            self.settle(record)
            self.sink(record)

    def settle(self, record) -> None:
        """Complete a block's record: the shared arms' feedback times, the imitators'
        fallbacks, the user's harm."""
        record.feedback_time[self.shared] = record.shared_arrival
        record.shared_arrival = None
        for j, policy in enumerate(self.policies):
            policy.settle(record.actions[j], record.records.get(j), ~np.isnan(record.feedback_time[j]))
        if self.harm_function is not None:
            block, harm = record.block, self.harm_function
            record.harm = np.stack([np.asarray(harm(record.actions[j], record.y, block), dtype=float)
                                    for j in range(len(self.arms))])
            record.comparator_harm = np.asarray(harm(record.comparator, record.y, block), dtype=float)
        record.block = None

    def __call__(self) -> SeedInfo:
        process = self.env.process(self.decisions())
        self.env.run(until=process)
        for route in self.routes.values():
            route.end()
        self._never_learned()
        self.flush(final=True)
        info = SeedInfo(seed=self.seed, arms=self.arms, task=self.task)
        info.oversight = {j: route.finish() for j, route in self.routes.items()}
        for j, policy in enumerate(self.policies):
            out = policy.finish()
            kind = out.pop("kind")
            if kind == "pool":
                info.pools[j] = out
            elif kind == "imitation":
                info.consensus[j] = out
            elif kind == "linear":
                info.linear[j] = out["records"]
            elif kind == "bandit":
                info.bandits[j] = out
            elif kind == "model" and out["no_guarantee"] is not None:
                info.no_guarantee[j] = out["no_guarantee"]
        if self.comparator_kind == "best_constant":
            info.constant = best_constant(self.task, self.harm, self.class_counts, self.regression_truths)
        return info


def best_constant(task, harm, class_counts, truths):
    """The best single action in hindsight: for regression the constant of least absolute
    error (a median of the truths), else the action of least summed cost."""
    if task == "regression":
        return float(np.median(np.concatenate(truths)))
    return int(np.argmin(harm @ class_counts))


def run_seed(scenario, seed: int, sink, progress=None, fast: bool = True) -> SeedInfo:
    """Run every arm of ``scenario`` on run-seed ``seed``, handing each settled block's
    :class:`BlockRecord` to ``sink`` in order; return what is known only at the end.

    With ``comparator: best_constant`` the blocks' ``comparator`` is not filled in (the
    constant is known only at the end): it is ``SeedInfo.constant``.
    """
    if not 0 <= seed < scenario.seeds:
        raise ValueError(f"seed must be in 0..{scenario.seeds - 1}, got {seed}")
    with _collect_only_new_objects():
        info = _Simulation(scenario, seed, sink, progress, fast)()
    return info


@contextlib.contextmanager
def _collect_only_new_objects():
    """Keep the objects that exist before the seed starts (modules, River's classes, the
    caller's data: 10^5 or more) out of the garbage collector's full passes while it runs.

    A run keeps each block's contexts, labels and records alive for a while, so Python's
    collector now and then walks every object in the process; one such pass costs as much
    as thousands of decisions and lands in whichever block it falls on (a 10% swing from
    one run to the next on the 50,000-decision benchmark). ``gc.freeze`` moves the objects
    alive now to a generation that is never collected; ``gc.unfreeze`` gives them back at
    the end, so nothing is lost, only collected later. Just before that, one collection
    walks only the seed's own objects (well under a millisecond) and frees its simulation,
    policies and records, which refer to each other in cycles: left to a later full pass,
    they stayed in memory and fragmented it for whatever ran next (the next seed, or the
    next loop of a benchmark, which measured up to 5% slower for it). If the caller has
    frozen objects itself, their setting is left alone.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()  # the seed's own cycles (a route and its simulation, a model and its hook)
        gc.unfreeze()


def simulate(scenario, seed: int, progress=None, fast: bool = True) -> SeedRun:
    """Run every arm of ``scenario`` on run-seed ``seed`` (0 .. scenario.seeds - 1) and
    return the whole seed's records in memory (for analysis and tests; long runs go
    through :func:`run_seed`, block by block).

    ``progress``, if given, is called with the number of decisions just finished.
    ``fast=False`` runs every event through SimPy's own objects (the same numbers, slower:
    for the tests that say so).
    """
    blocks: list[BlockRecord] = []
    info = run_seed(scenario, seed, blocks.append, progress, fast)
    return assemble(blocks, info)


def assemble(blocks: list[BlockRecord], info: SeedInfo) -> SeedRun:
    """The blocks of one seed end to end, as one :class:`SeedRun`."""
    def joined(name, axis=0):
        return np.concatenate([getattr(b, name) for b in blocks], axis=axis)

    run = SeedRun(seed=info.seed, arms=info.arms, task=info.task, time=joined("time"),
                  feedback_time=joined("feedback_time", 1), y=joined("y"), segment=joined("segment"),
                  comparator=joined("comparator"), actions=joined("actions", 1),
                  feedback={name: np.concatenate([b.feedback[name] for b in blocks])
                            for name in blocks[0].feedback},
                  stakes=joined("stakes"), requested=joined("requested", 1), wait=joined("wait", 1),
                  queue=joined("queue", 1), pools=info.pools, oversight=info.oversight,
                  linear=info.linear, no_guarantee=info.no_guarantee, bandits=info.bandits)
    if blocks[0].harm is not None:
        run.harm, run.comparator_harm = joined("harm", 1), joined("comparator_harm")
    if info.constant is not None:
        run.comparator[:] = info.constant
    for j in blocks[0].records:
        run.records[j] = {name: np.concatenate([b.records[j][name] for b in blocks])
                          for name in blocks[0].records[j]}
    for j, finished in info.consensus.items():
        run.consensus[j] = {"defection": None, **finished, **run.records[j]}
    return run
