"""Sweeps: a grid of scenario variants, each run for every seed; resumable; local or on Dask.

A sweep is the cross product of values over scenario fields, written as a ``sweep:`` block
in the scenario file or as ``path=v1,v2,...`` on the command line
(``stream.shifts.0.at=2000,6000``, ``timing.feedback_delay.exponential=1,20``). Every cell
is validated before anything runs. Each (cell, seed) is one task; its metrics are written
atomically under ``<sweep dir>/tasks/`` keyed by a hash of the resolved scenario and the
seed, so a sweep run again does only what is missing.

Where tasks run: in this process (one worker), on a Dask ``LocalCluster`` of worker
processes, or on an existing Dask cluster (``scheduler="tcp://host:8786"``). Results do not
depend on which: every seed derives its own SeedSequence from the scenario's master seed.

See :func:`sweep` for an example; :mod:`lowstakes.grid` builds and checks the cells.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import traceback
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from lowstakes import resources
from lowstakes.errors import IncompleteRunError, LowstakesError, ScenarioError
from lowstakes.grid import task_key, variants
from lowstakes.metrics import aggregate  # noqa: F401 - lowstakes.sweeps.aggregate, as documented
from lowstakes.results import _json_default
from lowstakes.runner import seed_result
from lowstakes.scenario import Scenario, load_scenario

__all__ = ["sweep", "SweepResult", "SweepError", "run_task", "load_sweep", "aggregate"]

INCOMPLETE = "INCOMPLETE"


class SweepError(LowstakesError):
    """A sweep cannot start: a bad sweep directory or an unreachable Dask scheduler."""


# -- running tasks ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    cell: dict
    scenario: Scenario
    seed: int
    key: str


def run_task(scenario: Scenario, seed: int) -> dict:
    """One (cell, seed): ``{"arms": [...]}`` with each arm's seed metrics, or ``{"error":
    ..., "traceback": ...}``. Errors are returned, not raised: they are deterministic, so
    Dask must not retry them, and a returned string survives any pickling."""
    try:
        metrics, _, _, arms = seed_result(scenario, seed)
        return {"arms": [{"learner": learner, "objective": objective, **m}
                         for (learner, objective), m in zip(arms, metrics, strict=True)]}
    except Exception as exc:  # noqa: BLE001 - reported with the cell; the other cells go on
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def _in_process(todo: list[_Task]):
    for task in todo:
        yield task, run_task(task.scenario, task.seed)


@contextlib.contextmanager
def executor(workers: int = 1, scheduler=None):
    """Where tasks run: yields ``execute(todo)``, an iterator of (task, outcome) as tasks finish.

    ``workers == 1`` without a scheduler: in this process, in order. Otherwise on Dask: a
    LocalCluster of ``workers`` processes (one thread each, so tasks do not share a GIL)
    started here and closed on exit, or the cluster at ``scheduler`` (an address or a Client).
    """
    if scheduler is None and workers == 1:
        yield _in_process
        return
    import dask
    from dask.distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet("distributed"))
        if scheduler is None:
            stack.enter_context(dask.config.set(
                {"distributed.worker.multiprocessing-method": _start_method()}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        elif isinstance(scheduler, str):
            try:
                client = stack.enter_context(Client(scheduler, timeout="15s"))
            except OSError as exc:
                raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        else:
            client = scheduler
        yield lambda todo: _on_dask(client, todo)


@contextlib.contextmanager
def _quiet(name: str):
    """Silence a library's logger here for a while: when a cluster goes away, Dask's client
    logs its reconnection attempts with tracebacks; the sweep reports what it means itself
    (which tasks did not run, how to resume)."""
    # Dask's own configuration gives some child loggers (distributed.client) their own level.
    loggers = [logging.getLogger(n) for n in [name, *logging.root.manager.loggerDict]
               if n == name or n.startswith(name + ".")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _start_method() -> str:
    """How a LocalCluster starts its worker processes: forked from this process where the
    platform can fork (Linux), which has already imported lowstakes, River and the scenario's
    own modules. Dask's default, spawn, makes every worker import them afresh: on a 2-core
    machine 1.1 s to start a cluster, 0.8 s more for the first tasks and 0.5 s to close it,
    against 0.2 s, 0.03 s and 0.04 s forked, which is most of the difference between 1.6x
    and 1.8x from two workers on a 45 s sweep (benchmarks/sweep_speed.py)."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _on_dask(client, todo: list[_Task]):
    from dask.distributed import as_completed
    from distributed.comm import CommClosedError

    # The key is the task's hash: a task submitted twice (same scenario, same seed) runs once.
    futures = {client.submit(run_task, task.scenario, task.seed, key=f"lowstakes-{task.key}"): task
               for task in todo}
    for future in as_completed(futures):
        task = futures.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - reported, and the other tasks go on
            # A task the scheduler lost or cancelled is not the task's fault: not a failure
            # to report but a task still to do, which the same command runs on resuming.
            reason = getattr(exc, "reason", type(exc).__name__)
            if (client.status != "running" or isinstance(exc, CommClosedError)
                    or reason == "scheduler-connection-lost"):
                outcome = {"lost": f"lost the Dask scheduler at {client.scheduler.address} ({reason})"}
            elif isinstance(exc, CancelledError):
                outcome = {"lost": f"Dask cancelled the task ({reason})"}
            else:  # e.g. KilledWorker: the task itself killed the workers it ran on
                outcome = {"error": f"{type(exc).__name__}: {exc}", "traceback": ""}
        future.release()
        yield task, outcome


