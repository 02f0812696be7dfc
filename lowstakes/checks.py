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

from lowstakes.bandit_policies import ADVICE, BANDIT_ALGORITHMS, EXPLORATION
from lowstakes.bandits import Exp4
from lowstakes.consensus import IMITATORS
from lowstakes.consensus import settings as imitation_settings
from lowstakes.experts import build_algorithm
from lowstakes.learners import build_model
from lowstakes.objectives import FEEDBACK, build_feedback
from lowstakes.oversight import build_query
from lowstakes.policies import KIND_MODES, learner_kind
from lowstakes.pools import build_rule, rule_class
from lowstakes.registry import check_params, load_attribute, resolve_river
from lowstakes.streams import SOURCES, concept_params

__all__ = ["problems"]

#: Expert algorithms made of d+1 interleaved copies, for a fixed delay of d decisions.
INTERLEAVED = ("hedge_interleaved", "fixed_share_interleaved")


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
    classes = _classes(scenario, source)
    yield from _matrix_problems(scenario, source, classes)
    yield from _concept_problems(scenario, source)
    yield from _feature_problems(scenario, source)
    yield from _turn_problems(scenario)
    contexts = _contexts(scenario, source)
    for name, learner in scenario.learners.items():
        yield from _learner_problems(scenario, ("learners", name), learner, contexts)
        yield from _mode_problems(scenario, ("learners", name), learner, source, classes)


def _classes(scenario, source) -> int | None:
    """The source's number of classes, or None when its params are wrong (reported elsewhere)."""
    try:
        return source.classes(dict(scenario.stream.params))
    except Exception:  # noqa: BLE001 - the source's own params are reported elsewhere
        return None


def _matrix_problems(scenario, source, classes):
    """Cost matrices against the source: one column per class, the same actions everywhere;
    and what only binary sources support (label noise, binary feedback rules)."""
    if classes is None:
        return
    if source.task == "regression":
        for path, costs in _all_costs(scenario):
            if costs.matrix is not None:
                yield path + ("matrix",), "a regression source has no classes: its harm is the absolute error"
        return
    if classes > 2 and scenario.stream.label_noise > 0:
        yield ("stream", "label_noise"), (f"label noise flips a binary label; source "
                                          f"{scenario.stream.source!r} has {classes} classes "
                                          "(its P(y | x) is its noise)")
    actions = None
    for path, costs in _all_costs(scenario):
        if costs.matrix is None:
            if classes > 2:
                yield path, (f"source {scenario.stream.source!r} has {classes} classes: give a cost 'matrix' "
                             f"with {classes} columns (or zero_one, arms)")
            continue
        if costs.matrix == "arms" and not getattr(source, "arms", False):
            yield path + ("matrix",), (f"the 'arms' matrix is for a k_armed source, whose outcomes say which "
                                       f"arms do harm; source {scenario.stream.source!r} is not one")
            continue
        try:
            matrix = costs.matrix_for(classes)
        except ValueError as exc:
            yield path + ("matrix",), str(exc)
            continue
        if matrix.shape[1] != classes:
            yield path + ("matrix",), (f"has {matrix.shape[1]} columns; source {scenario.stream.source!r} "
                                       f"has {classes} classes (one column each)")
        elif actions is None:
            actions = matrix.shape[0]
        elif matrix.shape[0] != actions:
            yield path + ("matrix",), (f"has {matrix.shape[0]} rows (actions); the harm has {actions}: "
                                       "every objective chooses among the same actions")
    if classes > 2:
        for name, objective in scenario.objectives.items():
            try:
                rule = FEEDBACK.get(objective.feedback)
            except Exception:  # noqa: BLE001 - reported by the objective's own checks
                continue
            if not getattr(rule, "multiclass", False):
                yield ("objectives", name, "feedback"), (
                    f"{objective.feedback} gives binary labels; source {scenario.stream.source!r} has "
                    f"{classes} classes")


def _all_costs(scenario):
    yield ("harm",), scenario.harm
    for name, objective in scenario.objectives.items():
        if objective.costs is not None:
            yield ("objectives", name, "costs"), objective.costs


