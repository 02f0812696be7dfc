"""One seed's summary metrics, computed block by block as the simulation settles them.

A run of 10^7 decisions cannot keep its per-decision arrays: :class:`SeedMetrics` takes
each settled :class:`~lowstakes.simulation.BlockRecord` in order, folds it into
accumulators whose size does not grow with the horizon (:mod:`lowstakes.accumulate`),
and forgets it. What it returns at the end is what :func:`lowstakes.results.seed_metrics`
returned from whole arrays: the same numbers (recoveries, bursts and counts exactly;
sums up to float rounding, since a sum over blocks adds in another order than numpy's
pairwise sum over one array).

It also keeps the *curves* the figures need, at a few hundred points per arm
(:data:`CURVE_POINTS`): cumulative regret, the trailing excess harm around each shift,
the query rate and the overseer's queue.
"""

from __future__ import annotations

import bisect
from collections import Counter

import numpy as np
import pyarrow as pa

from lowstakes import accumulate, audit, comparators, guarantees, linear, metrics, regret
from lowstakes.errors import HarmBoundError

__all__ = ["SeedMetrics", "block_arrays", "CURVES_SCHEMA", "CURVE_POINTS"]

#: Points per curve kept for the figures.
CURVE_POINTS = 600

CURVES_SCHEMA = pa.schema([("seed", pa.int32()), ("learner", pa.string()), ("objective", pa.string()),
                           ("curve", pa.string()), ("step", pa.int64()), ("value", pa.float64())])


def block_arrays(record, scenario, j: int) -> dict[str, np.ndarray]:
    """Per-decision harm, comparator harm and feedback loss of arm ``j`` in ``record`` (a
    block, or a whole seed); checks every harm.

    Classification: costs from the matrices. Regression: the absolute error, clipped at B.
    With ``harm.function``: what the user's function returned. All are multiplied by each
    decision's stakes.
    """
    learner, objective = record.arms[j]
    actions, bound = record.actions[j], scenario.harm.bound
    if record.harm is not None:  # the user's harm function
        objective_costs = scenario.costs_of(objective)
        harm, comparator = record.harm[j] * record.stakes, record.comparator_harm * record.stakes
        feedback = record.feedback[objective]
        feedback_loss = (objective_costs[actions, feedback] if record.task == "classification"
                         else np.minimum(np.abs(actions - feedback), bound))
    elif record.task == "regression":
        def loss(a, truth):
            return np.minimum(np.abs(a - truth), bound)

        harm = loss(actions, record.y) * record.stakes
        comparator = loss(record.comparator, record.y) * record.stakes
        feedback_loss = loss(actions, record.feedback[objective])
    else:
        harm_costs = scenario.harm_matrix()
        objective_costs = scenario.costs_of(objective)
        harm = harm_costs[actions, record.y] * record.stakes
        comparator = harm_costs[record.comparator, record.y] * record.stakes
        feedback_loss = objective_costs[actions, record.feedback[objective]]
    bad = np.flatnonzero((harm < 0) | (harm > bound))
    if len(bad):
        i = int(bad[0])
        raise HarmBoundError(
            f"arm {learner}/{objective}, seed {record.seed}: decision {record.start + i} did harm {harm[i]}, "
            f"outside [0, B={bound}] ({len(bad)} such decisions); "
            "the run is not low-stakes as declared"
        )
    return {"harm": harm, "comparator_harm": comparator, "feedback_loss": feedback_loss}


def curve_steps(horizon: int, points: int = CURVE_POINTS) -> np.ndarray:
    """The decisions at which a whole-run curve is kept."""
    return np.unique(np.linspace(0, horizon - 1, min(points, horizon)).astype(int))


