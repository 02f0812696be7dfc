"""The scenario format: a typed, validated, immutable description of one experiment.

Load a file with :func:`load_scenario`; build one in Python with :meth:`Scenario.from_dict`.
Every problem found becomes a :class:`~lowstakes.errors.ScenarioError` naming the file,
the line and column, the field path and what is wrong.

Examples
--------
>>> scenario = Scenario.from_dict({
...     "name": "demo", "horizon": 1000,
...     "stream": {"source": "sea", "shifts": [{"at": 500, "params": {"variant": 3}}]},
...     "learners": {"logreg": {"model": "linear_model.LogisticRegression"}},
... })
>>> list(scenario.objectives), scenario.timing.feedback_delay.kind
(['aligned'], 'none')
>>> scenario.scaled(100).stream.shifts[0].at
50
>>> Scenario.from_dict({"name": "bad", "horizon": 10, "stream": {"source": "sae"},
...                     "learners": {"m": {"model": "linear_model.LogisticRegression"}}})
Traceback (most recent call last):
...
lowstakes.errors.ScenarioError: scenario: stream.source: unknown source 'sae' (did you mean 'sea'?); ...
"""

from __future__ import annotations

import math
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from lowstakes.errors import ScenarioError
from lowstakes.registry import suggest
from lowstakes.streams import SOURCES

__all__ = ["Scenario", "load_scenario", "COMPARATORS"]

#: What regret is measured against. ``oracle``: the Bayes-optimal action under the known
#: concept (synthetic sources only). ``hindsight``: an action chosen after seeing the truth
#: (zero harm under the default costs). ``best_constant``: the best single action in hindsight.
COMPARATORS = ("oracle", "hindsight", "best_constant")


#: The longest scenario name: it names the run directory, and file systems limit a name.
MAX_NAME = 100

#: Numbers in a scenario: a boolean is not a number and a quoted number is text (both are
#: refused, never coerced), and a float must be finite. An int is accepted where a float is.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: The binary costs by name, C[action, truth] for actions and truths 0 and 1.
NAMED_COSTS = ("false_positive", "false_negative", "true_positive", "true_negative")


class Costs(_Model):
    """A cost matrix ``C[action, outcome]``: binary, by name (the four costs below), or any
    ``matrix`` with one row per action and one column per class of the source (K x C).
    ``matrix`` may also be a name: ``zero_one`` (K = C; cost 0 for the action equal to the
    class, else 1) or ``arms`` (a ``k_armed`` source: action a costs 1 when arm a does harm)."""

    false_positive: Float = Field(1.0, ge=0)
    false_negative: Float = Field(1.0, ge=0)
    true_positive: Float = Field(0.0, ge=0)
    true_negative: Float = Field(0.0, ge=0)
    matrix: list[list[Annotated[float, Strict(), Field(ge=0)]]] | Literal["zero_one", "arms"] | None = Field(
        None, description="K x C costs (rows: actions, columns: the source's classes), zero_one or arms; "
                          "replaces the four named binary costs")

    @model_validator(mode="after")
    def _one_form(self):
        named = sorted(self.model_fields_set & set(NAMED_COSTS))
        if self.matrix is not None and named:
            raise ValueError(f"give either 'matrix' or the named binary costs, not both ({', '.join(named)})")
        if isinstance(self.matrix, list):
            rows = self.matrix
            if len(rows) < 2 or len({len(r) for r in rows}) != 1 or len(rows[0]) < 2:
                raise ValueError("matrix must have at least 2 rows (actions) of the same length, "
                                 "at least 2 columns (classes)")
        return self

    @model_serializer(mode="wrap")
    def _written(self, handler):
        # Written back (run directories, sweeps) in the form it was given: a matrix without
        # the named costs it replaces (reading both would be refused), the named costs alone.
        data = handler(self)
        drop = NAMED_COSTS if self.matrix is not None else ("matrix",)
        return {k: v for k, v in data.items() if k not in drop}

    def matrix_for(self, classes: int = 2) -> np.ndarray:
        """The cost matrix as an array, for a source with ``classes`` classes."""
        from lowstakes.objectives import cost_matrix, named_matrix

        if self.matrix is None:
            return cost_matrix(**{k: getattr(self, k) for k in NAMED_COSTS})
        if isinstance(self.matrix, str):
            return named_matrix(self.matrix, classes)
        return np.array(self.matrix, dtype=float)

    def largest(self) -> float:
        """The largest cost (of a named matrix: 1)."""
        if self.matrix is None:
            return max(getattr(self, k) for k in NAMED_COSTS)
        return 1.0 if isinstance(self.matrix, str) else max(max(r) for r in self.matrix)


