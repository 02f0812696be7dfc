"""Learners: River classifiers that act by least expected cost and learn from feedback.

Examples
--------
>>> from lowstakes.objectives import cost_matrix
>>> policy = RiverPolicy.build("linear_model.LogisticRegression",
...                            preprocess=[("preprocessing.StandardScaler", {})],
...                            costs=cost_matrix())
>>> policy.act(0, {"a": 1.0})          # an untrained model is indifferent: ties go to action 0
0
>>> for t in range(50):
...     policy.learn(t, {"a": 1.0}, 1)
>>> policy.act(50, {"a": 1.0})
1
"""

from __future__ import annotations

import inspect

import numpy as np
from river import bandit, compose

from lowstakes.linear import LinearRecorder, support
from lowstakes.protocol import Policy
from lowstakes.registry import check_params, resolve_river, resolves_to

__all__ = ["RiverPolicy", "MulticlassPolicy", "RegressionPolicy", "RecordedRiverPolicy",
           "RecordedRegressionPolicy",
           "ModelSeeds", "build_model"]


class ModelSeeds:
    """Seeds for the River objects of one learner in one run-seed.

    River models that draw random numbers (forests, bagging, ``RBFSampler``...) take a
    ``seed`` whose default, None, gives a different model on every run. Each object built
    that takes a ``seed`` not given in the scenario gets the next seed of this sequence, so a
    run-seed is reproducible and different run-seeds see different model randomness (their
    CIs include it). The simulation makes one per learner and run-seed and builds every arm
    of the learner from a fresh copy: the same learner under each objective gets the same
    seeds, and the objective is the only difference between its arms. A ``seed`` written in
    the scenario is used as it is, in every run-seed.

    >>> seeds = ModelSeeds(np.random.SeedSequence(7))
    >>> first = build_model("forest.ARFClassifier", {"n_models": 2}, seeds=seeds).seed
    >>> first == build_model("forest.ARFClassifier", {"n_models": 2},
    ...                      seeds=ModelSeeds(np.random.SeedSequence(7))).seed
    True
    >>> build_model("forest.ARFClassifier", {"n_models": 2, "seed": 3}, seeds=seeds).seed
    3
    """

    def __init__(self, sequence: np.random.SeedSequence):
        self.sequence = sequence
        self.drawn = 0

    def __call__(self) -> int:
        child = np.random.SeedSequence(self.sequence.entropy,
                                       spawn_key=(*self.sequence.spawn_key, self.drawn))
        self.drawn += 1
        return int(child.generate_state(1)[0])

    def fresh(self) -> ModelSeeds:
        """The same sequence from its start."""
        return ModelSeeds(self.sequence)


def _takes_seed(cls) -> bool:
    try:
        return "seed" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _is_nested(value) -> bool:
    return isinstance(value, dict) and "model" in value and set(value) <= {"model", "params"}


def _instantiate(name: str, params: dict, seeds: ModelSeeds | None = None):
    cls = resolve_river(name)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"{name}: params must be a mapping (param: value), got {params!r}")
    # A param written as {model: ..., params: ...} is itself a River object, e.g. the base
    # model of an ensemble or the optimizer of a linear model.
    params = {
        key: _instantiate(value["model"], value.get("params", {}), seeds) if _is_nested(value) else value
        for key, value in params.items()
    }
    check_params(cls, params)
    if seeds is not None and "seed" not in params and _takes_seed(cls):
        params["seed"] = seeds()
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())}): {exc}") from None


#: What a River object must offer to serve each task, and what it is called then.
NEEDS = {"classification": ("predict_proba_one", "learn_one"), "regression": ("predict_one", "learn_one"),
         "bandit": ("pull", "update")}
KINDS = {"classification": "classifier", "regression": "regressor", "bandit": "bandit policy"}
#: River bandit policies that sample from a Beta posterior (and their subclasses): given
#: ``reward_obj: proba.Beta`` unless the scenario gives another (River's default, a mean,
#: cannot be sampled).
BETA_PRIOR = (bandit.ThompsonSampling,)


