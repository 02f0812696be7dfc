# ruff: noqa: E501 - a table of exact messages reads best one case per row
"""Every cross-field check of lowstakes/checks.py, pinned to its exact (field path, message).

A researcher's scenario must fail with the field it names and a message they can act on, so
the table compares the whole list of problems: a check that names the wrong field, words its
message differently, fires on a value it should allow or keeps quiet on one it should refuse
fails here. The edge cases (label noise just below 0.5, a shift ending exactly at the
horizon, a concept index that exists) must validate.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from river import bandit, proba

from lowstakes import ScenarioError
from lowstakes.learners import build_model
from lowstakes.scenario import Scenario
from lowstakes.streams import Source

BASE = {
    "name": "checks", "horizon": 1000,
    "harm": {"bound": 1.0, "false_positive": 1.0, "false_negative": 1.0},
    "stream": {"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
               "shifts": [{"at": 500, "params": {"variant": 3}}]},
    "objectives": {"aligned": {"feedback": "truth"}},
    "learners": {"lr": {"model": "linear_model.LogisticRegression"}},
}
FRIEDMAN = {"source": "friedman", "label_noise": 0.0}
REGRESSOR = {"r": {"model": "linear_model.LinearRegression"}}
FEATURES = "its features are 0, 1, 2"
RIVER_NAMES = ("; write it as 'submodule.Class' (e.g. 'linear_model.LogisticRegression') or "
               "'module:attribute' for your own")


def scenario(**fields):
    """BASE with fields replaced; ``a__b__0`` is the path a, b, 0."""
    data = copy.deepcopy(BASE)
    for path, value in fields.items():
        *parents, last = path.split("__")
        target = data
        for key in parents:
            target = target[int(key) if isinstance(target, list) else key]
        target[last] = value
    return data


def regression(**fields):
    return scenario(stream=FRIEDMAN, objectives={"a": {"feedback": "truth"}}, learners=REGRESSOR) | fields


def pool(experts=None, **fields):
    experts = experts or {"a": {"rule": "constant"}, "b": {"rule": "constant", "params": {"label": 1}}}
    return {"pool": {"algorithm": "hedge", "experts": experts, **fields}}


def expert(rule, **params):
    return pool({"a": {"rule": rule, "params": params}, "b": {"rule": "constant"}})


POOL_A = ("learners", "pool", "experts", "a")
POOL_B = ("learners", "pool", "experts", "b")


KARMED = {"name": "k", "horizon": 1000, "harm": {"matrix": "arms"},
          "stream": {"source": "k_armed", "params": {"means": [0.2, 0.5, 0.8]}},
          "objectives": {"aligned": {"feedback_mode": "bandit"}},
          "learners": {"ucb": {"model": "bandit.UCB", "params": {"delta": 1.0}}}}
CONTEXTUAL = {"name": "c", "horizon": 1000, "harm": {"matrix": "zero_one"},
              "stream": {"source": "contextual", "params": {"n_classes": 3}},
              "objectives": {"aligned": {"feedback_mode": "bandit"}},
              "learners": {"o": {"model": "linear_model.LinearRegression", "explore": {"policy": "squarecb"}}}}


def k_action(base, **fields):
    """A K-action scenario (KARMED or CONTEXTUAL) with fields replaced, as :func:`scenario`."""
    data = copy.deepcopy(base)
    for path, value in fields.items():
        *parents, last = path.split("__")
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
    return data


class TwoTasks:
    """A user's feedback rule (``test_checks:TwoTasks``) made for two other kinds of stream."""

    tasks = ("regression", "ranking")

    def feedback(self, block, rng):
        return block.y