class Stakes(_Model):
    """How much is at stake in each decision: its harm is the cost matrix's value times a
    multiplier. Either decisions whose context lies in ``region`` (feature -> [low, high],
    all must hold) get ``factor``, or ``function`` (``module:attribute``) returns the
    multiplier of every decision of a block. A function's multipliers are not known in
    advance, so the engine's check of every harm against B is what guards them."""

    region: dict[str | int, tuple[Float, Float]] | None = None
    factor: Float | None = Field(None, gt=0)
    function: str | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.function is None) == (self.region is None or self.factor is None):
            raise ValueError("give either 'region' and 'factor', or 'function'")
        return self


class Harm(Costs):
    """The true harm of each (action, truth) pair; every value must lie in [0, bound]."""

    bound: Float = Field(1.0, gt=0)
    stakes: Stakes | None = None
    function: str | None = Field(
        None, description="module:attribute: harm(actions, truth, block) -> harms, replacing the "
                          "cost matrix (the engine still checks every harm against B)")

    @model_validator(mode="after")
    def _within_bound(self):
        factor = max(1.0, self.stakes.factor or 1.0) if self.stakes else 1.0
        if self.matrix is not None:
            if self.largest() * factor > self.bound:
                raise ValueError(f"matrix: its largest cost, {self.largest() * factor:g} (with the stakes "
                                 f"factor), exceeds the harm bound {self.bound}")
            return self
        for field in NAMED_COSTS:
            value = getattr(self, field) * factor
            if value > self.bound:
                raise ValueError(f"{field} = {value:g} (with the stakes factor) exceeds the harm "
                                 f"bound {self.bound}")
        return self


class ShiftSpec(_Model):
    at: Int = Field(ge=1, description="first decision (0-based step) of the new concept")
    width: Int = Field(1, ge=1, description="decisions over which the change ramps in; 1 = abrupt")
    params: dict[str, Any] = Field(default_factory=dict)


class StreamSpec(_Model):
    source: str
    params: dict[str, Any] = Field(default_factory=dict)
    label_noise: Float = Field(0.0, ge=0, description="classification: the chance a label is the "
                               "other class (< 0.5); regression: the sd of Gaussian noise")
    shifts: list[ShiftSpec] = Field(default_factory=list)

    @field_validator("source")
    @classmethod
    def _known_source(cls, name):
        SOURCES.get(name)
        return name


