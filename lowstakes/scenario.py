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

import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lowstakes.errors import ScenarioError
from lowstakes.registry import suggest
from lowstakes.streams import SOURCES

__all__ = ["Scenario", "load_scenario", "COMPARATORS"]

#: What regret is measured against. ``oracle``: the Bayes-optimal action under the known
#: concept (synthetic sources only). ``hindsight``: an action chosen after seeing the truth
#: (zero harm under the default costs). ``best_constant``: the best single action in hindsight.
COMPARATORS = ("oracle", "hindsight", "best_constant")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Costs(_Model):
    """A binary cost matrix by name: the cost of each (action, truth) pair."""

    false_positive: float = Field(1.0, ge=0)
    false_negative: float = Field(1.0, ge=0)
    true_positive: float = Field(0.0, ge=0)
    true_negative: float = Field(0.0, ge=0)

    def matrix(self):
        from lowstakes.objectives import cost_matrix

        return cost_matrix(**self.model_dump())


class Stakes(_Model):
    """How much is at stake in each decision: its harm is the cost matrix's value times a
    multiplier. Either decisions whose context lies in ``region`` (feature -> [low, high],
    all must hold) get ``factor``, or ``function`` (``module:attribute``) returns the
    multiplier of every decision of a block. A function's multipliers are not known in
    advance, so the engine's check of every harm against B is what guards them."""

    region: dict[str | int, tuple[float, float]] | None = None
    factor: float | None = Field(None, gt=0)
    function: str | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.function is None) == (self.region is None or self.factor is None):
            raise ValueError("give either 'region' and 'factor', or 'function'")
        return self


class Harm(Costs):
    """The true harm of each (action, truth) pair; every value must lie in [0, bound]."""

    bound: float = Field(1.0, gt=0)
    stakes: Stakes | None = None
    function: str | None = Field(
        None, description="module:attribute: harm(actions, truth, block) -> harms, replacing the "
                          "cost matrix (the engine still checks every harm against B)")

    def matrix(self):
        from lowstakes.objectives import cost_matrix

        return cost_matrix(**self.model_dump(exclude={"bound", "stakes", "function"}))

    @model_validator(mode="after")
    def _within_bound(self):
        factor = max(1.0, self.stakes.factor or 1.0) if self.stakes else 1.0
        for field in ("false_positive", "false_negative", "true_positive", "true_negative"):
            value = getattr(self, field) * factor
            if value > self.bound:
                raise ValueError(f"{field} = {value:g} (with the stakes factor) exceeds the harm "
                                 f"bound {self.bound}")
        return self


class ShiftSpec(_Model):
    at: int = Field(ge=1, description="first decision (0-based step) of the new concept")
    width: int = Field(1, ge=1, description="decisions over which the change ramps in; 1 = abrupt")
    params: dict[str, Any] = Field(default_factory=dict)


class StreamSpec(_Model):
    source: str
    params: dict[str, Any] = Field(default_factory=dict)
    label_noise: float = Field(0.0, ge=0, description="classification: the chance a label is the "
                               "other class (< 0.5); regression: the sd of Gaussian noise")
    shifts: list[ShiftSpec] = Field(default_factory=list)

    @field_validator("source")
    @classmethod
    def _known_source(cls, name):
        SOURCES.get(name)
        return name


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
    every: float | None = Field(None, gt=0)
    poisson: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _default_every(cls, value):
        if isinstance(value, dict) and value.get("every") is None and value.get("poisson") is None:
            return {**value, "every": 1.0}
        return value


class FeedbackDelay(_OneOf):
    """Time from a decision until its feedback arrives: none, ``fixed`` or ``exponential`` (mean)."""

    choices: ClassVar[tuple[str, ...]] = ("fixed", "exponential")
    fixed: float | None = Field(None, ge=0)
    exponential: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"fixed": value}
        return value

    @property
    def kind(self) -> Literal["none", "fixed", "exponential"]:
        if self.exponential is not None:
            return "exponential"
        return "fixed" if self.fixed else "none"


class ServiceTime(_OneOf):
    """How long the overseer takes to make one label: ``fixed`` or ``exponential`` (mean)."""

    choices: ClassVar[tuple[str, ...]] = ("fixed", "exponential")
    fixed: float | None = Field(None, gt=0)
    exponential: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _given(self):
        if self.fixed is None and self.exponential is None:
            raise ValueError("give 'fixed' or 'exponential'")
        return self


class OverseerSpec(_Model):
    """Each arm's overseer: ``capacity`` labels at once, a service time per label, and the
    longest a request may wait in the queue (``patience``; none: it waits for ever)."""

    capacity: int = Field(1, ge=1)
    service: ServiceTime
    patience: float | None = Field(None, gt=0)


class Timing(_Model):
    arrivals: Arrivals = Field(default_factory=Arrivals)
    feedback_delay: FeedbackDelay | float = Field(default_factory=FeedbackDelay)
    overseer: OverseerSpec | None = None

    @field_validator("feedback_delay")
    @classmethod
    def _number(cls, delay):
        # `feedback_delay: 5` means a fixed delay of 5.
        return FeedbackDelay(fixed=delay) if isinstance(delay, int | float) else delay


class ObjectiveSpec(_Model):
    feedback: str = "truth"
    params: dict[str, Any] = Field(default_factory=dict)
    costs: Costs | None = Field(None, description="the objective's own costs; default: the harm")


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