# -- the sweep --------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What a sweep did. ``complete`` is True when every task has its result on disk."""

    path: Path
    tasks: int
    skipped: int
    failed: list[dict] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    lost: int = 0
    """Tasks not run because the cluster went away (``lost_reason`` says how)."""
    lost_reason: str | None = None

    @property
    def complete(self) -> bool:
        return not self.failed and not self.lost

    @property
    def ran(self) -> int:
        """Tasks run to an outcome (a result or a failure) by this call."""
        return self.tasks - self.skipped - self.lost

    def load(self) -> pd.DataFrame:
        return load_sweep(self.path, partial=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def _prepare(out: Path, base: Scenario, grid: dict) -> None:
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    (out / INCOMPLETE).write_text("This sweep has not finished (or was interrupted, or some tasks "
                                  "failed): run it again to do what is missing.\n")
    _atomic_write(out / "sweep.yaml", yaml.safe_dump({"scenario": base.to_dict(), "grid": grid},
                                                     sort_keys=False))


def sweep(scenario, grid: dict[str, list] | None = None, out=None, *, seeds: int | None = None,
          horizon: int | None = None, workers: int | None = None, scheduler=None, figures: bool = True,
          progress=None, on_start=None) -> SweepResult:
    """Run every cell of the grid for every seed; skip the tasks already on disk.

    Parameters
    ----------
    scenario
        A :class:`Scenario` or the path of a YAML file. Its ``sweep:`` block (if any) is
        the grid; ``grid`` adds paths to it or replaces the values of a path it names.
    out
        The sweep directory (default ``sweeps/<name>``); run again with the same one to resume.
    seeds, horizon
        Override the scenario's (before the grid's values are set).
    workers
        Worker processes of the local Dask cluster (default: the cores); 1 runs every task
        in this process, without Dask.
    scheduler
        A Dask scheduler address (``"tcp://host:8786"``) or a ``dask.distributed.Client``:
        run the tasks there instead (``workers`` is then ignored).
    progress
        Called with 1 each time a task finishes; ``on_start(todo, skipped)`` before any runs.

    Returns a :class:`SweepResult`; ``sweep.parquet`` in ``out`` has one row per cell x arm x
    seed (see :func:`load_sweep`) and ``figures/`` draws each metric against each swept field.

    Examples
    --------
    >>> import tempfile, lowstakes
    >>> base = lowstakes.Scenario.from_dict({
    ...     "name": "tiny", "horizon": 400, "seeds": 2,
    ...     "stream": {"source": "sea", "shifts": [{"at": 200, "params": {"variant": 3}}]},
    ...     "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
    ...     "learners": {"logreg": {"model": "linear_model.LogisticRegression"}},
    ...     "windows": {"smoothing": 50}})
    >>> result = lowstakes.sweep(base, {"stream.label_noise": [0.0, 0.1]}, tempfile.mkdtemp(),
    ...                          workers=1, figures=False)
    >>> result.tasks, result.skipped, result.complete
    (4, 0, True)
    >>> rows = lowstakes.load_sweep(result.path)
    >>> rows.groupby(["set.stream.label_noise", "objective"]).size().tolist()
    [2, 2, 2, 2]
    """
    file = None
    if not isinstance(scenario, Scenario):
        file, scenario = scenario, load_scenario(scenario)
    scenario = scenario.with_overrides(seeds=seeds, horizon=horizon)
    origin = "--set" if grid else "sweep"
    grid = {**(scenario.sweep or {}), **(grid or {})}
    try:
        planned = variants(scenario, grid, origin)
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, file=file, marks=_marks(file)) from None
    base = Scenario.from_dict({**scenario.to_dict(), "sweep": None})
    out = Path(out) if out is not None else Path("sweeps") / scenario.name
    if out.exists() and any(out.iterdir()) and not (out / "sweep.yaml").exists():
        raise SweepError(f"{out} exists and is not a sweep directory; choose another --out")

    tasks, todo = [], {}
    for cell, variant in planned:
        for seed in range(variant.seeds):
            task = _Task(cell, variant, seed, task_key(variant, seed))
            tasks.append(task)
            if not (out / "tasks" / f"{task.key}.json").exists():
                todo.setdefault(task.key, task)
    result = SweepResult(out, tasks=len(tasks), skipped=len(tasks) - len(todo))
    if todo and scheduler is None:  # each task holds one seed of its cell; no trace is written
        largest = max(todo.values(), key=lambda t: resources.estimate(t.scenario, 1, trace=False).memory)
        resources.check(largest.scenario, workers=min(len(todo), workers or _cores()), trace=False)
    with executor(1 if not todo else workers or _cores(), scheduler if todo else None) as execute:
        _prepare(out, base, grid)
        if on_start is not None:
            on_start(len(todo), result.skipped)
        for task, outcome in execute(list(todo.values())):
            if "lost" in outcome:
                result.lost += 1
                result.lost_reason = outcome["lost"]
                continue
            if "error" in outcome:
                result.failed.append({"cell": task.cell, "seed": task.seed, **outcome})
            else:
                record = {"cell": task.cell, "seed": task.seed, "arms": outcome["arms"]}
                _atomic_write(out / "tasks" / f"{task.key}.json",
                              json.dumps(record, default=_json_default))
            if progress is not None:
                progress(1)

    _remove_stale(out / "tasks", tasks, [variant for _, variant in planned])
    frame = _collect(out, tasks)
    frame.to_parquet(out / "sweep.parquet.partial", index=False)
    os.replace(out / "sweep.parquet.partial", out / "sweep.parquet")
    _atomic_write(out / "failures.json", json.dumps(result.failed, indent=2, default=str))
    if figures and len(frame):
        from lowstakes.plots import save_sweep_figures

        result.figures = save_sweep_figures(frame, list(grid), out / "figures", scenario.name)
    if result.complete:
        (out / INCOMPLETE).unlink()
    return result


