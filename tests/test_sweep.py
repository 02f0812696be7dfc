"""Sweeps: the grid, identical results to single runs and across workers, resume, bad specs."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_scenario

import lowstakes
from lowstakes.sweep import load_sweep, parse_assignment, sweep

GRID = {"stream.shifts.0.at": [300, 600], "stream.label_noise": [0.0, 0.1]}


def test_sweep_matches_single_runs_and_resumes(tmp_path):
    scenario = make_scenario(horizon=1000)
    first = sweep(scenario, GRID, tmp_path / "a", workers=2)
    assert first == {"tasks": 8, "skipped": 0, "failed": [], "path": tmp_path / "a"}
    rows = load_sweep(tmp_path / "a")
    assert len(rows) == 4 * 2 * 2  # cells x arms x seeds
    # A cell equals the same scenario run on its own.
    single = lowstakes.run(lowstakes.Scenario.from_dict(
        {**scenario.to_dict(), "stream": {**scenario.to_dict()["stream"], "label_noise": 0.0,
                                          "shifts": [{"at": 600, "width": 1, "params": {"variant": 3}}]}}),
        out=tmp_path / "single")
    cell = rows[(rows["set.stream.shifts.0.at"] == 600) & (rows["set.stream.label_noise"] == 0.0)]
    for arm in single.summary["arms"]:
        mine = cell[(cell["learner"] == arm["learner"]) & (cell["objective"] == arm["objective"])]
        assert sorted(mine["regret"]) == sorted(s["regret"] for s in arm["seeds"])
    # Run again: nothing left to do, same rows; and one worker gives the same numbers.
    again = sweep(scenario, GRID, tmp_path / "a")
    assert again["skipped"] == 8
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "a"), rows)
    sweep(scenario, GRID, tmp_path / "b", workers=1)
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "b"), rows)


def test_bad_sweeps_fail_before_running(tmp_path):
    scenario = make_scenario(horizon=1000)
    with pytest.raises(lowstakes.ScenarioError, match="no such field"):
        sweep(scenario, {"stream.shift.0.at": [5]}, tmp_path / "x")
    with pytest.raises(lowstakes.ScenarioError, match="beyond the horizon .*in the cell"):
        sweep(scenario, {"stream.shifts.0.at": [300, 5000]}, tmp_path / "y")
    assert not (tmp_path / "y" / "tasks").exists()
    with pytest.raises(lowstakes.ScenarioError, match="expected PATH=VALUE"):
        parse_assignment("horizon")