def _bare_number(value, field: str):
    """A bare number written where a mapping is expected means ``{field: number}``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {field: value}
    return value


class _OneOf(_Model):
    """A mapping that sets at most one of ``choices``."""

    choices: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _one(self):
        if sum(getattr(self, c) is not None for c in self.choices) > 1:
            raise ValueError(f"give one of {' or '.join(repr(c) for c in self.choices)}, not both")
        return self


class Arrivals(_OneOf):
    """Fixed spacing (``every``: time between decisions) or Poisson (``poisson``: rate)."""

    choices: ClassVar[tuple[str, ...]] = ("every", "poisson")
    every: Float | None = Field(None, gt=0)
    poisson: Float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _default_every(cls, value):
        if isinstance(value, dict) and value.get("every") is None and value.get("poisson") is None:
            return {**value, "every": 1.0}
        return value


class FeedbackDelay(_OneOf):
    """Time from a decision until its feedback arrives: none, ``fixed`` or ``exponential`` (mean)."""

    choices: ClassVar[tuple[str, ...]] = ("fixed", "exponential")
    fixed: Float | None = Field(None, ge=0)
    exponential: Float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value):
        return _bare_number(value, "fixed")  # `feedback_delay: 5` means {fixed: 5}

    @property
    def kind(self) -> Literal["none", "fixed", "exponential"]:
        if self.exponential is not None:
            return "exponential"
        return "fixed" if self.fixed else "none"


class ServiceTime(_OneOf):
    """How long the overseer takes to make one label: ``fixed`` or ``exponential`` (mean); a
    bare number T means ``{fixed: T}``."""

    choices: ClassVar[tuple[str, ...]] = ("fixed", "exponential")
    fixed: Float | None = Field(None, gt=0)
    exponential: Float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value):
        return _bare_number(value, "fixed")

    @model_validator(mode="after")
    def _given(self):
        if self.fixed is None and self.exponential is None:
            raise ValueError("give 'fixed' or 'exponential'")
        return self


class OverseerSpec(_Model):
    """Each arm's overseer: ``capacity`` labels at once, a service time per label, and the
    longest a request may wait in the queue (``patience``; none: it waits for ever)."""

    capacity: Int = Field(1, ge=1)
    service: ServiceTime | Float
    patience: Float | None = Field(None, gt=0)

    @field_validator("service")
    @classmethod
    def _number(cls, service):
        return service if isinstance(service, ServiceTime) else ServiceTime(fixed=service)


class Timing(_Model):
    arrivals: Arrivals = Field(default_factory=Arrivals)
    # A bare number means {fixed: it}; the union keeps that in the JSON Schema too.
    feedback_delay: FeedbackDelay | Float = Field(default_factory=FeedbackDelay)
    overseer: OverseerSpec | None = None

    @field_validator("feedback_delay")
    @classmethod
    def _number(cls, delay):
        return delay if isinstance(delay, FeedbackDelay) else FeedbackDelay(fixed=delay)


class ObjectiveSpec(_Model):
    feedback: str = "truth"
    params: dict[str, Any] = Field(default_factory=dict)
    costs: Costs | None = Field(None, description="the objective's own costs; default: the harm")
    feedback_mode: Literal["full", "bandit"] = Field(
        "full", description="full: the learner learns the label (every action's cost follows from it); "
                            "bandit: only the cost of the action it took")


class StepSpec(_Model):
    model: str
    params: dict[str, Any] = Field(default_factory=dict)


def _step_names(steps):
    """A preprocessing step may be written as its name alone."""
    return [StepSpec(model=s) if isinstance(s, str) else s for s in steps]


class _ModelSpec(_Model):
    """A River ``model`` with its ``params`` behind optional ``preprocess`` steps."""

    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    preprocess: list[str | StepSpec] = Field(default_factory=list)

    @field_validator("preprocess")
    @classmethod
    def _names(cls, steps):
        return _step_names(steps)


class ExpertSpec(_ModelSpec):
    """One expert of a pool: a fixed ``rule`` (concept, constant, module:attribute) or a
    River ``model`` that learns from the arm's feedback."""

    rule: str | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.rule is None) == (self.model is None):
            raise ValueError("an expert is either a 'rule' or a 'model'; give exactly one")
        return self


#: Algorithms that need no experts: exponential weights over the actions themselves,
#: under bandit feedback (lowstakes.bandits).
ACTION_ALGORITHMS = ("exp3", "exp3_share")


class LearnerSpec(_ModelSpec):
    """A River classifier (``model``); a River bandit policy (``model: bandit.UCB`` and the
    like); a River regressor with ``explore`` (a regression-oracle contextual bandit); or an
    ``algorithm``: over ``experts``, an expert algorithm (hedge, hedge_anytime, fixed_share,
    hedge_interleaved, fixed_share_interleaved) or an imitator of the overseer (consensus,
    bayes_mixture, map); under bandit feedback, exp3 or exp3_share over the actions
    themselves, or exp4 over experts that advise actions (rules ``action`` and ``concept``)."""

    algorithm: Literal["hedge", "hedge_anytime", "fixed_share", "hedge_interleaved",
                       "fixed_share_interleaved", "consensus", "bayes_mixture", "map", "exp3",
                       "exp3_share", "exp4"] | None = None
    experts: dict[str, ExpertSpec] = Field(default_factory=dict)
    act: Literal["mixture", "sample"] = "mixture"
    query: dict[str, Any] | None = Field(
        None, description="which labels to ask for: {policy: all | fraction | rate_cap | uncertainty, ...}")
    overseer: OverseerSpec | None = Field(
        None, description="this learner's own overseer; default: timing.overseer")
    explore: dict[str, Any] | None = Field(
        None, description="a River regressor per action predicts its cost, and the learner explores by "
                          "{policy: greedy | epsilon_greedy | squarecb, epsilon, gamma}")

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.model is None) == (self.algorithm is None):
            raise ValueError("a learner is either a River 'model' or an expert 'algorithm'; "
                             "give exactly one")
        if self.algorithm in ACTION_ALGORITHMS and self.experts:
            raise ValueError(f"algorithm {self.algorithm!r} weighs the actions themselves: "
                             "it takes no experts")
        if self.algorithm not in (None, *ACTION_ALGORITHMS) and len(self.experts) < 2:
            raise ValueError(f"algorithm {self.algorithm!r} needs at least two experts")
        if self.model is not None and self.experts:
            raise ValueError("'experts' go with an 'algorithm', not with a River 'model'")
        if self.explore is not None and self.model is None:
            raise ValueError("'explore' goes with a River regressor 'model' (one per action)")
        if self.algorithm == "consensus" and self.query is not None:
            raise ValueError("the consensus learner decides itself when to ask; drop 'query'")
        return self

    @property
    def is_pool(self) -> bool:
        """An algorithm over experts under full feedback (an expert pool or an imitator)."""
        return self.algorithm is not None and self.algorithm not in (*ACTION_ALGORITHMS, "exp4")