def _mode_problems(scenario, path, learner, source, classes):
    """Each learner against every objective's feedback mode and against the source."""
    if learner.model is not None and learner.algorithm is None and not _resolves(learner.model):
        return  # an unknown model is reported by its own checks; what it learns from is unknown
    kind = learner_kind(learner)
    where = path + (("model",) if learner.algorithm is None else ("algorithm",))
    name = learner.model or learner.algorithm
    modes = KIND_MODES[kind]
    for oname, objective in scenario.objectives.items():
        if objective.feedback_mode not in modes:
            yield where, (f"{name} learns from {' or '.join(modes)} feedback; objective {oname!r} gives "
                          f"{objective.feedback_mode} feedback (objectives.{oname}.feedback_mode)")
    bandit = kind in BANDIT_KINDS
    if bandit and source.task == "regression":
        yield where, f"{name} chooses among actions; this stream is regression (its action is a prediction)"
        return
    contextual = kind == "oracle_bandit" or (kind == "river_bandit" and _is_contextual(learner.model))
    if contextual and not source.contextual:
        yield where, (f"{name} learns from contexts; source {scenario.stream.source!r} has none "
                      "(use a non-contextual policy: bandit.UCB, exp3, ...)")
    if classes is not None and classes > 2 and kind in ("pool", "imitation"):
        yield where, (f"{name} is for binary decisions; source {scenario.stream.source!r} has "
                      f"{classes} classes")
    if classes is not None and classes > 2 and kind == "river" and source.task == "classification":
        try:
            model = build_model(learner.model, learner.params)
        except Exception:  # noqa: BLE001 - reported by the model's own checks
            return
        if not getattr(model, "_multiclass", False):
            yield where, (f"{name} is a binary classifier; source {scenario.stream.source!r} has {classes} "
                          "classes (use a multi-class model, or wrap it in multiclass.OneVsRestClassifier)")


def _is_contextual(model: str) -> bool:
    """Whether a River bandit policy (a name that resolves: its kind says so) reads contexts."""
    from river.bandit.base import ContextualPolicy

    return issubclass(resolve_river(model), ContextualPolicy)


def _resolves(model: str) -> bool:
    try:
        resolve_river(model)
    except Exception:  # noqa: BLE001 - whatever the complaint, the name does not give a class
        return False
    return True


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
    kind = learner_kind(learner)
    if kind in BANDIT_KINDS and learner.query and learner.query.get("policy") == "uncertainty":
        yield path + ("query",), ("uncertainty queries need class probabilities; a learner among K actions "
                                  "has none (use fraction or rate_cap)")
    if kind == "exp3":
        try:
            check_params(BANDIT_ALGORITHMS[learner.algorithm], learner.params,
                         supplied=("k", "horizon", "runs"))
            BANDIT_ALGORITHMS[learner.algorithm](k=2, horizon=scenario.horizon, **learner.params)
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield path + ("params",), f"{learner.algorithm}: {_say(exc)}"
        return
    if kind == "exp4":
        try:
            check_params(Exp4, learner.params, supplied=("k", "n", "horizon", "runs"))
            Exp4(k=2, n=len(learner.experts), horizon=scenario.horizon, **learner.params)
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield path + ("params",), f"exp4: {_say(exc)}"
        source = SOURCES.get(scenario.stream.source)
        for name, expert in learner.experts.items():
            where = path + ("experts", name)
            if expert.rule not in ADVICE.names():
                yield where, (f"exp4's experts advise actions: rule {' or '.join(ADVICE.names())}, not "
                              f"{expert.model or expert.rule!r} (a River model cannot learn from bandit "
                              "feedback)")
                continue
            try:
                ADVICE.get(expert.rule)(**expert.params)
            except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
                yield where + ("params",), _say(exc)
                continue
            if expert.rule == "concept" and not source.has_oracle:
                yield where + ("rule",), (f"concept advice needs P(y | x); source {scenario.stream.source!r} "
                                          "has no oracle")
            if expert.rule == "action":
                try:
                    actions = scenario.harm_matrix().shape[0]
                except ValueError:
                    continue  # reported with the matrix
                if expert.params.get("action", 0) >= actions:
                    yield where + ("params", "action"), (f"action {expert.params['action']} does not exist; "
                                                         f"there are {actions} actions (0..{actions - 1})")
        return
    if kind == "river_bandit":
        if learner.preprocess:
            yield path + ("preprocess",), f"{learner.model} is a bandit policy: it takes no preprocessing"
        try:
            build_model(learner.model, learner.params, task="bandit")
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield path + ("params",), _say(exc)
        return
    if kind == "oracle_bandit":
        yield from _explore_problems(path + ("explore",), learner.explore)
        yield from _river_problems(path, learner, "regression", [(x, 0.5) for x, _ in contexts])
        return
    if learner.is_pool:
        if task == "regression":
            yield path + ("algorithm",), "expert algorithms and consensus are for classification streams"
            return
        yield from _pool_problems(scenario, path, learner, contexts)
        return
    if task == "regression" and learner.query and learner.query.get("policy") == "uncertainty":
        yield path + ("query",), "uncertainty queries need class probabilities: not for regression"
    yield from _river_problems(path, learner, task, contexts)


