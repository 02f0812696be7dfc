"""Comparators for expert arms, computed on a (T, N) matrix of expert losses.

- best fixed expert in hindsight (static regret);
- best expert sequence with at most m switches (tracking regret), exactly, by dynamic
  programming in O(T N m) time and O(N m) memory, folded block by block;
- best single expert inside each transition window.

Examples
--------
>>> import numpy as np
>>> losses = np.array([[0, 1], [0, 1], [1, 0], [1, 0]], dtype=float)
>>> best_fixed(losses)
2.0
>>> best_switching(losses, switches=1)
0.0
>>> best_in_windows(losses, [(2, 4)])
[0.0]
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["best_fixed", "best_switching", "best_in_windows", "Switching", "brute_force_switching"]


def best_fixed(losses: np.ndarray) -> float:
    """The least total loss of one expert over the whole run."""
    return float(losses.sum(axis=0).min())


class Switching:
    """Best expert sequence with at most ``switches`` switches, fed block by block.

    ``state[j, i]``: the least loss of a sequence that ends at expert i having switched
    j times. A switch can come from any expert, so it costs the best value of the levels
    below. Per decision t and level j >= 1,

        s_j(t) = min(s_j(t-1), M_j(t-1)) + l_t,     M_j = min over levels < j and experts,

    so with C(t) the block's cumulative losses, s_j(t) - C(t) is a running minimum of
    M_j(u-1) - C(u-1) over u <= t: one cumulative minimum over the block per level, in
    numpy, instead of a Python loop over decisions. (Before the first decision a "switch"
    only copies level 0 upwards, which changes no minimum.)
    """

    def __init__(self, n: int, switches: int):
        self.state = np.full((switches + 1, n), np.inf)
        self.state[0] = 0.0
        # Two (block, N) work arrays, kept from one block to the next: a fresh pair per
        # block cost more (allocation, first touch) than the passes that fill them.
        self._buffers = (np.empty((0, n)), np.empty((0, n)))

    def _work_arrays(self, shape) -> tuple[np.ndarray, np.ndarray]:
        if self._buffers[0].shape != shape:
            self._buffers = (np.empty(shape), np.empty(shape))
        return self._buffers

    def add(self, losses: np.ndarray, record=()) -> list[float]:
        """Fold in more decisions; return the best value after each row index in ``record``
        (in increasing order of the index)."""
        return self.fold(losses, record)[0]

    def fold(self, losses: np.ndarray, record=()) -> tuple[list[float], list[float]]:
        """:meth:`add`, also returning the best *fixed* expert's total after each recorded
        row: level 0 (no switch) is every expert's running total, :attr:`totals`."""
        losses = np.asarray(losses, dtype=float)
        if len(losses) == 0:
            return [], []
        marks = sorted(set(record))
        state = self.state
        cumulative, level = self._work_arrays(losses.shape)
        np.cumsum(losses, axis=0, out=cumulative)
        np.add(state[0], cumulative, out=level)
        fixed = level.min(axis=1)
        # best[u + 1]: the least value over the levels so far after decision u (u = -1: before).
        best = np.concatenate([[state[0].min()], fixed])
        fixed_at = [float(fixed[i]) for i in marks]
        state[0] = level[-1]
        work = level  # level 0 is read no more: its buffer serves the levels above
        top = len(state) - 1
        for j in range(1, len(state)):
            # M_j(u-1) - C(u-1) for u = 0..T-1 (C(-1) = 0), then its running minimum.
            work[0] = best[0]
            np.subtract(best[1:-1, None], cumulative[:-1], out=work[1:])
            if j == top:
                # No level above reads this one: it is needed only at the recorded rows and
                # at the last (its state). Its running minimum up to those rows alone (the
                # minimum of the rows since the previous one, np.minimum.reduceat, then a
                # running minimum over those few) is the same number as the one over every
                # row, for a fraction of the passes.
                rows = sorted({*marks, len(work) - 1})
                at = np.minimum.reduceat(work, [0, *(r + 1 for r in rows[:-1])], axis=0)
                np.minimum.accumulate(at, axis=0, out=at)
                np.minimum(at, state[j], out=at)
                at += cumulative[rows]
                state[j] = at[-1]
                read = np.asarray(marks, dtype=int)
                top_at = at.min(axis=1)[np.searchsorted(rows, read)]  # this level's best there
                return np.minimum(best[read + 1], top_at).tolist(), fixed_at
            np.minimum.accumulate(work, axis=0, out=work)
            np.minimum(work, state[j], out=work)
            work += cumulative  # the level's values after each decision
            best = np.minimum(best, np.concatenate([[state[j].min()], work.min(axis=1)]))
            state[j] = work[-1]
        return [float(best[i + 1]) for i in marks], fixed_at

    @property
    def totals(self) -> np.ndarray:
        """Every expert's total loss so far (level 0: no switch)."""
        return self.state[0]

    @property
    def value(self) -> float:
        return float(self.state.min())


def best_switching(losses: np.ndarray, switches: int) -> float:
    """The least total loss of an expert sequence with at most ``switches`` switches."""
    comparator = Switching(losses.shape[1], switches)
    comparator.add(losses)
    return comparator.value


def brute_force_switching(losses: np.ndarray, switches: int) -> float:
    """The same by enumerating every sequence (for tests on tiny cases)."""
    T, N = losses.shape
    best = np.inf
    for sequence in itertools.product(range(N), repeat=T):
        changes = sum(a != b for a, b in itertools.pairwise(sequence))
        if changes <= switches:
            best = min(best, float(losses[np.arange(T), sequence].sum()))
    return best


def best_in_windows(losses: np.ndarray, windows) -> list[float]:
    """For each ``(start, end)`` window, the least loss of a single expert inside it."""
    cumulative = np.vstack([np.zeros(losses.shape[1]), np.cumsum(losses, axis=0)])
    return [float((cumulative[end] - cumulative[start]).min()) for start, end in windows]
