"""The grid of a sweep: field paths and their values, and the scenario of every cell.

A grid maps a dotted field path (``stream.shifts.0.at``: keys and list positions) to a
list of values; its cells are the cross product. Each cell's scenario is the base with
those values set, validated like any scenario, so a bad path or value is found before
anything runs, with the file, the field and the cell named.

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
from typing import TYPE_CHECKING

import yaml

from lowstakes.errors import ScenarioError
from lowstakes.registry import suggest

if TYPE_CHECKING:  # for annotations only: at run time the scenario module imports this one
    from lowstakes.scenario import Scenario

__all__ = ["parse_assignment", "cells", "variants", "task_key", "short_names"]


def parse_assignment(text: str) -> tuple[str, list]:
    """``path=v1,v2`` -> (path, [v1, v2]); each value is read as YAML (numbers stay numbers)."""
    path, sep, values = text.partition("=")
    if not sep or not path.strip() or not values.strip():
        raise ScenarioError([((), f"--set {text!r}: expected PATH=VALUE[,VALUE...]")])
    return path.strip(), [yaml.safe_load(v) for v in values.split(",")]


def cells(grid: dict[str, list]) -> list[dict]:
    """The cross product of a grid, as a list of {path: value} (an empty grid: one cell)."""
    paths = list(grid)
    return [dict(zip(paths, values, strict=True)) for values in itertools.product(*grid.values())]


def _keys(path: str) -> tuple:
    return tuple(int(k) if k.isdigit() else k for k in path.split("."))


def _assign(data: dict, path: str, value) -> str | None:
    """Set ``path`` in ``data``; return what is wrong with the path, or None."""
    keys = _keys(path)
    target = data
    for key in keys[:-1]:
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            known = [str(k) for k in target] if isinstance(target, dict) else []
            return f"no such field to set at {key!r}{suggest(str(key), known)}"
        if target is None:
            return f"{key!r} is not set in the scenario; write that block there first"
    last = keys[-1]
    if isinstance(target, list) and not (isinstance(last, int) and last < len(target)):
        return "no such list entry"
    if not isinstance(target, dict | list):
        return "no such field to set"
    target[last] = value
    return None


def _where(cell: dict) -> str:
    return ", ".join(f"{p}={v!r}" for p, v in cell.items())


def _variant(base: Scenario, cell: dict, origin: str) -> Scenario:
    """``base`` with the cell's values set (and no sweep block), validated; raises
    ScenarioError. ``origin`` ("--set" or "sweep": the file's block) places the problems.
    The cell is built by ``base``'s own class, so this module never imports the scenario
    module (which imports this one to check a file's sweep block)."""
    data = copy.deepcopy(base.to_dict())
    data["sweep"] = None
    problems = []
    for path, value in cell.items():
        wrong = _assign(data, path, value)
        if wrong:
            problems.append((("sweep", path) if origin == "sweep" else _keys(path), f"{origin}: {wrong}"))
    if problems:
        raise ScenarioError(problems)
    try:
        return type(base).from_dict(data)
    except ScenarioError as exc:
        if origin != "sweep":
            raise
        # In the file's block, point at the swept path that made the problem.
        located = []
        for path, message in exc.problems:
            dotted = ScenarioError.dotted(path)
            swept = [p for p in cell if dotted == p or dotted.startswith(p + ".")]
            located.append((("sweep", swept[0]) if swept else ("sweep", *path), message))
        raise ScenarioError(located) from None


def _check_grid(grid: dict[str, list], origin: str) -> None:
    problems = []
    for path, values in grid.items():
        where = ("sweep", path) if origin == "sweep" else _keys(path)
        if not isinstance(values, list) or not values:
            problems.append((where, "expected a non-empty list of values"))
            continue
        seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
        twice = [values[i] for i, v in enumerate(seen) if v in seen[:i]]
        if twice:
            problems.append((where, f"the value {twice[0]!r} is given twice"))
    if problems:
        raise ScenarioError(problems)


def variants(base: Scenario, grid: dict[str, list], origin: str = "--set") -> list[tuple[dict, Scenario]]:
    """Every cell of ``grid`` with its validated :class:`~lowstakes.scenario.Scenario`.

    Raises ScenarioError listing every bad path and every bad value, each once with the
    cells it breaks, before anything runs.

    >>> from lowstakes import Scenario
    >>> base = Scenario.from_dict({"name": "s", "horizon": 100, "stream": {"source": "sea"},
    ...                            "learners": {"l": {"model": "linear_model.LogisticRegression"}}})
    >>> [(cell, v.stream.label_noise) for cell, v in variants(base, {"stream.label_noise": [0.0, 0.2]})]
    [({'stream.label_noise': 0.0}, 0.0), ({'stream.label_noise': 0.2}, 0.2)]
    >>> variants(base, {"stream.label_noise": [0.1, 0.7]})
    Traceback (most recent call last):
    ...
    lowstakes.errors.ScenarioError: scenario: stream.label_noise: ... (in the cell stream.label_noise=0.7)
    """
    _check_grid(grid, origin)
    out, problems, every = [], {}, cells(grid)
    for cell in every:
        try:
            out.append((cell, _variant(base, cell, origin)))
        except ScenarioError as exc:
            for problem in exc.problems:
                problems.setdefault(problem, []).append(cell)
    if problems:
        raise ScenarioError([(path, message + _cells_note(broken, len(every)))
                             for (path, message), broken in problems.items()])
    return out


def _cells_note(broken: list[dict], total: int) -> str:
    if not broken[0]:  # the grid is empty: the problem is the scenario's own
        return ""
    if len(broken) == 1:
        return f" (in the cell {_where(broken[0])})"
    if len(broken) == total:
        return " (in every cell)"
    return f" (in {len(broken)} of {total} cells, e.g. {_where(broken[0])})"


def task_key(scenario: Scenario, seed: int) -> str:
    """The name of a task's file: a hash of the resolved scenario and the seed. The number of
    seeds is left out: run-seed k draws the same randomness whatever the number of seeds
    (its SeedSequence is the k-th child of the master seed's), so raising ``--seeds`` reuses
    every seed already run. The trace setting is left out too: it changes what is kept on
    disk, not a number."""
    data = {**scenario.to_dict(), "seeds": None, "sweep": None}
    data.pop("trace")
    text = json.dumps({"scenario": data, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def short_names(paths: list[str]) -> dict[str, str]:
    """Each swept path by its last part, or by as many last parts as tell it from the others.

    >>> short_names(["stream.shifts.0.params.threshold", "learners.a.params.lr", "learners.b.params.lr"])
    {'stream.shifts.0.params.threshold': 'threshold', 'learners.a.params.lr': 'a.params.lr', \
'learners.b.params.lr': 'b.params.lr'}
    """
    out = {}
    for path in paths:
        parts = path.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if sum(p == tail or p.endswith("." + tail) for p in paths) == 1:
                break
        out[path] = tail
    return out
