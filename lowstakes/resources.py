"""What a run needs before it starts: memory and disk, estimated from the scenario, checked
against what the machine has, and refused with the estimate and what would fit.

The figures per decision are measured (README, Benchmarks: peak resident memory against
the horizon) with a margin, so the check refuses runs that cannot fit, not runs that
might: a run it lets through can still be the largest the machine holds.

>>> from lowstakes.scenario import Scenario
>>> s = Scenario.from_dict({"name": "r", "horizon": 10**6, "stream": {"source": "sea"},
...     "learners": {"m": {"model": "linear_model.LogisticRegression"}}})
>>> needs = estimate(s, workers=1)
>>> needs.memory // 2**20, needs.disk // 2**20    # MiB
(599, 30)
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lowstakes.errors import LowstakesError

__all__ = ["estimate", "check", "Needs", "ResourceError"]

MiB = 2**20
#: The process with its libraries imported (River, SimPy, numpy, pandas, pyarrow...).
BASE = 300 * MiB
#: Memory a seed in progress holds per decision, shared by its arms (stream, times, truths,
#: feedback per objective), and per decision and arm (actions, feedback times, the record
#: of a linear model's learning events, the trace while it is written): measured ~150 bytes
#: per decision and arm at 2 x 10^6 decisions; 250 leaves a margin.
PER_DECISION = 64
PER_ARM_DECISION = 250
#: trace.parquet: 10-18 bytes per row measured (zstd); 32 for rows that compress badly.
TRACE_ROW = 32
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


def estimate(scenario, workers: int = 1, trace: bool = True) -> Needs:
    """Peak memory (``concurrent`` seeds at a time, each with all its arms) and disk (the
    trace, when one is written) of running ``scenario``."""
    arms = len(scenario.learners) * len(scenario.objectives)
    concurrent = max(1, min(workers, scenario.seeds))
    per_seed = scenario.horizon * (PER_DECISION + arms * PER_ARM_DECISION)
    disk = scenario.horizon * scenario.seeds * arms * TRACE_ROW if trace else 0
    return Needs(memory=BASE + concurrent * per_seed, disk=disk, arms=arms, concurrent=concurrent)


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


def check(scenario, out=None, workers: int = 1, trace: bool = True, memory: int | None = None,
          disk: int | None = None) -> Needs:
    """Raise :class:`ResourceError` when the run cannot fit; return the estimate otherwise.
    ``memory`` and ``disk`` override what the machine reports (for tests)."""
    needs = estimate(scenario, workers, trace)
    memory = available_memory() if memory is None else memory
    where = f"{scenario.horizon:,} decisions x {needs.arms} arm(s)"
    if memory is not None and needs.memory > HEADROOM * memory:
        per_seed = needs.concurrent * (PER_DECISION + needs.arms * PER_ARM_DECISION)
        fits = max(0, int((HEADROOM * memory - BASE) // per_seed))
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
                "per seed fit")
    return needs