CASES = {
    # label noise: below 0.5 on classification streams
    "label noise 0.5": (scenario(stream__label_noise=0.5), [
        (("stream", "label_noise"), "must be below 0.5 (the chance that a label is the other class), got 0.5")]),
    "label noise 0.499": (scenario(stream__label_noise=0.499), []),
    "two problems, both reported": (scenario(stream__label_noise=0.6, harm__function="math:pi"), [
        (("stream", "label_noise"), "must be below 0.5 (the chance that a label is the other class), got 0.6"),
        (("harm", "function"), "math:pi is not callable")]),
    # the comparator
    "oracle on a data set": (scenario(stream={"source": "phishing"}), [
        (("comparator",), "source 'phishing' has no oracle (its labels are data), and the comparator is "
                          "'oracle' (the default); set comparator to 'hindsight' or 'best_constant'")]),
    "hindsight on a data set": (scenario(stream={"source": "phishing"}, comparator="hindsight"), []),
    # harm.function and harm.stakes.function
    "harm function not callable": (scenario(harm__function="math:pi"), [
        (("harm", "function"), "math:pi is not callable")]),
    "harm function missing": (scenario(harm__function="math:nope"), [
        (("harm", "function"), "module 'math' has no attribute 'nope'")]),
    "harm function without a colon": (scenario(harm__function="math"), [
        (("harm", "function"), "'math' is not of the form 'module:attribute'")]),
    "harm function with best_constant": (scenario(harm__function="operator:add", comparator="best_constant"), [
        (("comparator",), "best_constant cannot be used with harm.function; use oracle or hindsight")]),
    "harm function with hindsight": (scenario(harm__function="operator:add", comparator="hindsight"), []),
    "stakes function not callable": (scenario(harm__stakes={"function": "math:pi"}), [
        (("harm", "stakes", "function"), "math:pi is not callable")]),
    "stakes function cannot import": (scenario(harm__stakes={"function": "nomodule_xyz:f"}), [
        (("harm", "stakes", "function"), "cannot import module 'nomodule_xyz': No module named 'nomodule_xyz'")]),
    "stakes region outside the features": (scenario(harm__stakes={"region": {"9": [0, 1]}, "factor": 1.0}), [
        (("harm", "stakes", "region", "9"), f"'9' is not a feature of this stream; {FEATURES}")]),
    # objectives
    "unknown feedback": (scenario(objectives={"m": {"feedback": "stael"}}), [
        (("objectives", "m", "feedback"), "unknown feedback 'stael' (did you mean 'stale'?); known: noise, "
                                          "region_flip, stale, truth (or 'module:attribute' for your own)")]),
    "feedback params": (scenario(objectives={"m": {"feedback": "noise", "params": {"rate": 0.7}}}), [
        (("objectives", "m", "params"), "noise: rate must be in [0, 0.5), got 0.7")]),
    "classification feedback on regression": (
        regression(objectives={"m": {"feedback": "noise"}}), [
            (("objectives", "m", "feedback"), "noise is for classification streams; this stream is regression")]),
    "stale on regression": (regression(objectives={"m": {"feedback": "stale"}}), []),
    "a user's rule, classification unless it says otherwise": (
        regression(objectives={"m": {"feedback": "builtins:int"}}), [
            (("objectives", "m", "feedback"), "builtins:int is for classification streams; this stream is regression")]),
    "a user's rule for two other kinds of stream": (scenario(objectives={"m": {"feedback": "test_checks:TwoTasks"}}), [
        (("objectives", "m", "feedback"),
         "test_checks:TwoTasks is for regression and ranking streams; this stream is classification")]),
    "a concept param on another feedback": (scenario(objectives={"m": {"feedback": "noise", "params": {"concept": 5}}}), [
        (("objectives", "m", "params"), "noise: unknown param 'concept'; SymmetricNoise takes: rate")]),
    "stale concept beyond the stream": (scenario(objectives={"m": {"feedback": "stale", "params": {"concept": 2}}}), [
        (("objectives", "m", "params", "concept"),
         "stale: concept 2 does not exist; this stream has 2 concept(s), 0..1")]),
    "stale concept, the last one": (scenario(objectives={"m": {"feedback": "stale", "params": {"concept": 1}}}), []),
    "region_flip region outside the features": (
        scenario(objectives={"m": {"feedback": "region_flip", "params": {"region": {"q": [0, 1]}}}}), [
            (("objectives", "m", "params", "region", "q"), f"'q' is not a feature of this stream; {FEATURES}")]),
    # queries
    "query param out of range": (scenario(learners__lr__query={"policy": "fraction", "rate": 2}), [
        (("learners", "lr", "query"), "rate must be in [0, 1], got 2")]),
    "query param missing": (scenario(learners__lr__query={"policy": "fraction"}), [
        (("learners", "lr", "query"), "missing param 'rate'; Fraction takes: rate")]),
    "uncertainty query on regression": (
        regression(learners={"r": {"model": "linear_model.LinearRegression", "query": {"policy": "uncertainty"}}}), [
            (("learners", "r", "query"), "uncertainty queries need class probabilities: not for regression")]),
    "fraction query on regression": (
        regression(learners={"r": {"model": "linear_model.LinearRegression",
                                   "query": {"policy": "fraction", "rate": 0.5}}}), []),
    # pools
    "pool on regression": (regression(learners=pool()), [
        (("learners", "pool", "algorithm"), "expert algorithms and consensus are for classification streams")]),
    "consensus params": (scenario(learners=pool(algorithm="consensus", params={"alpha": 2})), [
        (("learners", "pool", "params"),
         "need 0 < alpha <= 1, 0 <= epsilon < 1 and 0 <= share < 1, got 2.0, 0.2, 0.0")]),
    "consensus unknown param": (scenario(learners=pool(algorithm="consensus", params={"alphaa": 0.1})), [
        (("learners", "pool", "params"), "consensus takes alpha, epsilon, share, not ['alphaa']")]),
    "hedge_interleaved, exponential delay": (
        scenario(learners=pool(algorithm="hedge_interleaved"), timing={"feedback_delay": {"exponential": 5}}), [
            (("learners", "pool", "algorithm"),
             "hedge_interleaved needs a fixed feedback delay and fixed arrival spacing")]),
    "hedge_interleaved, Poisson arrivals": (
        scenario(learners=pool(algorithm="hedge_interleaved"), timing={"arrivals": {"poisson": 1}}), [
            (("learners", "pool", "algorithm"),
             "hedge_interleaved needs a fixed feedback delay and fixed arrival spacing")]),
    "hedge_interleaved, an overseer": (
        scenario(learners=pool(algorithm="hedge_interleaved"),
                 timing={"feedback_delay": {"fixed": 3}, "overseer": {"capacity": 1, "service": {"fixed": 0.5}}}), [
            (("learners", "pool", "algorithm"),
             "hedge_interleaved needs every label within the fixed delay; an overseer's queue and service make "
             "labels later than that (use hedge: its bound reads the delays that happened)")]),
    "hedge_interleaved, a query policy": (
        scenario(learners=pool(algorithm="hedge_interleaved", query={"policy": "fraction", "rate": 0.5}),
                 timing={"feedback_delay": {"fixed": 3}}), [
            (("learners", "pool", "query"),
             "hedge_interleaved needs every label within the fixed delay; a query policy leaves some labels "
             "unasked (use hedge: its bound reads the labels that never came)")]),
    "fixed_share_interleaved, exponential delay": (
        scenario(learners=pool(algorithm="fixed_share_interleaved"), timing={"feedback_delay": {"exponential": 5}}), [
            (("learners", "pool", "algorithm"),
             "fixed_share_interleaved needs a fixed feedback delay and fixed arrival spacing")]),
    "hedge_interleaved, fixed delay": (
        scenario(learners=pool(algorithm="hedge_interleaved"), timing={"feedback_delay": {"fixed": 3}}), []),
    "algorithm param out of range": (scenario(learners=pool(params={"eta": -1})), [
        (("learners", "pool", "params"), "hedge: eta must be positive, got -1")]),
    "algorithm param misspelt": (scenario(learners=pool(params={"etaa": 1})), [
        (("learners", "pool", "params"), "hedge: unknown param 'etaa' (did you mean 'eta'?); Hedge takes: eta")]),
    "expert rule params": (scenario(learners=expert("constant", label=7)), [
        (POOL_A + ("params",), "label must be 0 or 1, got 7")]),
    "a deceptive expert that turns after the last decision": (scenario(learners=pool({
        "a": {"rule": "constant"}, "b": {"rule": "deceptive", "params": {"imitate": {"rule": "constant"},
                                                                          "after": 1000}}})), [
        (POOL_B + ("params", "after"), "after 1000 is not below the horizon (1000): this expert would never "
                                       "defect (with --horizon, after scales with the horizon)")]),
    "a deceptive expert that turns at the last decision": (scenario(learners=pool({
        "a": {"rule": "constant"}, "b": {"rule": "deceptive", "params": {"imitate": {"rule": "constant"},
                                                                          "after": 999}}})), []),
    "expert rule unknown": (scenario(learners=pool({"a": {"rule": "constnt"}, "b": {"rule": "constant"}})), [
        (POOL_A + ("rule",), "unknown rule 'constnt' (did you mean 'constant'?); known: concept, constant, deceptive, "
                             "threshold (or 'module:attribute' for your own)")]),
    "expert River model misspelt": (
        scenario(learners=pool({"a": {"model": "linear_model.LogisticRegresion"}, "b": {"rule": "constant"}})), [
            (POOL_A + ("model",), "unknown River class 'linear_model.LogisticRegresion' (did you mean "
                                  "'linear_model.LogisticRegression'?)" + RIVER_NAMES)]),
    "expert River model fails on the stream": (
        scenario(learners=pool({"a": {"model": "linear_model.LogisticRegression", "params": {"optimizer": 3}},
                                "b": {"rule": "constant"}})), [
            (POOL_A + ("params",), "linear_model.LogisticRegression builds but fails on this stream's contexts: "
                                   "AttributeError: 'int' object has no attribute 'look_ahead'")]),
    "concept rule beyond the stream": (scenario(learners=expert("concept", concept=2)), [
        (POOL_A + ("params", "concept"), "concept rule: concept 2 does not exist; this stream has 2 concept(s), 0..1")]),
    "concept rule, the last one": (scenario(learners=expert("concept", concept=1)), []),
    "concept rule, its default, on a stream of one concept": (
        scenario(stream__shifts=[], learners=pool({"a": {"rule": "concept"}, "b": {"rule": "constant"}})), []),
    "a concept param on another rule": (scenario(learners=expert("constant", concept=5)), [
        (POOL_A + ("params",), "unknown param 'concept'; ConstantRule takes: label")]),
    "an imitate param on another rule": (
        scenario(learners=expert("constant", imitate={"rule": "concept", "params": {"concept": 3}})), [
            (POOL_A + ("params",), "unknown param 'imitate'; ConstantRule takes: label")]),
    "expert model not a classifier": (
        scenario(learners=pool({"a": {"model": "preprocessing.StandardScaler"}, "b": {"rule": "constant"}})), [
            (POOL_A + ("model",), "preprocessing.StandardScaler is not a River classifier: it has no predict_proba_one()")]),
    "expert model a regressor": (
        scenario(learners=pool({"a": {"model": "linear_model.LinearRegression"}, "b": {"rule": "constant"}})), [
            (POOL_A + ("model",), "linear_model.LinearRegression is not a River classifier: it has no predict_proba_one()")]),
    "concept rule, a boolean": (scenario(learners=expert("concept", concept=True)), [
        (POOL_A + ("params",), "param 'concept' is a number (default 0), got the boolean True (YAML reads unquoted "
                 "yes/no/on/off/true/false as booleans)")]),
    "deceptive imitating a concept beyond the stream": (
        scenario(learners=expert("deceptive", imitate={"rule": "concept", "params": {"concept": 3}}, after=10)), [
            (POOL_A + ("params", "imitate", "params", "concept"),
             "concept rule: concept 3 does not exist; this stream has 2 concept(s), 0..1")]),
    "threshold feature outside the stream": (scenario(learners=expert("threshold", features=[0, 5], value=8)), [
        (POOL_A + ("params", "features"), f"5 is not a feature of this stream; {FEATURES}")]),
    "threshold feature as text": (scenario(learners=expert("threshold", features=["0", 1], value=8)), []),
    "threshold feature a boolean": (scenario(learners=expert("threshold", features=[True, 1], value=8)), [
        (POOL_A + ("params", "features"), f"True is not a feature of this stream; {FEATURES}")]),
    "deceptive region outside the stream": (
        scenario(learners=expert("deceptive", imitate={"rule": "constant"}, region={"7": [0, 1]})), [
            (POOL_A + ("params", "region", "7"), f"'7' is not a feature of this stream; {FEATURES}")]),
    "deceptive imitating a threshold on a missing feature": (
        scenario(learners=expert("deceptive", imitate={"rule": "threshold", "params": {"features": ["x"], "value": 1}},
                                 after=5)), [
            (POOL_A + ("params", "imitate", "params", "features"), f"'x' is not a feature of this stream; {FEATURES}")]),
    # River learners
    "model misspelt": (scenario(learners__lr__model="linear_model.LogisticRegresion"), [
        (("learners", "lr", "model"), "unknown River class 'linear_model.LogisticRegresion' (did you mean "
                                      "'linear_model.LogisticRegression'?)" + RIVER_NAMES)]),
    "model and preprocess step both unknown": (
        scenario(learners__lr__model="linear_model.LogisticRegresion", learners__lr__preprocess=["preprocessing.Scaler"]), [
            (("learners", "lr", "model"), "unknown River class 'linear_model.LogisticRegresion' (did you mean "
                                          "'linear_model.LogisticRegression'?)" + RIVER_NAMES),
            (("learners", "lr", "preprocess", 0), "unknown River class 'preprocessing.Scaler' (did you mean "
                                                  "'preprocessing.RobustScaler'?)" + RIVER_NAMES)]),
    "a River constructor that fails with another error": (
        scenario(learners__lr__model="ensemble.BaggingClassifier", learners__lr__params={"model": 3, "seed": 1}), [
            (("learners", "lr", "params"), "AttributeError: 'int' object has no attribute 'clone'")]),
    "preprocess step unknown": (scenario(learners__lr__preprocess=["preprocessing.Scaler"]), [
        (("learners", "lr", "preprocess", 0), "unknown River class 'preprocessing.Scaler' (did you mean "
                                              "'preprocessing.RobustScaler'?)" + RIVER_NAMES)]),
    "preprocess param misspelt": (
        scenario(learners__lr__preprocess=[{"model": "preprocessing.StandardScaler", "params": {"with_stdd": True}}]), [
            (("learners", "lr", "params"),
             "unknown param 'with_stdd' (did you mean 'with_std'?); StandardScaler takes: with_std, window_size")]),
    "not a classifier": (scenario(learners__lr__model="preprocessing.StandardScaler"), [
        (("learners", "lr", "model"), "preprocessing.StandardScaler is not a River classifier: it has no "
                                      "predict_proba_one()")]),
    "not a regressor": (regression(learners={"r": {"model": "preprocessing.StandardScaler"}}), [
        (("learners", "r", "model"), "preprocessing.StandardScaler is not a River regressor: it has no predict_one()")]),
    "a classifier on regression": (regression(learners={"r": {"model": "linear_model.LogisticRegression"}}), [
        (("learners", "r", "model"), "linear_model.LogisticRegression is a classifier, not a River regressor; "
                                     "this stream is regression")]),
    "a regressor on regression": (regression(), []),
    "model param unknown": (scenario(learners__lr__params={"l3": 1}), [
        (("learners", "lr", "params"), "unknown param 'l3'; LogisticRegression takes: optimizer, loss, l2, l1, "
                                       "intercept_init, intercept_lr, clip_gradient, initializer")]),
    "model param of the wrong kind": (scenario(learners__lr__params={"optimizer": 3}), [
        (("learners", "lr", "params"), "linear_model.LogisticRegression builds but fails on this stream's contexts: "
                                       "AttributeError: 'int' object has no attribute 'look_ahead'")]),
    "regressor param of the wrong kind": (
        regression(learners={"r": {"model": "linear_model.LinearRegression", "params": {"optimizer": 3}}}), [
            (("learners", "r", "params"), "linear_model.LinearRegression builds but fails on this stream's "
                                          "contexts: AttributeError: 'int' object has no attribute 'look_ahead'")]),
    "model param given as a River object": (
        scenario(learners__lr__params={"optimizer": {"model": "optim.SGD", "params": {"lr": 0.05}}}), []),
    # the source's params, where they were written
    "base param out of range": (scenario(stream__params={"variant": 7}), [
        (("stream", "params", "variant"), "sea: Unknown variant, possible choices are: 0, 1, 2, 3")]),
    "shift param out of range": (scenario(stream__shifts=[{"at": 500, "params": {"variant": 9}}]), [
        (("stream", "shifts", 0, "params", "variant"), "sea: Unknown variant, possible choices are: 0, 1, 2, 3")]),
    "one of two base params wrong": (scenario(stream__params={"variant": 7, "threshold": "x"}), [
        (("stream", "params", "threshold"), "sea: threshold must be a number, got 'x'")]),
    "a source's message that names no param": (scenario(stream={"source": "hyperplane", "params": {"sigma": 3}}), [
        (("stream", "params"), "hyperplane: Invalid sigma_percentage (3). Valid range is [0.0, 1.0]")]),
    "a source's message that names two params": (
        scenario(stream={"source": "hyperplane", "params": {"n_features": 2, "n_drift_features": 5}}), [
            (("stream", "params"), "hyperplane: n_drift_features (5) must be at most n_features (2)")]),
    "as many drifting features as features": (
        scenario(stream={"source": "hyperplane", "params": {"n_features": 2, "n_drift_features": 2}}), []),
    "a source that refuses shifts": (scenario(stream={"source": "hyperplane", "shifts": [{"at": 500}]}), [
        (("stream", "shifts"), "hyperplane: hyperplane drifts by itself (params.mag_change); it takes no shifts")]),
    "unknown param in a shift": (
        scenario(stream={"source": "agrawal", "shifts": [{"at": 500, "params": {"perturbation": 0.1}}]}), [
            (("stream", "shifts", 0, "params", "perturbation"),
             "agrawal: unknown param 'perturbation'; it takes: classification_function, balance_classes, focus")]),
    "a param that cannot shift, among several that can": (
        scenario(stream={"source": "sine", "shifts": [{"at": 500, "params": {"has_noise": True}}]}), [
            (("stream", "shifts", 0, "params", "has_noise"),
             "sine cannot shift 'has_noise'; it can shift: classification_function, balance_classes, focus")]),
    "a param that cannot shift": (
        scenario(stream={"source": "hyperplane", "shifts": [{"at": 500, "params": {"n_features": 3}}]}), [
            (("stream", "shifts", 0, "params", "n_features"), "hyperplane cannot shift 'n_features'; it can shift: nothing"),
            (("stream", "shifts"), "hyperplane: hyperplane drifts by itself (params.mag_change); it takes no shifts")]),
    "focus outside the features": (scenario(stream__params={"variant": 0, "focus": {"z": [0, 1]}}), [
        (("stream", "params", "focus"), f"sea: focus: 'z' is not a feature of this stream; {FEATURES}")]),
    "a shift's focus outside the features": (
        scenario(stream__shifts=[{"at": 500, "params": {"focus": {"z": [0, 1]}}}]), [
            (("stream", "shifts", 0, "params", "focus"), f"sea: focus: 'z' is not a feature of this stream; {FEATURES}")]),
    # K actions and bandit feedback (lowstakes.checks: _matrix_problems, _mode_problems, the bandit learners)
    'bandit learner, full feedback': (k_action(KARMED, objectives={"aligned": {}}), [
        (('learners', 'ucb', 'model'), "bandit.UCB learns from bandit feedback; objective 'aligned' gives full feedback (objectives.aligned.feedback_mode)"),
    ]),
    'classifier, bandit feedback': (k_action(KARMED, learners={"t": {"model": "tree.HoeffdingTreeClassifier"}}), [
        (('learners', 't', 'model'), "tree.HoeffdingTreeClassifier learns from full feedback; objective 'aligned' gives bandit feedback (objectives.aligned.feedback_mode)"),
    ]),
    'contextual policy without contexts': (k_action(KARMED, learners={"l": {"model": "bandit.LinUCBDisjoint"}}), [
        (('learners', 'l', 'model'), "bandit.LinUCBDisjoint learns from contexts; source 'k_armed' has none (use a non-contextual policy: bandit.UCB, exp3, ...)"),
    ]),
    'oracle bandit without contexts': (k_action(KARMED, learners={"o": {"model": "linear_model.LinearRegression", "explore": {}}}), [
        (('learners', 'o', 'model'), "linear_model.LinearRegression learns from contexts; source 'k_armed' has none (use a non-contextual policy: bandit.UCB, exp3, ...)"),
    ]),
    'matrix columns': (k_action(KARMED, harm={"matrix": [[0, 1], [1, 0]]}), [
        (('harm', 'matrix'), "has 2 columns; source 'k_armed' has 8 classes (one column each)"),
    ]),
    'matrix rows differ': (k_action(CONTEXTUAL, objectives={"aligned": {"feedback_mode": "bandit", "costs": {"matrix": [[0, 1, 1], [1, 0, 1]]}}}), [
        (('objectives', 'aligned', 'costs', 'matrix'), 'has 2 rows (actions); the harm has 3: every objective chooses among the same actions'),
    ]),
    'arms on contextual': (k_action(CONTEXTUAL, harm={"matrix": "arms"}), [
        (('harm', 'matrix'), "the 'arms' matrix is for a k_armed source, whose outcomes say which arms do harm; source 'contextual' is not one"),
    ]),
    'named binary costs, 3 classes': (k_action(CONTEXTUAL, harm={"false_positive": 1.0}), [
        (('harm',), "source 'contextual' has 3 classes: give a cost 'matrix' with 3 columns (or zero_one, arms)"),
    ]),
    'label noise, 3 classes': (k_action(CONTEXTUAL, stream__label_noise=0.1), [
        (('stream', 'label_noise'), "label noise flips a binary label; source 'contextual' has 3 classes (its P(y | x) is its noise)"),
    ]),
    'binary feedback rule, 3 classes': (k_action(CONTEXTUAL, objectives={"aligned": {"feedback": "noise", "feedback_mode": "bandit"}}), [
        (('objectives', 'aligned', 'feedback'), "noise gives binary labels; source 'contextual' has 3 classes"),
    ]),
    'pool, 3 classes': (k_action(CONTEXTUAL, objectives={"aligned": {}}, learners={"p": {"algorithm": "hedge", "experts": {"a": {"rule": "constant"}, "b": {"rule": "constant"}}}}), [
        (('learners', 'p', 'algorithm'), "hedge is for binary decisions; source 'contextual' has 3 classes"),
    ]),
    'binary classifier, 3 classes': (k_action(CONTEXTUAL, objectives={"aligned": {}}, learners={"lr": {"model": "linear_model.LogisticRegression"}}), [
        (('learners', 'lr', 'model'), "linear_model.LogisticRegression is a binary classifier; source 'contextual' has 3 classes (use a multi-class model, or wrap it in multiclass.OneVsRestClassifier)"),
    ]),
    'thompson, fractional costs (rewards drawn as 0 or 1)': (k_action(CONTEXTUAL, harm={"matrix": [[0, 0.5, 1], [1, 0, 1], [1, 1, 0]]}, learners={"ts": {"model": "bandit.ThompsonSampling"}}), []),
    'uncertainty query': (k_action(KARMED, learners={"ucb": {"model": "bandit.UCB", "params": {"delta": 1.0}, "query": {"policy": "uncertainty"}}}), [
        (('learners', 'ucb', 'query'), 'uncertainty queries need class probabilities; a learner among K actions has none (use fraction or rate_cap)'),
    ]),
    'bandit policy with preprocessing': (k_action(KARMED, learners={"ucb": {"model": "bandit.UCB", "params": {"delta": 1.0}, "preprocess": ["preprocessing.StandardScaler"]}}), [
        (('learners', 'ucb', 'preprocess'), 'bandit.UCB is a bandit policy: it takes no preprocessing'),
    ]),
    'bandit policy bad param': (k_action(KARMED, learners={"ucb": {"model": "bandit.UCB", "params": {"delt": 1.0}}}), [
        (('learners', 'ucb', 'params'), "unknown param 'delt' (did you mean 'delta'?); UCB takes: delta, reward_obj, reward_scaler, burn_in, seed"),
    ]),
    'exp3 bad param': (k_action(KARMED, learners={"e": {"algorithm": "exp3", "params": {"etaa": 1.0}}}), [
        (('learners', 'e', 'params'), "exp3: unknown param 'etaa' (did you mean 'eta'?); Exp3 takes: eta"),
    ]),
    'exploration': (k_action(CONTEXTUAL, learners={"a": {"model": "linear_model.LinearRegression", "explore": {"policy": "softmax"}}, "b": {"model": "linear_model.LinearRegression", "explore": {"policy": "squarecb", "epsilon": 0.1}}, "c": {"model": "linear_model.LinearRegression", "explore": {"policy": "epsilon_greedy", "epsilon": 2}}, "d": {"model": "linear_model.LinearRegression", "explore": {"policy": "squarecb", "gamma": 0}}, "e": {"model": "linear_model.LinearRegression", "explore": {"policy": "squarecb", "gamma": "big"}}}), [
        (('learners', 'a', 'explore', 'policy'), "unknown exploration 'softmax'; one of: greedy, epsilon_greedy, squarecb"),
        (('learners', 'b', 'explore', 'epsilon'), "squarecb does not take 'epsilon'; it takes: gamma"),
        (('learners', 'c', 'explore', 'epsilon'), 'must be in [0, 1], got 2'),
        (('learners', 'd', 'explore', 'gamma'), 'must be > 0, got 0'),
        (('learners', 'e', 'explore', 'gamma'), "expected a number, got 'big'"),
    ]),
    'bandit on regression': ({"name": "r", "horizon": 100, "stream": {"source": "friedman"}, "objectives": {"a": {"feedback_mode": "bandit"}}, "learners": {"e": {"algorithm": "exp3"}}}, [
        (('learners', 'e', 'algorithm'), 'exp3 chooses among actions; this stream is regression (its action is a prediction)'),
    ]),
    'matrix on regression': ({"name": "r", "horizon": 100, "harm": {"matrix": [[0, 1], [1, 0]]}, "stream": {"source": "friedman"}, "learners": {"r": {"model": "linear_model.LinearRegression"}}}, [
        (('harm', 'matrix'), 'a regression source has no classes: its harm is the absolute error'),
    ]),
    'exp4 experts': (k_action(CONTEXTUAL, learners={"e": {"algorithm": "exp4", "experts": {"m": {"model": "tree.HoeffdingTreeClassifier"}, "far": {"rule": "action", "params": {"action": 3}}, "bad": {"rule": "action", "params": {"action": -1}}, "ok": {"rule": "concept"}}, "params": {"etaa": 1}}}), [
        (('learners', 'e', 'params'), "exp4: unknown param 'etaa' (did you mean 'eta'?); Exp4 takes: eta"),
        (('learners', 'e', 'experts', 'm'), "exp4's experts advise actions: rule action or concept, not 'tree.HoeffdingTreeClassifier' (a River model cannot learn from bandit feedback)"),
        (('learners', 'e', 'experts', 'far', 'params', 'action'), 'action 3 does not exist; there are 3 actions (0..2)'),
        (('learners', 'e', 'experts', 'bad', 'params'), 'action must be a whole number >= 0, got -1'),
    ]),
    'exp4 concept advice without an oracle': ({"name": "i", "horizon": 100, "comparator": "hindsight", "harm": {"matrix": "zero_one"}, "stream": {"source": "image_segments"}, "objectives": {"a": {"feedback_mode": "bandit"}}, "learners": {"e": {"algorithm": "exp4", "experts": {"a": {"rule": "concept"}, "b": {"rule": "action"}}}}}, [
        (('learners', 'e', 'experts', 'a', 'rule'), "concept advice needs P(y | x); source 'image_segments' has no oracle"),
    ]),
    # the edges a K-action check must let through, and checks that must report every item
    "exploration edges that validate": (k_action(CONTEXTUAL, learners={
        "a": {"model": "linear_model.LinearRegression", "explore": {"policy": "epsilon_greedy", "epsilon": 0}},
        "b": {"model": "linear_model.LinearRegression", "explore": {"policy": "epsilon_greedy", "epsilon": 1}},
        "c": {"model": "linear_model.LinearRegression", "explore": {"policy": "squarecb", "gamma": 0.5}}}), []),
    "greedy takes no params": (k_action(CONTEXTUAL, learners={
        "g": {"model": "linear_model.LinearRegression", "explore": {"policy": "greedy", "gamma": 1}}}), [
        (("learners", "g", "explore", "gamma"), "greedy does not take 'gamma'; it takes: no params")]),
    "an imitator on several classes": (k_action(CONTEXTUAL, objectives={"aligned": {}}, learners={
        "c": {"algorithm": "consensus", "experts": {"a": {"rule": "constant"}, "b": {"rule": "constant"}}}}), [
        (("learners", "c", "algorithm"), "consensus is for binary decisions; source 'contextual' has 3 classes")]),
    "two objectives with bad costs, both reported": (k_action(CONTEXTUAL, objectives={
        "a": {"feedback_mode": "bandit", "costs": {"matrix": [[0, 1], [1, 0]]}},
        "b": {"feedback_mode": "bandit", "costs": {"matrix": [[0, 1, 1], [1, 0, 1]]}},
        "c": {"feedback_mode": "bandit", "costs": {"matrix": "arms"}},
        "d": {"feedback_mode": "bandit", "costs": {"false_positive": 0.5}}}), [
        (("objectives", "a", "costs", "matrix"), "has 2 columns; source 'contextual' has 3 classes (one column each)"),
        (("objectives", "b", "costs", "matrix"), "has 2 rows (actions); the harm has 3: every objective chooses among the same actions"),
        (("objectives", "c", "costs", "matrix"), "the 'arms' matrix is for a k_armed source, whose outcomes say which arms do harm; source 'contextual' is not one"),
        (("objectives", "d", "costs"), "source 'contextual' has 3 classes: give a cost 'matrix' with 3 columns (or zero_one, arms)")]),
    "two binary feedback rules, both reported": (k_action(CONTEXTUAL, objectives={
        "a": {"feedback": "noise", "feedback_mode": "bandit"},
        "b": {"feedback": "region_flip", "params": {"region": {0: [0, 1]}}, "feedback_mode": "bandit"}}), [
        (("objectives", "a", "feedback"), "noise gives binary labels; source 'contextual' has 3 classes"),
        (("objectives", "b", "feedback"), "region_flip gives binary labels; source 'contextual' has 3 classes")]),
    "advice beyond two actions of three classes": (k_action(CONTEXTUAL, harm={"matrix": [[0, 1, 1], [1, 0, 1]]}, learners={
        "e": {"algorithm": "exp4", "experts": {"a": {"rule": "action", "params": {"action": 2}},
                                              "b": {"rule": "action", "params": {"action": 1}},
                                              "c": {"rule": "action", "params": {"action": 5}}}}}), [
        (("learners", "e", "experts", "a", "params", "action"), "action 2 does not exist; there are 2 actions (0..1)"),
        (("learners", "e", "experts", "c", "params", "action"), "action 5 does not exist; there are 2 actions (0..1)")]),
    "an unknown bandit model, reported once": (k_action(KARMED, learners={"x": {"model": "bandit.NoSuch"}}), [
        (("learners", "x", "model"), "unknown River class 'bandit.NoSuch' (did you mean 'bandit.UCB'?); write it as "
                                     "'submodule.Class' (e.g. 'linear_model.LogisticRegression') or "
                                     "'module:attribute' for your own")]),
    "a missing matrix, then a bad one": (k_action(CONTEXTUAL, harm={"false_positive": 1.0}, objectives={
        "a": {"feedback_mode": "bandit", "costs": {"matrix": [[0, 1], [1, 0]]}}}), [
        (("harm",), "source 'contextual' has 3 classes: give a cost 'matrix' with 3 columns (or zero_one, arms)"),
        (("objectives", "a", "costs", "matrix"), "has 2 columns; source 'contextual' has 3 classes (one column each)")]),
    "an arms matrix a source's outcomes cannot give, then a bad one": (k_action(
        KARMED, stream={"source": "test_checks:ArmsOfThree"},
        objectives={"a": {"feedback_mode": "bandit", "costs": {"matrix": [[0, 1], [1, 0]]}}}), [
        (("harm", "matrix"), "the 'arms' matrix needs a k_armed source (2^K outcomes), not 3 classes"),
        (("objectives", "a", "costs", "matrix"), "has 2 columns; source 'test_checks:ArmsOfThree' has 3 classes "
                                                 "(one column each)")]),
    "the same 2 x 3 matrix for harm and objective validates": (k_action(
        CONTEXTUAL, harm={"matrix": [[0, 1, 1], [1, 0, 1]]},
        objectives={"aligned": {"feedback_mode": "bandit", "costs": {"matrix": [[0, 1, 1], [1, 0, 1]]}}}), []),
    "an unknown feedback rule, then a binary one": (k_action(CONTEXTUAL, objectives={
        "a": {"feedback": "nosuch", "feedback_mode": "bandit"}, "b": {"feedback": "noise", "feedback_mode": "bandit"}}), [
        (("objectives", "a", "feedback"), "unknown feedback 'nosuch'; known: noise, region_flip, stale, truth "
                                          "(or 'module:attribute' for your own)"),
        (("objectives", "b", "feedback"), "noise gives binary labels; source 'contextual' has 3 classes")]),
    "thompson on costs of 0 and B = 2 validates": (k_action(CONTEXTUAL, harm={
        "matrix": [[0, 2, 2], [2, 0, 2], [2, 2, 0]], "bound": 2}, learners={"ts": {"model": "bandit.ThompsonSampling"}}), []),
    "thompson: a matrix that cannot be built, beside fractional costs": (k_action(CONTEXTUAL, objectives={
        "a": {"feedback_mode": "bandit", "costs": {"matrix": "arms"}},
        "b": {"feedback_mode": "bandit", "costs": {"matrix": [[0, 0.5, 1], [1, 0, 1], [1, 1, 0]]}}},
        learners={"ts": {"model": "bandit.ThompsonSampling"}}), [
        (("objectives", "a", "costs", "matrix"), "the 'arms' matrix is for a k_armed source, whose outcomes say "
                                                 "which arms do harm; source 'contextual' is not one")]),
    "exp4: bad advice params, then an action that does not exist": (k_action(CONTEXTUAL, learners={
        "e": {"algorithm": "exp4", "experts": {"a": {"rule": "action", "params": {"action": -1}},
                                              "b": {"rule": "action", "params": {"action": 7}}}}}), [
        (("learners", "e", "experts", "a", "params"), "action must be a whole number >= 0, got -1"),
        (("learners", "e", "experts", "b", "params", "action"), "action 7 does not exist; there are 3 actions (0..2)")]),
    "exp4 under a harm matrix that cannot be built still checks every expert": (k_action(
        CONTEXTUAL, harm={"matrix": "arms"}, learners={
            "e": {"algorithm": "exp4", "experts": {"a": {"rule": "action", "params": {"action": 1}},
                                                  "b": {"rule": "action", "params": {"action": -1}}}}}), [
        (("harm", "matrix"), "the 'arms' matrix is for a k_armed source, whose outcomes say which arms do harm; "
                             "source 'contextual' is not one"),
        (("learners", "e", "experts", "b", "params"), "action must be a whole number >= 0, got -1")]),
    "a classifier whose params are wrong gets no second message": (k_action(CONTEXTUAL, objectives={"aligned": {}},
        learners={"lr": {"model": "linear_model.LogisticRegression", "params": {"l22": 1}}}), [
        (("learners", "lr", "params"), "unknown param 'l22' (did you mean 'l2'?); LogisticRegression takes: "
                                       "optimizer, loss, l2, l1, intercept_init, intercept_lr, clip_gradient, "
                                       "initializer")]),
    "features given to a rule that takes none are not read as features": (
        scenario(learners=expert("constant", label=0, features=["zz"])), [
            (POOL_A + ("params",), "unknown param 'features'; ConstantRule takes: label")]),
    "exp3 and exp4 are built with the user's params": (k_action(CONTEXTUAL, learners={
        "e3": {"algorithm": "exp3", "params": {"eta": -1}},
        "e4": {"algorithm": "exp4", "params": {"eta": -1}, "experts": {"a": {"rule": "action", "params": {"action": 1}},
                                                                        "b": {"rule": "concept"}}}}), [
        (("learners", "e3", "params"), "exp3: eta must be positive, got -1"),
        (("learners", "e4", "params"), "exp4: eta must be positive, got -1")]),
    # shifts against each other and the horizon
    "overlapping shifts": (scenario(stream__shifts=[{"at": 300, "width": 200}, {"at": 499, "params": {"variant": 1}}]), [
        (("stream", "shifts", 1, "at"), "shift starts at 499, before the previous shift has finished (step 500); "
                                        "shifts must be in order and not overlap")]),
    "shifts that touch": (scenario(stream__shifts=[{"at": 300, "width": 200}, {"at": 500, "params": {"variant": 1}}]), []),
    "a shift past the horizon": (scenario(stream__shifts=[{"at": 900, "width": 101}]), [
        (("stream", "shifts", 0, "at"), "shift at 900 with width 101 ends beyond the horizon (1000)")]),
    "a shift ending at the horizon": (scenario(stream__shifts=[{"at": 900, "width": 100}]), []),
    # a sweep: every cell is checked, and the cell is named
    "a bad sweep cell": (scenario(sweep={"stream.label_noise": [0.1, 0.7]}), [
        (("sweep", "stream.label_noise"), "must be below 0.5 (the chance that a label is the other class), got 0.7 "
                                          "(in the cell stream.label_noise=0.7)")]),
}


class Sampler(bandit.ThompsonSampling):
    """A user's Thompson sampler under its own name (``test_checks:Sampler``): still a Beta
    posterior."""


def test_a_thompson_sampler_by_another_name_samples_a_beta_posterior():
    # River's default reward_obj (a mean) cannot be sampled: the subclass gets the Beta too.
    policy = build_model("test_checks:Sampler", task="bandit")
    assert isinstance(policy.reward_obj, proba.Beta)
    assert not isinstance(build_model("bandit.UCB", {"delta": 1.0}, task="bandit").reward_obj, proba.Beta)


class ArmsOfThree(Source):
    """A user's source that says its outcomes are arms but has 3 of them, not 2^K."""

    n_classes = 3
    arms = True
    contextual = False

    def draw(self, segments):
        return [{} for _ in segments], np.zeros((self.n_rows, len(segments)), dtype=np.int64)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_check_names_its_field_and_says_what_is_wrong(case):
    data, expected = CASES[case]
    if not expected:
        Scenario.from_dict(data)
        return
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict(data)
    assert caught.value.problems == expected
