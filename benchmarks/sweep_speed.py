"""Sweeps: parallel efficiency of two workers against one, and Dask's per-task overhead.

1. Parallel efficiency: the same sweep (16 tasks of the flagship scenario, a few seconds
   each) run in this process (``workers=1``, no Dask) and on a two-worker Dask LocalCluster
   (``workers=2``, cluster start-up and shut-down included, as a user sees it), each into
   a fresh directory; the rows are checked to be equal. For reference, the same tasks on a
   plain fork-based process pool (no scheduler, no task files).
2. Dask's costs: starting and closing a LocalCluster (workers forked, as lowstakes starts
   them, and spawned, Dask's default), and the overhead per task on many small tasks (a few
   hundred decisions each) run in this process and on a one-worker LocalCluster started
   beforehand, next to the time of the task itself.

    python benchmarks/sweep_speed.py [--horizon 20000] [--seeds 4] [--small 200] [--repeat 1]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dask
import pandas as pd
from dask.distributed import Client, LocalCluster

import lowstakes
from lowstakes.grid import variants
from lowstakes.sweeps import _start_method, load_sweep, run_task

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - started, out


GRID = {"stream.label_noise": [0.0, 0.1], "stream.shifts.0.params.variant": [1, 3]}


def _pool(tasks) -> None:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(run_task, *zip(*tasks, strict=True)))


def parallel_efficiency(horizon: int, seeds: int, repeat: int) -> None:
    scenario = ROOT / "scenarios/shift.yaml"
    base = lowstakes.load_scenario(scenario).with_overrides(seeds=seeds, horizon=horizon)
    tasks = [(v, seed) for _, v in variants(base, GRID) for seed in range(v.seeds)]
    times = {"one": [], "dask": [], "pool": []}
    for _ in range(repeat):  # interleaved, so all see the same machine load
        for name, workers in (("one", 1), ("dask", 2)):
            out = Path(tempfile.mkdtemp()) / "sweep"
            seconds, result = timed(lowstakes.sweep, scenario, GRID, out, seeds=seeds, horizon=horizon,
                                    workers=workers, figures=False)
            assert result.complete and result.ran == len(tasks)
            times[name].append((seconds, out))
        times["pool"].append((timed(_pool, tasks)[0], None))
    one, dask, pool = (min(times[k])[0] for k in ("one", "dask", "pool"))
    pd.testing.assert_frame_equal(load_sweep(min(times["one"])[1]), load_sweep(min(times["dask"])[1]))
    print(f"{len(tasks)} tasks (4 cells x {seeds} seeds) of shift.yaml at {horizon:,} decisions, "
          f"4 arms each (best of {repeat}):")
    print(f"  in this process (workers=1)          {one:7.2f} s  1.00x")
    print(f"  Dask LocalCluster, 2 workers         {dask:7.2f} s  {one / dask:.2f}x  (target >= 1.7x)")
    print(f"  fork process pool, 2 processes       {pool:7.2f} s  {one / pool:.2f}x  (reference)")
    print(f"  one task in this process             {one / len(tasks):7.2f} s")


def small_tasks(n: int, repeat: int) -> None:
    scenario = lowstakes.Scenario.from_dict({
        "name": "small", "horizon": 300, "seeds": 1,
        "stream": {"source": "sea", "shifts": [{"at": 150, "params": {"variant": 3}}]},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression"}},
        "windows": {"smoothing": 50}})
    # Different master seeds make different tasks (Dask would run a repeated one once).
    scenarios = [lowstakes.Scenario.from_dict({**scenario.to_dict(), "seed": s}) for s in range(n)]

    def in_process():
        for s in scenarios:
            run_task(s, 0)

    def on_dask(client):
        futures = client.map(run_task, scenarios, [0] * n, pure=False)
        client.gather(futures)

    for method in ("spawn", "fork"):  # spawn: Dask's default; fork: what lowstakes uses
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            start, (cluster, client) = timed(_cluster)
            # one small task per worker: with spawn, the workers import lowstakes and River now
            first = timed(client.gather, client.map(run_task, scenarios[:2], [0, 0], pure=False))[0]
            close = timed(_close, cluster, client)[0]
        print(f"LocalCluster, 2 workers {method}ed: start {start:.2f} s, first two tasks {first:.2f} s, "
              f"close {close:.2f} s")
    with dask.config.set({"distributed.worker.multiprocessing-method": _start_method()}):
        cluster, client = _cluster(workers=1)
        on_dask(client)  # warm
        local, dask_ = [], []
        for _ in range(repeat):
            local.append(timed(in_process)[0])
            dask_.append(timed(on_dask, client)[0])
        _close(cluster, client)
    task, overhead = min(local) / n, (min(dask_) - min(local)) / n
    print(f"{n} small tasks (300 decisions, 1 arm), one warm worker, best of {repeat}:")
    print(f"  a task in this process      {task * 1e3:6.1f} ms")
    print(f"  Dask's overhead per task    {overhead * 1e3:6.1f} ms  ({overhead / task:.0%} of such a task)")


def _cluster(workers: int = 2):
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return cluster, Client(cluster)


def _close(cluster, client) -> None:
    client.close()
    cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--horizon", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=4, help="tasks = 4 cells x seeds")
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    parallel_efficiency(args.horizon, args.seeds, args.repeat)
    small_tasks(args.small, args.repeat)


if __name__ == "__main__":
    main()
