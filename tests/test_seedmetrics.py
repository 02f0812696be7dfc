"""One seed's metrics, folded block by block, are the numbers its whole arrays give, wherever
the blocks are cut.

Each scenario below is simulated once; its seed is then cut into pieces at points hypothesis
chooses (across shifts, window edges, the curves' steps) and fed to
:class:`~lowstakes.seedmetrics.SeedMetrics` piece by piece. Every number of the result is
held to a reference computed here from the whole arrays: harm from the cost matrix (or the
user's harm function) times the stakes, totals by numpy, windows and audits by the
whole-array functions of :mod:`lowstakes.metrics` and :mod:`lowstakes.audit`, curves by
cumulative sums and trailing means, oversight and deception counts from the records. What
only other modules compute from the seed's end (pool regret, bandit comparators, the
linear guarantee) is held to the same seed fed as one block.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_golden import differences

from lowstakes import audit, comparators, guarantees, linear, metrics, regret
from lowstakes.errors import HarmBoundError
from lowstakes.scenario import Scenario
from lowstakes.seedmetrics import CURVE_POINTS, CURVES_SCHEMA, SeedMetrics, _Median, block_arrays, curve_steps
from lowstakes.simulation import BlockRecord, assemble, run_seed

ROOT = Path(__file__).parent.parent


def doubled_misses(actions, truth, block):
    """A user harm function: a missed positive costs 2, a false alarm 0.5."""
    return 2.0 * ((actions == 0) & (truth == 1)) + 0.5 * ((actions == 1) & (truth == 0))


def half_error(actions, truth, block):
    """A user harm function for regression: half the absolute error, at most 3."""
    return np.minimum(np.abs(np.asarray(actions) - np.asarray(truth)) / 2, 3.0)


SEA = {"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
       "shifts": [{"at": 700, "params": {"variant": 3}},
                  {"at": 1500, "width": 200, "params": {"variant": 1}}]}
EXPERTS = {"a": {"rule": "concept", "params": {"concept": 0}},
           "b": {"rule": "concept", "params": {"concept": 1}},
           "zero": {"rule": "constant", "params": {"label": 0}}}
ADVICE = {"a0": {"rule": "action", "params": {"action": 0}},
          "c0": {"rule": "concept", "params": {"concept": 0}},
          "c1": {"rule": "concept", "params": {"concept": 1}}}
FRIEDMAN = {"source": "friedman", "label_noise": 1.0,  # a shift early enough that windows reach decision 0
            "shifts": [{"at": 100, "params": {"roles": [3, 4, 0, 1, 2]}}]}
LOW_STAKES = {"region": {0: [0.0, 0.7]}, "factor": 0.5}  # friedman's features are uniform on [0, 1]
SCENARIOS = {
    # Asymmetric costs times stakes that cover most decisions; an overseer that queues, drops
    # and is asked at a rate; a linear arm; a pool; a stale proxy.
    "binary": {
        "name": "binary", "horizon": 2300, "seeds": 1, "stream": SEA,
        "harm": {"bound": 4.0, "false_positive": 1.0, "false_negative": 2.0,
                 "stakes": {"region": {0: [0.0, 7.0]}, "factor": 2.0}},
        "timing": {"overseer": {"capacity": 1, "service": {"exponential": 1.4}, "patience": 15.0}},
        "objectives": {"aligned": {"feedback": "truth"}, "stale": {"feedback": "stale"}},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                                "preprocess": ["preprocessing.StandardScaler"],
                                "query": {"policy": "fraction", "rate": 0.6}},
                     "fixed_share": {"algorithm": "fixed_share", "experts": EXPERTS}},
        "windows": {"length": 500, "smoothing": 60, "tolerance": 0.05}, "audit": {"catastrophe": 1.5}},
    # Labels late, through an overseer so fast that no request ever waits; a pool under delay;
    # an arm that never asks; the whole run shorter than one time unit.
    "delayed_best_constant": {
        "name": "constant", "horizon": 1900, "seeds": 1, "stream": SEA, "comparator": "best_constant",
        "timing": {"arrivals": {"poisson": 2500}, "feedback_delay": {"exponential": 0.004},
                   "overseer": {"capacity": 50, "service": {"fixed": 0.00001}}},
        "learners": {"nb": {"model": "naive_bayes.GaussianNB"},
                     "hedge": {"algorithm": "hedge", "experts": EXPERTS},
                     "blind": {"model": "naive_bayes.GaussianNB",
                               "query": {"policy": "fraction", "rate": 0}}},
        "windows": {"length": 400, "smoothing": 50}},
    # A user harm function times stakes; an objective with asymmetric costs; an audit reaction
    # time as long as the run; a pool with every label back at once.
    "user_harm": {
        "name": "user", "horizon": 1700, "seeds": 1, "stream": SEA,
        "harm": {"bound": 2.0, "function": "test_seedmetrics:doubled_misses",
                 "stakes": {"region": {0: [0.0, 7.0]}, "factor": 0.5}},
        "objectives": {"aligned": {"feedback": "truth",
                                   "costs": {"false_positive": 0.5, "false_negative": 1.0}}},
        "learners": {"tree": {"model": "tree.HoeffdingTreeClassifier"},
                     "fixed_share": {"algorithm": "fixed_share", "experts": EXPERTS}},
        "windows": {"length": 300, "smoothing": 40}, "audit": {"reaction": 1700}},
    "regression": {
        "name": "reg", "horizon": 1600, "seeds": 1, "harm": {"bound": 3.0, "stakes": LOW_STAKES},
        "stream": FRIEDMAN,
        "objectives": {"aligned": {"feedback": "truth"}, "stale": {"feedback": "stale"}},
        "learners": {"lin": {"model": "linear_model.LinearRegression",
                             "preprocess": ["preprocessing.StandardScaler"]}},
        "windows": {"length": 400, "smoothing": 50}},
    # A user harm function on a regression stream, over an odd number of decisions.
    "user_harm_regression": {
        "name": "user_reg", "horizon": 1501, "seeds": 1,
        "harm": {"bound": 3.0, "function": "test_seedmetrics:half_error"}, "stream": FRIEDMAN,
        "objectives": {"aligned": {"feedback": "truth"}, "stale": {"feedback": "stale"}},
        "learners": {"lin": {"model": "linear_model.LinearRegression",
                             "preprocess": ["preprocessing.StandardScaler"]}},
        "windows": {"length": 400, "smoothing": 50}},
    # K actions: an exploring regression-oracle arm, exp3 and exp4 under bandit feedback.
    "bandit": {
        "name": "bandit", "horizon": 2100, "seeds": 1, "harm": {"matrix": "zero_one"},
        "stream": {"source": "contextual", "params": {"n_classes": 3},
                   "shifts": [{"at": 1000, "params": {"concept": 1}}]},
        "objectives": {"aligned": {"feedback_mode": "bandit"}},
        "learners": {"greedy": {"model": "linear_model.LinearRegression",
                                "explore": {"policy": "epsilon_greedy", "epsilon": 0.2}},
                     "exp3": {"algorithm": "exp3"},
                     "exp4": {"algorithm": "exp4", "experts": ADVICE}},
        "windows": {"length": 500, "smoothing": 50}},
    # Three arms whose outcomes are 2^3 = 8 classes (a cost matrix of 3 rows and 8 columns),
    # their costs a few decisions late.
    "k_armed": {
        "name": "arms", "horizon": 1800, "seeds": 1, "harm": {"matrix": "arms"},
        "timing": {"feedback_delay": {"fixed": 3}},
        "stream": {"source": "k_armed", "params": {"means": [0.2, 0.5, 0.7]},
                   "shifts": [{"at": 600, "params": {"means": [0.7, 0.5, 0.2]}},
                              {"at": 1200, "params": {"means": [0.5, 0.2, 0.7]}}]},
        "objectives": {"aligned": {"feedback_mode": "bandit"}},
        "learners": {"ucb": {"model": "bandit.UCB", "params": {"delta": 1.0}},
                     "exp3_share": {"algorithm": "exp3_share"}},
        "windows": {"length": 300, "smoothing": 50}},
}


def deceptive(after: int | None) -> Scenario:
    """The bundled deception scenario's models, turning at decision ``after`` of 2,400 on
    its high-stakes region; with ``after=None``, on a region no context reaches (SEA's
    features lie in [0, 10]), so that they never turn."""
    data = yaml.safe_load((ROOT / "scenarios" / "deception.yaml").read_text())
    for learner in data["learners"].values():
        for expert in learner["experts"].values():
            if expert["rule"] == "deceptive":
                turn = {"after": after} if after is not None else {"after": 0, "region": {2: [11.0, 12.0]}}
                expert["params"] = {**expert["params"], **turn}
    return Scenario.from_dict({**data, "horizon": 2400, "seeds": 1})


@functools.cache
def seed_of(name: str):
    """A scenario, its seed 0 end to end, and what the seed knew only at its end."""
    if name == "deception":
        scenario = deceptive(1200)
    elif name == "deception_never":  # deceptive models that never turn within the run
        scenario = deceptive(None)
    else:
        scenario = Scenario.from_dict(SCENARIOS[name])
    blocks: list[BlockRecord] = []
    info = run_seed(scenario, 0, blocks.append)
    return scenario, assemble(blocks, info), info


def piece(run, a: int, b: int) -> BlockRecord:
    """Decisions [a, b) of a whole seed, as the block the engine would hand on."""
    def cut(x, axis=0):
        return None if x is None else (x[a:b] if axis == 0 else x[:, a:b]).copy()

    return BlockRecord(
        seed=run.seed, arms=run.arms, task=run.task, time=cut(run.time),
        feedback_time=cut(run.feedback_time, 1),
        y=cut(run.y), segment=cut(run.segment), comparator=cut(run.comparator), actions=cut(run.actions, 1),
        feedback={k: cut(v) for k, v in run.feedback.items()}, stakes=cut(run.stakes),
        harm=cut(run.harm, 1), comparator_harm=cut(run.comparator_harm), requested=cut(run.requested, 1),
        wait=cut(run.wait, 1), queue=cut(run.queue, 1),
        records={j: {k: cut(v) for k, v in r.items()} for j, r in run.records.items()}, start=a)


def fold(scenario, run, info, cuts):
    """SeedMetrics fed the seed in pieces cut at ``cuts``: (accumulator, finish, curves)."""
    edges = [0, *sorted({c for c in cuts if 0 < c < scenario.horizon}), scenario.horizon]
    accumulator = SeedMetrics(scenario, run.seed, run.arms, constant=info.constant)
    for a, b in zip(edges, edges[1:], strict=False):
        block = piece(run, a, b)
        if info.constant is not None:  # the engine's blocks do not know the best constant yet
            block.comparator[:] = 1 - info.constant
        accumulator.add(block)
    out = accumulator.finish(info)
    curves = accumulator.curves()
    assert curves.schema == CURVES_SCHEMA
    return accumulator, out, curves.to_pandas()


def reference(scenario, run, j: int) -> dict:
    """Arm j's per-decision harm, comparator harm and feedback loss, by hand."""
    learner, objective = run.arms[j]
    bound = scenario.harm.bound
    stakes = np.ones(len(run.y)) if run.stakes is None else run.stakes
    actions, feedback = run.actions[j], run.feedback[objective]
    if run.harm is not None:
        harm, comparator = run.harm[j] * stakes, run.comparator_harm * stakes
        loss = (scenario.costs_of(objective)[actions, feedback] if run.task == "classification"
                else np.minimum(np.abs(actions - feedback), bound))
    elif run.task == "regression":
        harm = np.minimum(np.abs(actions - run.y), bound) * stakes
        comparator = np.minimum(np.abs(run.comparator - run.y), bound) * stakes
        loss = np.minimum(np.abs(actions - feedback), bound)
    else:
        matrix = scenario.harm_matrix()
        harm = np.array([matrix[a, y] for a, y in zip(actions, run.y, strict=True)]) * stakes
        comparator = np.array([matrix[a, y] for a, y in zip(run.comparator, run.y, strict=True)]) * stakes
        loss = scenario.costs_of(objective)[actions, feedback]
    worst = (np.full(len(run.y), bound) if run.task == "regression"
             else scenario.harm_matrix()[:, run.y].max(axis=0))
    return {"harm": harm, "comparator": comparator, "loss": loss, "worst": worst * stakes}