class Windows(_Model):
    """Transition windows: ``length`` decisions from each shift's start, cut short by the next
    shift or the end (default: up to the next shift or the end). Recovery is the first step
    after which the trailing mean excess harm over ``smoothing`` decisions stays within
    ``tolerance * B`` of its pre-shift level."""

    length: Int | None = Field(None, ge=1)
    smoothing: Int = Field(500, ge=1)
    tolerance: Float = Field(0.05, ge=0)


class Audit(_Model):
    """The low-stakes audit (README, 'The low-stakes audit'). An arm is low-stakes when no
    decision did more than ``outlier`` times the harm a typical decision (the median) can do
    at worst, its worst 1% of harmful decisions cause at most ``concentration`` of its harm, and no
    ``reaction`` consecutive decisions do more than ``burst_density`` x reaction x B, more than
    ``burst_share`` of its harm and more than ``burst_contrast`` times the harm of an average
    ``reaction`` decisions of the arm. ``reaction``: the overseer's reaction time in
    decisions (default: the mean feedback delay plus the overseer's mean service time, in
    decisions; with neither, the window smoothing). A decision is *catastrophic* when its
    harm exceeds ``catastrophe`` (none by default: then no forecast is made); the chance of
    at least one catastrophe in the next ``forecast`` decisions comes from a semi-informative
    Beta(1, 1/p0 - 1) prior with first-trial probability ``p0``."""

    concentration: Float = Field(0.5, gt=0, le=1)
    outlier: Float = Field(10.0, ge=1, description="times what a typical decision can do at worst")
    reaction: Int | None = Field(None, ge=1, description="decisions; default from the feedback delay")
    burst_density: Float = Field(0.5, gt=0, le=1)
    burst_share: Float = Field(0.05, gt=0, le=1)
    burst_contrast: Float = Field(4.0, ge=1, description="times the harm of an average reaction time")
    catastrophe: Float | None = Field(None, ge=0)
    p0: Float = Field(0.001, gt=0, lt=1)
    forecast: Int | None = Field(None, ge=1, description="H; default: the horizon")


