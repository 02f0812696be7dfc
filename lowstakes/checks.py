"""Scenario checks that need more than one field: shifts against the horizon and the
source, params against the classes they configure, names against the registries.

Each check yields ``(path, message)`` pairs; :meth:`Scenario.from_dict` turns them into
one :class:`~lowstakes.errors.ScenarioError`. Checks build the objects a run would build
(a source, a feedback rule, a River model), so a scenario that validates can run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

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


def _say(exc: Exception) -> str:
    """What went wrong building an object from the scenario's params: the message, and the
    kind of error when it is not a plain ValueError (a constructor that choked on a type)."""
    return str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"


def problems(scenario) -> Iterator[tuple[tuple, str]]:
    """Every problem that needs more than one field, as (path, message) pairs."""
    yield from _shift_problems(scenario)
    source = SOURCES.get(scenario.stream.source)
    if source.task == "classification" and scenario.stream.label_noise >= 0.5:
        yield ("stream", "label_noise"), (
            f"must be below 0.5 (the chance that a label is the other class), got "
            f"{scenario.stream.label_noise}")
    yield from _source_problems(scenario, source)
    if scenario.comparator == "oracle" and not source.has_oracle:
        yield ("comparator",), (
            f"source {scenario.stream.source!r} has no oracle (its labels are data), and the "
            "comparator is 'oracle' (the default); set comparator to 'hindsight' or 'best_constant'"
        )
    if scenario.harm.function is not None:
        try:
            if not callable(load_attribute(scenario.harm.function)):
                yield ("harm", "function"), f"{scenario.harm.function} is not callable"
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield ("harm", "function"), _say(exc)
        if scenario.comparator == "best_constant":
            yield ("comparator",), "best_constant cannot be used with harm.function; use oracle or hindsight"
    stakes = scenario.harm.stakes
    if stakes is not None and stakes.function is not None:
        try:
            if not callable(load_attribute(stakes.function)):
                yield ("harm", "stakes", "function"), f"{stakes.function} is not callable"
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield ("harm", "stakes", "function"), _say(exc)
    for name, objective in scenario.objectives.items():
        yield from _objective_problems(("objectives", name), objective, source.task)
    yield from _concept_problems(scenario, source)
    yield from _feature_problems(scenario, source)
    contexts = _contexts(scenario, source)
    for name, learner in scenario.learners.items():
        yield from _learner_problems(scenario, ("learners", name), learner, contexts)


PROBE = 5  # contexts a River model learns and predicts on when its scenario is checked


def _contexts(scenario, source) -> list:
    """A few of the stream's own contexts and labels (under its base params) to try each River
    model on, or none when the source's params are wrong (reported elsewhere)."""
    try:
        xs, labels = source([dict(scenario.stream.params)], np.random.SeedSequence(0)).draw(
            np.zeros(PROBE, dtype=np.int64))
    except Exception:  # noqa: BLE001 - the source's own params are reported elsewhere
        return []
    return list(zip(xs, np.asarray(labels)[0].tolist(), strict=True))


def _objective_problems(path, objective, task):
    try:
        rule = FEEDBACK.get(objective.feedback)
    except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
        yield path + ("feedback",), _say(exc)
        return
    tasks = getattr(rule, "tasks", ("classification",))
    if task not in tasks:
        yield path + ("feedback",), (f"{objective.feedback} is for {' and '.join(tasks)} streams; "
                                     f"this stream is {task}")
        return
    try:
        build_feedback(objective.feedback, objective.params)
    except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
        yield path + ("params",), f"{objective.feedback}: {_say(exc)}"


def _learner_problems(scenario, path, learner, contexts):
    if learner.query is not None:
        try:
            build_query(learner.query)
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield path + ("query",), _say(exc)
    task = SOURCES.get(scenario.stream.source).task
    if learner.is_pool:
        if task == "regression":
            yield path + ("algorithm",), "expert algorithms and consensus are for classification streams"
            return
        yield from _pool_problems(scenario, path, learner, contexts)
        return
    if task == "regression" and learner.query and learner.query.get("policy") == "uncertainty":
        yield path + ("query",), "uncertainty queries need class probabilities: not for regression"
    yield from _river_problems(path, learner, task, contexts)


def _pool_problems(scenario, path, learner, contexts):
    imitator = learner.algorithm in IMITATORS
    if imitator:
        try:
            imitation_settings(learner.algorithm, learner.params)
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield path + ("params",), _say(exc)

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
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield path + ("params",), f"{learner.algorithm}: {_say(exc)}"
    for name, expert in learner.experts.items():
        where = path + ("experts", name)
        if expert.rule is not None:
            try:
                build_rule(expert.rule, expert.params)
            except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
                yield where, _say(exc)
        else:
            yield from _river_problems(where, expert, "classification", contexts)


