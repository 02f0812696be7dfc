"""The overseer as a queue, query policies, and the consensus imitator's invariants."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from conftest import LOGREG, make_scenario
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lowstakes
from lowstakes.consensus import consensus, top_set
from lowstakes.simulation import simulate


def overseen(capacity=1, service=None, patience=None, learners=None, **overrides):
    overseer = {"capacity": capacity, "service": service or {"exponential": 0.8}}
    if patience is not None:
        overseer["patience"] = patience
    return make_scenario(
        horizon=4000, seeds=1, objectives={"aligned": {"feedback": "truth"}},
        timing={"arrivals": {"poisson": 1.0}, "overseer": overseer},
        learners=learners or {"logreg": LOGREG}, **overrides)


def fifo_starts(arrivals, services, capacity):
    """When each request starts service in a FIFO queue with ``capacity`` servers."""
    free = [0.0] * capacity
    starts = []
    for arrival, service in zip(arrivals, services, strict=True):
        start = max(arrival, heapq.heappop(free))
        heapq.heappush(free, start + service)
        starts.append(start)
    return np.array(starts)


@pytest.mark.parametrize("capacity", [1, 2, 3])
def test_overseer_is_a_fifo_queue_with_capacity_servers(capacity):
    run = simulate(overseen(capacity=capacity, service={"exponential": 0.9 * capacity}), 0)
    # Up to the first request still in service at the end, every start depends only on
    # earlier requests, all of whose service times are known.
    done = slice(0, int(np.argmax(np.isnan(run.feedback_time[0]))))
    asked, wait, answered = run.time[done], run.wait[0][done].astype(float), run.feedback_time[0][done]
    service = answered - asked - wait
    assert (service > 0).all() and wait.max() > 1.0  # a real queue formed
    np.testing.assert_allclose(fifo_starts(asked, service, capacity), asked + wait, atol=1e-3)


def test_more_capacity_shortens_waits_with_the_same_service_times():
    waits = [np.nanmean(simulate(overseen(capacity=c), 0).wait[0]) for c in (1, 2, 4)]
    assert waits[0] > waits[1] > waits[2]


def test_impatient_requests_are_dropped_and_never_learned():
    run = simulate(overseen(service={"fixed": 1.5}, patience=5.0), 0)
    dropped = run.requested[0] & np.isnan(run.feedback_time[0])
    assert run.oversight[0]["dropped"] > 100
    assert dropped.sum() >= run.oversight[0]["dropped"]
    assert np.nanmax(run.wait[0]) <= 5.0 + 1e-9


def test_query_policies_ask_for_what_they_say():
    learners = {
        "everything": LOGREG,
        "fifth": {**LOGREG, "query": {"policy": "fraction", "rate": 0.2}},
        "capped": {**LOGREG, "query": {"policy": "rate_cap", "per_time": 0.1, "burst": 5}},
        "unsure": {**LOGREG, "query": {"policy": "uncertainty", "threshold": 0.9}},
    }
    scenario = make_scenario(horizon=4000, seeds=1, objectives={"aligned": {"feedback": "truth"}},
                             learners=learners)
    run = simulate(scenario, 0)
    asked = dict(zip([a for a, _ in run.arms], run.requested, strict=True))
    assert asked["everything"].all()
    assert asked["fifth"].mean() == pytest.approx(0.2, abs=0.02)
    assert asked["capped"].sum() <= 0.1 * run.time[-1] + 5
    assert asked["unsure"][:200].mean() > asked["unsure"][-1000:].mean()
    # A label not asked for is never learned from.
    for j in range(len(run.arms)):
        np.testing.assert_array_equal(~np.isnan(run.feedback_time[j]), run.requested[j])


@st.composite
def posterior_and_models(draw):
    n = draw(st.integers(1, 8))
    log_weights = draw(arrays(np.float64, n, elements=st.floats(-30, 0)))
    p1 = draw(arrays(np.float64, n, elements=st.floats(0.01, 0.99)))
    return log_weights, np.column_stack([1 - p1, p1])


@settings(max_examples=300, deadline=None)
@given(posterior_and_models(), st.floats(1e-4, 1.0), st.data())
def test_consensus_invariants(case, alpha, data):
    log_weights, nu = case
    top = top_set(log_weights, alpha)
    assert len(top) >= 1 and top[0] == int(np.argmax(log_weights))  # the most likely is always in
    act, query = consensus(nu[top])
    assert (act >= 0).all() and query >= 0
    assert act.sum() + query == pytest.approx(1.0, abs=1e-12)
    # While the demonstrator's model is in the top set, no action is taken without a
    # query with more probability than the demonstrator would take it.
    demonstrator = data.draw(st.sampled_from(top.tolist()))
    assert (act <= nu[demonstrator] + 1e-12).all()


def test_consensus_arm_acts_as_the_overseer_says_when_it_asks(tmp_path):
    learners = {"imitator": {"algorithm": "consensus", "params": {"alpha": 0.001, "share": 0.01},
                             "experts": {
                                 "low": {"rule": "threshold", "params": {"features": [0, 1], "value": 8}},
                                 "high": {"rule": "threshold", "params": {"features": [0, 1], "value": 9.5}},
                                 "never": {"rule": "constant", "params": {"label": 0}}}}}
    scenario = overseen(learners=learners, patience=3.0, service={"fixed": 1.2})
    run = simulate(scenario, 0)
    records = run.consensus[0]
    answered = records["asked"] & ~np.isnan(run.feedback_time[0])
    unanswered = records["asked"] & np.isnan(run.feedback_time[0])
    assert answered.sum() > 100 and unanswered.sum() > 0
    np.testing.assert_array_equal(run.actions[0][answered], run.feedback["aligned"][answered])
    np.testing.assert_array_equal(run.actions[0][unanswered], records["fallback"][unanswered])
    np.testing.assert_array_equal(records["asked"], run.requested[0])
    assert ((records["query_prob"] > 0) | ~records["asked"]).all()

    result = lowstakes.run(scenario, out=tmp_path / "run")
    seed = result.summary["arms"][0]["seeds"][0]
    assert seed["queries"] == records["asked"].sum() and seed["dropped"] > 0
    assert 0 < seed["utilisation"] <= 1
    assert (result.path / "figures" / "oversight.png").stat().st_size > 10_000
    assert result.trace["query_probability"].notna().all()


def test_transition_cost_grows_as_the_overseer_falls_behind(tmp_path):
    result = lowstakes.run("scenarios/oversight_capacity.yaml", out=tmp_path / "run", seeds=2,
                           horizon=10000, workers=2)
    arms = {a["learner"]: a for a in result.summary["arms"]}
    cost = {name: arm["windows"][0]["cost"] for name, arm in arms.items()}
    assert cost["cap1"] > 2 * cost["cap4"]
    assert arms["cap1_half"]["queries"]["mean"] < 0.6 * arms["cap2"]["queries"]["mean"]
    assert arms["cap1"]["seeds"][0]["utilisation"] > 0.99 > arms["cap4"]["seeds"][0]["utilisation"]


def test_paper_consensus_stops_asking_sharing_keeps_asking(tmp_path):
    result = lowstakes.run("scenarios/consensus.yaml", out=tmp_path / "run", seeds=1, horizon=6000)
    asked = {a["learner"]: a["queries"]["mean"] for a in result.summary["arms"]}
    assert asked["similar"] < 100 and asked["diverse"] < 100
    assert asked["diverse_sharing"] > 2 * asked["similar_sharing"] > 200
