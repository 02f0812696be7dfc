"""Paired differences on common random numbers, sweeps that reuse finished seeds, and the
tables a first-time researcher misread (issue 18)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_scenario

import lowstakes
from lowstakes import analysis
from lowstakes.cli import summary_table, sweep_paired_table
from lowstakes.metrics import ci95
from lowstakes.sweeps import aggregate, paired


def test_paired_differences_in_a_run_are_per_seed_differences(tmp_path):
    scenario = make_scenario(horizon=3000, seeds=3, learners={
        "logreg": {"model": "linear_model.LogisticRegression",
                   "preprocess": ["preprocessing.StandardScaler"]},
        "tree": {"model": "tree.HoeffdingTreeClassifier"}})
    result = lowstakes.run(scenario, out=tmp_path / "run")
    arms = {(a["learner"], a["objective"]): a for a in result.summary["arms"]}
    pairs = {(tuple(p["arm"]), tuple(p["minus"])): p for p in result.summary["paired"]}
    assert set(pairs) == {(("logreg", "misaligned"), ("logreg", "aligned")),
                          (("tree", "misaligned"), ("tree", "aligned")),
                          (("tree", "aligned"), ("logreg", "aligned")),
                          (("tree", "misaligned"), ("logreg", "misaligned"))}
    for (a, b), pair in pairs.items():
        diffs = [x["windows"][0]["cost"] - y["windows"][0]["cost"]
                 for x, y in zip(arms[a]["seeds"], arms[b]["seeds"], strict=True)]
        assert pair["windows"][0]["mean"] == pytest.approx(np.mean(diffs))
        assert pair["windows"][0]["ci95"] == pytest.approx(list(ci95(diffs)))
    table = analysis.paired_table(result)
    assert set(table["quantity"]) == {"regret", "window 0 cost"} and len(table) == 8


def test_a_paired_interval_excludes_zero_where_the_cells_own_intervals_overlap(tmp_path):
    """The delay question of issue 18: a small rise of the transition cost with the delay,
    seen in every seed, that the cells' own intervals hide."""
    base = lowstakes.load_scenario("scenarios/transition_sweep.yaml")
    grid = {"stream.shifts.0.params.threshold": [11], "timing.feedback_delay.exponential": [1, 30]}
    result = lowstakes.sweep(base, grid, tmp_path / "s", seeds=5, horizon=8000, workers=1, figures=False)
    frame = result.load()
    aligned = frame[frame["objective"] == "aligned"]
    field = "set.timing.feedback_delay.exponential"
    own = aggregate(aligned, "transition_cost", [field]).set_index(field)
    assert own.loc[30, "lo"] < own.loc[1, "hi"]                 # the cells' intervals overlap
    later = aligned[aligned[field] == 30]
    delta = aggregate(later, "delta.timing.feedback_delay.exponential.transition_cost", [field]).iloc[0]
    assert delta["lo"] > 0                                      # the paired one excludes 0
    np.testing.assert_allclose(
        later["delta.timing.feedback_delay.exponential.transition_cost"].to_numpy(),
        later["transition_cost"].to_numpy() - aligned[aligned[field] == 1]["transition_cost"].to_numpy())
    assert sweep_paired_table(frame, "timing.feedback_delay.exponential").row_count == 2
    assert paired(frame, "regret", field, reference=30)[frame[field] == 30].eq(0).all()


def test_raising_seeds_reuses_finished_seeds_and_leaves_no_stale_tasks(tmp_path):
    scenario = make_scenario(horizon=600, seeds=2)
    grid = {"stream.label_noise": [0.0, 0.1]}
    first = lowstakes.sweep(scenario, grid, tmp_path / "s", workers=1, figures=False)
    assert (first.tasks, first.skipped) == (4, 0)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s" / "tasks").glob("*.json")}
    more = lowstakes.sweep(scenario, grid, tmp_path / "s", seeds=3, workers=1, figures=False)
    assert (more.tasks, more.skipped, more.ran) == (6, 4, 2)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s" / "tasks").glob("*.json")}
    assert all(after[name] == mtime for name, mtime in before.items())  # not rewritten
    frame = lowstakes.load_sweep(tmp_path / "s")
    assert sorted(frame["seed"].unique()) == [0, 1, 2]
    # A changed grid: the old cells' task files go, the directory holds only this sweep's.
    lowstakes.sweep(scenario, {"stream.label_noise": [0.2]}, tmp_path / "s", workers=1, figures=False)
    assert len(list((tmp_path / "s" / "tasks").glob("*.json"))) == 2


def test_a_window_whose_baseline_is_raised_is_marked(tmp_path):
    result = lowstakes.run("scenarios/recurring.yaml", out=tmp_path / "r", seeds=2, workers=2)
    stale = next(a for a in result.summary["arms"]
                 if (a["learner"], a["objective"]) == ("logreg", "misaligned"))
    back = stale["windows"][1]      # A -> B -> A: the stale proxy was wrong all through B
    assert back["raised"] == 2 and back["baseline"] > 0.05
    assert stale["windows"][0]["raised"] == 0
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(summary_table(result.summary))
    text = console.export_text()
    assert "†" in text and "already above the tolerance" in text
    assert "20,000 ± 0.0" not in text


def test_list_shows_every_sources_params_with_defaults():
    done = subprocess.run([sys.executable, "-m", "lowstakes", "list"], capture_output=True, text=True)
    out = done.stdout
    for text in ("classification_function=0 (0..9)", "classification_function=0 (0..3)",
                 "classification_function=0 (0..2)", "n_features=10", "shiftable: nothing (no shifts)",
                 "switches=the number of shifts", "feature -> [low, high]"):
        assert text in out, text


def test_summary_json_has_no_infinity(tmp_path):
    scenario = make_scenario(horizon=1000, seeds=1)
    result = lowstakes.run(scenario, out=tmp_path / "run")
    json.loads((result.path / "summary.json").read_text())  # strict JSON (no Infinity/NaN)
