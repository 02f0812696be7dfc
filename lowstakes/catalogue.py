"""What a scenario can name: every registered source, feedback rule, expert rule, query
policy, expert algorithm and comparator, with its params and one line on what it is.

>>> entries = catalogue()
>>> [e["name"] for e in entries["sources"]][:3]
['agrawal', 'contextual', 'friedman']
>>> next(e for e in entries["feedback"] if e["name"] == "stale")["params"]
['concept=0']
"""

from __future__ import annotations

import importlib
import inspect

from lowstakes.bandit_policies import BANDIT_ALGORITHMS, EXPLORATION
from lowstakes.experts import ALGORITHMS
from lowstakes.objectives import FEEDBACK
from lowstakes.oversight import QUERIES
from lowstakes.pools import RULES
from lowstakes.registry import river_names
from lowstakes.results import COMPARATOR_TEXT
from lowstakes.scenario import COMPARATORS
from lowstakes.streams import SOURCES

__all__ = ["catalogue", "river_classifiers"]



def _line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def _params(cls, skip=("self", "n", "horizon", "concepts", "seed")) -> list[str]:
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name if p.default is p.empty else f"{p.name}={p.default!r}"
            for p in parameters if p.name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _entries(registry, skip=("self", "n", "horizon", "concepts", "seed")) -> list[dict]:
    return [{"name": name, "params": _params(obj, skip), "about": _line(obj)}
            for name, obj in registry.items()]


def river_classifiers() -> list[str]:
    """River classes that act as classifiers here (they have ``predict_proba_one``)."""
    out = []
    for name in river_names():
        module, _, attribute = name.rpartition(".")
        cls = getattr(importlib.import_module(f"river.{module}"), attribute)
        if module == "base" or inspect.isabstract(cls):
            continue
        if callable(getattr(cls, "predict_proba_one", None)) and callable(getattr(cls, "learn_one", None)):
            out.append(name)
    return out


#: What an expert algorithm's params default to when a scenario omits them: the tuning the
#: run does, not the constructor's placeholder.
ALGORITHM_DEFAULTS = {
    "hedge": ["eta=sqrt(8 ln N / T)"],
    "hedge_anytime": [],
    "fixed_share": ["eta, alpha: tuned (CBL Thm 5.1)", "switches=the number of shifts (at least 1)"],
    "hedge_interleaved": ["delay=the fixed feedback delay, in decisions"],
    "fixed_share_interleaved": ["delay=the fixed feedback delay, in decisions",
                                "switches=the number of shifts (at least 1)",
                                "each copy's eta, alpha: tuned to its own decisions (CBL Thm 5.1)"],
}


def _source(name: str) -> dict:
    cls = SOURCES.get(name)
    params = [f"{p}={about}" for p, about in cls.params.items()] or _params(cls)
    if cls.shiftable is not None:
        params.append(f"shiftable: {', '.join(cls.shiftable) or 'nothing (no shifts)'}")
    return {"name": name, "params": params, "about": _line(cls)}


def catalogue() -> dict[str, list[dict]]:
    """Every named piece a scenario can use, by kind.

    >>> next(e for e in catalogue()["sources"] if e["name"] == "sine")["params"][0]
    'classification_function=0 (0..3)'
    """
    return {
        "sources": [_source(name) for name, _ in SOURCES.items()],
        "feedback": _entries(FEEDBACK),
        "expert rules": _entries(RULES, skip=("self",)),
        "query policies": _entries(QUERIES),
        "expert algorithms": [{"name": name, "params": ALGORITHM_DEFAULTS.get(name, _params(cls)),
                               "about": _line(cls)} for name, cls in ALGORITHMS.items()]
                             + [{"name": "consensus", "params": ["alpha=0.1", "epsilon=0.2", "share=0.0"],
                                 "about": "Cohen, Hutter & Nanda's consensus imitator: act where the top "
                                          "models agree, ask the overseer otherwise."},
                                {"name": "bayes_mixture", "params": ["epsilon=0.2", "share=0.0"],
                                 "about": "imitate the overseer by the posterior-weighted mixture of the "
                                          "models; learns from the labels its route brings."},
                                {"name": "map", "params": ["epsilon=0.2", "share=0.0"],
                                 "about": "imitate the overseer by its most likely model (ties: an order "
                                          "drawn per run-seed); learns from the labels its route brings."}],
        "bandit learners": _bandit_learners(),
        "feedback modes": [{"name": name, "params": [], "about": about} for name, about in FEEDBACK_MODES],
        "cost matrices": [{"name": "zero_one", "params": [],
                           "about": "K = C actions: cost 0 for the action equal to the class, else 1."},
                          {"name": "arms", "params": [],
                           "about": "for a k_armed source: pulling arm a costs 1 when arm a does harm."}],
        "comparators": [{"name": name, "params": [], "about": COMPARATOR_TEXT[name]}
                        for name in COMPARATORS],
    }


#: An objective's feedback_mode: what its overseer reports of each decision.
FEEDBACK_MODES = [
    ("full", "the label: the cost of every action follows from it (the default)."),
    ("bandit", "the cost of the action taken and nothing else (the learner must explore)."),
]


def _bandit_learners() -> list[dict]:
    """What learns from bandit feedback: River's bandit policies (model: bandit.X), the
    exp3 algorithms, and River regressors with explore."""
    import river.bandit

    out = []
    for name in ("EpsilonGreedy", "UCB", "ThompsonSampling", "Exp3", "BayesUCB", "LinUCBDisjoint"):
        cls = getattr(river.bandit, name)
        contextual = " Contextual." if name == "LinUCBDisjoint" else ""
        if name == "ThompsonSampling":
            contextual = " reward_obj defaults to proba.Beta here."
        out.append({"name": f"bandit.{name}", "params": _params(cls),
                    "about": f"River's {name} (model: bandit.{name}); bandit feedback, "
                             f"rewarded 1 - cost.{contextual}"})
    for name, cls in BANDIT_ALGORITHMS.items():
        out.append({"name": name, "params": _params(cls, skip=("self", "k", "horizon", "runs")),
                    "about": _line(cls) + " (algorithm: " + name + "; bandit feedback)"})
    out.append({"name": "exp4", "params": ["eta=sqrt(2 ln N / (T K))", "experts: rule action (action) or "
                                                                       "concept (concept)"],
                "about": "Exp4 over experts that each advise an action (algorithm: exp4; bandit feedback); "
                         "bound against the best expert."})
    out.append({"name": "explore", "params": [f"policy={p}" + (f" ({', '.join(a)})" if a else "")
                                             for p, a in EXPLORATION.items()],
                "about": "model: any River regressor, one per action, predicting its cost; "
                         "full or bandit feedback (a regression-oracle contextual bandit)."})
    return out
