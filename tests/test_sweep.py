"""Sweeps: the grid, identical results to single runs and on any executor (in-process, a
real two-worker Dask LocalCluster, a running scheduler by address), resume after a kill,
a killed worker and a lost scheduler, failed cells, the scenario file's sweep block,
figures and bad specs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_scenario

import lowstakes
from lowstakes import metrics
from lowstakes.errors import IncompleteRunError
from lowstakes.grid import parse_assignment
from lowstakes.plots import sweep_figure
from lowstakes.sweeps import load_sweep, sweep

ROOT = Path(__file__).resolve().parents[1]
GRID = {"stream.shifts.0.at": [300, 600], "stream.label_noise": [0.0, 0.1]}


def lowstakes_cmd(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "lowstakes", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_a_cell_equals_the_same_scenario_run_alone_and_reruns_skip_everything(tmp_path):
    scenario = make_scenario(horizon=1000)
    first = sweep(scenario, GRID, tmp_path / "a", workers=1)
    assert (first.tasks, first.skipped, first.failed, first.complete) == (8, 0, [], True)
    rows = load_sweep(tmp_path / "a")
    assert len(rows) == 4 * 2 * 2  # cells x arms x seeds
    single = lowstakes.run(lowstakes.Scenario.from_dict(
        {**scenario.to_dict(), "stream": {**scenario.to_dict()["stream"], "label_noise": 0.0,
                                          "shifts": [{"at": 600, "width": 1, "params": {"variant": 3}}]}}),
        out=tmp_path / "single")
    cell = rows[(rows["set.stream.shifts.0.at"] == 600) & (rows["set.stream.label_noise"] == 0.0)]
    for arm in single.summary["arms"]:
        mine = cell[(cell["learner"] == arm["learner"]) & (cell["objective"] == arm["objective"])]
        assert mine["regret"].tolist() == [s["regret"] for s in arm["seeds"]]
        assert mine["window_0_cost"].tolist() == [s["windows"][0]["cost"] for s in arm["seeds"]]
        assert mine["low_stakes"].all() == arm["audit"]["low_stakes"]
    again = sweep(scenario, GRID, tmp_path / "a", workers=1)
    assert (again.tasks, again.skipped, again.ran) == (8, 8, 0)
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "a"), rows)


def test_fewer_seeds_keep_the_later_seeds_on_disk_and_a_dropped_cell_is_removed(tmp_path):
    scenario = make_scenario(horizon=600, seeds=3)
    grid = {"stream.label_noise": [0.0, 0.1]}
    out = tmp_path / "s"
    full = sweep(scenario, grid, out, workers=1, figures=False)
    assert full.tasks == 6
    rows = load_sweep(out)
    (out / "tasks" / "half-written.json.partial").write_text("{")
    fewer = sweep(scenario, grid, out, seeds=1, workers=1, figures=False)
    assert (fewer.tasks, fewer.skipped) == (2, 2)
    assert sorted(load_sweep(out)["seed"].unique()) == [0]
    assert len(_task_files(out)) == 6 and not (out / "tasks" / "half-written.json.partial").exists()
    again = sweep(scenario, grid, out, workers=1, figures=False)  # three seeds again: nothing reruns
    assert (again.tasks, again.skipped, again.ran) == (6, 6, 0)
    pd.testing.assert_frame_equal(load_sweep(out), rows)
    narrower = sweep(scenario, {"stream.label_noise": [0.1]}, out, workers=1, figures=False)
    assert (narrower.tasks, narrower.skipped) == (3, 3) and len(_task_files(out)) == 3
    # A changed base scenario gives its cells new keys: the old cell's seeds are not kept.
    changed = sweep(make_scenario(horizon=700, seeds=1), {"stream.label_noise": [0.1]}, out, workers=1,
                    figures=False)
    assert (changed.tasks, changed.skipped) == (1, 0) and len(_task_files(out)) == 1


def test_a_two_worker_dask_cluster_and_a_scheduler_address_give_the_in_process_numbers(tmp_path):
    from dask.distributed import LocalCluster

    scenario = make_scenario(horizon=800, seeds=3)
    local = sweep(scenario, GRID, tmp_path / "local", workers=1, figures=False)
    on_dask = sweep(scenario, GRID, tmp_path / "dask", workers=2, figures=False)
    assert local.complete and on_dask.complete and on_dask.tasks == 12
    expected = load_sweep(tmp_path / "local")
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "dask"), expected)
    # Task files are named by the same hashes whatever ran them.
    assert sorted(os.listdir(tmp_path / "dask" / "tasks")) == sorted(os.listdir(tmp_path / "local" / "tasks"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = sweep(scenario, GRID, tmp_path / "remote", scheduler=cluster.scheduler_address,
                       figures=False)
    assert remote.complete
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "remote"), expected)


def _dask(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args, "--no-dashboard"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the worker command's nannies and workers too
    process.wait()


def test_a_killed_worker_is_replaced_and_a_lost_scheduler_leaves_a_resumable_sweep(tmp_path):
    from dask.distributed import Client, LocalCluster

    scenario = make_scenario(horizon=3000, seeds=3)
    expected = load_sweep(sweep(scenario, GRID, tmp_path / "local", workers=1, figures=False).path)

    # A worker process killed midway: Dask reruns its tasks elsewhere; nothing is lost.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        result = sweep(scenario, GRID, tmp_path / "worker", scheduler=client, figures=False,
                       progress=lambda _: pids and os.kill(pids.pop(), signal.SIGKILL))
    assert not pids and result.complete and (result.ran, result.lost) == (12, 0)
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "worker"), expected)

    # The scheduler killed midway: the finished tasks are saved, the rest are "not run" (not
    # failures), and the same sweep resumes them on another cluster.
    file = tmp_path / "scheduler.json"
    scheduler = _dask("distributed.cli.dask_scheduler", "--scheduler-file", str(file), "--port", "0")
    workers = _dask("distributed.cli.dask_worker", "--scheduler-file", str(file), "--nthreads", "1",
                    "--nworkers", "2")
    out = tmp_path / "lost"
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        address = json.loads(file.read_text())["address"]
        done = []

        def kill_scheduler_after_two(n):
            done.append(n)
            if len(done) == 2:
                scheduler.kill()

        lost = sweep(scenario, GRID, out, scheduler=address, figures=False, progress=kill_scheduler_after_two)
    finally:
        _stop(scheduler)
        _stop(workers)
    saved = len(_task_files(out))
    assert not lost.complete and lost.failed == [] and lost.lost >= 1
    assert "lost the Dask scheduler at " + address in lost.lost_reason
    assert saved == lost.tasks - lost.lost and saved >= 2
    assert (out / "INCOMPLETE").exists() and json.loads((out / "failures.json").read_text()) == []
    resumed = sweep(scenario, GRID, out, workers=2, figures=False)
    assert resumed.complete and (resumed.skipped, resumed.ran) == (saved, 12 - saved)
    pd.testing.assert_frame_equal(load_sweep(out), expected)


def _task_files(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.json")}


def test_a_killed_sweep_resumes_without_redoing_finished_tasks(tmp_path):
    args = ["sweep", "scenarios/shift.yaml", "--horizon", "3000", "--seeds", "4",
            "--set", "stream.label_noise=0.0,0.1"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "lowstakes", *args, "--out", str(out), "--workers", "2"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_task_files(out) if (out / "tasks").exists() else {}) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = _task_files(out)
    assert 2 <= len(before) < 8, "the sweep was not killed midway"
    assert (out / "INCOMPLETE").exists()
    with pytest.raises(IncompleteRunError, match="has not finished"):
        load_sweep(out)
    # A task file being written when the sweep was killed is a .partial, never a finished
    # task's name: finished files are renamed into place whole.
    finished = {name.split(".")[0] for name in before}
    assert all(p.name.split(".")[0] not in finished for p in (out / "tasks").glob("*.partial"))

    resumed = lowstakes_cmd(*args, "--out", out, "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(before)} task(s) already done" in resumed.stderr + resumed.stdout
    assert f"8 task(s): {8 - len(before)} run now, {len(before)} already done" in resumed.stdout
    after = _task_files(out)
    assert {name: after[name] for name in before} == before  # finished tasks were not redone
    assert not (out / "INCOMPLETE").exists()

    whole = tmp_path / "whole"
    assert lowstakes_cmd(*args, "--out", whole, "--workers", "1").returncode == 0
    pd.testing.assert_frame_equal(load_sweep(out), load_sweep(whole))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_a_sweep_with_exit_130_and_it_resumes(tmp_path, workers):
    args = ["sweep", "scenarios/shift.yaml", "--horizon", "3000", "--seeds", "4",
            "--set", "stream.label_noise=0.0,0.1", "--out", str(tmp_path / "s"), "--workers", workers]
    proc = subprocess.Popen([sys.executable, "-m", "lowstakes", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_task_files(tmp_path / "s") if (tmp_path / "s" / "tasks").exists() else {}) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stderr and "interrupted: finished tasks are saved" in stderr
    saved = len(_task_files(tmp_path / "s"))
    assert saved < 8 and (tmp_path / "s" / "INCOMPLETE").exists()
    resumed = lowstakes_cmd(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"8 task(s): {8 - saved} run now, {saved} already done" in resumed.stdout


HARM_MODULE = """
import numpy as np

