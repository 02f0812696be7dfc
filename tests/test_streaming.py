"""Long runs at flat memory: the engine hands on settled blocks, the metrics fold them in.

What is checked here: the streamed metrics equal the whole-array functions on the same
seed (windows, recovery, audit, totals); blocks arrive once each, in order; the trace
holds exactly what the in-memory seed holds; ``trace: summary`` keeps the summary and the
curves and no trace; the best-constant comparator (known only at the end) is applied to
every spooled block.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_golden import ROOT, differences

import lowstakes
from lowstakes import analysis, audit, metrics
from lowstakes.results import SeedTrace, arm_arrays
from lowstakes.runner import seed_result
from lowstakes.scenario import Scenario, load_scenario
from lowstakes.simulation import BLOCK, run_seed, simulate


def scenario(**changes) -> Scenario:
    data = {
        "name": "streaming", "horizon": 2 * BLOCK + 123, "seeds": 2,
        "stream": {"source": "sea", "label_noise": 0.1,
                   "shifts": [{"at": 3000, "params": {"variant": 3}},
                              {"at": 6000, "params": {"variant": 1}}]},
        "timing": {"feedback_delay": {"exponential": 30}},
        "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression"},
                     "nb": {"model": "naive_bayes.GaussianNB"}},
        "windows": {"length": 1500, "smoothing": 300, "tolerance": 0.05},
        "audit": {"catastrophe": 0.5},
    }
    data.update(changes)
    return Scenario.from_dict(data)


@pytest.mark.parametrize("changes", [
    {},
    {"timing": {"feedback_delay": {"fixed": 0}}},
    {"comparator": "best_constant"},
    {"timing": {"overseer": {"capacity": 1, "service": {"exponential": 1.5}, "patience": 40.0}}},
], ids=["delayed", "immediate", "best_constant", "overseer"])
def test_streamed_metrics_equal_the_whole_array_functions(changes):
    s = scenario(**changes)
    streamed, _, _, arms = seed_result(s, 1)
    run = simulate(s, 1)
    shifts = [x.at for x in s.stream.shifts]
    w = s.windows
    for j, arm in enumerate(streamed):
        a = arm_arrays(run, s, j)
        excess = a["harm"] - a["comparator_harm"]
        expected = metrics.windows(excess, shifts, s.horizon, w.length, w.smoothing, w.tolerance,
                                   s.harm.bound)
        got = [{k: v for k, v in window.items() if not k.startswith("queries")} for window in arm["windows"]]
        assert not differences(got, expected), (arms[j], differences(got, expected))
        assert [window["recovery"] for window in got] == [window["recovery"] for window in expected]
        k = audit.reaction_time(s, arms[j][0])
        whole = audit.seed_audit(a["harm"], s.harm.bound, s.audit, k,
                                 sum(float(excess[x:y].sum()) for x, y in metrics.transition_spans(
                                     shifts, s.horizon, w.length)), arm["audit"]["typical_worst"])
        assert not differences(arm["audit"], whole), differences(arm["audit"], whole)
        assert math.isclose(arm["regret"], float(excess.sum()), rel_tol=1e-9, abs_tol=1e-9)
        assert arm["queries"] == int(run.requested[j].sum())
        assert arm["labels"] == int((~np.isnan(run.feedback_time[j])).sum())
        for window in arm["windows"]:
            span = window["end"] - window["start"]
            assert window["queries"] == int(run.requested[j][window["start"]:window["end"]].sum())
            assert window["queries_before"] == int(
                run.requested[j][max(0, window["start"] - span):window["start"]].sum())


@pytest.mark.parametrize("timing", [
    {"feedback_delay": {"exponential": 200}},
    {"overseer": {"capacity": 1, "service": {"exponential": 0.9}}},  # the closed-form desk
    {"overseer": {"capacity": 1, "service": {"exponential": 0.9}, "patience": 5.0}},  # the calendar
], ids=["delay", "overseer", "patient-overseer"])
def test_blocks_are_handed_on_once_each_in_order_and_settled(timing):
    s = scenario(timing=timing)
    if "overseer" in timing:  # one learner is enough for a route (and halves the time)
        s = scenario(timing=timing, learners={"logreg": {"model": "linear_model.LogisticRegression"}})
    starts, in_flight = [], []

    def sink(record):
        starts.append(record.start)
        in_flight.append(record.pending)

    run_seed(s, 0, sink)
    assert starts == list(range(0, s.horizon, BLOCK))
    # A block handed on before the run ended had nothing on its way; blocks handed on at the
    # end may have labels in flight (never learned): exactly the decisions with no label.
    # (Delays are exponential with mean 200: none of the first block's is 4,000 long; the
    # overseer keeps up.)
    assert in_flight[0] == 0 and in_flight[-1] > 0
    # A label in flight counts once per arm through an overseer (but for those dropped, which
    # nobody waits for), once for all arms without.
    run = simulate(s, 0)
    never = np.isnan(run.feedback_time)
    dropped = sum(arm["dropped"] for arm in run.oversight.values())
    assert sum(in_flight) == (int(never.sum()) - dropped if "overseer" in timing else int(never[0].sum()))


def test_trace_holds_what_the_seed_holds(tmp_path, monkeypatch):
    # Row groups of 5,000 rows: written mid-run (after two blocks) and at the end.
    monkeypatch.setattr(SeedTrace, "ROWS", 5000)
    s = scenario(seeds=1)
    result = lowstakes.run(s, out=tmp_path / "run")
    parquet = pq.ParquetFile(result.path / "trace.parquet" / "seed-00000.parquet")
    assert parquet.metadata.num_row_groups == 4 * 2  # per arm: 8,192 rows, then the other 123
    run = simulate(s, 0)
    trace = result.trace
    for j, (learner, objective) in enumerate(run.arms):
        rows = trace[(trace["learner"] == learner) & (trace["objective"] == objective)].sort_values("step")
        assert rows["step"].tolist() == list(range(s.horizon))
        np.testing.assert_array_equal(rows["action"].to_numpy(), run.actions[j])
        np.testing.assert_array_equal(rows["feedback_time"].to_numpy(), run.feedback_time[j])
        np.testing.assert_array_equal(rows["requested"].to_numpy(), run.requested[j])


def test_summary_trace_keeps_the_summary_and_curves_without_the_trace(tmp_path):
    s = scenario()
    full = lowstakes.run(s, out=tmp_path / "full")
    short = lowstakes.run(s, out=tmp_path / "short", trace="summary")
    assert not (short.path / "trace.parquet").exists()
    volatile = ("elapsed_seconds", "finished")
    assert ({k: v for k, v in short.summary.items() if k not in volatile}
            == {k: v for k, v in full.summary.items() if k not in volatile})
    pd.testing.assert_frame_equal(short.curves, full.curves)
    for name in ("regret", "transition", "bounds"):
        assert (short.path / "figures" / f"{name}.png").stat().st_size > 10_000
    with pytest.raises(FileNotFoundError, match="trace: summary"):
        _ = short.trace
    curves = analysis.regret_curves(short, points=50)
    assert set(curves["seed"]) == {0, 1} and len(curves) == 50 * 4 * 2
    around = analysis.excess_around_shifts(short)
    assert set(around["shift"]) == {0, 1}
    # Each seed's regret curve ends at the seed's regret.
    kept = short.curves
    for arm in short.summary["arms"]:
        for seed in arm["seeds"]:
            mine = kept[(kept["curve"] == "regret") & (kept["learner"] == arm["learner"])
                        & (kept["objective"] == arm["objective"]) & (kept["seed"] == seed["seed"])]
            assert mine["step"].max() == short.summary["horizon"] - 1
            assert math.isclose(mine.sort_values("step")["value"].iloc[-1], seed["regret"],
                                rel_tol=1e-9, abs_tol=1e-9)


def test_the_trace_setting_is_validated_and_left_out_of_sweep_task_keys():
    from lowstakes.errors import ScenarioError
    from lowstakes.grid import task_key

    with pytest.raises(ScenarioError, match="trace"):
        scenario(trace="some")
    base = load_scenario(ROOT / "scenarios" / "shift.yaml")
    assert task_key(base, 0) == task_key(base.with_overrides(trace="summary"), 0)
    assert task_key(base, 0) != task_key(base.with_overrides(horizon=1000), 0)
