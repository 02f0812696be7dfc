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

__all__ = ["regret_curves", "excess_around_shifts", "windows_table", "bounds_table", "oversight_table"]


def _arms(trace):
    trace = trace.sort_values(["learner", "objective", "seed", "step"])
    return trace.groupby(["learner", "objective", "seed"], sort=False, observed=True)


def regret_curves(result, points: int = 400) -> pd.DataFrame:
    """Cumulative regret per arm and seed at about ``points`` steps."""
    horizon = result.summary["horizon"]
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