def build_model(model: str, params: dict | None = None, preprocess=(), task: str = "classification",
                seeds: ModelSeeds | None = None):
    """A River estimator, behind its preprocessing steps when there are any.

    ``preprocess`` is a sequence of ``(name, params)`` pairs. A param given as
    ``{"model": name, "params": {...}}`` is built as a River object first. ``seeds`` gives
    a ``seed`` to every object that takes one and was not given one (see :class:`ModelSeeds`).

    >>> bagging = build_model("ensemble.ADWINBaggingClassifier",
    ...     {"model": {"model": "tree.HoeffdingTreeClassifier"}, "n_models": 3, "seed": 1})
    >>> type(bagging.model).__name__, len(bagging)
    ('HoeffdingTreeClassifier', 3)
    >>> build_model("linear_model.LogisticRegression",
    ...             {"optimizer": {"model": "optim.SGD", "params": {"lr": 0.05}}}).optimizer.learning_rate
    0.05
    """
    params = dict(params or {})
    if task == "bandit" and "reward_obj" not in params and resolves_to(model, BETA_PRIOR):
        params["reward_obj"] = {"model": "proba.Beta"}  # what these policies sample from
    estimator = _instantiate(model, params, seeds)
    for attr in NEEDS[task]:
        if not callable(getattr(estimator, attr, None)):
            raise ValueError(f"{model} is not a River {KINDS[task]}: it has no {attr}()")
    steps = [_instantiate(name, step_params, seeds) for name, step_params in preprocess]
    return compose.Pipeline(*steps, estimator) if steps else estimator


class RiverPolicy(Policy):
    """A River classifier that turns ``predict_proba_one`` into the least-cost action.

    For binary decisions with costs ``C[action, truth]``, action 1 is taken when
    ``p1 * (C[0,1] - C[1,1]) > p0 * (C[1,0] - C[0,0])``; ties (and a model with no
    opinion yet) give action 0, as ``max`` over River's probabilities does.
    """

    #: What River learns from a label: a binary classifier's labels are booleans.
    target = bool

    def __init__(self, model, costs):
        self.model = model
        #: The top class probability at the last decision (for uncertainty queries).
        self.confidence = 0.0
        self._miss_positive = float(costs[0, 1] - costs[1, 1])
        self._miss_negative = float(costs[1, 0] - costs[0, 0])

    @classmethod
    def build(cls, model: str, params: dict | None = None, preprocess=(), *, costs, seeds=None,
              marks=None):
        """The policy of a River classifier. With ``marks`` (decisions at which to snapshot
        the weights), a linear model the OGD bound covers is built recorded (see
        :mod:`lowstakes.linear`); any other model is built as it is."""
        built = build_model(model, params, preprocess, seeds=seeds)
        if costs.shape != (2, 2):
            return MulticlassPolicy(built, costs)
        if marks is not None and support(built) is None:
            return RecordedRiverPolicy(built, costs, marks)
        return cls(built, costs)

    def act(self, t: int, x: dict) -> int:
        """The action for decision ``t`` with context ``x``."""
        proba = self.model.predict_proba_one(x)
        # River keys binary probabilities by the labels it has seen; True == 1 and
        # False == 0 in Python, so one lookup serves bool and int labels alike.
        p1 = proba.get(True, 0.0)
        p0 = proba.get(False, 0.0)
        self.confidence = p1 if p1 > p0 else p0
        return 1 if p1 * self._miss_positive > p0 * self._miss_negative else 0

    def learn(self, t: int, x: dict, label: int) -> None:
        """Feedback ``label`` for decision ``t`` has arrived."""
        self.model.learn_one(x, self.target(label))

    def finish(self) -> dict:
        # Why no window guarantee applies to this model (lowstakes.guarantees).
        return {"kind": "model", "no_guarantee": support(self.model)}


class MulticlassPolicy(RiverPolicy):
    """A River classifier of C classes acting among K actions by least expected cost,
    argmin_a sum_c C[a, c] p_c (ties to the lower action, as ``np.argmin``); classes the
    model has not seen have probability 0."""

    target = int

    def __init__(self, model, costs):
        self.model = model
        self.confidence = 0.0
        self.costs = np.asarray(costs, float)
        self._classes = range(self.costs.shape[1])

    def act(self, t: int, x: dict) -> int:
        proba = self.model.predict_proba_one(x)
        p = np.array([proba.get(c, 0.0) for c in self._classes])
        self.confidence = float(p.max())
        return int(np.argmin(self.costs @ p))

    def learn(self, t: int, x: dict, label: int) -> None:
        self.model.learn_one(x, self.target(label))


class RegressionPolicy(Policy):
    """A River regressor whose action is its prediction (0 before it has one)."""

    confidence = 1.0
    target = float

    def __init__(self, model):
        self.model = model

    @classmethod
    def build(cls, model: str, params: dict | None = None, preprocess=(), *, seeds=None, marks=None):
        """The policy of a River regressor (recorded with ``marks``, as for :class:`RiverPolicy`)."""
        built = build_model(model, params, preprocess, task="regression", seeds=seeds)
        if marks is not None and support(built) is None:
            return RecordedRegressionPolicy(built, marks)
        return cls(built)

    def act(self, t: int, x: dict) -> float:
        """The prediction for decision ``t`` with context ``x``."""
        prediction = self.model.predict_one(x)
        return 0.0 if prediction is None else float(prediction)

    def learn(self, t: int, x: dict, label: float) -> None:
        """Feedback ``label`` for decision ``t`` has arrived."""
        self.model.learn_one(x, self.target(label))

    def finish(self) -> dict:
        return {"kind": "model", "no_guarantee": support(self.model)}