class _AtSteps:
    """The cumulative sum of a series (from its first value), kept at chosen steps: the
    sum up to and including each step. ``np.cumsum`` adds in order, so continuing it from
    the last block's total gives the numbers one cumulative sum would."""

    def __init__(self, steps):
        self.steps = np.asarray(steps, dtype=np.int64)
        self.values: list[float] = []
        self.total = 0.0

    def add(self, start: int, values: np.ndarray) -> None:
        cumulative = np.cumsum(np.r_[self.total, values])[1:]
        lo, hi = np.searchsorted(self.steps, [start, start + len(values)])
        self.values += cumulative[self.steps[lo:hi] - start].tolist()
        self.total = float(cumulative[-1])  # blocks are never empty


class _Trailing:
    """The trailing mean over ``width`` values (shorter at the start; as
    :func:`lowstakes.metrics.rolling_mean`), kept at chosen steps, from the last ``width``
    cumulative sums."""

    def __init__(self, steps, width: int):
        self.steps = np.asarray(steps, dtype=np.int64)
        self.width = width
        self.tail = np.zeros(1)  # cumulative sums C[i - len(tail) + 1 .. i] before the block, C[0] = 0
        self.values: list[float] = []

    def add(self, start: int, values: np.ndarray) -> None:
        n = len(values)
        if not n:
            return
        full = np.r_[self.tail, np.cumsum(np.r_[self.tail[-1], values])[1:]]
        offset = start + 1 - len(self.tail)  # full[i] is C[offset + i]
        lo, hi = np.searchsorted(self.steps, [start, start + n])
        ends = self.steps[lo:hi] + 1
        begins = np.maximum(ends - self.width, 0)
        self.values += ((full[ends - offset] - full[begins - offset]) / (ends - begins)).tolist()
        self.tail = full[-(self.width + 1):]


class _SpanCounts:
    """Sums of a per-decision series over fixed spans [start, end)."""

    def __init__(self, spans):
        self.spans = list(spans)
        self.sums = [0.0] * len(self.spans)

    def add(self, start: int, values: np.ndarray) -> None:
        stop = start + len(values)
        for k, (a, b) in enumerate(self.spans):
            lo, hi = max(a, start), min(b, stop)
            if lo < hi:
                self.sums[k] += float(values[lo - start:hi - start].sum())


class _WindowCheckpoints:
    """The excess harm summed from each window's start to each of its checkpoints (for the
    linear arms' curves: :func:`lowstakes.guarantees.seed_guarantee`)."""

    def __init__(self, spans):
        self.spans = list(spans)
        self.checkpoints = linear.checkpoints(self.spans)
        self.carry = [0.0] * len(self.spans)
        self.values: list[list[float]] = [[] for _ in self.spans]

    def add(self, start: int, excess: np.ndarray) -> None:
        stop = start + len(excess)
        for k, ((a, b), steps) in enumerate(zip(self.spans, self.checkpoints, strict=True)):
            lo, hi = max(a, start), min(b, stop)
            if lo >= hi:  # the window is not in this block (windows are never empty)
                continue
            cumulative = np.cumsum(np.r_[self.carry[k], excess[lo - start:hi - start]])
            # cumulative[i] is the sum over [a, lo + i); record each checkpoint once.
            upper = hi + 1 if hi == b else hi
            chosen = steps[(steps >= lo) & (steps < upper)]
            self.values[k] += cumulative[chosen - lo].tolist()
            self.carry[k] = float(cumulative[-1])


