"""Regret, transition windows, recovery, and aggregation across seeds.

Definitions (the same words as in the README):

- *excess harm* at step t: the arm's harm minus the comparator's harm.
- *regret*: summed excess harm over the run.
- *transition window* of a shift: ``length`` decisions from the shift's start, cut short
  by the next shift or the end of the run (default: up to the next shift or the end). Its *cost* is the summed
  excess harm inside it.
- *recovery*: the number of decisions from the shift's start until the trailing mean
  excess harm over ``smoothing`` decisions falls, for good (up to the next shift or the
  end), to at most its level just before the shift plus ``tolerance * B``. ``None``
  when it never does, or when it does only in the last ``smoothing`` decisions before the
  next shift or the end (too short a stretch to call a recovery).

Examples
--------
>>> import numpy as np
>>> excess = np.r_[np.zeros(100), np.ones(20), np.zeros(80)]
>>> windows(excess, shifts=[100], horizon=200, length=50, smoothing=10, tolerance=0.05, bound=1.0)
[{'shift': 0, 'start': 100, 'end': 150, 'cost': 20.0, 'recovery': 29, 'baseline': 0.0, 'raised': False}]
>>> lo, hi = ci95([1.0, 2.0, 3.0])
>>> round(lo, 3), round(hi, 3)
(-0.484, 4.484)
"""

from __future__ import annotations

import math

import numpy as np

# scipy.special, not scipy.stats: the same t quantile, a third of the import time (workers
# of a sweep import this module before their first task).
from scipy import special

__all__ = ["windows", "recovery", "rolling_mean", "ci95", "mean_ci", "aggregate"]


def rolling_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Trailing mean over ``width`` values (shorter at the start).

    >>> rolling_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [1.0, 1.5, 2.5, 3.5]
    """
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=float)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - width, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def recovery(excess: np.ndarray, start: int, end: int, smoothing: int, tolerance: float) -> int | None:
    """Decisions from ``start`` until the trailing mean excess stays within tolerance up to ``end``."""
    lo = max(0, start - smoothing)
    baseline = max(0.0, float(excess[lo:start].mean())) if start > lo else 0.0
    trailing = rolling_mean(excess[lo:end], smoothing)[start - lo:]
    above = np.flatnonzero(trailing > baseline + tolerance)
    if len(above) == 0:
        return 0
    last = int(above[-1]) + 1
    return None if last > end - start - smoothing else last


def transition_spans(shifts, horizon, length) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each shift's transition window.

    >>> transition_spans([100, 200], 300, None), transition_spans([100, 200], 300, 150)
    ([(100, 200), (200, 300)], [(100, 200), (200, 300)])
    """
    spans = []
    for k, start in enumerate(shifts):
        following = shifts[k + 1] if k + 1 < len(shifts) else horizon
        spans.append((int(start), int(following if length is None else min(start + length, following))))
    return spans


def baseline(excess: np.ndarray, start: int, smoothing: int) -> float:
    """The mean excess harm over the ``smoothing`` decisions before ``start`` (0 at the start)."""
    lo = max(0, start - smoothing)
    return float(excess[lo:start].mean()) if start > lo else 0.0


def windows(excess, shifts, horizon, length, smoothing, tolerance, bound) -> list[dict]:
    """The transition window of each shift: its span, cost and recovery, and the excess harm
    per decision just before it (``baseline``). ``raised`` marks a window whose baseline is
    already above the tolerance (after a shift back to an old concept, say): its cost and
    recovery are measured from a level that was itself a transition's.

    ``shifts`` are the shifts' start steps, in order.
    """
    out = []
    for k, (start, end) in enumerate(transition_spans(shifts, horizon, length)):
        following = shifts[k + 1] if k + 1 < len(shifts) else horizon
        before = baseline(excess, start, smoothing)
        out.append({
            "shift": k,
            "start": start,
            "end": end,
            "cost": float(excess[start:end].sum()),
            "recovery": recovery(excess, start, following, smoothing, tolerance * bound),
            "baseline": before,
            "raised": bool(before > tolerance * bound),
        })
    return out


def ci95(values) -> tuple[float, float]:
    """Student-t 95% confidence interval of the mean; (nan, nan) for fewer than two values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return (math.nan, math.nan)
    half = special.stdtrit(len(values) - 1, 0.975) * values.std(ddof=1) / math.sqrt(len(values))
    mean = values.mean()
    return (float(mean - half), float(mean + half))


def mean_ci(values) -> dict:
    """``{"mean": ..., "ci95": [lo, hi]}`` of ``values``; the interval is ``[None, None]``
    for a single value (JSON has no NaN).

    >>> mean_ci([2.0])
    {'mean': 2.0, 'ci95': [None, None]}
    """
    lo, hi = ci95(values)
    interval = [None, None] if math.isnan(lo) else [lo, hi]
    return {"mean": float(np.mean(values)), "ci95": interval}


def aggregate(frame, metric: str, by: list[str] | None = None):
    """Sweep rows (a pandas DataFrame): the mean of ``metric`` across seeds with its 95%
    t-interval, per cell and arm.

    ``by`` defaults to every ``set.`` column, then learner and objective. Returns columns
    ``by + ["mean", "lo", "hi", "n"]`` (``lo``/``hi`` NaN for a single seed; seeds where the
    metric is NaN are left out).

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"set.x": [1, 1, 2, 2], "learner": "l", "objective": "o",
    ...                      "regret": [1.0, 3.0, 5.0, 5.0]})
    >>> aggregate(rows, "regret")[["set.x", "mean", "n"]].to_dict("records")
    [{'set.x': 1, 'mean': 2.0, 'n': 2}, {'set.x': 2, 'mean': 5.0, 'n': 2}]
    """
    import pandas as pd  # only when aggregating sweep rows (workers never do)

    by = by or [c for c in frame.columns if c.startswith("set.")] + ["learner", "objective"]
    out = []
    for values, group in frame.groupby(by, sort=False, dropna=False):
        data = group[metric].dropna().to_numpy(float)
        lo, hi = ci95(data) if len(data) else (math.nan, math.nan)
        out.append({**dict(zip(by, values, strict=True)),
                    "mean": float(np.mean(data)) if len(data) else math.nan, "lo": lo, "hi": hi,
                    "n": len(data)})
    return pd.DataFrame(out, columns=[*by, "mean", "lo", "hi", "n"])