class _Recorded:
    """A policy whose linear model records its learning events for the OGD bound.

    ``_plain`` is the policy class it records (its act is called directly: this runs once
    per decision, and ``super()`` costs more than the call). Its ``learn`` is the recorder's
    (:meth:`LinearRecorder.learn`: River learns and the event is noted, in one call).
    """

    _plain: type

    def _record(self, marks) -> None:
        self.recorder = LinearRecorder(self.model, self.target, marks)
        self.learn = self.recorder.learn

    def act(self, t: int, x: dict):
        recorder = self.recorder
        if t in recorder.marks:
            recorder.decide(t)
        action = self._plain.act(self, t, x)
        # The decision is taken, with River's last margin (see LinearRecorder).
        recorder.decided = t + 1
        recorder.pending[t] = recorder.z
        return action

    def forget(self, t: int) -> None:
        """Decision t's label will never come (not asked for, or dropped)."""
        self.recorder.forget(t)

    def take_block(self, steps, xs, labels, out) -> None:
        """:meth:`act` then :meth:`learn` for each decision in turn, written out: this is
        the engine's commonest path (every label learned right after its action), and the
        two calls per decision that this saves were about a third of what recording costs
        (1.2 against 0.8 us per decision, StandardScaler | LogisticRegression on SEA)."""
        recorder = self.recorder
        if recorder.l2:  # an L2 event also notes its weights (LinearRecorder._learn_l2)
            Policy.take_block(self, steps, xs, labels, out)
            return
        plain_act, learn_one, target, append = self._plain.act, self.model.learn_one, self.target, out.append
        marks, chunk = recorder.marks, recorder.CHUNK
        flat, rows = recorder._flat, recorder._rows
        for t, x, label in zip(steps, xs, labels, strict=True):
            if t in marks:
                recorder.decide(t)
            append(plain_act(self, t, x))
            margin = recorder.z  # the margin the decision was taken with
            if len(rows) >= chunk:
                recorder._pack()
                flat, rows = recorder._flat, recorder._rows
            learn_one(x, target(label))
            # LinearRecorder.learn for this event: t + 1 decisions taken, t's label learned.
            flat += (t + 1, t, label, recorder.z, margin)
            rows.append(recorder.x)

    def take_queued(self, steps, xs, out, learned, before) -> None:
        """:meth:`Policy.take_queued` written out (act and learn as :meth:`act` and
        :meth:`LinearRecorder.learn`): the engine's path for an arm whose every label goes
        through an overseer."""
        recorder = self.recorder
        if recorder.l2:
            Policy.take_queued(self, steps, xs, out, learned, before)
            return
        plain_act, learn_one, target, append = self._plain.act, self.model.learn_one, self.target, out.append
        marks, chunk, pending = recorder.marks, recorder.CHUNK, recorder.pending
        flat, rows = recorder._flat, recorder._rows
        done = 0
        for t, x, due in zip(steps, xs, before, strict=True):
            while done < due:
                s, context, label = learned[done]
                done += 1
                if len(rows) >= chunk:
                    recorder._pack()
                    flat, rows = recorder._flat, recorder._rows
                learn_one(context, target(label))
                z = recorder.z
                # LinearRecorder.learn: t decisions taken, s's label learned.
                flat += (t, s, label, z, pending.pop(s, z))
                rows.append(recorder.x)
            if t in marks:
                recorder.decide(t)
            append(plain_act(self, t, x))
            pending[t] = recorder.z  # the margin the decision was taken with
        recorder.decided = steps[-1] + 1

    def finish(self) -> dict:
        return {"kind": "linear", "records": self.recorder.finish()}


class RecordedRiverPolicy(_Recorded, RiverPolicy):
    """:class:`RiverPolicy` of a linear model, recording what its regret bound needs."""

    _plain = RiverPolicy

    def __init__(self, model, costs, marks=()):
        super().__init__(model, costs)
        self._record(marks)


class RecordedRegressionPolicy(_Recorded, RegressionPolicy):
    """:class:`RegressionPolicy` of a linear model, recording what its regret bound needs."""

    _plain = RegressionPolicy

    def __init__(self, model, marks=()):
        super().__init__(model)
        self._record(marks)
