"""Scenario checks that need more than one field: shifts against the horizon and the
source, params against the classes they configure, names against the registries.

Each check yields ``(path, message)`` pairs; :meth:`Scenario.from_dict` turns them into
one :class:`~lowstakes.errors.ScenarioError`. Checks build the objects a run would build
(a source, a feedback rule, a River model), so a scenario that validates can run.
"""

from __future__ import annotations

from collections.abc import Iterator

from lowstakes.consensus import IMITATORS
from lowstakes.consensus import settings as imitation_settings
from lowstakes.experts import build_algorithm
from lowstakes.learners import build_model
from lowstakes.objectives import FEEDBACK, build_feedback
from lowstakes.oversight import build_query
from lowstakes.pools import build_rule
from lowstakes.registry import load_attribute, resolve_river
from lowstakes.streams import SOURCES, concept_params

__all__ = ["problems"]


def problems(scenario) -> Iterator[tuple[tuple, str]]:
    """Every problem that needs more than one field, as (path, message) pairs."""
    yield from _shift_problems(scenario)
    source = SOURCES.get(scenario.stream.source)
    if source.task == "classification" and scenario.stream.label_noise >= 0.5:
        yield ("stream", "label_noise"), (
            f"must be below 0.5 (the chance that a label is the other class), got "
            f"{scenario.stream.label_noise}")
    try:
        source.check(concept_params(scenario.stream.params, scenario.stream.shifts))
    except (ValueError, TypeError) as exc:
        yield ("stream", "params"), f"{scenario.stream.source}: {exc}"
    if scenario.comparator == "oracle" and not source.has_oracle:
        yield ("comparator",), (
            f"source {scenario.stream.source!r} has no oracle (its labels are data), and the "
            "comparator is 'oracle' (the default); set comparator to 'hindsight' or 'best_constant'"
        )
    if scenario.harm.function is not None:
        try:
            if not callable(load_attribute(scenario.harm.function)):
                yield ("harm", "function"), f"{scenario.harm.function} is not callable"
        except ValueError as exc:
            yield ("harm", "function"), str(exc)
        if scenario.comparator == "best_constant":
            yield ("comparator",), "best_constant cannot be used with harm.function; use oracle or hindsight"
    stakes = scenario.harm.stakes
    if stakes is not None and stakes.function is not None:
        try:
            if not callable(load_attribute(stakes.function)):
                yield ("harm", "stakes", "function"), f"{stakes.function} is not callable"
        except ValueError as exc:
            yield ("harm", "stakes", "function"), str(exc)
    for name, objective in scenario.objectives.items():
        yield from _objective_problems(("objectives", name), objective, source.task)
    for name, learner in scenario.learners.items():
        yield from _learner_problems(scenario, ("learners", name), learner)


def _objective_problems(path, objective, task):
    try:
        rule = FEEDBACK.get(objective.feedback)
    except ValueError as exc:
        yield path + ("feedback",), str(exc)
        return
    tasks = getattr(rule, "tasks", ("classification",))
    if task not in tasks:
        yield path + ("feedback",), (f"{objective.feedback} is for {' and '.join(tasks)} streams; "
                                     f"this stream is {task}")
        return
    try:
        build_feedback(objective.feedback, objective.params)
    except ValueError as exc:
        yield path + ("params",), f"{objective.feedback}: {exc}"


def _learner_problems(scenario, path, learner):
    if learner.query is not None:
        try:
            build_query(learner.query)
        except ValueError as exc:
            yield path + ("query",), str(exc)
    task = SOURCES.get(scenario.stream.source).task
    if learner.is_pool:
        if task == "regression":
            yield path + ("algorithm",), "expert algorithms and consensus are for classification streams"
            return
        yield from _pool_problems(scenario, path, learner)
        return
    if task == "regression" and learner.query and learner.query.get("policy") == "uncertainty":
        yield path + ("query",), "uncertainty queries need class probabilities: not for regression"
    yield from _river_problems(path, learner, task)


def _pool_problems(scenario, path, learner):
    imitator = learner.algorithm in IMITATORS
    if imitator:
        try:
            imitation_settings(learner.algorithm, learner.params)
        except ValueError as exc:
            yield path + ("params",), str(exc)

    if learner.algorithm == "hedge_interleaved":
        delay = scenario.timing.feedback_delay
        if delay.kind == "exponential" or scenario.timing.arrivals.poisson is not None:
            yield path + ("algorithm",), (
                "hedge_interleaved needs a fixed feedback delay and fixed arrival spacing")
    params = dict(learner.params)
    if learner.algorithm == "hedge_interleaved":
        params.setdefault("delay", 0)
    if not imitator:
        try:
            build_algorithm(learner.algorithm, len(learner.experts), scenario.horizon, params)
        except (TypeError, ValueError) as exc:
            yield path + ("params",), f"{learner.algorithm}: {exc}"
    for name, expert in learner.experts.items():
        where = path + ("experts", name)
        if expert.rule is not None:
            try:
                build_rule(expert.rule, expert.params)
            except ValueError as exc:
                yield where, str(exc)
        else:
            yield from _river_problems(where, expert)


def _river_problems(path, learner, task="classification"):
    names = [(path + ("model",), learner.model)]
    names += [(path + ("preprocess", i), s.model) for i, s in enumerate(learner.preprocess)]
    unknown = False
    for where, name in names:
        try:
            cls = resolve_river(name)
        except ValueError as exc:
            unknown = True
            yield where, str(exc)
            continue
        method = "predict_proba_one" if task == "classification" else "predict_one"
        if where[-1] == "model" and not callable(getattr(cls, method, None)):
            unknown = True
            kind = "classifier" if task == "classification" else "regressor"
            yield where, f"{name} is not a River {kind}: it has no {method}()"
        elif where[-1] == "model" and task == "regression" and hasattr(cls, "predict_proba_one"):
            unknown = True
            yield where, f"{name} is a classifier, not a River regressor; this stream is regression"
    if unknown:
        return
    try:
        build_model(learner.model, learner.params, [(s.model, s.params) for s in learner.preprocess],
                    task=task)
    except ValueError as exc:
        yield path + ("params",), str(exc)


def _shift_problems(scenario):
    shiftable = getattr(SOURCES.get(scenario.stream.source), "shiftable", None)
    end = 0
    for i, shift in enumerate(scenario.stream.shifts):
        path = ("stream", "shifts", i)
        if shift.at < end:
            yield path + ("at",), (
                f"shift starts at {shift.at}, before the previous shift has finished "
                f"(step {end}); shifts must be in order and not overlap"
            )
        if shift.at + shift.width > scenario.horizon:
            yield path + ("at",), (
                f"shift at {shift.at} with width {shift.width} ends beyond the horizon "
                f"({scenario.horizon})"
            )
        if shiftable is not None:
            for key in set(shift.params) - set(shiftable):
                yield path + ("params", key), (
                    f"{scenario.stream.source} cannot shift {key!r}; it can shift: "
                    f"{', '.join(shiftable) or 'nothing'}"
                )
        end = shift.at + shift.width