class LearnerSpec(_ModelSpec):
    """A River classifier (``model``), or an expert ``algorithm`` over ``experts``: an expert
    algorithm (hedge, hedge_anytime, fixed_share, hedge_interleaved) or an imitator of the
    overseer (consensus, bayes_mixture, map)."""

    algorithm: Literal["hedge", "hedge_anytime", "fixed_share", "hedge_interleaved",
                       "consensus", "bayes_mixture", "map"] | None = None
    experts: dict[str, ExpertSpec] = Field(default_factory=dict)
    act: Literal["mixture", "sample"] = "mixture"
    query: dict[str, Any] | None = Field(
        None, description="which labels to ask for: {policy: all | fraction | rate_cap | uncertainty, ...}")
    overseer: OverseerSpec | None = Field(
        None, description="this learner's own overseer; default: timing.overseer")

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.model is None) == (self.algorithm is None):
            raise ValueError("a learner is either a River 'model' or an expert 'algorithm'; "
                             "give exactly one")
        if self.algorithm is not None and len(self.experts) < 2:
            raise ValueError(f"algorithm {self.algorithm!r} needs at least two experts")
        if self.model is not None and self.experts:
            raise ValueError("'experts' go with an 'algorithm', not with a River 'model'")
        if self.algorithm == "consensus" and self.query is not None:
            raise ValueError("the consensus learner decides itself when to ask; drop 'query'")
        return self

    @property
    def is_pool(self) -> bool:
        return self.algorithm is not None


class Windows(_Model):
    """Transition windows: ``length`` decisions from each shift's start, cut short by the next
    shift or the end (default: up to the next shift or the end). Recovery is the first step
    after which the trailing mean excess harm over ``smoothing`` decisions stays within
    ``tolerance * B`` of its pre-shift level."""

    length: int | None = Field(None, ge=1)
    smoothing: int = Field(500, ge=1)
    tolerance: float = Field(0.05, ge=0)


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

    concentration: float = Field(0.5, gt=0, le=1)
    outlier: float = Field(10.0, ge=1, description="times what a typical decision can do at worst")
    reaction: int | None = Field(None, ge=1, description="decisions; default from the feedback delay")
    burst_density: float = Field(0.5, gt=0, le=1)
    burst_share: float = Field(0.05, gt=0, le=1)
    burst_contrast: float = Field(4.0, ge=1, description="times the harm of an average reaction time")
    catastrophe: float | None = Field(None, ge=0)
    p0: float = Field(0.001, gt=0, lt=1)
    forecast: int | None = Field(None, ge=1, description="H; default: the horizon")


class Scenario(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    horizon: int = Field(ge=1, description="number of decisions per seed")
    seeds: int = Field(1, ge=1, description="number of independent repetitions")
    seed: int = Field(0, ge=0, description="master seed; per-seed seeds derive from it")
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
    sweep: dict[str, list[Any]] | None = Field(
        None, description="a grid for `lowstakes sweep`: field path -> values, e.g. "
                          "{'stream.shifts.0.at': [2000, 6000]}; `lowstakes run` uses the values above")

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, *, file=None, marks=None) -> Scenario:
        """Validate ``data``; raise :class:`ScenarioError` listing every problem."""
        if not isinstance(data, dict):
            raise ScenarioError([((), "a scenario is a mapping of fields (name, horizon, ...)")],
                                file=file, marks=marks)
        try:
            scenario = cls.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(_pydantic_problems(exc), file=file, marks=marks) from None
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

    def with_overrides(self, *, seeds: int | None = None, horizon: int | None = None) -> Scenario:
        scenario = self if horizon is None else self.scaled(horizon)
        if seeds is not None:
            scenario = Scenario.from_dict({**scenario.to_dict(), "seeds": seeds})
        return scenario

    def scaled(self, horizon: int) -> Scenario:
        """The same scenario over ``horizon`` decisions: shift positions, widths and window
        lengths scale in proportion (rounded, at least 1)."""
        factor = horizon / self.horizon

        def scale(n):
            return None if n is None else max(1, round(n * factor))

        data = self.to_dict()
        data["horizon"] = horizon
        for shift in data["stream"]["shifts"]:
            shift["at"], shift["width"] = scale(shift["at"]), scale(shift["width"])
        windows = data["windows"]
        windows["length"], windows["smoothing"] = scale(windows["length"]), scale(windows["smoothing"])
        return Scenario.from_dict(data)


def _model_at(path) -> type[BaseModel] | None:
    """The schema model that holds the fields at ``path`` (keys and list indices)."""
    model, annotation = Scenario, None
    for part in path:
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


def _pydantic_problems(exc: ValidationError):
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            model = _model_at(error["loc"][:-1])
            fields = [name for name in (model.model_fields if model else ())
                      if name not in ("choices",)]
            name = str(error["loc"][-1])
            message = (f"unknown field{suggest(name, fields)}; allowed: {', '.join(fields)}"
                       if fields else "unknown field")
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] != "value_error" and not isinstance(error.get("input"), dict | list):
            message = f"{message} (got {error['input']!r})"
        if any(isinstance(part, bool) for part in error["loc"]):
            message += " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the name)"
        yield error["loc"], message


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


def _read(path: Path) -> tuple[Any, dict]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError([((), f"cannot read the file: {exc.strerror}")], file=path) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        marks = {(): (mark.line + 1, mark.column + 1)} if mark else {}
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([((), f"YAML syntax error: {problem}")], file=path, marks=marks) from None
    return data, (_marks(node) if node is not None else {})
