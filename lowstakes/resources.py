"""What a run needs before it starts: memory, disk and temporary files, estimated from the
scenario, checked against what the machine has, and refused with the estimate and what
would fit.

A seed's memory no longer grows with its horizon (the engine streams settled blocks into
the metrics; a linear arm's learning events go to a temporary file), except for the
largest 1% of harms the audit keeps and, for a regression source with the best-constant
comparator, every truth (for the median). The constants are measured (README, Benchmarks:
peak resident memory against the horizon) with a margin, so the check refuses runs that
cannot fit, not runs that might.

>>> from lowstakes.scenario import Scenario
>>> s = Scenario.from_dict({"name": "r", "horizon": 10**6, "stream": {"source": "sea"},
...     "learners": {"m": {"model": "linear_model.LogisticRegression"}}})
>>> needs = estimate(s, workers=1)
>>> needs.memory // 2**20, needs.disk // 2**20, needs.scratch // 2**20    # MiB
(400, 30, 190)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lowstakes.errors import LowstakesError
from lowstakes.streams import SOURCES

__all__ = ["estimate", "check", "Needs", "ResourceError"]

MiB = 2**20
#: The process with its libraries imported (River, SimPy, numpy, pandas, pyarrow...).
BASE = 300 * MiB
#: What a seed in progress holds whatever its horizon: the blocks not yet settled, the
#: accumulators, the figures' curves, the trace writer's buffers. Per arm: its model (a
#: tree grows with what it has seen; this is a margin, not a bound) and accumulators.
SEED = 60 * MiB
ARM = 40 * MiB
#: What still grows with the horizon in memory, per decision and arm: the audit's worst-1%
#: share keeps the largest 1% of the harms (8 bytes each).
TOP_BYTES = 0.08
#: trace.parquet: 10-18 bytes per row measured (zstd); 32 for rows that compress badly.
TRACE_ROW = 32
#: Temporary files, per decision: a recorded linear arm's learning events (features,
#: label, margins, step: about 8 x (6 + 2 d) bytes pickled; 200 covers d = 8), and with
#: the best-constant comparator a seed's settled blocks (about 20 + 16 per arm bytes).
LINEAR_EVENT = 200
SPOOL = 24
SPOOL_ARM = 16
#: Use at most this share of what the machine has.
HEADROOM = 0.9


class ResourceError(LowstakesError):
    """The run would need more memory or disk than the machine has (exit status 2)."""


@dataclass(frozen=True)
class Needs:
    memory: int
    disk: int
    arms: int
    concurrent: int
    #: Temporary files (in the system's temporary directory) while seeds run.
    scratch: int = 0


def _linear_arms(scenario) -> int:
    """Arms whose River model is a linear model (GLM) the OGD bound records (an upper count:
    a configuration the bound does not cover records nothing)."""
    from river.linear_model.base import GLM

    from lowstakes.registry import resolve_river

    count = 0
    for learner in scenario.learners.values():
        if learner.model is None:
            continue
        try:
            cls = resolve_river(learner.model)
        except Exception:  # noqa: BLE001 - validated elsewhere; count it to stay on the safe side
            cls = GLM
        count += isinstance(cls, type) and issubclass(cls, GLM)
    return count * len(scenario.objectives)


def estimate(scenario, workers: int = 1, trace: bool | None = None) -> Needs:
    """Peak memory (``concurrent`` seeds at a time, each with all its arms), disk (the trace,
    when one is written) and temporary files of running ``scenario``. ``trace``: whether a
    trace is written (default: as the scenario says)."""
    trace = scenario.trace == "full" if trace is None else trace
    arms = len(scenario.learners) * len(scenario.objectives)
    concurrent = max(1, min(workers, scenario.seeds))
    horizon = scenario.horizon
    regression = SOURCES.get(scenario.stream.source).task == "regression"
    constant = scenario.comparator == "best_constant"
    growing = arms * TOP_BYTES + (8 if regression and constant else 0)  # a median needs every truth
    per_seed = SEED + arms * ARM + horizon * growing
    disk = horizon * scenario.seeds * arms * TRACE_ROW if trace else 0
    scratch = concurrent * horizon * (_linear_arms(scenario) * LINEAR_EVENT
                                      + ((SPOOL + arms * SPOOL_ARM) if constant else 0))
    return Needs(memory=int(BASE + concurrent * per_seed), disk=int(disk), arms=arms, concurrent=concurrent,
                 scratch=int(scratch))


def available_memory() -> int | None:
    """Memory available to a new process (Linux: MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def free_disk(path) -> int | None:
    """Free space where ``path`` will be written (its nearest existing parent)."""
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} PiB"


def check(scenario, out=None, workers: int = 1, trace: bool | None = None, memory: int | None = None,
          disk: int | None = None, scratch: int | None = None) -> Needs:
    """Raise :class:`ResourceError` when the run cannot fit; return the estimate otherwise.
    ``memory``, ``disk`` and ``scratch`` (free temporary space) override what the machine
    reports (for tests)."""
    needs = estimate(scenario, workers, trace)
    trace = scenario.trace == "full" if trace is None else trace
    memory = available_memory() if memory is None else memory
    where = f"{scenario.horizon:,} decisions x {needs.arms} arm(s)"
    if memory is not None and needs.memory > HEADROOM * memory:
        fixed = BASE + needs.concurrent * (SEED + needs.arms * ARM)
        per_decision = (needs.memory - fixed) / scenario.horizon
        fits = max(0, int((HEADROOM * memory - fixed) // per_decision)) if per_decision else 0
        raise ResourceError(
            f"{scenario.name}: this run needs about {_size(needs.memory)} of memory ({where}, "
            f"{needs.concurrent} seed(s) at a time) and this machine has {_size(memory)} available; "
            f"at most {fits:,} decisions per seed fit" + (" (or use fewer --workers)" if needs.concurrent > 1
                                                          else ""))
    if trace and out is not None:
        free = free_disk(out) if disk is None else disk
        if free is not None and needs.disk > HEADROOM * free:
            fits = max(0, int(HEADROOM * free // (scenario.seeds * needs.arms * TRACE_ROW)))
            raise ResourceError(
                f"{scenario.name}: the trace of this run needs about {_size(needs.disk)} of disk ({where} x "
                f"{scenario.seeds} seed(s)) and {out} has {_size(free)} free; at most {fits:,} decisions "
                "per seed fit (or keep no trace: --trace summary)")
    if needs.scratch:
        free = free_disk(tempfile.gettempdir()) if scratch is None else scratch
        if free is not None and needs.scratch > HEADROOM * free:
            per_decision = needs.scratch / scenario.horizon
            fits = max(0, int(HEADROOM * free // per_decision))
            raise ResourceError(
                f"{scenario.name}: this run needs about {_size(needs.scratch)} of temporary files ({where}: "
                f"the learning events of its linear arms, or the blocks the best-constant comparator waits "
                f"for) and {tempfile.gettempdir()} has {_size(free)} free; at most {fits:,} decisions per "
                "seed fit (TMPDIR chooses another place)")
    return needs
