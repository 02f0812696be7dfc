"""Streaming versions of the array metrics: summarise a run block by block at flat memory.

The metrics in :mod:`lowstakes.metrics` and :mod:`lowstakes.audit` take the whole run's
per-decision arrays (excess harm, harm). A run of 10^7 decisions would hold them all just to
reduce them to a handful of numbers. The accumulators here take the same data as consecutive
float64 blocks of any sizes (in order; together ``horizon`` values) and give the same result
as the array function on the concatenation of the blocks, holding only what the result needs:

- :class:`Windows` (``metrics.windows``): O(shifts x smoothing) floats;
- :class:`TopShare` (``audit.harmful_top_share``): the ceil(fraction x horizon) + 1 largest harms;
- :class:`Burst` (``audit.largest_burst``): the last k cumulative sums;
- :class:`HarmTotals` (the totals and counts in ``audit.seed_audit``): a few numbers.

What is exact. Everything decided by comparisons or counts is identical: window spans,
``recovery``, ``raised``, the burst's start, counts and maxima. The numbers built from sequential
cumulative sums are bit-identical too, because ``np.cumsum`` adds in order and so can be continued
across blocks (``np.cumsum([carry, *block])``): the trailing means behind ``recovery``, the burst's
harm. So are a window's ``baseline`` (the ``.mean()`` of the same at most ``smoothing`` values,
buffered) and the partial top sum of :class:`TopShare`. Only plain totals differ, and only by
rounding: numpy sums an array pairwise, which needs the whole array; here blocks are summed with
``math.fsum`` and the block sums compensated (Neumaier), so these totals are, if anything, more
accurate. That concerns a window's ``cost``, the denominator of the top share, and
:class:`HarmTotals`' total.

>>> import numpy as np
>>> excess = np.r_[np.zeros(100), np.ones(20), np.zeros(80)]
>>> acc = Windows(shifts=[100], horizon=200, length=50, smoothing=10, tolerance=0.05, bound=1.0)
>>> for block in np.array_split(excess, 7):
...     acc.add(block)
>>> acc.result()
[{'shift': 0, 'start': 100, 'end': 150, 'cost': 20.0, 'recovery': 29, 'baseline': 0.0, 'raised': False}]
>>> burst = Burst(k=4)
>>> for block in np.array_split(np.r_[np.zeros(10), np.ones(3), np.zeros(10)], 5):
...     burst.add(block)
>>> burst.result()
(3.0, 9)
"""

from __future__ import annotations

import math

import numpy as np

from lowstakes import audit, metrics

__all__ = ["Windows", "TopShare", "Burst", "HarmTotals"]


def _block(values) -> np.ndarray:
    block = np.asarray(values, dtype=np.float64)
    if block.ndim != 1:
        raise ValueError(f"a block must be one-dimensional, not of shape {block.shape}")
    return block


def _continue_cumsum(last: np.ndarray, seen: int, segment: np.ndarray) -> np.ndarray:
    """The cumulative sums of ``segment`` continuing a sequential cumulative sum whose last value
    is ``last[-1]`` after ``seen`` values: bit for bit the matching part of ``np.cumsum`` over
    the whole series (it adds in order). The first block is summed on its own, as ``np.cumsum``
    does (0.0 + x is not x when x is -0.0)."""
    if seen == 0:
        return np.cumsum(segment, dtype=np.float64)
    return np.cumsum(np.concatenate((last[-1:], segment)), dtype=np.float64)[1:]