def _river_problems(path, learner, task, contexts):
    names = [(path + ("model",), learner.model)]
    names += [(path + ("preprocess", i), s.model) for i, s in enumerate(learner.preprocess)]
    unknown = False
    for where, name in names:
        try:
            cls = resolve_river(name)
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            unknown = True
            yield where, _say(exc)
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
        model = build_model(learner.model, learner.params, [(s.model, s.params) for s in learner.preprocess],
                            task=task)
    except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
        yield path + ("params",), _say(exc)
        return
    # A param of the wrong kind (``optimizer: 3``) builds and fails only when the model first
    # learns: try it on a few of the stream's contexts here, not in the middle of a run.
    predict = model.predict_proba_one if task == "classification" else model.predict_one
    try:
        for x, y in contexts:
            predict(x)
            model.learn_one(x, y)
    except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
        yield path + ("params",), (f"{learner.model} builds but fails on this stream's contexts: "
                                   f"{type(exc).__name__}: {exc}")


def _source_problems(scenario, source):
    """Each segment's params, checked where they were written: the base params at
    ``stream.params``, a shift's at ``stream.shifts.K.params`` (and the key, when the problem
    is one param)."""
    name = scenario.stream.source
    segments = concept_params(scenario.stream.params, scenario.stream.shifts)
    written = [("stream", "params", scenario.stream.params)] + [
        ("stream", "shifts", k, "params", shift.params) for k, shift in enumerate(scenario.stream.shifts)]
    for params, (*path, own) in zip(segments, written, strict=True):
        try:
            source.check_names(own)
            source.check([params])
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            message = _say(exc)
            keys = [k for k in own if re.search(rf"\b{re.escape(str(k))}\b", message)]
            where = tuple(path) + ((keys[0],) if len(keys) == 1 else ())
            yield where, f"{name}: {message}"
            return  # later segments inherit these params: one message is enough
    if len(segments) > 1:
        try:  # the segments together (a source may refuse a combination, e.g. shifts at all)
            source.check(segments)
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield ("stream", "shifts"), f"{name}: {_say(exc)}"


def _concept_problems(scenario, source):
    """Concept indices (a ``concept`` rule, a ``stale`` proxy) that the stream does not have."""
    count = source.n_concepts(1 + len(scenario.stream.shifts))
    available = f"this stream has {count} concept(s), 0..{count - 1}"
    for name, objective in scenario.objectives.items():
        concept = objective.params.get("concept", 0) if objective.feedback == "stale" else None
        if isinstance(concept, int) and not isinstance(concept, bool) and concept >= count:
            yield (("objectives", name, "params", "concept"),
                   f"stale: concept {concept} does not exist; {available}")
    for lname, learner in scenario.learners.items():
        for ename, expert in learner.experts.items():
            path = ("learners", lname, "experts", ename, "params")
            rules = [(path, expert.rule, expert.params)]
            imitate = expert.params.get("imitate") if expert.rule == "deceptive" else None
            if isinstance(imitate, dict):
                rules.append((path + ("imitate", "params"), imitate.get("rule"), imitate.get("params") or {}))
            for where, rule, params in rules:
                concept = params.get("concept", 0) if rule == "concept" else None
                if isinstance(concept, int) and not isinstance(concept, bool) and concept >= count:
                    yield where + ("concept",), f"concept rule: concept {concept} does not exist; {available}"


def _feature_problems(scenario, source):
    """Feature names (a threshold rule's ``features``, a ``region``) that the
    stream's contexts do not have: refused here, not as a KeyError in the middle of a run."""
    try:
        names = source.feature_names(dict(scenario.stream.params))
    except Exception:  # noqa: BLE001 - the source's own params are reported elsewhere
        return
    known = set(names) | {str(n) for n in names}
    listing = ", ".join(map(str, names))

    def unknown(features):
        return [f for f in features
                if not (isinstance(f, str | int) and not isinstance(f, bool) and f in known)]

    def box(path, region):
        if isinstance(region, dict):
            for f in unknown(region):
                yield path + (f,), f"{f!r} is not a feature of this stream; its features are {listing}"

    def rule(path, name, params):
        if name == "threshold" and isinstance(params.get("features"), list):
            for f in unknown(params["features"]):
                yield (path + ("features",),
                       f"{f!r} is not a feature of this stream; its features are {listing}")
        if name == "deceptive":
            yield from box(path + ("region",), params.get("region"))
            imitate = params.get("imitate")
            if isinstance(imitate, dict):
                yield from rule(path + ("imitate", "params"), imitate.get("rule"),
                                imitate.get("params") or {})

    stakes = scenario.harm.stakes
    if stakes is not None and stakes.region:
        yield from box(("harm", "stakes", "region"), stakes.region)
    for name, objective in scenario.objectives.items():
        if objective.feedback == "region_flip":
            yield from box(("objectives", name, "params", "region"), objective.params.get("region"))
    for lname, learner in scenario.learners.items():
        for ename, expert in learner.experts.items():
            yield from rule(("learners", lname, "experts", ename, "params"), expert.rule, expert.params)
    # A focus (stream.params.focus, a shift's) is the source's own param: its check names it.


def _shift_problems(scenario):
    shiftable = getattr(SOURCES.get(scenario.stream.source), "shiftable", None)
    source_params = getattr(SOURCES.get(scenario.stream.source), "params", {})
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
            known = source_params or shift.params  # an unknown name gets its own message
            for key in (set(shift.params) & set(known)) - set(shiftable):
                yield path + ("params", key), (
                    f"{scenario.stream.source} cannot shift {key!r}; it can shift: "
                    f"{', '.join(shiftable) or 'nothing'}"
                )
        end = shift.at + shift.width
