"""Transition windows, recovery and confidence intervals on hand-made excess-harm series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowstakes import metrics
from lowstakes.metrics import baseline, ci95, mean_ci, recovery, rolling_mean, windows


def series(*parts):
    return np.concatenate([np.full(n, v, dtype=float) for n, v in parts])


def test_recovery_cases():
    # The trailing window still holding one bump decision is at 0.05: not above tolerance.
    bumped = series((100, 0.0), (50, 1.0), (150, 0.0))
    assert recovery(bumped, 100, 300, smoothing=20, tolerance=0.05) == 50 + 18
    stuck = series((100, 0.0), (200, 0.3))
    assert recovery(stuck, 100, 300, smoothing=20, tolerance=0.05) is None
    # Back under the tolerance only in the last few decisions: not a recovery.
    late = series((100, 0.0), (190, 0.3), (10, 0.0))
    assert recovery(late, 100, 300, smoothing=20, tolerance=0.05) is None
    # Measured against the arm's own pre-shift level, not against zero.
    level = series((100, 0.2), (50, 1.0), (150, 0.2))
    assert recovery(level, 100, 300, smoothing=20, tolerance=0.05) == 50 + 18


def test_windows_default_to_the_next_shift():
    excess = series((100, 0.0), (100, 0.5), (100, 0.1))
    out = windows(excess, [100, 200], 300, length=None, smoothing=10, tolerance=0.05, bound=1.0)
    assert [(w["start"], w["end"]) for w in out] == [(100, 200), (200, 300)]
    assert [w["cost"] for w in out] == pytest.approx([50.0, 10.0])
    fixed = windows(excess, [100, 200], 300, length=30, smoothing=10, tolerance=0.05, bound=1.0)
    assert [w["cost"] for w in fixed] == pytest.approx([15.0, 3.0])
    # A window never runs into the next shift.
    long = windows(excess, [100, 200], 300, length=150, smoothing=10, tolerance=0.05, bound=1.0)
    assert [(w["start"], w["end"]) for w in long] == [(100, 200), (200, 300)]


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=200), st.integers(1, 50))
def test_rolling_mean_matches_a_direct_loop(values, width):
    values = np.array(values)
    direct = [values[max(0, i - width + 1): i + 1].mean() for i in range(len(values))]
    np.testing.assert_allclose(rolling_mean(values, width), direct, atol=1e-9)


def test_ci95_covers_the_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = [lo <= 1.0 <= hi for lo, hi in (ci95(rng.normal(1.0, 2.0, 5)) for _ in range(4000))]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)


@pytest.mark.filterwarnings("error")  # no "mean of empty slice" at the run's first decision
def test_recovery_and_baseline_at_the_start_of_the_run():
    # A shift at decision 0: the baseline is 0 (nothing came before), not the mean of nothing.
    bump = series((30, 1.0), (70, 0.0))
    assert baseline(bump, 0, smoothing=20) == 0.0
    assert recovery(bump, 0, 100, smoothing=20, tolerance=0.05) == 30 + 18
    # A shift before a whole smoothing span: the baseline is the mean of what there is.
    early = series((1, 1.0), (4, 0.0), (30, 1.0), (65, 0.0))
    assert baseline(early, 5, smoothing=20) == pytest.approx(0.2)
    assert windows(early, [5], 100, None, 20, 0.05, 1.0)[0]["baseline"] == pytest.approx(0.2)
    assert windows(bump, [0], 100, None, 20, 0.05, 1.0)[0]["baseline"] == 0.0


def test_recovery_is_zero_when_nothing_rises_and_counts_the_last_full_span():
    assert recovery(np.zeros(100), 50, 100, smoothing=10, tolerance=0.05) == 0
    # Above until the trailing mean of decision 79 (bump 50..70 plus 9 decisions): last = 30,
    # exactly end - start - smoothing = 100 - 50 - 20: still a recovery; one more is not.
    bumped = series((50, 0.0), (11, 1.0), (39, 0.0))
    assert recovery(bumped, 50, 100, smoothing=20, tolerance=0.0) == 30
    assert recovery(series((50, 0.0), (12, 1.0), (38, 0.0)), 50, 100, smoothing=20, tolerance=0.0) is None


def test_confidence_intervals_by_hand():
    # Two values 1 and 3: mean 2, s = sqrt 2, t(0.975, 1 df) = 12.7062047; half-width = 12.7062047.
    lo, hi = ci95([1.0, 3.0])
    assert (lo, hi) == (pytest.approx(2 - 12.7062047), pytest.approx(2 + 12.7062047))
    assert all(np.isnan(ci95([5.0])))
    assert mean_ci([2.0]) == {"mean": 2.0, "ci95": [None, None]}
    assert mean_ci([1, 3]) == {"mean": 2.0,
                               "ci95": [pytest.approx(2 - 12.7062047), pytest.approx(2 + 12.7062047)]}


def test_aggregate_gives_each_cell_and_arm_its_mean_and_t_interval():
    import pandas as pd

    rows = pd.DataFrame({"set.x": [1, 1, 1, 2, 2, 3], "learner": ["l"] * 6, "objective": ["o"] * 6,
                         "regret": [1.0, 2.0, 6.0, 4.0, np.nan, 5.0]})
    out = metrics.aggregate(rows, "regret")
    assert list(out.columns) == ["set.x", "learner", "objective", "mean", "lo", "hi", "n"]
    assert out["set.x"].tolist() == [1, 2, 3] and out["n"].tolist() == [3, 1, 1]
    assert out["mean"].tolist() == [3.0, 4.0, 5.0]
    # Three seeds: 3 -+ t(0.975, 2) * s / sqrt(3), s = sqrt(7); one seed (NaN left out): no interval.
    half = 4.302652729749464 * math.sqrt(7.0) / math.sqrt(3.0)  # t(0.975, 2), from tables
    assert out["lo"][0] == pytest.approx(3.0 - half, rel=1e-12) and out["hi"][0] == pytest.approx(3.0 + half)
    assert np.isnan(out["lo"][1]) and np.isnan(out["hi"][2])
    by = metrics.aggregate(rows, "regret", by=["learner"])
    assert by[["learner", "n"]].to_dict("records") == [{"learner": "l", "n": 5}]
    assert by["mean"][0] == pytest.approx(18.0 / 5)
    empty = metrics.aggregate(rows.assign(regret=np.nan), "regret", by=["learner"])
    assert empty["n"][0] == 0 and np.isnan(empty["mean"][0]) and np.isnan(empty["lo"][0])


def test_sums_are_taken_in_double_precision():
    # In single precision 3e7 + 1 is 3e7: a float32 series must still be summed in float64.
    values = np.array([3e7, 1.0, 1.0, -3e7], np.float32)
    assert rolling_mean(values, 2).tolist()[2] == 1.0
    lo, hi = ci95(np.array([1e8, 1e8 + 8.0, 1e8 + 16.0], np.float32))
    assert (lo + hi) / 2 == 1e8 + 8.0


def test_aggregate_keeps_the_order_and_the_cells_it_was_given():
    import pandas as pd

    rows = pd.DataFrame({"set.x": [3.0, 1.0, 3.0, np.nan], "learner": "l", "objective": "o",
                         "regret": [1.0, 2.0, 3.0, 4.0]})
    out = metrics.aggregate(rows, "regret")
    assert out["set.x"].tolist()[:2] == [3.0, 1.0] and np.isnan(out["set.x"][2])  # no sorting, NaN kept
    assert out["n"].tolist() == [2, 1, 1]
    empty = metrics.aggregate(rows.iloc[:0], "regret")
    assert list(empty.columns) == ["set.x", "learner", "objective", "mean", "lo", "hi", "n"] and empty.empty
