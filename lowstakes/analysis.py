"""Tables for notebooks: tidy pandas views of a run's trace and summary.

Every function takes what :func:`lowstakes.load` (or :func:`lowstakes.run`) returns and
gives a long-format DataFrame that seaborn plots directly.

Examples
--------
>>> import tempfile, lowstakes
>>> scenario = lowstakes.Scenario.from_dict({
...     "name": "tiny", "horizon": 600, "seeds": 2,
...     "stream": {"source": "sea", "shifts": [{"at": 300, "params": {"variant": 3}}]},
...     "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
...     "learners": {"logreg": {"model": "linear_model.LogisticRegression"}},
...     "windows": {"smoothing": 50}})
>>> result = lowstakes.run(scenario, out=tempfile.mkdtemp() + "/run")
>>> curves = regret_curves(result, points=10)
>>> sorted(curves.columns)
['learner', 'objective', 'regret', 'seed', 'step']
>>> len(windows_table(result)), list(bounds_table(result).columns)[:2]
(4, ['learner', 'objective'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lowstakes.metrics import rolling_mean

__all__ = ["regret_curves", "excess_around_shifts", "windows_table", "bounds_table", "guarantees_table",
           "goodhart_table", "oversight_table", "paired_table", "bandit_table", "action_shares"]


def _arms(trace):
    trace = trace.sort_values(["learner", "objective", "seed", "step"])
    return trace.groupby(["learner", "objective", "seed"], sort=False, observed=True)


def _has_trace(result) -> bool:
    return (result.path / "trace.parquet").exists()


def regret_curves(result, points: int = 400) -> pd.DataFrame:
    """Cumulative regret per arm and seed at about ``points`` steps (for a run with ``trace:
    summary``, at the run's kept curve points, at most ``points`` of them)."""
    horizon = result.summary["horizon"]
    if not _has_trace(result):
        curves = result.curves[result.curves["curve"] == "regret"]
        steps = np.sort(curves["step"].unique())
        keep = steps[np.unique(np.linspace(0, len(steps) - 1, min(points, len(steps))).astype(int))]
        chosen = curves[curves["step"].isin(keep)].rename(columns={"value": "regret"})
        return chosen[["learner", "objective", "seed", "step", "regret"]].reset_index(drop=True)
    keep = np.unique(np.linspace(0, horizon - 1, min(points, horizon)).astype(int))
    rows = []
    for (learner, objective, seed), group in _arms(result.trace):
        regret = np.cumsum(group["harm"].to_numpy(float) - group["comparator_harm"].to_numpy(float))
        rows.append(pd.DataFrame({"learner": learner, "objective": objective, "seed": seed,
                                  "step": keep, "regret": regret[keep]}))
    return pd.concat(rows, ignore_index=True)


def excess_around_shifts(result, before: int | None = None, after: int | None = None,
                         smoothing: int | None = None) -> pd.DataFrame:
    """Trailing mean excess harm from ``before`` decisions before each shift to ``after``
    decisions after it (defaults: the smoothing span, and the window's length)."""
    summary = result.summary
    smoothing = smoothing or summary["windows"]["smoothing"]
    rows = []
    if not _has_trace(result):  # trace: summary: the kept curves (the run's smoothing and span)
        for k, at in enumerate(summary["shifts"]):
            part = result.curves[result.curves["curve"] == f"transition_{k}"]
            rows.append(pd.DataFrame({"learner": part["learner"], "objective": part["objective"],
                                      "seed": part["seed"], "shift": k, "since_shift": part["step"] - at,
                                      "excess": part["value"]}))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    for (learner, objective, seed), group in _arms(result.trace):
        excess = rolling_mean(group["harm"].to_numpy(float) - group["comparator_harm"].to_numpy(float),
                              smoothing)
        for k, at in enumerate(summary["shifts"]):
            end = summary["arms"][0]["windows"][k]["end"]
            lo, hi = max(0, at - (before or smoothing)), min(len(excess), at + after if after else end)
            rows.append(pd.DataFrame({"learner": learner, "objective": objective, "seed": seed,
                                      "shift": k, "since_shift": np.arange(lo, hi) - at,
                                      "excess": excess[lo:hi]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def windows_table(result) -> pd.DataFrame:
    """One row per arm, shift and seed: the window's cost and the recovery (NaN: never)."""
    rows = [{"learner": arm["learner"], "objective": arm["objective"], "seed": seed["seed"],
             "shift": w["shift"], "start": w["start"], "end": w["end"], "cost": w["cost"],
             "recovery": np.nan if w["recovery"] is None else w["recovery"]}
            for arm in result.summary["arms"] for seed in arm["seeds"] for w in seed["windows"]]
    return pd.DataFrame(rows)


def bounds_table(result) -> pd.DataFrame:
    """One row per expert arm, seed and bound: value, measured regret, whether it held."""
    rows = [{"learner": arm["learner"], "objective": arm["objective"], "seed": seed["seed"],
             "bound": b["name"], "kind": b["kind"], "comparator": b["comparator"],
             "value": b["value"], "measured": b["measured"], "holds": b["holds"]}
            for arm in result.summary["arms"] for seed in arm["seeds"]
            for b in seed.get("pool", {}).get("bounds", [])]
    return pd.DataFrame(rows, columns=["learner", "objective", "seed", "bound", "kind", "comparator",
                                       "value", "measured", "holds"])


def guarantees_table(result) -> pd.DataFrame:
    """One row per arm, seed and transition window (``window`` -1: a linear arm's whole run)
    with the guarantee's regret (on the arm's own feedback), bound, terms, whether it held,
    and the window's true cost; an arm without a guarantee has one row per seed with its
    ``reason``."""
    rows = []
    for arm in result.summary["arms"]:
        for seed in arm["seeds"]:
            g = seed["guarantee"]
            base = {"learner": arm["learner"], "objective": arm["objective"], "seed": seed["seed"]}
            if not g["applies"]:
                rows.append({**base, "guarantee": None, "reason": g["reason"]})
                continue
            costs = {w["shift"]: w["cost"] for w in seed["windows"]}
            windows = [(w["shift"], w) for w in g["windows"]]
            if g.get("run"):
                windows.append((-1, g["run"]))
            for k, w in windows:
                rows.append({**base, "guarantee": g["name"], "reason": None, "window": k,
                             "cost": costs.get(k, seed["regret"]), "regret": w["regret"],
                             "bound": w["bound"],
                             "distance": w.get("distance"), "step": w.get("step"),
                             "apriori": w.get("apriori"), "holds": w["holds"]})
    columns = ["learner", "objective", "seed", "guarantee", "reason", "window", "cost", "regret", "bound",
               "distance", "step", "apriori", "holds"]
    return pd.DataFrame(rows, columns=columns)


def goodhart_table(result) -> pd.DataFrame:
    """One row per expert arm and seed: the guaranteed Goodhart lower bound on the true regret
    (from the algorithm's bound, and from the measured feedback regret), the true regret it
    bounds, |S|, delta, g, P, Q; or the ``reason`` it is not given."""
    rows = []
    for arm in result.summary["arms"]:
        for seed in arm["seeds"]:
            if "pool" not in seed:
                continue
            g = seed["pool"]["goodhart"]
            rows.append({"learner": arm["learner"], "objective": arm["objective"], "seed": seed["seed"],
                         "value": g.get("value"), "value_from_measured": g.get("value_from_measured"),
                         "true_regret": g.get("measured"), "S": g.get("decisions"), "delta": g.get("delta"),
                         "g": g.get("g"), "P": g.get("P"), "Q": g.get("Q"), "holds": g.get("holds"),
                         "reason": g.get("reason")})
    return pd.DataFrame(rows, columns=["learner", "objective", "seed", "value", "value_from_measured",
                                       "true_regret", "S", "delta", "g", "P", "Q", "holds", "reason"])


def paired_table(result) -> pd.DataFrame:
    """One row per paired difference of the run (an arm minus another on the same seeds) and
    quantity (``regret``, ``window 0 cost``...): the mean difference and its paired 95%
    interval (see the README on why pairing is valid here)."""
    rows = []
    for pair in result.summary.get("paired", []):
        name = f"{' / '.join(pair['arm'])} - {' / '.join(pair['minus'])}"
        quantities = [("regret", pair["regret"])]
        quantities += [(f"window {w['shift']} cost", w) for w in pair["windows"]]
        for quantity, value in quantities:
            lo, hi = value["ci95"]
            rows.append({"difference": name, "varies": pair["varies"], "quantity": quantity,
                         "mean": value["mean"], "lo": lo, "hi": hi})
    return pd.DataFrame(rows, columns=["difference", "varies", "quantity", "mean", "lo", "hi"])


def oversight_table(result) -> pd.DataFrame:
    """One row per arm and seed: labels asked and received, harm, and harm per label."""
    rows = []
    for arm in result.summary["arms"]:
        for seed in arm["seeds"]:
            rows.append({"learner": arm["learner"], "objective": arm["objective"], "seed": seed["seed"],
                         "queries": seed["queries"], "labels": seed["labels"], "harm": seed["harm"],
                         "regret": seed["regret"], "dropped": seed.get("dropped", 0),
                         "utilisation": seed.get("utilisation", np.nan),
                         "mean_wait": seed.get("mean_wait", np.nan)})
    table = pd.DataFrame(rows)
    table["harm_per_label"] = table["harm"] / table["labels"].replace(0, np.nan)
    return table


def bandit_table(result) -> pd.DataFrame:
    """One row per K-action arm and seed: the harm its exploring decisions did, and its regret
    on its own feedback against the best action and the best m-switch action sequence, with
    each in-expectation bound's value (NaN where none applies; such a bound speaks of the
    mean over seeds, not of one row)."""
    rows = []
    for arm in result.summary["arms"]:
        if "bandit" not in arm:
            continue
        for seed in arm["seeds"]:
            b, e = seed["bandit"], seed.get("exploration", {})
            by = {bound["comparator"].startswith("best fixed"): bound["value"] for bound in b["bounds"]}
            rows.append({"learner": arm["learner"], "objective": arm["objective"], "seed": seed["seed"],
                         "algorithm": b["algorithm"], "harm": seed["harm"],
                         "exploration_harm": e.get("harm", np.nan),
                         "explorations": e.get("decisions", np.nan),
                         "regret_best_action": b["regret"]["best_fixed"],
                         "bound_best_action": by.get(True, np.nan),
                         "regret_best_switching": b["regret"]["best_switching"],
                         "bound_best_switching": by.get(False, np.nan)})
    return pd.DataFrame(rows, columns=["learner", "objective", "seed", "algorithm", "harm",
                                       "exploration_harm", "explorations", "regret_best_action",
                                       "bound_best_action", "regret_best_switching", "bound_best_switching"])


def action_shares(result, width: int = 500) -> pd.DataFrame:
    """How often each arm took each action, over consecutive spans of ``width`` decisions
    (from the trace): columns learner, objective, seed, step (the span's first decision),
    action, share."""
    if not _has_trace(result):
        raise ValueError("action_shares needs the trace (a run with trace: full)")
    trace = result.trace[["learner", "objective", "seed", "step", "action"]].copy()
    trace["step"] = (trace["step"] // width) * width
    trace["action"] = trace["action"].astype(int)
    counts = trace.groupby(["learner", "objective", "seed", "step", "action"], observed=True).size()
    # An action not taken in a span has share 0 there (a row of its own, so lines drop to 0).
    counts = counts.unstack("action", fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    return shares.stack().rename("share").reset_index()