#: Learner kinds that choose among K actions from costs (lowstakes.bandit_policies).
BANDIT_KINDS = ("exp3", "exp4", "river_bandit", "oracle_bandit")


def _explore_problems(path, explore):
    policy = explore.get("policy", "greedy")
    if policy not in EXPLORATION:
        yield path + ("policy",), f"unknown exploration {policy!r}; one of: {', '.join(EXPLORATION)}"
        return
    for key, value in explore.items():
        if key == "policy":
            continue
        if key not in EXPLORATION[policy]:
            takes = ", ".join(EXPLORATION[policy]) or "no params"
            yield path + (key,), f"{policy} does not take {key!r}; it takes: {takes}"
        elif isinstance(value, bool) or not isinstance(value, int | float):
            yield path + (key,), f"expected a number, got {value!r}"
        elif key == "epsilon" and not 0 <= value <= 1:
            yield path + (key,), f"must be in [0, 1], got {value}"
        elif key == "gamma" and not value > 0:
            yield path + (key,), f"must be > 0, got {value}"


def _pool_problems(scenario, path, learner, contexts):
    imitator = learner.algorithm in IMITATORS
    if imitator:
        try:
            imitation_settings(learner.algorithm, learner.params)
        except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
            yield path + ("params",), _say(exc)

    if learner.algorithm in INTERLEAVED:
        name, delay = learner.algorithm, scenario.timing.feedback_delay
        if delay.kind == "exponential" or scenario.timing.arrivals.poisson is not None:
            yield path + ("algorithm",), f"{name} needs a fixed feedback delay and fixed arrival spacing"
        elif (learner.overseer or scenario.timing.overseer) is not None:
            yield path + ("algorithm",), (
                f"{name} needs every label within the fixed delay; an overseer's queue and "
                "service make labels later than that (use hedge: its bound reads the delays that happened)")
        elif learner.query is not None and learner.query.get("policy", "all") != "all":
            yield path + ("query",), (
                f"{name} needs every label within the fixed delay; a query policy leaves some "
                "labels unasked (use hedge: its bound reads the labels that never came)")
    params = dict(learner.params)
    if learner.algorithm in INTERLEAVED:
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
                rule_class(expert.rule)
            except Exception as exc:  # noqa: BLE001 - the user's rule, whatever the complaint
                yield where + ("rule",), _say(exc)
                continue
            try:
                build_rule(expert.rule, expert.params)
            except Exception as exc:  # noqa: BLE001 - the user's params, whatever the complaint
                yield where + ("params",), _say(exc)
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
                if not isinstance(params, dict):
                    continue  # not a mapping: the rule's own check says so
                concept = params.get("concept", 0) if rule == "concept" else None
                if isinstance(concept, int) and not isinstance(concept, bool) and concept >= count:
                    yield where + ("concept",), f"concept rule: concept {concept} does not exist; {available}"


def _turn_problems(scenario):
    """A deceptive expert that turns only after the last decision: it would never defect,
    and the run would look like a study of deception with no deception in it."""
    for lname, learner in scenario.learners.items():
        for ename, expert in learner.experts.items():
            after = expert.params.get("after") if expert.rule == "deceptive" else None
            if isinstance(after, int | float) and not isinstance(after, bool) and after >= scenario.horizon:
                yield (("learners", lname, "experts", ename, "params", "after"),
                       f"after {after} is not below the horizon ({scenario.horizon}): this expert would "
                       "never defect (with --horizon, after scales with the horizon)")


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
        if not isinstance(params, dict):
            return  # not a mapping: the rule's own check says so
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