class _Sum:
    """A float total: each block summed exactly rounded (``math.fsum``), the block sums added with
    Neumaier's compensation. Differs from numpy's pairwise sum of the whole array by rounding only."""

    __slots__ = ("_sum", "_compensation")

    def __init__(self) -> None:
        self._sum = 0.0
        self._compensation = 0.0

    def add(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        part = math.fsum(values)
        total = self._sum + part
        if abs(self._sum) >= abs(part):
            self._compensation += (self._sum - total) + part
        else:
            self._compensation += (part - total) + self._sum
        self._sum = total

    @property
    def value(self) -> float:
        return self._sum + self._compensation


class _Window:
    """The running state of one shift's window over its region ``[lo, following)``: the values
    before ``start`` (for the baseline), the last ``smoothing`` cumulative sums from ``lo``, the
    cost so far and the last decision whose trailing mean was above the threshold."""

    __slots__ = ("shift", "lo", "start", "end", "following", "smoothing", "tolerance", "seen", "before",
                 "baseline", "threshold", "cumulative", "cost", "last_above")

    def __init__(self, shift, lo, start, end, following, smoothing, tolerance):
        self.shift, self.lo, self.start, self.end = shift, lo, start, end
        self.following, self.smoothing, self.tolerance = following, smoothing, tolerance
        self.seen = 0                              # values taken, from lo on
        self.before = np.empty(start - lo)         # excess[lo:start], filled as it arrives
        self.baseline = None                       # metrics.baseline once before is full
        self.threshold = None                      # what recovery compares the trailing means with
        self.cumulative = np.zeros(1)              # C[seen - len + 1 .. seen], C[0] = 0
        self.cost = _Sum()
        self.last_above = None                     # t - start of the last trailing mean above
        if start == lo:
            self._set_baseline()

    def _set_baseline(self) -> None:
        # metrics.baseline and metrics.recovery: the mean of the same values, in an array of
        # the same shape, so the same pairwise sum.
        mean = float(self.before.mean()) if self.start > self.lo else 0.0
        self.baseline = mean
        self.threshold = (max(0.0, mean) if self.start > self.lo else 0.0) + self.tolerance

    def feed(self, segment: np.ndarray) -> None:
        """Take the window's next values (positions ``lo + seen`` on)."""
        n, m, w = self.seen, len(segment), self.smoothing
        before = self.start - self.lo              # positions relative to lo: [0, before) precede start
        if n < before:
            take = min(before - n, m)
            self.before[n:n + take] = segment[:take]
            if n + take == before:
                self._set_baseline()
        # The cost: positions [start, end), relative [before, before + end - start).
        lo_cost, hi_cost = max(n, before), min(n + m, before + max(0, self.end - self.start))
        if hi_cost > lo_cost:
            self.cost.add(segment[lo_cost - n:hi_cost - n])
        # Trailing means as metrics.rolling_mean(excess[lo:following], smoothing): for the value
        # ending at relative end e (1-based), (C[e] - C[max(e - w, 0)]) / (e - max(e - w, 0)).
        full = np.concatenate((self.cumulative, _continue_cumsum(self.cumulative, n, segment)))
        base = n - len(self.cumulative) + 1        # full[i] is C[base + i]
        first = max(n + 1, before + 1)             # only those at or after start are compared
        if first <= n + m:
            ends = np.arange(first, n + m + 1)
            starts = np.maximum(ends - w, 0)
            trailing = (full[ends - base] - full[starts - base]) / (ends - starts)
            above = np.flatnonzero(trailing > self.threshold)
            if len(above):
                self.last_above = int(first + above[-1]) - 1 - before
        self.cumulative = full[-w:].copy()
        self.seen = n + m

    def held(self) -> int:
        return len(self.before) + len(self.cumulative)

    def result(self) -> dict:
        if self.last_above is None:
            recovered = 0
        else:
            last = self.last_above + 1
            recovered = None if last > self.following - self.start - self.smoothing else last
        return {
            "shift": self.shift,
            "start": self.start,
            "end": self.end,
            "cost": self.cost.value,
            "recovery": recovered,
            "baseline": self.baseline,
            "raised": bool(self.baseline > self.tolerance),
        }


class Windows:
    """``metrics.windows`` block by block.

    ``add(excess_block)`` takes the excess harm's consecutive blocks in order; once ``horizon``
    values are in, ``result()`` equals ``metrics.windows(excess, shifts, horizon, length, smoothing,
    tolerance, bound)`` on their concatenation: ``start``, ``end``, ``shift``, ``raised``,
    ``recovery`` and ``baseline`` identical, ``cost`` up to rounding.

    A shift's state lives from ``max(0, start - smoothing)`` (its baseline's first decision) to
    the next shift or the end of the run and holds at most 2 x ``smoothing`` floats, so the
    accumulator holds O(shifts x smoothing) floats whatever the horizon (between blocks at most
    ``smoothing`` + 1 windows are open; besides, only the current block's temporaries).
    ``shifts``: the shifts' start steps, in order, in ``[0, horizon]``.
    """

    def __init__(self, shifts, horizon: int, length: int | None, smoothing: int, tolerance: float,
                 bound: float):
        shifts = [int(s) for s in shifts]
        if any(b < a for a, b in zip(shifts, shifts[1:], strict=False)):
            raise ValueError(f"shifts must be in order, not {shifts}")
        if shifts and (shifts[0] < 0 or shifts[-1] > horizon):
            raise ValueError(f"shifts must be in [0, {horizon}], not {shifts}")
        if smoothing < 1:
            raise ValueError(f"smoothing must be at least 1, not {smoothing}")
        self.horizon, self.smoothing = int(horizon), int(smoothing)
        tolerance = tolerance * bound              # as metrics.windows passes it to recovery
        self._pending = []                         # windows not yet open, in order of lo
        for k, (start, end) in enumerate(metrics.transition_spans(shifts, horizon, length)):
            following = shifts[k + 1] if k + 1 < len(shifts) else self.horizon
            self._pending.append((k, max(0, start - self.smoothing), start, end, following))
        self._pending.reverse()                    # pop() from the end: the next to open
        self._open: list[_Window] = []
        self._done: dict[int, dict] = {}
        self._tolerance = tolerance
        self.n = 0

    def add(self, excess_block) -> None:
        """Take the next block of excess harm (any length, float64)."""
        block = _block(excess_block)
        lo, hi = self.n, self.n + len(block)
        if hi > self.horizon:
            raise ValueError(f"{hi} values given for a horizon of {self.horizon}")
        self._open_until(hi)
        for window in self._open:
            a = window.lo + window.seen
            z = min(hi, window.following)
            if z > a:
                window.feed(block[a - lo:z - lo])
        self.n = hi
        self._close()

    def _open_until(self, hi: int) -> None:
        while self._pending and self._pending[-1][1] < hi:
            k, lo, start, end, following = self._pending.pop()
            self._open.append(_Window(k, lo, start, end, following, self.smoothing, self._tolerance))

    def _close(self) -> None:
        still = []
        for window in self._open:
            if window.following <= self.n and window.lo + window.seen >= window.following:
                self._done[window.shift] = window.result()
            else:
                still.append(window)
        self._open = still

    def held(self) -> int:
        """The number of floats the open windows hold (at most 2 x smoothing each)."""
        return sum(window.held() for window in self._open)

    def result(self) -> list[dict]:
        """The windows, as ``metrics.windows`` gives them; only once all ``horizon`` values are in."""
        if self.n != self.horizon:
            raise ValueError(f"{self.n} of {self.horizon} values given so far")
        self._open_until(self.horizon + 1)         # windows with nothing to take (a shift at 0 twice)
        self._close()
        return [dict(self._done[k]) for k in sorted(self._done)]


class TopShare:
    """``audit.harmful_top_share`` block by block: the share of the harm caused by the worst
    ``fraction`` of the harmful decisions.

    With m harmful decisions the array version takes the floor(fraction x m) + 1 largest harms at
    most; since m <= ``horizon``, keeping the ceil(fraction x horizon) + 1 largest harmful values
    seen so far (each block's largest merged in with ``np.partition``), the count of harmful
    decisions and their total harm suffices (once that many are kept, only larger harms are merged:
    an equal one leaves the kept values as they are). The partial top sum is the array version's bit for
    bit; the total (the denominator) differs from numpy's pairwise sum by rounding only.
    ``result()`` may be called at any time, for the values given so far.
    """

    def __init__(self, horizon: int, fraction: float = audit.TOP):
        self.horizon, self.fraction = int(horizon), fraction
        self.keep = math.ceil(fraction * self.horizon) + 1
        self._top = np.empty(0)
        self._least = 0.0                          # the least kept harm
        self._total = _Sum()
        self.harmful = 0
        self.n = 0

    def add(self, harm_block) -> None:
        """Take the next block of harm per decision."""
        block = _block(harm_block)
        if self.n + len(block) > self.horizon:
            raise ValueError(f"{self.n + len(block)} values given for a horizon of {self.horizon}")
        self.n += len(block)
        harmful = block[block > 0]
        self.harmful += len(harmful)
        self._total.add(harmful)
        if len(self._top) == self.keep:       # full: only harms above the least kept change the top
            harmful = harmful[harmful > self._least]
        if len(harmful):
            merged = np.concatenate((self._top, self._largest(harmful)))
            self._top = self._largest(merged).copy()
            self._least = self._top.min()

    def _largest(self, values: np.ndarray) -> np.ndarray:
        if len(values) <= self.keep:
            return values
        return np.partition(values, len(values) - self.keep)[len(values) - self.keep:]

    def held(self) -> int:
        """The number of harms kept (at most ceil(fraction x horizon) + 1)."""
        return len(self._top)

    def result(self) -> float:
        """The share, as ``audit.harmful_top_share`` gives it (0 when there was no harm)."""
        total = self._total.value
        if total <= 0:
            return 0.0
        harmful = np.sort(self._top)[::-1]         # the array version's first values, same layout
        count = self.fraction * self.harmful
        whole = int(math.floor(count))
        top = float(harmful[:whole].sum())
        if whole < self.harmful:
            top += (count - whole) * float(harmful[whole])
        return top / total


class Burst:
    """``audit.largest_burst`` block by block: the largest harm done by any ``k`` consecutive
    decisions from decision ``skip`` on, and the first of them (the first maximal one).

    Bit for bit the array version: the same differences of the same sequential cumulative sums,
    of which the last ``k`` are kept. When fewer than ``k`` values follow ``skip`` the array
    version takes k = their number, one burst of all of them from ``skip``; that is known only
    at the end, and ``result()`` gives it then from the last cumulative sum (so ``result()`` is,
    at any time, the answer for the values given so far).
    """

    def __init__(self, k: int, skip: int = 0):
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        if skip < 0:
            raise ValueError(f"skip must be at least 0, not {skip}")
        self.k, self.skip = int(k), int(skip)
        self.n = 0                                 # values given, skipped ones included
        self._seen = 0                             # values from skip on
        self._cumulative = np.zeros(1)             # C[seen - len + 1 .. seen], C[0] = 0
        self._best: float | None = None
        self._start = 0

    def add(self, harm_block) -> None:
        """Take the next block of harm per decision."""
        block = _block(harm_block)
        segment = block[max(0, self.skip - self.n):]
        self.n += len(block)
        if len(segment) == 0:
            return
        n, m, k = self._seen, len(segment), self.k
        full = np.concatenate((self._cumulative, _continue_cumsum(self._cumulative, n, segment)))
        base = n - len(self._cumulative) + 1       # full[i] is C[base + i]
        first = max(n + 1, k)                      # the first burst ending in this segment
        if first <= n + m:
            ends = np.arange(first, n + m + 1)
            sums = full[ends - base] - full[ends - k - base]
            best = int(np.argmax(sums))
            if self._best is None or sums[best] > self._best:
                self._best, self._start = sums[best], first + best - k
        self._cumulative = full[-k:].copy()
        self._seen = n + m

    def held(self) -> int:
        """The number of cumulative sums kept (at most k)."""
        return len(self._cumulative)

    def result(self) -> tuple[float, int]:
        """``(harm, start)`` as ``audit.largest_burst`` gives them."""
        if self._seen == 0:
            return 0.0, self.skip
        if self._seen < self.k:                    # all kept, C[0] = 0 included
            return float(self._cumulative[-1] - self._cumulative[0]), self.skip
        return float(self._best), self._start + self.skip


class HarmTotals:
    """The totals of ``audit.seed_audit`` block by block: the number of decisions ``n``, the total
    harm (up to rounding), the largest harm (0 at least, as ``harm.max(initial=0.0)``), the number
    of harmful decisions (harm > 0) and, with a ``catastrophe`` threshold, the number above it."""

    def __init__(self, catastrophe: float | None = None):
        self.catastrophe = catastrophe
        self.n = 0
        self.max = 0.0
        self.harmful = 0
        self.catastrophes = 0
        self._total = _Sum()

    def add(self, harm_block) -> None:
        """Take the next block of harm per decision."""
        block = _block(harm_block)
        self.n += len(block)
        self._total.add(block)
        self.max = max(self.max, float(block.max(initial=0.0)))
        self.harmful += int((block > 0).sum())
        if self.catastrophe is not None:
            self.catastrophes += int((block > self.catastrophe).sum())

    @property
    def total(self) -> float:
        return self._total.value

    def result(self) -> dict:
        """``n`` and, under ``seed_audit``'s names, ``total_harm``, ``max_harm``,
        ``harmful_decisions`` and (with a threshold) ``catastrophes``."""
        out = {"n": self.n, "total_harm": self.total, "max_harm": self.max, "harmful_decisions": self.harmful}
        if self.catastrophe is not None:
            out["catastrophes"] = self.catastrophes
        return out