def _remove_stale(folder: Path, tasks: list[_Task], cells: list[Scenario]) -> None:
    """Remove the task files of cells no longer in the grid (earlier grids of this directory)
    and half-written ones. Seeds past a cell's current number of seeds are kept: a run-seed
    draws the same randomness whatever the number of seeds, so a sweep run again with fewer
    seeds and then with more again takes them back instead of running them twice."""
    keys = {task.key for task in tasks}
    stale = [p for p in folder.glob("*.json*") if p.name.split(".")[0] not in keys]
    seeds = set()
    for path in stale:
        if path.suffix == ".json":
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                seeds.add(int(json.loads(path.read_text())["seed"]))
    keep = {task_key(cell, seed) for cell in cells for seed in seeds if seed >= cell.seeds}
    for path in stale:
        if path.suffix != ".json" or path.stem not in keep:
            path.unlink(missing_ok=True)


def _marks(file):
    if file is None:
        return None
    from lowstakes.scenario import yaml_marks

    return yaml_marks(file)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# -- rows -------------------------------------------------------------------------------


def _collect(out: Path, tasks: list[_Task]) -> pd.DataFrame:
    rows = []
    for task in tasks:
        path = out / "tasks" / f"{task.key}.json"
        if path.exists():
            record = json.loads(path.read_text())
            rows += [_row(task, arm) for arm in record["arms"]]
    frame = pd.DataFrame(rows)
    for column in [c for c in frame.columns if c.startswith("set.")]:
        values = frame[column].tolist()
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            # Mixed or structured values: store them as text so Parquet can hold them.
            frame[column] = [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in values]
    for column in [c for c in frame.columns if c.startswith("set.")]:
        if frame[column].nunique() > 1:
            for metric in ("regret", "transition_cost"):
                if metric in frame:
                    frame[f"delta.{column.removeprefix('set.')}.{metric}"] = paired(frame, metric, column)
    return frame