class Scenario(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=MAX_NAME,
                      description="letters, digits, _ . - (it names the run directory)")
    description: str = ""
    horizon: Int = Field(ge=1, description="number of decisions per seed")
    seeds: Int = Field(1, ge=1, description="number of independent repetitions")
    seed: Int = Field(0, ge=0, description="master seed; per-seed seeds derive from it")
    harm: Harm = Field(default_factory=Harm)
    stream: StreamSpec
    timing: Timing = Field(default_factory=Timing)
    objectives: dict[str, ObjectiveSpec] = Field(
        default_factory=lambda: {"aligned": ObjectiveSpec()}, min_length=1
    )
    learners: dict[str, LearnerSpec] = Field(min_length=1)
    comparator: Literal["oracle", "hindsight", "best_constant"] = "oracle"
    windows: Windows = Field(default_factory=Windows)
    audit: Audit = Field(default_factory=Audit)
    trace: Literal["full", "summary"] = Field(
        "full", description="full: keep every decision of every arm in trace.parquet; summary: keep only "
                            "the summary and the figures' curves (for runs too long to keep every decision)")
    sweep: dict[str, list[Any]] | None = Field(
        None, description="a grid for `lowstakes sweep`: field path -> values, e.g. "
                          "{'stream.shifts.0.at': [2000, 6000]}; `lowstakes run` uses the values above")

    # -- derived ------------------------------------------------------------------------

    @property
    def classes(self) -> int:
        """The number of classes (outcomes) of the stream's source: the columns of its cost
        matrices (2 for binary sources; regression sources have none and say 2)."""
        source = SOURCES.get(self.stream.source)
        return source.classes(dict(self.stream.params))

    def harm_matrix(self) -> np.ndarray:
        """The true harm's cost matrix, K actions x C classes."""
        return self.harm.matrix_for(self.classes)

    def costs_of(self, objective: str) -> np.ndarray:
        """The cost matrix objective ``objective`` trains on (its own costs, or the harm's)."""
        return (self.objectives[objective].costs or self.harm).matrix_for(self.classes)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, *, file=None, marks=None) -> Scenario:
        """Validate ``data``; raise :class:`ScenarioError` listing every problem."""
        if not isinstance(data, dict):
            raise ScenarioError([((), "a scenario is a mapping of fields (name, horizon, ...)")],
                                file=file, marks=marks)
        non_finite = list(_non_finite(data))
        if non_finite:
            raise ScenarioError(non_finite, file=file, marks=marks)
        try:
            scenario = cls.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(_pydantic_problems(exc, data), file=file, marks=marks) from None
        from lowstakes.checks import problems as cross_field_problems

        problems = list(cross_field_problems(scenario))
        if not problems and scenario.sweep:
            from lowstakes.grid import variants

            try:  # every cell of the sweep block must be a valid scenario too
                variants(scenario, scenario.sweep, origin="sweep")
            except ScenarioError as exc:
                problems = exc.problems
        if problems:
            raise ScenarioError(problems, file=file, marks=marks)
        return scenario

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_overrides(self, *, seeds: int | None = None, horizon: int | None = None,
                       trace: str | None = None) -> Scenario:
        scenario = self if horizon is None else self.scaled(horizon)
        changes = {k: v for k, v in (("seeds", seeds), ("trace", trace)) if v is not None}
        if changes:
            scenario = Scenario.from_dict({**scenario.to_dict(), **changes})
        return scenario

    def scaled(self, horizon: int) -> Scenario:
        """The same scenario over ``horizon`` decisions: shift positions, widths and window
        lengths scale in proportion (rounded, at least 1), and so do the decisions a deceptive
        expert turns at and back (its ``after`` and ``before``), so that a small run keeps
        the scenario's story. Times (delays, an overseer's service) are not decisions and
        are not scaled.

        >>> turn = {"rule": "deceptive", "params": {"imitate": {"rule": "constant"}, "after": 600}}
        >>> scenario = Scenario.from_dict({
        ...     "name": "turn", "horizon": 1000, "stream": {"source": "sea"},
        ...     "learners": {"c": {"algorithm": "consensus",
        ...                        "experts": {"honest": {"rule": "constant"}, "turncoat": turn}}}})
        >>> scenario.scaled(100).learners["c"].experts["turncoat"].params["after"]
        60
        """
        factor = horizon / self.horizon

        def scale(n):
            return None if n is None else max(1, round(n * factor))

        data = self.to_dict()
        data["horizon"] = horizon
        for shift in data["stream"]["shifts"]:
            shift["at"], shift["width"] = scale(shift["at"]), scale(shift["width"])
        windows = data["windows"]
        windows["length"], windows["smoothing"] = scale(windows["length"]), scale(windows["smoothing"])
        for learner in data["learners"].values():
            for expert in (learner.get("experts") or {}).values():
                params = expert.get("params")
                if expert.get("rule") == "deceptive" and isinstance(params, dict):
                    for key in ("after", "before"):
                        step = params.get(key)
                        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
                            params[key] = scale(step)
        return Scenario.from_dict(data)


def _model_at(path) -> type[BaseModel] | None:
    """The schema model that holds the fields at ``path`` (keys and list indices)."""
    model, annotation = Scenario, None
    for part in path:
        if isinstance(part, str) and _internal(part) and model is not None:
            continue  # a union member or validator pydantic named: the model found stays
        if model is not None:
            field = model.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            annotation, model = field.annotation, None
        else:  # inside a dict or a list: step into its value type
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[-1] if args else None
        container = typing.get_origin(annotation) in (dict, list)
        for candidate in (annotation, *([] if container else typing.get_args(annotation))):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
    return model


