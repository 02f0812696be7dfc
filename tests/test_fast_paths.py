"""The engine's fast path (no route: the decisions without SimPy) gives the numbers of the
SimPy processes to the last bit, on every bundled scenario at a small horizon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lowstakes.scenario import load_scenario
from lowstakes.simulation import _Simulation, simulate

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


def _same(a, b, where):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{k}]")
    elif hasattr(a, "chunks"):  # a linear arm's learning events
        for x, y in zip(a.chunks(), b.chunks(), strict=True):
            _same(x, y, where)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    elif not callable(a) and type(a).__module__ in ("builtins", "numpy"):
        assert a == b, where


def _routed(path) -> bool:
    return bool(_Simulation(load_scenario(path).with_overrides(horizon=200, seeds=1), 0).routes)


# Only scenarios where no arm has a route take the fast path; a routed one runs the same
# SimPy code either way. Left out for time: learners.yaml (forests and ensembles) and
# phishing.yaml (a bundled data set): their cost is River's models and data, not the
# engine's timing, which every other file exercises.
UNROUTED = [p for p in SCENARIOS if not _routed(p) and p.stem not in ("learners", "phishing")]


def test_most_bundled_scenarios_take_the_fast_path():
    assert len(UNROUTED) >= 12


@pytest.mark.parametrize("path", UNROUTED, ids=[p.stem for p in UNROUTED])
def test_the_fast_path_gives_the_simpy_numbers(path):
    # Past one block of 4,096 decisions: the clock and the feedback in flight cross blocks.
    scenario = load_scenario(path).with_overrides(horizon=4096 + 700, seeds=1)
    fast, slow = simulate(scenario, 0), simulate(scenario, 0, fast=False)
    for name in ("time", "feedback_time", "y", "segment", "comparator", "actions", "stakes", "harm",
                 "comparator_harm", "requested", "wait", "queue", "feedback", "records", "consensus",
                 "pools", "oversight", "no_guarantee", "linear"):
        _same(getattr(fast, name), getattr(slow, name), name)


def test_the_comparison_sees_a_changed_number():
    scenario = load_scenario(SCENARIOS[0]).with_overrides(horizon=500, seeds=1)
    run = simulate(scenario, 0)
    changed = run.feedback_time.copy()
    changed[0, 7] += 1e-12
    with pytest.raises(AssertionError):
        _same(run.feedback_time, changed, "feedback_time")
