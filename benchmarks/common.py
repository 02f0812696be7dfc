"""Pieces the benchmark scripts share: a replaying source and best-of timing."""

from __future__ import annotations

import time

import numpy as np

from lowstakes.streams import Source


class Replay(Source):
    """Replays ``Replay.data`` (a list of (x, y)) as the only concept, so that no time goes
    to generating the stream; no oracle."""

    data: list = []
    has_oracle = False

    def __init__(self, concepts, seed):
        super().__init__(concepts, seed)
        self._position = 0

    def draw(self, segments):
        n = len(segments)
        # Validation draws one sample before any data is set.
        chunk = self.data[self._position:self._position + n] or [({0: 0.0}, False)] * n
        self._position += n
        return [x for x, _ in chunk], np.array([[y for _, y in chunk]], dtype=np.int8)


def best_of(repeat: int, fn, *args) -> float:
    """The fastest of ``repeat`` timed calls of ``fn(*args)``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - started)
    return min(times)


def interleaved(repeat: int, runs: dict) -> dict:
    """The fastest of ``repeat`` timed calls of each ``name: (fn, *args)``, in seconds; the
    calls go round the runs in turn, so that machine load hits every run alike."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, (fn, *args) in runs.items():
            started = time.perf_counter()
            fn(*args)
            best[name] = min(best[name], time.perf_counter() - started)
    return best