def constant_harm(actions, truth, block):
    return np.full(len(actions), 2.0)
"""


def test_a_failing_cell_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    (tmp_path / "sweep_harm.py").write_text(HARM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = make_scenario(seeds=2, harm={"bound": 3.0, "function": "sweep_harm:constant_harm"})
    # B = 1 is broken by a harm of 2: found only when the cell runs.
    result = sweep(scenario, {"harm.bound": [1.0, 3.0]}, tmp_path / "s", workers=1)
    assert not result.complete and result.tasks == 4
    assert sorted((f["cell"]["harm.bound"], f["seed"]) for f in result.failed) == [(1.0, 0), (1.0, 1)]
    assert all("HarmBoundError" in f["error"] and "Traceback" in f["traceback"] for f in result.failed)
    assert len(json.loads((tmp_path / "s" / "failures.json").read_text())) == 2
    with pytest.raises(IncompleteRunError, match="2 failed task"):
        load_sweep(tmp_path / "s")
    rows = load_sweep(tmp_path / "s", partial=True)
    assert set(rows["set.harm.bound"]) == {3.0} and len(rows) == 2 * 2


def test_the_scenario_files_sweep_block_is_the_grid_and_set_replaces_a_path(tmp_path):
    text = (ROOT / "scenarios/shift.yaml").read_text() + (
        "sweep:\n  stream.shifts.0.params.threshold: [9, 10]\n  stream.label_noise: [0.0, 0.2]\n")
    path = tmp_path / "swept.yaml"
    path.write_text(text)
    assert lowstakes_cmd("validate", path).returncode == 0
    result = sweep(path, None, tmp_path / "block", horizon=600, seeds=1, workers=1, figures=False)
    assert result.tasks == 4
    rows = load_sweep(tmp_path / "block")
    assert sorted(rows["set.stream.shifts.0.params.threshold"].unique()) == [9, 10]
    # --set replaces the block's values of a path; a cell the block already ran is not redone.
    again = sweep(path, {"stream.label_noise": [0.0]}, tmp_path / "block", horizon=600, seeds=1,
                  workers=1, figures=False)
    assert (again.tasks, again.skipped) == (2, 2)
    other = sweep(path, {"stream.label_noise": [0.05]}, tmp_path / "set", horizon=600, seeds=1,
                  workers=1, figures=False)
    assert (other.tasks, other.skipped) == (2, 0)
    assert load_sweep(tmp_path / "set")["set.stream.label_noise"].unique().tolist() == [0.05]

    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("threshold: [9, 10]", "threshold: [9, nine]"))
    done = lowstakes_cmd("validate", bad)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = text.splitlines().index("  stream.shifts.0.params.threshold: [9, 10]") + 1
    assert f"bad.yaml:{line}:" in done.stderr
    assert ": sweep." in done.stderr and "got 'nine'" in done.stderr
    assert "stream.shifts.0.params.threshold='nine'" in done.stderr
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(text.replace("  stream.label_noise: [0.0, 0.2]", "  stream.label_nois: [0.0, 0.2]"))
    done = lowstakes_cmd("validate", misspelt)
    assert done.returncode == 2
    assert f"misspelt.yaml:{line + 1}:" in done.stderr
    assert "sweep.stream.label_nois: unknown field (did you mean 'label_noise'?)" in done.stderr
    assert done.stderr.rstrip().endswith("(in every cell)")


def test_sweep_figures_draw_every_metric_against_every_swept_field(tmp_path):
    scenario = make_scenario(horizon=600, seeds=2)
    result = sweep(scenario, {"stream.shifts.0.params.threshold": [8.5, 9.5, 11],
                              "timing.feedback_delay": [0, 50]}, tmp_path / "f", workers=1)
    assert sorted(p.name for p in result.figures) == ["stream.shifts.0.params.threshold.png",
                                                       "timing.feedback_delay.png"]
    assert all(p.stat().st_size > 10_000 for p in result.figures)
    rows = load_sweep(tmp_path / "f")
    fig = sweep_figure(rows, "stream.shifts.0.params.threshold")
    axes = np.array(fig.axes).reshape(2, -1)  # a row per delay, a column per metric
    assert axes.shape[1] >= 2
    for ax in axes.flat:
        # One line per arm; where the arm has a guarantee, its bound beside its own regret.
        lines = 4 if "guaranteed bound" in ax.get_ylabel() else 2
        assert len(ax.get_lines()) == lines
        assert [len(line.get_xdata()) for line in ax.get_lines()] == [3] * lines
    assert any("guaranteed bound" in ax.get_ylabel() for ax in axes.flat)
    top_regret = axes[0, 0].get_lines()[0].get_ydata()
    cell = rows[(rows["set.timing.feedback_delay"] == 0)
                & (rows["objective"] == "aligned")]
    means = cell.groupby("set.stream.shifts.0.params.threshold")["regret"].mean().to_numpy()
    np.testing.assert_allclose(top_regret, means)

    # Too many other cells for a row each: every seed is averaged over them first, so the
    # band is a CI across the 2 seeds, not the (much wider) spread between thresholds.
    pooled = sweep_figure(rows, "timing.feedback_delay", max_rows=2)
    assert "averaged over the other swept fields" in pooled.texts[0].get_text()
    ax = pooled.axes[0]
    aligned = rows[rows["objective"] == "aligned"]
    per_seed = aligned.groupby(["set.timing.feedback_delay", "seed"])["regret"].mean()
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), per_seed.groupby(level=0).mean())
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    expected = [metrics.ci95(per_seed.loc[d].to_numpy()) for d in (0, 50)]
    np.testing.assert_allclose(sorted(band)[0], min(lo for lo, _ in expected))
    np.testing.assert_allclose(sorted(band)[-1], max(hi for _, hi in expected))


@pytest.mark.parametrize("args, expected", [
    (["--set", "stream.shift.0.at=5"], "no such field to set at 'shift' (did you mean 'shifts'?)"),
    (["--set", "stream.shifts.0.at=300,50000"], "ends beyond the horizon (20000) (in the cell "),
    (["--set", "stream.shifts.0.at=300,300"], "the value 300 is given twice"),
    (["--set", "horizon"], "expected PATH=VALUE"),
    (["--set", "seeds=1", "--set", "seeds=2"], "--set seeds is given twice"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not allowed with argument"),
    (["--out", "{existing}"], "is not a sweep directory"),
])
def test_bad_sweeps_exit_2_before_anything_runs(args, expected, tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    out = tmp_path / "never"
    args = [a.format(existing=existing) for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    done = lowstakes_cmd("sweep", "scenarios/shift.yaml", *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and expected in done.stderr
    assert not out.exists()
    assert os.listdir(existing) == ["keep.txt"]


def test_parse_assignment_reads_values_as_yaml():
    assert parse_assignment("timing.feedback_delay.exponential=1,20.5") == (
        "timing.feedback_delay.exponential", [1, 20.5])
    assert parse_assignment("stream.source=sea,sine") == ("stream.source", ["sea", "sine"])
    with pytest.raises(lowstakes.ScenarioError, match="expected PATH=VALUE"):
        parse_assignment("horizon=")