def _non_finite(value, path=()):
    """Every infinite or NaN number in the document: no field of a scenario takes one (the
    typed fields refuse them too; this also covers free-form params)."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path, f"must be a finite number, got {value!r}"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, path + (key,))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _non_finite(item, path + (i,))


def _user_path(loc, data) -> tuple:
    """The part of pydantic's error location that names the user's keys and positions: the
    names of validators and union members it inserts (``function-after[...]``, ``int``) are
    not in the document and are dropped."""
    out, here = [], data
    for part in loc:
        if isinstance(here, dict) and part in here:
            out.append(part)
            here = here[part]
        elif isinstance(here, dict) and isinstance(part, str) and part.isdigit() and int(part) in here:
            out.append(int(part))
            here = here[int(part)]
        elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            out.append(part)
            here = here[part]
        elif isinstance(here, dict) and isinstance(part, str) and not _internal(part):
            out.append(part)  # a missing field: the message says so
            here = None
    return tuple(out)


def _internal(part: str) -> bool:
    return any(c in part for c in "[](),") or part in ("int", "float", "str", "bool", "dict", "list")


TYPE_MESSAGES = {
    "int_type": "expected a whole number",
    "float_type": "expected a number",
    "string_type": "expected text",
    "bool_type": "expected true or false",
    "dict_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "tuple_type": "expected a list of two numbers, [low, high]",
    "model_type": "expected a mapping",
    "finite_number": "must be a finite number",
}


def _pydantic_problems(exc: ValidationError, data=None):
    """One message per problem, at the path the user wrote. Where a field takes one of several
    forms (a union), pydantic reports one error per form at the same place: those become one
    message listing every accepted form."""
    problems: dict[tuple, list[str]] = {}
    values: dict[tuple, object] = {}
    for path, message, value, typed in _each_problem(exc, data):
        problems.setdefault(path, [])
        if message not in problems[path]:
            problems[path].append(message)
        if typed:
            values[path] = value
    for path, messages in problems.items():
        if isinstance(values.get(path, _lookup(data, path)), dict):
            # A mapping or list where the field also takes a number: what matters is what is
            # wrong inside it, not that it is not a number.
            inner = [m for m in messages if not m.startswith("expected a ") or "mapping" in m or "list" in m]
            nested = any(other[:len(path)] == path and len(other) > len(path) for other in problems)
            messages = inner or ([] if nested else messages)
            if not messages:
                continue
        expected = [m for m in messages if m.startswith("expected ")]
        if len(expected) > 1 and len(expected) == len(messages):
            forms = [m.removeprefix("expected ").split(", got")[0] for m in expected]
            tail = expected[0].partition(", got")[2]
            yield path, "expected " + " or ".join(dict.fromkeys(forms)) + (f", got{tail}" if tail else "")
        else:
            yield path, "; ".join(messages)


def _lookup(data, path):
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _each_problem(exc: ValidationError, data=None):
    for error in exc.errors():
        path = _user_path(error["loc"], data) if data is not None else tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            model = _model_at(error["loc"][:-1])
            fields = [name for name in (model.model_fields if model else ())
                      if name not in ("choices",)]
            name = str(error["loc"][-1])
            message = (f"unknown field{suggest(name, fields)}; allowed: {', '.join(fields)}"
                       if fields else "unknown field")
        elif error["type"] == "missing":
            parent = _lookup(data, path)
            message = ("too few items: expected [low, high]" if isinstance(parent, list)
                       else "required field is missing")
        elif error["type"] in TYPE_MESSAGES:
            message = TYPE_MESSAGES[error["type"]]
            if error["type"] == "model_type":
                model = _model_at(error["loc"])
                if model is not None:
                    fields = [f for f in model.model_fields if f != "choices"]
                    message = f"expected a mapping with {' or '.join(fields)}"
            if isinstance(value, bool):
                message += f", got {value!r} (YAML reads unquoted yes/no/on/off/true/false as booleans)"
            elif isinstance(value, str) and error["type"] in ("int_type", "float_type"):
                message += f", got the text {value!r} (a quoted number is text: remove the quotes)"
            elif not isinstance(value, dict | list):
                message += f", got {value!r}"
        elif error["type"] != "value_error" and not isinstance(value, dict | list):
            message = f"{message} (got {value!r})"
        if any(isinstance(part, bool) for part in path):
            message += " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the name)"
        yield path, message, value, error["type"] in TYPE_MESSAGES


# -- YAML ------------------------------------------------------------------------------


def _marks(node, path=(), out=None) -> dict:
    """Map each value's path to its 1-based (line, column) in the YAML source."""
    out = {} if out is None else out
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = int(key.value) if key.tag.endswith(":int") else key.value
            _marks(value, path + (name,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _marks(value, path + (i,), out)
    return out


def load_scenario(path) -> Scenario:
    """Read, parse safely and validate a scenario file.

    Raises :class:`ScenarioError` for a missing file, YAML syntax, or any invalid field.
    """
    path = Path(path)
    data, marks = _read(path)
    # pydantic reports string keys as given and list positions as ints; marks use the same.
    return Scenario.from_dict(data, file=path, marks=marks)


def yaml_marks(path) -> dict:
    """The (line, column) of every value of a scenario file, by field path."""
    return _read(Path(path))[1]


#: Limits on a scenario file, so that a hostile or careless one is refused at once.
MAX_FILE_BYTES = 1 << 20          # scenario files are a few kB
MAX_VALUES = 100_000              # values in the document, with aliases expanded
MAX_DEPTH = 40                    # nesting


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first, second):
        super().__init__()
        self.key, self.first, self.second = key, first, second


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key written twice in one mapping is an error (PyYAML keeps
    the last silently). Keys brought in by a merge (``<<: *anchor``) may be overridden."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if first is not key_node.start_mark:
                    raise _DuplicateKey(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep)


def _decode(raw: bytes) -> str:
    """The file's text: UTF-8 (with or without a byte-order mark), or UTF-16/32 with one."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                       (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            return raw.decode(codec)
    return raw.decode("utf-8")


def _flow_depth(text: str) -> int:
    """The deepest nesting of [ ] and { } outside quotes and comments, in one pass."""
    depth = deepest = 0
    quote = None
    for line in text.splitlines():
        for char in line:
            if quote:
                quote = None if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#":
                break
            elif char in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif char in "]}":
                depth -= 1
        quote = None if quote == "'" or quote == '"' and line.endswith('"') else quote
    return deepest


def _size(node, depth=0, memo=None) -> tuple[int, int]:
    """(values, depth) of a composed document, aliases expanded (each node counted once per
    place it appears, computed once per node, so a "billion laughs" file costs nothing)."""
    memo = {} if memo is None else memo
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = (MAX_VALUES + 1, MAX_DEPTH + 1)  # a cycle is too big
    if isinstance(node, yaml.MappingNode):
        children = [v for _, v in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    values, deepest = 1, 0
    for child in children:
        count, below = _size(child, depth + 1, memo)
        values = min(values + count, MAX_VALUES + 1)
        deepest = max(deepest, below + 1)
    memo[key] = (values, deepest)
    return memo[key]


def _read(path: Path) -> tuple[Any, dict]:
    def refuse(problem, mark=None):
        marks = {(): (mark.line + 1, mark.column + 1)} if mark is not None else {}
        return ScenarioError([((), problem)], file=path, marks=marks)

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise refuse(f"the file has {size:,} bytes; a scenario file has at most {MAX_FILE_BYTES:,}")
        raw = path.read_bytes()
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror}") from None
    try:
        text = _decode(raw)
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file "
                     "as UTF-8") from None
    if _flow_depth(text) > MAX_DEPTH:  # before the parser, which would recurse that deep
        raise refuse(f"the document is nested more than {MAX_DEPTH} levels deep")
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            values, depth = _size(node)
            if values > MAX_VALUES:
                raise refuse(f"the document has more than {MAX_VALUES:,} values once its aliases are "
                             "expanded; a scenario needs far fewer (a file built to exhaust memory?)")
            if depth > MAX_DEPTH:
                raise refuse(f"the document is nested more than {MAX_DEPTH} levels deep")
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise refuse("the document is nested too deeply to read") from None
    except _DuplicateKey as exc:
        raise refuse(f"key {exc.key!r} is given twice in one mapping (line {exc.first.line + 1} and line "
                     f"{exc.second.line + 1}); YAML would silently keep the last: remove one",
                     exc.second) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise refuse(f"YAML syntax error: {problem}", mark) from None
    return data, _marks(node)