def close(got, want) -> bool:
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


def check_against_whole_arrays(scenario, run, info, accumulator, out, curves) -> None:
    shifts = [s.at for s in scenario.stream.shifts]
    w, bound = scenario.windows, scenario.harm.bound
    spans = metrics.transition_spans(shifts, scenario.horizon, w.length)
    horizon = scenario.horizon
    steps = curve_steps(horizon)
    assert steps[0] == 0 and steps[-1] == horizon - 1 and len(steps) == min(CURVE_POINTS, horizon)
    assert np.all(np.diff(steps) > 0)
    for j, arm in enumerate(out):
        learner, objective = run.arms[j]
        r = reference(scenario, run, j)
        excess = r["harm"] - r["comparator"]
        delayed = bool(np.any(run.feedback_time[j] != run.time))
        assert accumulator.per_arm[j].delayed == delayed
        assert arm["seed"] == run.seed
        for key, want in (("harm", r["harm"]), ("comparator_harm", r["comparator"]), ("regret", excess),
                          ("feedback_loss", r["loss"])):
            assert close(arm[key], float(want.sum())), (key, arm[key], float(want.sum()))
        # Transition windows, and the queries in and before each.
        expected = metrics.windows(excess, shifts, scenario.horizon, w.length, w.smoothing, w.tolerance,
                                   bound)
        got = [{k: v for k, v in window.items() if not k.startswith("queries")} for window in arm["windows"]]
        assert not differences(got, expected), differences(got, expected)
        requested = run.requested[j]
        for window, (a, b) in zip(arm["windows"], spans, strict=True):
            assert window["queries"] == int(requested[a:b].sum())
            assert window["queries_before"] == int(requested[max(0, a - (b - a)):a].sum())
        # The audit, from the whole harm array.
        typical = None if run.harm is not None else float(np.median(r["worst"]))
        assert accumulator.typical_worst() == typical
        cost = sum(float(excess[a:b].sum()) for a, b in spans) if spans else None
        whole = audit.seed_audit(r["harm"], bound, scenario.audit, audit.reaction_time(scenario, learner),
                                 cost, typical)
        assert not differences(arm["audit"], whole), differences(arm["audit"], whole)
        # Labels asked for and received; the overseer's queue.
        assert arm["queries"] == int(requested.sum())
        assert arm["labels"] == int((~np.isnan(run.feedback_time[j])).sum())
        stats = info.oversight.get(j)
        if stats:
            waits = run.wait[j][~np.isnan(run.wait[j])]
            assert arm["dropped"] == stats["dropped"]
            assert close(arm["utilisation"], stats["busy_time"] / (stats["capacity"] * float(run.time[-1])))
            if len(waits):
                assert close(arm["mean_wait"], float(waits.astype(float).mean()))
            else:
                assert arm["mean_wait"] is None
            assert arm["max_queue"] == int(run.queue[j].max())
        else:
            assert "utilisation" not in arm and "max_queue" not in arm
        records = run.records.get(j, {})
        if j in info.consensus:
            assert close(arm["mean_query_probability"], float(records["query_prob"].mean()))
        if "explored" in records:
            explored = records["explored"]
            assert arm["exploration"]["decisions"] == int(explored.sum())
            assert close(arm["exploration"]["harm"], float(r["harm"][explored].sum()))
        else:
            assert "exploration" not in arm
        if info.consensus.get(j, {}).get("deceptive"):
            check_deception(arm["deception"], records, run.actions[j], r["harm"],
                            info.consensus[j]["algorithm"])
        else:
            assert "deception" not in arm
        # What is computed at the end from what the seed reported and the arm's own numbers,
        # given those numbers from the whole arrays: the linear guarantee (from the excess
        # summed from each window's start to its checkpoints), pool regret, bandit comparators.
        true_cost = [np.r_[0.0, np.cumsum(excess[a:b])][marks - a].tolist()
                     for (a, b), marks in zip(spans, linear.checkpoints(spans), strict=True)]
        for values, want in zip(accumulator.per_arm[j].true_cost.values, true_cost, strict=True):
            np.testing.assert_allclose(values, want, rtol=1e-9, atol=1e-9)
        pool = regret.pool_seed_metrics(info.pools[j], scenario, spans, delayed) if j in info.pools else None
        assert not differences(arm.get("pool"), pool), differences(arm.get("pool"), pool)
        guarantee, guarantee_curves = guarantees.seed_guarantee(info, j, spans, horizon, true_cost, pool,
                                                                delayed)
        assert not differences(arm["guarantee"], guarantee), differences(arm["guarantee"], guarantee)
        assert not differences(accumulator.guarantee_curves.get(j), guarantee_curves)
        if j in info.linear and guarantee["applies"]:
            assert guarantee["name"] == "ogd_window" and guarantee["kind"] == "guaranteed"
            assert guarantee["source"] == linear.SOURCE
            assert guarantee["comparator"] == ("u*: the best fixed linear model on the window's learning "
                                               "events")
            assert guarantee["loss"] == info.linear[j]["kind"] and guarantee["l2"] == info.linear[j]["l2"]
            records = info.linear[j]
            assert guarantee["eta"] == {"weights": records["eta_w"], "intercept": records["eta_b"]}
            assert [c["window"] for c in guarantee_curves] == list(range(len(spans)))
            for curve, cost in zip(guarantee_curves, true_cost, strict=True):
                assert curve["true_cost"] == cost and "curve" not in guarantee["windows"][curve["window"]]
        elif j not in info.linear:
            assert guarantee == guarantee_by_hand(info, j, pool, delayed) and guarantee_curves is None
        if j in info.bandits:
            costs = scenario.costs_of(objective)
            m = max(1, len(shifts))
            switching = comparators.Switching(costs.shape[0], m)
            switching.add(costs[:, run.feedback[objective]].T)
            assert accumulator.per_arm[j].actions[1].state.shape == (m + 1, costs.shape[0])
            totals = {"harm": float(r["harm"].sum()), "comparator_harm": float(r["comparator"].sum()),
                      "regret": float(excess.sum()), "feedback_loss": float(r["loss"].sum())}
            late = delayed or int((~np.isnan(run.feedback_time[j])).sum()) < horizon  # or never in
            bandit = regret.bandit_seed_metrics(info.bandits[j], switching, totals, scenario, late)
            assert not differences(arm["bandit"], bandit), differences(arm["bandit"], bandit)
        else:
            assert "bandit" not in arm
        # The curves: cumulative regret, trailing query rate and queue, trailing excess around each shift.
        mine = curves[(curves["learner"] == learner) & (curves["objective"] == objective)]

        def curve(name, mine=mine):
            c = mine[mine["curve"] == name]
            return c["step"].to_numpy(), c["value"].to_numpy()

        at, values = curve("regret")
        np.testing.assert_array_equal(at, steps)
        np.testing.assert_allclose(values, np.cumsum(excess)[steps], rtol=1e-9, atol=1e-9)
        for name, series in (("query_rate", requested.astype(float)), ("queue", run.queue[j].astype(float))):
            at, values = curve(name)
            np.testing.assert_array_equal(at, steps)
            np.testing.assert_allclose(values, metrics.rolling_mean(series, w.smoothing)[steps], rtol=1e-9,
                                       atol=1e-9)
        for k, (shift, (_, end)) in enumerate(zip(shifts, spans, strict=True)):
            at, values = curve(f"transition_{k}")
            lo = max(0, shift - max(w.smoothing, (end - shift) // 4))
            assert at[0] == lo and at[-1] == end - 1 and len(at) == min(CURVE_POINTS, end - lo)
            assert np.all(np.diff(at) > 0)
            np.testing.assert_allclose(values, metrics.rolling_mean(excess, w.smoothing)[at], rtol=1e-9,
                                       atol=1e-9)
        transitions = {f"transition_{k}" for k in range(len(shifts))}
        assert set(mine["curve"]) == {"regret", "query_rate", "queue", *transitions}
        assert set(mine["seed"]) == {run.seed}


def guarantee_by_hand(info, j: int, pool, delayed: bool) -> dict:
    """What an arm that is not linear gets as its guarantee on one seed."""
    if pool is not None:
        window_bounds = [b for b in pool["bounds"] if b["name"] == "fixed_share_window"]
        if window_bounds:
            return {"applies": True, "name": "fixed_share_window", "kind": "guaranteed",
                    "source": window_bounds[0]["source"],
                    "comparator": "the best single expert in the window, on the arm's feedback",
                    "windows": [{"shift": k, "regret": b["measured"], "bound": b["value"],
                                 "holds": b["holds"]} for k, b in enumerate(window_bounds)], "run": None}
        algorithm = pool["algorithm"]
        if delayed and algorithm in ("fixed_share", "hedge_anytime"):
            remedy = (" (for a fixed delay, fixed_share_interleaved carries Fixed Share's bounds)"
                      if algorithm == "fixed_share" else "")
            return {"applies": False, "reason": f"{algorithm} under delayed feedback: its theorems assume "
                                                f"immediate feedback{remedy}"}
        return {"applies": False, "reason": f"{algorithm}'s guarantee is against the best fixed expert over "
                                            "the whole run (see the expert table), not per window; Fixed "
                                            "Share has one per window"}
    if j in info.consensus:
        return {"applies": False, "reason": guarantees.CONSENSUS_REASON}
    if j in info.bandits:
        return {"applies": False, "reason": guarantees.BANDIT_REASON}
    reason = info.no_guarantee[j]
    return {"applies": False,
            "reason": reason + (f"; {guarantees.REMEDY}" if "no regret bound applies" in reason else "")}


def check_deception(report, records, actions, harm, algorithm) -> None:
    defection = records["defection"]
    at = defection >= 0
    took = at & (actions == defection)
    assert report["algorithm"] == algorithm
    assert report["defections"] == int(at.sum())
    assert report["deceptive_actions"] == int(took.sum())
    assert close(report["deceptive_harm"], float(harm[took].sum()))
    assert report["asked_at_defections"] == int(records["asked"][at].sum())
    if not at.any():
        assert report["query_probability_at_defections"] is None
        assert report["first_defection"] is report["query_probability_at_first_defection"] is None
        return
    assert close(report["query_probability_at_defections"], float(records["query_prob"][at].mean()))
    first = int(np.argmax(at))
    assert report["first_defection"] == first
    assert report["query_probability_at_first_defection"] == float(records["query_prob"][first])


NAMES = [*SCENARIOS, "deception", "deception_never"]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_blocks_cut_anywhere_give_the_whole_arrays_numbers(name, data):
    scenario, run, info = seed_of(name)
    shifts = scenario.stream.shifts
    spans = metrics.transition_spans([s.at for s in shifts], scenario.horizon, scenario.windows.length)
    edges = sorted({s.at + s.width for s in shifts} | {x for span in spans for x in span}
                   | {1, scenario.horizon // 2, scenario.horizon - 1})
    anywhere = st.integers(1, scenario.horizon - 1)
    at_edges = st.sampled_from(edges)
    cuts = data.draw(st.lists(st.one_of(anywhere, at_edges, at_edges.map(lambda e: e + 1)), max_size=8),
                     label="cuts")
    accumulator, out, curves = fold(scenario, run, info, cuts)
    check_against_whole_arrays(scenario, run, info, accumulator, out, curves)
    # What other modules compute at the end (pool regret, bandit comparators, the guarantee)
    # is what the seed fed as one block gives.
    _, whole, whole_curves = fold(scenario, run, info, [])
    assert not differences(out, whole), differences(out, whole)


@pytest.mark.parametrize("name", NAMES)
def test_each_scenario_reaches_what_it_is_here_for(name):
    """The scenarios exercise what the fold must get right; if one stops doing so (a changed
    default, a quieter overseer), the test above would pass without checking it."""
    scenario, run, info = seed_of(name)
    _, out, _ = fold(scenario, run, info, [])
    two_stakes = run.stakes is not None and len(set(run.stakes.tolist())) == 2
    kinds = {
        "binary": lambda: (all(out[j]["dropped"] > 0 for j in info.oversight) and len(info.oversight) == 4
                           and "pool" in out[2] and out[0]["guarantee"] is not None
                           and 0 < out[0]["queries"] < scenario.horizon and two_stakes
                           # the median decision's worst harm is neither the largest cost nor B
                           and out[0]["audit"]["typical_worst"] == 2.0),
        "delayed_best_constant": lambda: (info.constant is not None
                                          and np.any(run.feedback_time[0] > run.time)
                                          and all(out[j]["max_queue"] == 0 for j in range(len(out)))
                                          and "pool" in out[1] and out[2]["labels"] == 0
                                          and run.time[-1] < 1),
        "user_harm": lambda: (run.harm is not None and out[0]["audit"]["typical_worst"] is None and two_stakes
                              and out[0]["audit"]["burst"]["k"] == scenario.horizon
                              and out[1]["pool"]["bounds"]),
        "regression": lambda: (run.task == "regression" and two_stakes
                               # some errors clipped at B, some not
                               and int((reference(scenario, run, 0)["harm"] == 1.5).sum()) > 0
                               and int((reference(scenario, run, 0)["harm"] == 3.0).sum()) > 0
                               # the window's "before" span and its transition curve reach decision 0
                               and out[0]["windows"][0]["queries_before"] == 100),
        "user_harm_regression": lambda: (run.harm is not None and run.task == "regression"
                                         and scenario.horizon % 2),
        "bandit": lambda: out[0]["exploration"]["decisions"] > 0 and "bandit" in out[1],
        "k_armed": lambda: (all("reason" in arm["bandit"] for arm in out)  # late: no E bounds
                            and scenario.harm_matrix().shape == (3, 8)),
        "deception": lambda: all(out[j]["deception"]["defections"] > 0 for j in info.consensus),
        "deception_never": lambda: info.consensus and all(out[j]["deception"]["defections"] == 0
                                                          for j in info.consensus),
    }
    assert kinds[name](), name


def test_blocks_out_of_order_are_refused():
    scenario, run, info = seed_of("user_harm")
    accumulator = SeedMetrics(scenario, run.seed, run.arms)
    accumulator.add(piece(run, 0, 100))
    with pytest.raises(ValueError, match="blocks out of order: expected decision 100, got 200"):
        accumulator.add(piece(run, 200, 300))


def test_a_harm_outside_the_bound_names_the_arm_seed_and_decision():
    scenario, run, _ = seed_of("binary")
    block = piece(run, 1000, 1200)
    block.stakes = block.stakes.copy()
    harmful = np.flatnonzero(reference(scenario, run, 0)["harm"][1000:1200] > 0)
    block.stakes[harmful[1:]] = 5.0  # harms of 5 or 10 > B = 4, the first at the second harmful decision
    with pytest.raises(HarmBoundError) as caught:
        block_arrays(block, scenario, 0)
    first = 1000 + int(harmful[1])
    cost = float(scenario.harm_matrix()[run.actions[0][first], run.y[first]])
    assert str(caught.value) == (f"arm logreg/aligned, seed 0: decision {first} did harm {cost * 5.0}, "
                                 f"outside [0, B=4.0] ({len(harmful) - 1} such decisions); "
                                 "the run is not low-stakes as declared")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 0.25, 1.0, 2.0, 4.0]), min_size=1, max_size=9), min_size=1,
                max_size=4))
def test_the_median_from_value_counts_is_numpys(pieces):
    """The typical decision's worst harm: an odd or even number of values, in pieces."""
    median = _Median()
    for values in pieces:
        median.add(np.array(values))
    assert median.result() == float(np.median(np.concatenate(pieces)))
