"""Run a scenario over its seeds and write the run directory: the ``lowstakes.run`` API."""

from __future__ import annotations

import datetime as dt
import functools
import multiprocessing
import pickle
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lowstakes import resources
from lowstakes.errors import LateFailure
from lowstakes.results import RunResult, RunWriter, SeedTrace, bound_table, load, summarize
from lowstakes.scenario import Scenario, load_scenario
from lowstakes.seedmetrics import SeedMetrics
from lowstakes.simulation import run_seed

__all__ = ["run", "default_run_dir", "seed_result"]

def default_run_dir(scenario: Scenario, root="runs") -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(root) / scenario.name / stamp


class _Spool:
    """Settled blocks kept on disk until the seed ends (``comparator: best_constant``: the
    comparator's action is known only then), read back one at a time."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed after the read-back
        self.count = 0

    def __call__(self, record) -> None:
        pickle.dump(record, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def __iter__(self):
        self.file.seek(0)
        for _ in range(self.count):
            yield pickle.load(self.file)
        self.file.close()


def seed_result(scenario, seed: int, trace_dir: Path | None = None, progress=None):
    """Run one seed block by block and summarise it as it goes: ``(metrics, curves, bounds)``,
    one metrics dict per arm (:meth:`SeedMetrics.finish`), the figures' curves and the bound
    curves (a pyarrow table or None). With ``trace_dir``, the seed's trace is written there.

    The memory this needs does not grow with the horizon: each settled block is folded into
    the metrics (and written to the trace) and forgotten.
    """
    trace = None if trace_dir is None else SeedTrace(trace_dir, seed)
    spool = _Spool() if scenario.comparator == "best_constant" else None
    accumulator = None

    def take(record):
        nonlocal accumulator
        if accumulator is None:
            accumulator = SeedMetrics(scenario, seed, record.arms)
        arrays = accumulator.add(record)
        if trace is not None:
            trace.add(record, scenario, arrays)

    info = run_seed(scenario, seed, take if spool is None else spool, progress)
    if spool is not None:
        accumulator = SeedMetrics(scenario, seed, info.arms, constant=info.constant)
        for record in spool:
            arrays = accumulator.add(record)
            if trace is not None:
                trace.add(record, scenario, arrays)
    if trace is not None:
        trace.close()
    metrics = accumulator.finish(info)
    return metrics, accumulator.curves(), bound_table(accumulator, info), info.arms


def _seed_results(scenario, workers: int, trace_dir, progress):
    seeds = range(scenario.seeds)
    if workers <= 1 or scenario.seeds == 1:
        for seed in seeds:
            yield seed_result(scenario, seed, trace_dir,
                              None if progress is None else functools.partial(progress, seed))
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
            yield from pool.map(_seed_result, [scenario] * scenario.seeds, seeds,
                                [trace_dir] * scenario.seeds, [queue] * scenario.seeds)
        finally:
            if queue is not None:
                queue.put(None)
                reporter.join()


def _seed_result(scenario, seed, trace_dir, queue):
    report = None if queue is None else functools.partial(_put, queue, seed)
    return seed_result(scenario, seed, trace_dir, report)


def _put(queue, seed, done):
    queue.put((seed, done))


def _report(queue, progress):
    while (item := queue.get()) is not None:
        progress(*item)


def run(scenario, out=None, *, seeds: int | None = None, horizon: int | None = None,
        workers: int = 1, progress=None, trace: str | None = None):
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
        Called as ``progress(seed, n)`` with the number of decisions seed ``seed`` just
        finished (all arms).
    trace
        Override the scenario's ``trace``: ``full`` keeps every decision in
        ``trace.parquet``; ``summary`` keeps only the summary and the curves.

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
    scenario = scenario.with_overrides(seeds=seeds, horizon=horizon, trace=trace)
    out = Path(out) if out is not None else default_run_dir(scenario)
    resources.check(scenario, out, workers)
    writer = RunWriter(out, scenario)
    started = time.perf_counter()
    per_seed, arms = [], None
    try:
        results = _seed_results(scenario, workers, writer.trace_dir, progress)
        for metrics, curves, bounds, seed_arms in results:
            per_seed.append(metrics)
            arms = seed_arms
            writer.add_curves(curves)
            if bounds is not None:
                writer.add_bounds(bounds)
        writer.close_trace()
    except OSError as exc:  # e.g. the disk filled up: the run cannot be finished
        raise LateFailure(f"writing {out} failed ({exc.strerror or exc}); the directory is marked "
                          "INCOMPLETE") from None
    summary = summarize(scenario, arms, per_seed, time.perf_counter() - started)
    try:
        result = RunResult(out, summary)
        from lowstakes.plots import save_figures  # matplotlib and seaborn only when drawing

        save_figures(result.curves, summary, out / "figures", [s.width for s in scenario.stream.shifts],
                     bounds=result.bounds)
    except Exception as exc:  # noqa: BLE001 - any failure here must not lose the run
        writer.fail(summary, f"drawing the figures failed ({type(exc).__name__}: {exc})")
        raise LateFailure(f"the simulation finished and {out} holds its trace and summary, but drawing the "
                          f"figures failed ({type(exc).__name__}: {exc}); lowstakes.load({str(out)!r}, "
                          "partial=True) reads it") from None
    writer.finish(summary)
    return load(out)
