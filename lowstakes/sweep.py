"""Sweeps: a grid of scenario variants, each run for every seed, resumable.

A sweep is the cross product of values over scenario fields, given as ``path=v1,v2,...``
(``stream.shifts.0.at=2000,6000``, ``timing.feedback_delay.exponential=1,20``). Every
cell is validated before anything runs. Each (cell, seed) is one task; its metrics are
written atomically under ``<sweep dir>/tasks/`` keyed by a hash of the resolved scenario
and the seed, so an interrupted sweep run again does only what is missing.

Tasks run in a local process pool (results do not depend on the number of workers:
every seed has its own SeedSequence). Running them on a Dask cluster is issue 7's next
step and not done yet.

Examples
--------
>>> parse_assignment("stream.shifts.0.at=2000,6000")
('stream.shifts.0.at', [2000, 6000])
>>> [sorted(c.items()) for c in cells({"harm.bound": [1, 2], "seed": [0]})]
[[('harm.bound', 1), ('seed', 0)], [('harm.bound', 2), ('seed', 0)]]
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

from lowstakes.errors import ScenarioError
from lowstakes.results import _json_default, seed_metrics
from lowstakes.scenario import Scenario, load_scenario
from lowstakes.simulation import simulate

__all__ = ["parse_assignment", "cells", "sweep", "load_sweep"]


def parse_assignment(text: str) -> tuple[str, list]:
    """``path=v1,v2`` -> (path, [v1, v2]); each value is read as YAML (numbers stay numbers)."""
    path, sep, values = text.partition("=")
    if not sep or not path or not values:
        raise ScenarioError([((), f"--set {text!r}: expected PATH=VALUE[,VALUE...]")])
    return path.strip(), [yaml.safe_load(v) for v in values.split(",")]


def cells(grid: dict[str, list]) -> list[dict]:
    """The cross product of a grid, as a list of {path: value}."""
    paths = list(grid)
    return [dict(zip(paths, values, strict=True)) for values in itertools.product(*grid.values())]


def _assign(data: dict, path: str, value):
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = data
    for i, key in enumerate(keys[:-1]):
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            raise ScenarioError([(tuple(keys[: i + 1]), f"--set {path}: no such field to set")]) from None
    if isinstance(target, list) and not (isinstance(keys[-1], int) and keys[-1] < len(target)):
        raise ScenarioError([(tuple(keys), f"--set {path}: no such list entry")])
    target[keys[-1]] = value


def _variant(base: Scenario, cell: dict, file=None) -> Scenario:
    data = copy.deepcopy(base.to_dict())
    try:
        for path, value in cell.items():
            _assign(data, path, value)
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, file=file) from None
    try:
        return Scenario.from_dict(data)
    except ScenarioError as exc:
        where = ", ".join(f"{p}={v!r}" for p, v in cell.items())
        raise ScenarioError([(path, f"{message} (in the cell {where})") for path, message in exc.problems],
                            file=file) from None


def _key(scenario: Scenario, seed: int) -> str:
    text = json.dumps({"scenario": scenario.to_dict(), "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _task(scenario: Scenario, seed: int) -> list[dict]:
    run = simulate(scenario, seed)
    return [{"learner": learner, "objective": objective, **metrics}
            for (learner, objective), metrics in zip(run.arms, seed_metrics(run, scenario), strict=True)]


def _row(cell: dict, seed: int, arm: dict) -> dict:
    row = {**{f"set.{p}": v for p, v in cell.items()}, "seed": seed, "learner": arm["learner"],
           "objective": arm["objective"], "regret": arm["regret"], "harm": arm["harm"],
           "queries": arm["queries"], "worst_1pct_share": arm["worst_1pct_share"]}
    for w in arm["windows"]:
        row[f"window_{w['shift']}_cost"] = w["cost"]
        row[f"window_{w['shift']}_recovery"] = w["recovery"]
    return row


def sweep(scenario, grid: dict[str, list], out, *, workers: int = 1, progress=None) -> dict:
    """Run every cell of ``grid`` for every seed of ``scenario``; resume what exists.

    Returns ``{"tasks": n, "skipped": k, "failed": [...], "path": out}`` and writes
    ``sweep.parquet`` (one row per cell x arm x seed).
    """
    file = None
    if not isinstance(scenario, Scenario):
        file, scenario = scenario, load_scenario(scenario)
    variants = [(cell, _variant(scenario, cell, file)) for cell in cells(grid)]  # validate all first
    out = Path(out)
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    (out / "sweep.yaml").write_text(yaml.safe_dump({"scenario": scenario.to_dict(), "grid": grid}))
    todo, skipped = [], 0
    for cell, variant in variants:
        for seed in range(variant.seeds):
            path = out / "tasks" / f"{_key(variant, seed)}.json"
            if path.exists():
                skipped += 1
            else:
                todo.append((cell, variant, seed, path))
    failed = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [(task, pool.submit(_task, task[1], task[2])) for task in todo]
        for (cell, _, seed, path), future in futures:
            try:
                arms = future.result()
            except Exception as exc:  # noqa: BLE001 - a failed cell must not stop the others
                failed.append({"cell": cell, "seed": seed, "error": f"{type(exc).__name__}: {exc}"})
                continue
            tmp = path.with_suffix(".partial")
            tmp.write_text(json.dumps({"cell": cell, "seed": seed, "arms": arms}, default=_json_default))
            os.replace(tmp, path)
            if progress is not None:
                progress(1)
    rows = []
    for cell, variant in variants:
        for seed in range(variant.seeds):
            path = out / "tasks" / f"{_key(variant, seed)}.json"
            if path.exists():
                task = json.loads(path.read_text())
                rows += [_row(cell, seed, arm) for arm in task["arms"]]
    frame = pd.DataFrame(rows)
    frame.to_parquet(out / "sweep.parquet.partial", index=False)
    os.replace(out / "sweep.parquet.partial", out / "sweep.parquet")
    return {"tasks": len(todo) + skipped, "skipped": skipped, "failed": failed, "path": out}


def load_sweep(path) -> pd.DataFrame:
    """The rows of a sweep directory's ``sweep.parquet``."""
    return pd.read_parquet(Path(path) / "sweep.parquet")