def paired(frame: pd.DataFrame, metric: str, along: str, reference=None) -> pd.Series:
    """Each row's ``metric`` minus the same seed's, the same arm's, in the cell where the swept
    field ``along`` (a ``set.`` column) is at ``reference`` (default: its first value) and every
    other swept field is as in the row. The cells of a sweep share their seeds' randomness
    (common random numbers), so these differences are paired: aggregate them for a CI of the
    difference that the cells' own CIs would blur.

    >>> rows = pd.DataFrame({"set.d": [1, 1, 2, 2], "seed": [0, 1, 0, 1], "learner": "l",
    ...                      "objective": "o", "regret": [10.0, 20.0, 12.0, 23.0]})
    >>> paired(rows, "regret", "set.d").tolist()
    [0.0, 0.0, 2.0, 3.0]
    """
    reference = frame[along].iloc[0] if reference is None else reference
    keys = [c for c in frame.columns if c.startswith("set.") and c != along]
    keys += ["seed", "learner", "objective"]
    base = frame[frame[along] == reference].set_index(keys)[metric]
    index = pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else frame[keys[0]]
    return pd.Series(frame[metric].to_numpy() - base.reindex(index).to_numpy(), index=frame.index)


def _row(task: _Task, arm: dict) -> dict:
    scenario = task.scenario
    row = {**{f"set.{p}": v for p, v in task.cell.items()}, "seed": task.seed,
           "learner": arm["learner"], "objective": arm["objective"],
           "regret": arm["regret"], "regret_per_decision": arm["regret"] / scenario.horizon,
           "harm": arm["harm"], "comparator_harm": arm["comparator_harm"],
           "feedback_loss": arm["feedback_loss"], "queries": arm["queries"], "labels": arm["labels"]}
    for name in ("dropped", "utilisation", "mean_wait", "max_queue", "mean_query_probability"):
        if name in arm:
            row[name] = arm[name]
    audited = arm["audit"]
    row |= {"max_harm": audited["max_harm"], "top_share": audited["top_share"],
            "burst_harm": audited["burst"]["harm"], "burst_share": audited["burst"]["share"],
            "burst_density": audited["burst"]["density"], "low_stakes": audited["low_stakes"]}
    if "catastrophes" in audited:
        row["catastrophes"] = audited["catastrophes"]
    if arm["windows"]:
        shifts = [s.at for s in scenario.stream.shifts] + [scenario.horizon]
        row["transition_cost"] = sum(w["cost"] for w in arm["windows"])
        row["recovered"] = sum(w["recovery"] is not None for w in arm["windows"])
        for k, w in enumerate(arm["windows"]):
            row[f"window_{k}_cost"] = w["cost"]
            row[f"window_{k}_recovery"] = math.nan if w["recovery"] is None else w["recovery"]
            # Censored at the next shift (or the end): a lower bound for an arm that never recovers.
            row[f"window_{k}_recovery_censored"] = (shifts[k + 1] - shifts[k] if w["recovery"] is None
                                                    else w["recovery"])
    if "pool" in arm:
        row |= _pool_columns(arm["pool"])
    if "exploration" in arm:
        row |= {"exploration_harm": arm["exploration"]["harm"],
                "explorations": arm["exploration"]["decisions"]}
    if "bandit" in arm:
        row |= _bandit_columns(arm["bandit"])
    row |= _guarantee_columns(arm.get("guarantee"))
    return row