class _Median:
    """The median of a series with few distinct values (per decision: its stakes times its
    worst cost), from value counts."""

    def __init__(self):
        self.counts: Counter = Counter()

    def add(self, values: np.ndarray) -> None:
        distinct, counts = np.unique(values, return_counts=True)
        self.counts.update(dict(zip(distinct.tolist(), counts.tolist(), strict=True)))

    def result(self) -> float:
        keys = sorted(self.counts)
        cumulative = np.cumsum([self.counts[k] for k in keys])
        n = int(cumulative[-1])

        def nth(i):  # the i-th smallest value, 0-based
            return keys[bisect.bisect_right(cumulative.tolist(), i)]

        if n % 2:
            return float(nth(n // 2))
        return float(np.mean([nth(n // 2 - 1), nth(n // 2)]))


class _Arm:
    """Everything one arm accumulates on one seed."""

    def __init__(self, scenario, j, learner, spans, shifts):
        horizon, w, bound = scenario.horizon, scenario.windows, scenario.harm.bound
        self.j = j
        self.totals = {"harm": 0.0, "comparator_harm": 0.0, "regret": 0.0, "feedback_loss": 0.0}
        self.windows = accumulate.Windows(shifts, horizon, w.length, w.smoothing, w.tolerance, bound)
        self.k = audit.reaction_time(scenario, learner)
        self.burst = accumulate.Burst(self.k, self.k if self.k < horizon else 0)
        self.top = accumulate.TopShare(horizon)
        self.harm_totals = accumulate.HarmTotals(scenario.audit.catastrophe)
        window_spans = [(start, end) for start, end in spans]
        self.queries_in = _SpanCounts(window_spans)
        self.queries_before = _SpanCounts([(max(0, s - (e - s)), s) for s, e in window_spans])
        self.queries = self.labels = 0
        self.wait_sum, self.waits, self.max_queue = 0.0, 0, 0
        self.query_probability = 0.0
        #: For a learner that explores (lowstakes.bandit_policies): decisions where it did not
        #: take its own greedy choice, and the harm they did.
        self.exploration: dict | None = None
        #: For a learner among K actions: its objective's costs and the m-switch comparator
        #: of the actions (m: the number of shifts, at least 1), fed the feedback's costs.
        self.actions = None
        self.scenario, self.shifts = scenario, shifts
        self.delayed = False
        self.deception = None
        self.true_cost = _WindowCheckpoints(spans)
        steps = curve_steps(horizon)
        self.regret_curve = _AtSteps(steps)
        self.query_rate = _Trailing(steps, w.smoothing)
        self.queue = _Trailing(steps, w.smoothing)
        self.transition = []
        for at, (_, end) in zip(shifts, spans, strict=True):
            lo = max(0, at - max(w.smoothing, (end - at) // 4))
            self.transition.append(_Trailing(np.unique(np.linspace(lo, end - 1, min(CURVE_POINTS, end - lo))
                                                       .astype(int)), w.smoothing))

    def add(self, record, a) -> None:
        j, start = self.j, record.start
        excess = a["harm"] - a["comparator_harm"]
        self.totals["harm"] += float(a["harm"].sum())
        self.totals["comparator_harm"] += float(a["comparator_harm"].sum())
        self.totals["regret"] += float(excess.sum())
        self.totals["feedback_loss"] += float(a["feedback_loss"].sum())
        self.windows.add(excess)
        for accumulator in (self.burst, self.top, self.harm_totals):
            accumulator.add(a["harm"])
        requested = record.requested[j]
        self.queries_in.add(start, requested)
        self.queries_before.add(start, requested)
        self.queries += int(requested.sum())
        arrived = ~np.isnan(record.feedback_time[j])
        self.labels += int(arrived.sum())
        waits = record.wait[j][~np.isnan(record.wait[j])]
        self.wait_sum += float(waits.astype(float).sum())
        self.waits += len(waits)
        self.max_queue = max(self.max_queue, int(record.queue[j].max(initial=0)))
        self.delayed = self.delayed or bool(np.any(record.feedback_time[j] != record.time))
        self.true_cost.add(start, excess)
        self.regret_curve.add(start, excess)
        self.query_rate.add(start, requested.astype(float))
        self.queue.add(start, record.queue[j].astype(float))
        for trailing in self.transition:
            trailing.add(start, excess)
        records = record.records.get(j)
        if records is not None and "explored" in records:
            explored = records["explored"]
            e = self.exploration = self.exploration or {"decisions": 0, "harm": 0.0}
            e["decisions"] += int(explored.sum())
            e["harm"] += float(a["harm"][explored].sum())
            if self.actions is None:  # the best action and action sequence, on the arm's feedback
                costs = self.scenario.costs_of(record.arms[j][1])
                self.actions = (costs, comparators.Switching(costs.shape[0], max(1, len(self.shifts))))
            costs, switching = self.actions
            switching.add(costs[:, record.feedback[record.arms[j][1]]].T)
        if records is not None and "query_prob" in records:
            self.query_probability += float(records["query_prob"].sum())
            if records.get("defection") is not None:
                self._add_deception(records, record.actions[j], a["harm"], start)

    def _add_deception(self, records, actions, harm, start) -> None:
        d = self.deception = self.deception or {
            "defections": 0, "deceptive_actions": 0, "deceptive_harm": 0.0, "asked_at_defections": 0,
            "query_probability_sum": 0.0, "first": None, "first_query_probability": None}
        defection = records["defection"]
        at = defection >= 0
        took = at & (actions == defection)
        d["defections"] += int(at.sum())
        d["deceptive_actions"] += int(took.sum())
        d["deceptive_harm"] += float(harm[took].sum())
        d["asked_at_defections"] += int(records["asked"][at].sum())
        d["query_probability_sum"] += float(records["query_prob"][at].sum())
        if d["first"] is None and at.any():
            i = int(np.argmax(at))
            d["first"], d["first_query_probability"] = start + i, float(records["query_prob"][i])


class SeedMetrics:
    """One seed's metrics, fed settled blocks in order by :meth:`add`, read by :meth:`finish`.

    ``constant``: with ``comparator: best_constant``, the constant (the blocks were
    recorded without it).
    """

    def __init__(self, scenario, seed: int, arms, constant=None):
        self.scenario, self.seed, self.arms = scenario, seed, list(arms)
        self.shifts = [s.at for s in scenario.stream.shifts]
        self.spans = metrics.transition_spans(self.shifts, scenario.horizon, scenario.windows.length)
        self.constant = constant
        self.per_arm = [_Arm(scenario, j, learner, self.spans, self.shifts)
                        for j, (learner, _) in enumerate(self.arms)]
        self.worst = _Median()
        self.user_harm = False
        self.last_time = 0.0
        self.seen = 0

    def add(self, record) -> list[dict]:
        """Fold in the next settled block; return each arm's harm, comparator harm and
        feedback loss per decision (:func:`block_arrays`, for the trace)."""
        if record.start != self.seen:
            raise ValueError(f"blocks out of order: expected decision {self.seen}, got {record.start}")
        if self.constant is not None:
            record.comparator[:] = self.constant
        scenario = self.scenario
        self.user_harm = record.harm is not None
        if not self.user_harm:
            if record.task == "regression":
                worst = np.full(len(record.y), scenario.harm.bound)
            else:
                worst = scenario.harm_matrix()[:, record.y].max(axis=0)
            self.worst.add(worst * record.stakes)
        arrays = [block_arrays(record, scenario, arm.j) for arm in self.per_arm]
        for arm, a in zip(self.per_arm, arrays, strict=True):
            arm.add(record, a)
        self.last_time = float(record.time[-1])
        self.seen += len(record.time)
        return arrays

    def typical_worst(self) -> float | None:
        """The most harm the median decision of the run could do: its stakes times its worst
        cost (None with a user harm function, whose worst is not known)."""
        return None if self.user_harm else self.worst.result()

    def finish(self, info) -> list[dict]:
        """One dict per arm: this seed's totals and transition windows (and, for expert arms,
        regret against the experts and the bounds that apply). ``info``: the seed's
        :class:`~lowstakes.simulation.SeedInfo`."""
        scenario, horizon = self.scenario, self.scenario.horizon
        typical = self.typical_worst()
        self.guarantee_curves = {}
        out = []
        for arm in self.per_arm:
            j = arm.j
            windows = arm.windows.result()
            pool = ({"pool": regret.pool_seed_metrics(info.pools[j], scenario, self.spans, arm.delayed)}
                    if j in info.pools else {})
            # A label never learned counts as late (its feedback time is NaN); every arm among K
            # actions records whether it explored, so it has its comparators.
            bandit = ({"bandit": regret.bandit_seed_metrics(info.bandits[j], arm.actions[1], arm.totals,
                                                            scenario, arm.delayed)}
                      if j in info.bandits else {})
            guarantee, curves = guarantees.seed_guarantee(info, j, self.spans, horizon, arm.true_cost.values,
                                                          pool.get("pool"), arm.delayed)
            if curves is not None:
                self.guarantee_curves[j] = curves
            totals = arm.harm_totals
            stats = audit.HarmStats(n=totals.n, total=totals.total, largest=totals.max,
                                    harmful=totals.harmful, top_share=arm.top.result(),
                                    burst=arm.burst.result(), catastrophes=totals.catastrophes)
            for k, w in enumerate(windows):
                w["queries"] = int(arm.queries_in.sums[k])
                w["queries_before"] = int(arm.queries_before.sums[k])
            out.append({
                "seed": self.seed,
                **arm.totals,
                "audit": audit.audit_of(stats, scenario.harm.bound, scenario.audit, arm.k,
                                        sum(w["cost"] for w in windows) if windows else None, typical),
                **self._oversight(arm, info),
                **self._deception(arm, info),
                **({"exploration": arm.exploration} if arm.exploration is not None else {}),
                **bandit,
                "windows": windows,
                **pool,
                "guarantee": guarantee,
            })
        return out

    def _oversight(self, arm, info) -> dict:
        """Labels asked for and received, and, with an overseer, its queue and utilisation."""
        out = {"queries": arm.queries, "labels": arm.labels}
        stats = info.oversight.get(arm.j)
        if stats:
            out |= {"dropped": stats["dropped"],
                    # Busy time over the labellers' time from the first decision to the last.
                    "utilisation": stats["busy_time"] / (stats["capacity"] * max(self.last_time, 1e-12)),
                    "mean_wait": arm.wait_sum / arm.waits if arm.waits else None,
                    "max_queue": arm.max_queue}
        if arm.j in info.consensus:
            out["mean_query_probability"] = arm.query_probability / self.seen
        return out

    def _deception(self, arm, info) -> dict:
        """For an imitation arm whose pool has deceptive experts: at the decisions where one of
        them defected, how often the arm took the defecting action (and the harm it did), and
        how likely it was to ask the overseer there."""
        finished = info.consensus.get(arm.j)
        if finished is None or not finished.get("deceptive"):
            return {}
        d = arm.deception  # every block of a pool with deceptive models records their defections
        return {"deception": {
            "defections": d["defections"], "deceptive_actions": d["deceptive_actions"],
            "deceptive_harm": d["deceptive_harm"], "algorithm": finished["algorithm"],
            "asked_at_defections": d["asked_at_defections"],
            "query_probability_at_defections": (d["query_probability_sum"] / d["defections"]
                                                if d["defections"] else None),
            "query_probability_at_first_defection": d["first_query_probability"],
            "first_defection": d["first"]}}

    def curves(self) -> pa.Table:
        """The figures' curves of every arm on this seed (CURVES_SCHEMA)."""
        rows = {f.name: [] for f in CURVES_SCHEMA}

        def put(learner, objective, curve, steps, values):
            n = len(values)
            rows["seed"] += [self.seed] * n
            rows["learner"] += [learner] * n
            rows["objective"] += [objective] * n
            rows["curve"] += [curve] * n
            rows["step"] += [int(s) for s in steps[:n]]
            rows["value"] += [float(v) for v in values]

        for arm, (learner, objective) in zip(self.per_arm, self.arms, strict=True):
            put(learner, objective, "regret", arm.regret_curve.steps, arm.regret_curve.values)
            put(learner, objective, "query_rate", arm.query_rate.steps, arm.query_rate.values)
            put(learner, objective, "queue", arm.queue.steps, arm.queue.values)
            for k, trailing in enumerate(arm.transition):
                put(learner, objective, f"transition_{k}", trailing.steps, trailing.values)
        return pa.table(rows, schema=CURVES_SCHEMA)
