"""The engine's fast paths give the numbers of SimPy, the simulation of record, to the last bit:
without a route the decisions run without any event calendar; with routes (overseers, query
policies, the imitators' own queries) they run on lowstakes.events, which orders events as
SimPy does without its objects. Checked on every bundled scenario at a small horizon, and on
drawn timings full of ties (fixed service times, patience and delays on the arrivals' grid),
where only the order of events decides whether a label is learned before a decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowstakes.scenario import Scenario, load_scenario
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


# Left out for time: learners.yaml (forests and ensembles) and phishing.yaml (a bundled data
# set): their cost is River's models and data, not the engine's timing, which every other
# file exercises.
CHECKED = [p for p in SCENARIOS if p.stem not in ("learners", "phishing")]
FIELDS = ("time", "feedback_time", "y", "segment", "comparator", "actions", "stakes", "harm",
          "comparator_harm", "requested", "wait", "queue", "feedback", "records", "consensus",
          "pools", "oversight", "no_guarantee", "linear")


def _both_ways(scenario):
    fast, slow = simulate(scenario, 0), simulate(scenario, 0, fast=False)
    for name in FIELDS:
        _same(getattr(fast, name), getattr(slow, name), name)
    return fast


def test_both_fast_paths_are_checked_on_several_files():
    routed = [p for p in CHECKED if _routed(p)]
    assert len(CHECKED) - len(routed) >= 12 and len(routed) >= 5


@pytest.mark.parametrize("path", CHECKED, ids=[p.stem for p in CHECKED])
def test_the_fast_paths_give_the_simpy_numbers(path):
    # Past one block of 4,096 decisions: the clock and the feedback in flight cross blocks.
    _both_ways(load_scenario(path).with_overrides(horizon=4096 + 700, seeds=1))


GRID = st.sampled_from([0.5, 1.0, 2.0, 3.0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capacity=st.integers(1, 3), service=GRID, exponential=st.booleans(),
       patience=st.none() | GRID, delay=st.none() | GRID, poisson=st.booleans(),
       query=st.sampled_from([None, {"policy": "fraction", "rate": 0.6},
                              {"policy": "rate_cap", "per_time": 0.7, "burst": 2}]),
       layout=st.sampled_from(["scenario", "own", "unrouted"]))
def test_routes_give_the_simpy_numbers_where_events_tie(capacity, service, exponential, patience,
                                                         delay, poisson, query, layout):
    """Fixed service times, patience and delays on the grid of fixed arrivals make labels
    finish, give up and arrive at the very instants of decisions and of each other.
    ``layout``: both arms through the scenario's overseer; the second arm through an
    overseer of its own; or the second arm with no route at all (its delayed labels beside
    the routed arm's, each kind on its own fast path)."""
    overseer = {"capacity": capacity, "service": {"exponential" if exponential else "fixed": service},
                "patience": patience}
    learners = {"routed": {"model": "linear_model.Perceptron", "query": query},
                "shared": {"model": "linear_model.Perceptron"}}
    if layout == "own":
        learners["shared"]["overseer"] = {"capacity": 1, "service": 1.0}
    if layout == "unrouted":
        learners["routed"]["overseer"] = overseer
    scenario = Scenario.from_dict({
        "name": "ties", "horizon": 400, "seed": 3,
        "stream": {"source": "sea", "shifts": [{"at": 200, "params": {"variant": 2}}]},
        "timing": {"arrivals": {"poisson": 1.0} if poisson else {"every": 1.0},
                   "feedback_delay": {"fixed": delay} if delay else {},
                   "overseer": None if layout == "unrouted" else overseer},
        "learners": learners})
    run = _both_ways(scenario)
    assert run.requested[0].any()
    assert (layout == "unrouted") == bool(run.requested[1].all() and np.isnan(run.wait[1]).all())


def test_the_comparison_sees_a_changed_number():
    scenario = load_scenario(SCENARIOS[0]).with_overrides(horizon=500, seeds=1)
    run = simulate(scenario, 0)
    changed = run.feedback_time.copy()
    changed[0, 7] += 1e-12
    with pytest.raises(AssertionError):
        _same(run.feedback_time, changed, "feedback_time")


@pytest.mark.parametrize(("capacity", "service", "model"), [
    (1, {"fixed": 1.0}, "linear_model.LogisticRegression"),   # a label ends at every decision
    (1, {"fixed": 1.5}, "linear_model.LogisticRegression"),   # overloaded: the queue grows past blocks
    (2, {"fixed": 2.0}, "tree.HoeffdingTreeClassifier"),      # Policy.take_queued, two labellers
    (3, {"exponential": 2.5}, "linear_model.LogisticRegression"),
    (1, {"exponential": 0.9}, "fixed_share"),                 # an expert pool
])
def test_the_closed_form_desk_gives_the_simpy_numbers_across_blocks(capacity, service, model):
    """Every label through an overseer without patience, decisions at fixed spacing: the
    route the engine works out in closed form (lowstakes.events.FifoDesk), with labels
    ending at the instants of decisions and carried from block to block."""
    scenario = Scenario.from_dict({
        "name": "fifo", "horizon": 4096 + 900, "seed": 5,
        "stream": {"source": "sea", "shifts": [{"at": 3000, "params": {"variant": 2}}]},
        "timing": {"overseer": {"capacity": capacity, "service": service}},
        "learners": {"routed": {"model": model} if "." in model else {
            "algorithm": model, "experts": {"A": {"rule": "concept", "params": {"concept": 0}},
                                            "B": {"rule": "constant", "params": {"label": 1}}}}}})
    assert _Simulation(scenario, 0).routes[0].fifo is not None
    run = _both_ways(scenario)
    assert np.isfinite(run.feedback_time[0]).mean() > 0.5


def test_a_queue_past_32767_is_recorded_the_same_both_ways():
    """An overseer ten times too slow: its queue grows to 36,000 (past an int16 record, which
    wrapped to negative on the fast path and raised on SimPy's)."""
    scenario = Scenario.from_dict({
        "name": "backlog", "horizon": 40_000, "stream": {"source": "sea"},
        "timing": {"overseer": {"capacity": 1, "service": 10.0}},
        "learners": {"p": {"model": "linear_model.Perceptron"}}})
    run = _both_ways(scenario)
    # The last decision (at 39,999) finds 39,999 requests before it, of which 4,000 started
    # (one every 10 time units from 0).
    assert run.queue.min() >= 0 and run.queue.max() == 39_999 - 4_000
