"""Run a scenario over its seeds and write the run directory: the ``lowstakes.run`` API."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from lowstakes import resources
from lowstakes.errors import LateFailure
from lowstakes.results import RunWriter, bound_table, load, seed_metrics, summarize, trace_tables
from lowstakes.scenario import Scenario, load_scenario
from lowstakes.simulation import simulate

__all__ = ["run", "default_run_dir"]

FIGURE_COLUMNS = ["seed", "learner", "objective", "step", "harm", "comparator_harm", "requested",
                  "queue"]


def default_run_dir(scenario: Scenario, root="runs") -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(root) / scenario.name / stamp


def _seed_runs(scenario, workers: int, progress):
    seeds = range(scenario.seeds)
    if workers <= 1 or scenario.seeds == 1:
        for seed in seeds:
            yield simulate(scenario, seed, progress)
        return
    # Seeds are independent and each derives its own SeedSequence, so the results do
    # not depend on how many processes share the work; map() keeps them in seed order.
    # Workers report finished blocks through a queue that a thread here drains.
    with multiprocessing.Manager() as manager, \
            ProcessPoolExecutor(max_workers=min(workers, scenario.seeds)) as pool:
        queue = manager.Queue() if progress is not None else None
        reporter = threading.Thread(target=_report, args=(queue, progress), daemon=True)
        if queue is not None:
            reporter.start()
        try:
            yield from pool.map(_simulate, [scenario] * scenario.seeds, seeds,
                                [queue] * scenario.seeds)
        finally:
            if queue is not None:
                queue.put(None)
                reporter.join()


def _simulate(scenario, seed, queue):
    return simulate(scenario, seed, None if queue is None else queue.put)


def _report(queue, progress):
    while (done := queue.get()) is not None:
        progress(done)


def run(scenario, out=None, *, seeds: int | None = None, horizon: int | None = None,
        workers: int = 1, progress=None):
    """Run ``scenario`` (a :class:`Scenario` or a path to a YAML file) and return the result.

    Parameters
    ----------
    out
        The run directory to create (default ``runs/<name>/<timestamp>/``).
    seeds, horizon
        Override the scenario's; ``horizon`` scales shift positions and windows.
    workers
        Processes to spread the seeds over; results are identical for any number.
    progress
        Called with the number of decisions just finished (per seed, all arms).

    Returns a :class:`~lowstakes.results.RunResult` (``.summary``, ``.trace``, ``.path``).

    Examples
    --------
    >>> import tempfile, lowstakes
    >>> scenario = lowstakes.Scenario.from_dict({
    ...     "name": "tiny", "horizon": 400, "seeds": 2,
    ...     "stream": {"source": "sea", "shifts": [{"at": 200, "params": {"variant": 3}}]},
    ...     "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
    ...     "learners": {"logreg": {"model": "linear_model.LogisticRegression"}},
    ...     "windows": {"smoothing": 50}})
    >>> result = lowstakes.run(scenario, out=tempfile.mkdtemp() + "/run")
    >>> [(a["objective"], len(a["seeds"])) for a in result.summary["arms"]]
    [('aligned', 2), ('misaligned', 2)]
    >>> len(result.trace)
    1600
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    scenario = scenario.with_overrides(seeds=seeds, horizon=horizon)
    out = Path(out) if out is not None else default_run_dir(scenario)
    resources.check(scenario, out, workers)
    writer = RunWriter(out, scenario)
    started = time.perf_counter()
    per_seed, arms = [], None
    try:
        for seed_run in _seed_runs(scenario, workers, progress):
            arms = seed_run.arms
            per_seed.append(seed_metrics(seed_run, scenario))
            for table in trace_tables(seed_run, scenario):
                writer.add_trace(table)
            curves = bound_table(seed_run, scenario)
            if curves is not None:
                writer.add_bounds(curves)
        writer.close_trace()
    except OSError as exc:  # e.g. the disk filled up: the run cannot be finished
        raise LateFailure(f"writing {out} failed ({exc.strerror or exc}); the directory is marked "
                          "INCOMPLETE") from None
    summary = summarize(scenario, arms, per_seed, time.perf_counter() - started)
    try:
        figure_trace = load_trace_for_figures(out)
        curves = out / "bounds.parquet"
        from lowstakes.plots import save_figures  # matplotlib and seaborn only when drawing

        save_figures(figure_trace, summary, out / "figures", [s.width for s in scenario.stream.shifts],
                     curves=pd.read_parquet(curves) if curves.exists() else None)
    except Exception as exc:  # noqa: BLE001 - any failure here must not lose the run
        writer.fail(summary, f"drawing the figures failed ({type(exc).__name__}: {exc})")
        raise LateFailure(f"the simulation finished and {out} holds its trace and summary, but drawing the "
                          f"figures failed ({type(exc).__name__}: {exc}); lowstakes.load({str(out)!r}, "
                          "partial=True) reads it") from None
    writer.finish(summary)
    return load(out)


def load_trace_for_figures(path: Path):
    return pd.read_parquet(path / "trace.parquet", columns=FIGURE_COLUMNS)