def _bandit_columns(bandit: dict) -> dict:
    """A K-action arm's regret on its own feedback against the best action and the best
    m-switch sequence, with each in-expectation bound's value (compare the cell's mean over
    seeds with it, not one row)."""
    out = {"regret_best_action": bandit["regret"]["best_fixed"],
           "regret_best_switching": bandit["regret"]["best_switching"]}
    for bound in bandit["bounds"]:
        key = "best_action" if bound["comparator"].startswith("best fixed") else "best_switching"
        out[f"expected_bound_{key}"] = bound["value"]
    return out


def _guarantee_columns(guarantee: dict | None) -> dict:
    """Per transition window, the arm's regret on its own feedback against the guarantee's
    comparator, the bound (with its terms, for linear arms) and whether it held."""
    if not guarantee or not guarantee["applies"]:
        return {}
    out = {"guarantee": guarantee["name"]}
    for k, w in enumerate(guarantee["windows"]):
        out |= {f"window_{k}_own_regret": w["regret"], f"window_{k}_bound": w["bound"],
                f"window_{k}_bound_held": w["holds"]}
        for term in ("distance", "step", "apriori"):
            if term in w:
                out[f"window_{k}_bound_{term}"] = w[term]
    return out


def _pool_columns(pool: dict) -> dict:
    bounds = pool["bounds"]
    out = {"algorithm": pool["algorithm"], "proxy_regret": pool["proxy_regret"]["best_fixed"],
           "tracking_regret": pool["proxy_regret"]["best_switching"],
           "true_regret": pool["true_regret"]["best_fixed"],
           "bounds_checked": len(bounds), "bounds_held": sum(b["holds"] for b in bounds)}
    if bounds:  # the main bound: the first one checked (the algorithm's own guarantee)
        main = bounds[0]
        out |= {"bound": main["name"], "bound_comparator": main["comparator"], "bound_value": main["value"],
                "bound_measured": main["measured"], "bound_held": main["holds"]}
    if pool["goodhart"].get("value") is not None:
        out |= {"goodhart_lower": pool["goodhart"]["value"], "goodhart_held": pool["goodhart"]["holds"]}
    return out


def load_sweep(path, *, partial: bool = False) -> pd.DataFrame:
    """The rows of a sweep directory: one per cell x arm x seed.

    Columns: ``set.<path>`` (each swept field's value), ``seed``, ``learner``, ``objective``,
    ``regret``, ``harm``, ``queries``, ``labels``, the audit (``max_harm``,
    ``worst_1pct_share``, ``low_stakes``), per shift ``window_<k>_cost`` and
    ``window_<k>_recovery`` (NaN: never recovered), and for expert arms the regret against
    the experts and each main bound with ``bound_held``; ``delta.<path>.<metric>``: the paired
    difference to the same seed in the cell with that field at its first value (see
    :func:`paired`). ``frame.attrs`` holds the grid and
    the base scenario.

    Raises :class:`IncompleteRunError` if the sweep has not finished, unless ``partial``.
    """
    path = Path(path)
    if not (path / "sweep.parquet").exists() or ((path / INCOMPLETE).exists() and not partial):
        failures = path / "failures.json"
        failed = len(json.loads(failures.read_text())) if failures.exists() else 0
        raise IncompleteRunError(
            f"{path}: the sweep has not finished ({failed} failed task(s) recorded in failures.json)"
            "; run it again to do what is missing, or load_sweep(..., partial=True) for what is there")
    frame = pd.read_parquet(path / "sweep.parquet")
    meta = yaml.safe_load((path / "sweep.yaml").read_text())
    frame.attrs = {"grid": meta["grid"], "scenario": meta["scenario"]}
    return frame


