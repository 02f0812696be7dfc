"""Transition windows, recovery and confidence intervals on hand-made excess-harm series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowstakes.metrics import ci95, recovery, rolling_mean, windows


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
