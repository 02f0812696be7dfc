"""The streaming accumulators against the array metrics they replace, on random series cut into
random blocks: the same results, bit for bit where the module promises it, up to rounding in
the plain totals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowstakes import audit, metrics
from lowstakes.accumulate import Burst, HarmTotals, TopShare, Windows, _continue_cumsum

QUARTERS = [q / 4 for q in range(-4, 5)]


def same_bits(a, b) -> bool:
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def close(got: float, want: float, values: np.ndarray) -> bool:
    """Equal up to rounding: relative 1e-12, or 1e-12 of the summed magnitudes (a sum that
    cancels to near 0 has no relative accuracy, pairwise or not)."""
    return math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12 * float(np.abs(values).sum()))


@st.composite
def series(draw, lo: float, hi: float) -> np.ndarray:
    """1 to 400 values in [lo, hi]: multiples of 0.25 (exact ties), arbitrary floats, zeros, or
    a few constant stretches."""
    n = draw(st.integers(1, 400))
    quarters = st.sampled_from([q for q in QUARTERS if lo <= q <= hi])
    floats = st.floats(lo, hi)
    kind = draw(st.sampled_from(["quarters", "floats", "mixed", "steps"]))
    if kind == "steps":
        levels = draw(st.lists(st.one_of(quarters, floats), min_size=1, max_size=6))
        cuts = sorted(draw(st.lists(st.integers(0, n), min_size=len(levels) - 1, max_size=len(levels) - 1)))
        spans = zip(levels, [0, *cuts], [*cuts, n], strict=True)
        return np.concatenate([np.full(b - a, v) for v, a, b in spans])
    element = {"quarters": quarters, "floats": floats,
               "mixed": st.one_of(st.just(0.0), quarters, floats)}[kind]
    return np.array(draw(st.lists(element, min_size=n, max_size=n)), dtype=np.float64)


@st.composite
def blocks(draw, values: np.ndarray) -> list[np.ndarray]:
    """``values`` cut into consecutive blocks: at random, all of length 1, or whole."""
    n = len(values)
    kind = draw(st.sampled_from(["random", "random", "ones", "whole"]))
    if kind == "ones" or n == 1:
        cuts = list(range(1, n))
    elif kind == "whole":
        cuts = []
    else:
        cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=min(n - 1, 40))))
    parts = np.split(values, cuts)
    assert sum(len(p) for p in parts) == n
    return parts


@st.composite
def shift_steps(draw, n: int) -> list[int]:
    """Sorted distinct shift steps in [0, n): anywhere, or crowded within a few decisions."""
    if draw(st.booleans()):
        return sorted(draw(st.sets(st.integers(0, n - 1), max_size=6)))
    first = draw(st.integers(0, n - 1))
    return sorted(draw(st.sets(st.integers(first, min(n - 1, first + 60)), max_size=6)))


def feed(accumulator, parts):
    for part in parts:
        accumulator.add(part)
    return accumulator


# --- The continued cumulative sum behind the trailing means and bursts -------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_continued_cumsum_is_numpy_cumsum_bit_for_bit(data):
    values = data.draw(series(-1.0, 1.0), label="values")
    last, seen, pieces = np.zeros(1), 0, []
    for part in data.draw(blocks(values), label="blocks"):
        piece = _continue_cumsum(last, seen, part)
        pieces.append(piece)
        last, seen = (piece if len(piece) else last), seen + len(part)
    whole = np.concatenate(pieces)
    assert whole.tobytes() == np.cumsum(values).tobytes()


def test_continued_cumsum_is_not_a_shifted_block_cumsum():
    values = np.array([0.1, 0.2, 0.3])
    first = _continue_cumsum(np.zeros(1), 0, values[:1])
    assert _continue_cumsum(first, 1, values[1:])[-1] == np.cumsum(values)[-1] == 0.6000000000000001
    assert (np.cumsum(values[1:]) + first[-1])[-1] == 0.6               # the tempting shortcut is off


# --- Windows ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_windows_match_the_array_version(data):
    excess = data.draw(series(-1.0, 1.0), label="excess")
    n = len(excess)
    shifts = data.draw(shift_steps(n), label="shifts")
    length = data.draw(st.none() | st.integers(0, 120), label="length")
    smoothing = data.draw(st.integers(1, 50), label="smoothing")
    tolerance = data.draw(st.sampled_from([0.0, 0.05, 0.3]), label="tolerance")
    bound = data.draw(st.sampled_from([1.0, 2.5]), label="bound")
    parts = data.draw(blocks(excess), label="blocks")

    want = metrics.windows(excess, shifts, n, length, smoothing, tolerance, bound)
    acc = Windows(shifts, n, length, smoothing, tolerance, bound)
    peak = 0
    for part in parts:
        acc.add(part)
        peak = max(peak, acc.held())
    got = acc.result()
    assert peak <= 2 * smoothing * max(1, len(shifts))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert list(g) == list(w)
        for key in ("shift", "start", "end", "recovery", "raised"):
            assert g[key] == w[key], key
            assert type(g[key]) is type(w[key]), key
        assert same_bits(g["baseline"], w["baseline"])
        assert close(g["cost"], w["cost"], excess[g["start"]:max(g["start"], g["end"])])


def step_series(*parts):
    return np.concatenate([np.full(n, v, dtype=float) for n, v in parts])


def test_windows_hand_computed():
    # Trailing means over 4: above 0.25 while the window holds 2 of the ones at 10..14, last at
    # t = 16: recovery 7. The second shift's ones last to the end: no recovery.
    excess = step_series((10, 0.0), (5, 1.0), (15, 0.0), (10, 1.0))
    acc = feed(Windows([10, 30], 40, None, smoothing=4, tolerance=0.25, bound=1.0), np.array_split(excess, 9))
    assert acc.result() == [
        {"shift": 0, "start": 10, "end": 30, "cost": 5.0, "recovery": 7, "baseline": 0.0,
         "raised": False},
        {"shift": 1, "start": 30, "end": 40, "cost": 10.0, "recovery": None, "baseline": 0.0,
         "raised": False},
    ]
    # A shift 3 decisions after another: its baseline (excess[9:13]) is a transition's, 0.75.
    acc = feed(Windows([10, 13], 40, None, smoothing=4, tolerance=0.25, bound=1.0),
               np.split(excess, range(1, 40)))
    assert acc.result() == [
        {"shift": 0, "start": 10, "end": 13, "cost": 3.0, "recovery": None, "baseline": 0.0,
         "raised": False},
        {"shift": 1, "start": 13, "end": 40, "cost": 12.0, "recovery": 0, "baseline": 0.75,
         "raised": True},
    ]
    assert acc.result() == metrics.windows(excess, [10, 13], 40, None, 4, 0.25, 1.0)
    # The module's example, with a window length.
    excess = step_series((100, 0.0), (20, 1.0), (80, 0.0))
    acc = feed(Windows([100], 200, 50, smoothing=10, tolerance=0.05, bound=1.0), np.array_split(excess, 13))
    assert acc.result() == [{"shift": 0, "start": 100, "end": 150, "cost": 20.0, "recovery": 29,
                             "baseline": 0.0, "raised": False}]


def test_windows_refuse_misuse():
    with pytest.raises(ValueError, match=r"^shifts must be in order, not \[30, 10\]$"):
        Windows([30, 10], 40, None, 4, 0.05, 1.0)
    with pytest.raises(ValueError, match=r"^shifts must be in \[0, 40\], not \[10, 41\]$"):
        Windows([10, 41], 40, None, 4, 0.05, 1.0)
    with pytest.raises(ValueError, match="^smoothing must be at least 1, not 0$"):
        Windows([10], 40, None, 0, 0.05, 1.0)
    acc = Windows([10], 40, None, 4, 0.05, 1.0)
    acc.add(np.zeros(39))
    with pytest.raises(ValueError, match="^39 of 40 values given so far$"):
        acc.result()                          # one value short
    with pytest.raises(ValueError, match="^41 values given for a horizon of 40$"):
        acc.add(np.zeros(2))                  # one too many
    acc.add(np.zeros(1))
    assert acc.result()[0]["recovery"] == 0
    assert feed(Windows([], 3, None, 4, 0.05, 1.0), [np.zeros(3)]).result() == []


def test_windows_memory_does_not_grow_with_the_horizon():
    horizon, smoothing, size = 1_000_000, 50, 4096
    shifts = [1_000, 250_000, 250_010, 250_030, 600_000, 999_990]
    rng = np.random.default_rng(3)
    excess = rng.normal(0.0, 0.2, horizon)
    for s in shifts:                           # a transition after each shift, then back
        excess[s:s + 2_000] += np.linspace(1.0, 0.0, len(excess[s:s + 2_000]))
    acc = Windows(shifts, horizon, None, smoothing, 0.05, 1.0)
    burst, top = Burst(k=300, skip=300), TopShare(horizon)
    peak = 0
    for lo in range(0, horizon, size):
        block = excess[lo:lo + size]
        acc.add(block)
        burst.add(np.clip(block, 0.0, None))
        top.add(np.clip(block, 0.0, None))
        peak = max(peak, acc.held())
        assert burst.held() <= 300 and top.held() <= top.keep
    assert 0 < peak <= 2 * smoothing * len(shifts)
    got = acc.result()
    want = metrics.windows(excess, shifts, horizon, None, smoothing, 0.05, 1.0)
    assert [(g["start"], g["end"], g["recovery"], g["raised"]) for g in got] == \
        [(w["start"], w["end"], w["recovery"], w["raised"]) for w in want]
    assert all(same_bits(g["baseline"], w["baseline"]) for g, w in zip(got, want, strict=True))
    assert got[0]["recovery"] is not None and got[0]["recovery"] > 1_000   # the windows span many blocks
    harm = np.clip(excess, 0.0, None)
    assert burst.result() == audit.largest_burst(harm, 300, 300)
    assert top.result() == pytest.approx(audit.harmful_top_share(harm), rel=1e-12)


# --- TopShare --------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_top_share_matches_the_array_version(data):
    harm = data.draw(series(0.0, 1.0), label="harm")
    fraction = data.draw(st.sampled_from([audit.TOP, 0.1, 0.37, 1.0]), label="fraction")
    parts = data.draw(blocks(harm), label="blocks")
    acc = TopShare(len(harm), fraction)
    for part in parts:
        acc.add(part)
        assert acc.held() <= acc.keep
    want = audit.harmful_top_share(harm, fraction)
    assert acc.result() == pytest.approx(want, rel=1e-12, abs=0.0)
    assert acc.harmful == int((harm > 0).sum())


def test_top_share_hand_computed():
    assert feed(TopShare(1000), np.array_split(np.r_[np.zeros(990), np.ones(10)], 7)).result() == 0.01
    assert feed(TopShare(100), np.array_split(np.r_[np.ones(99), 901.0], 9)).result() == pytest.approx(0.901)
    # The worst decision comes last, after the kept harms have filled up: 10 of 1000 harmful
    # decisions are the worst 1%, the catastrophe and nine ones.
    harm = np.r_[np.ones(999), 1000.0]
    acc = feed(TopShare(1000), np.array_split(harm, 40))
    assert acc.held() == acc.keep == 11
    assert acc.result() == pytest.approx(1009 / 1999, rel=1e-12)
    assert feed(TopShare(5), [np.zeros(5)]).result() == 0.0


# --- Burst -----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_burst_matches_the_array_version(data):
    harm = data.draw(series(0.0, 1.0), label="harm")
    k = data.draw(st.integers(1, 60), label="k")
    skip = data.draw(st.integers(0, 60), label="skip")
    parts = data.draw(blocks(harm), label="blocks")
    acc = Burst(k, skip)
    for part in parts:
        acc.add(part)
        assert acc.held() <= k
    got, want = acc.result(), audit.largest_burst(harm, k, skip)
    assert got[1] == want[1]
    assert same_bits(got[0], want[0])
    assert type(got[0]) is float and type(got[1]) is int


def test_burst_hand_computed():
    harm = np.r_[np.zeros(10), np.ones(3), np.zeros(10)]
    # Starts 9 and 10 tie: the first.
    assert feed(Burst(4), np.split(harm, range(1, len(harm)))).result() == (3.0, 9)
    # Ties across blocks: the first maximal start wins.
    assert feed(Burst(1), [np.r_[0.0, 0.0, 2.0], np.r_[0.0, 0.0], np.r_[2.0, 0.0]]).result() == (2.0, 2)
    assert feed(Burst(1), [np.r_[0.0, 0.0, 2.0], np.r_[3.0], np.r_[2.0, 0.0]]).result() == (3.0, 3)
    assert feed(Burst(2, skip=2), [np.r_[5.0, 5.0, 1.0], np.r_[0.0, 2.0]]).result() == (2.0, 3)
    # Nothing after skip; fewer than k values after skip (one burst of all of them).
    assert feed(Burst(3, skip=5), [np.ones(2), np.ones(3)]).result() == (0.0, 5)
    assert feed(Burst(10, skip=1), [np.r_[9.0], np.r_[1.0], np.r_[2.0, 3.0]]).result() == (6.0, 1)
    assert Burst(3).result() == (0.0, 0)


# --- HarmTotals ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_harm_totals_match_the_array_version(data):
    harm = data.draw(series(0.0, 1.0), label="harm")
    catastrophe = data.draw(st.sampled_from([None, 0.0, 0.5, 0.75]), label="catastrophe")
    acc = feed(HarmTotals(catastrophe), data.draw(blocks(harm), label="blocks"))
    got = acc.result()
    assert got["n"] == len(harm)
    assert close(got["total_harm"], float(harm.sum()), harm)
    assert got["max_harm"] == float(harm.max(initial=0.0))
    assert got["harmful_decisions"] == int((harm > 0).sum())
    if catastrophe is None:
        assert "catastrophes" not in got
    else:
        assert got["catastrophes"] == int((harm > catastrophe).sum())


def test_harm_totals_hand_computed():
    acc = feed(HarmTotals(catastrophe=1.0), [np.r_[0.0, 0.5], np.r_[2.0], np.r_[0.0, 1.0]])
    assert acc.result() == {"n": 5, "total_harm": 3.5, "max_harm": 2.0, "harmful_decisions": 3,
                            "catastrophes": 1}
    assert HarmTotals().result() == {"n": 0, "total_harm": 0.0, "max_harm": 0.0, "harmful_decisions": 0}
    # Compensated: a million tenths sum to 100000 to within an ulp or two.
    acc = feed(HarmTotals(), [np.full(1000, 0.1)] * 1000)
    assert acc.total == pytest.approx(100_000.0, rel=1e-15)


def test_top_share_refuses_more_values_than_the_horizon():
    top = TopShare(5)
    top.add(np.array([0.5, 0.0, 1.0]))
    top.add(np.array([0.25, 0.0]))  # exactly the horizon: fine
    assert top.result() == pytest.approx(0.01 * 3 * 1.0 / 1.75)
    with pytest.raises(ValueError, match="^6 values given for a horizon of 5$"):
        top.add(np.array([0.5]))


def test_trailing_means_near_the_start_of_the_run_are_shorter():
    # A shift at decision 2 with smoothing 10: the trailing mean at decision 2 covers three
    # values (1/3, under the tolerance 0.4), not the last two of them (1/2, over it).
    excess = np.r_[0.0, 0.0, 1.0, np.zeros(17)]
    expected = metrics.windows(excess, [2], 20, None, 10, 0.4, 1.0)
    accumulator = Windows([2], 20, None, 10, 0.4, 1.0)
    for block in (excess[:1], excess[1:]):
        accumulator.add(block)
    assert accumulator.result() == expected and expected[0]["recovery"] == 0


@pytest.mark.parametrize("shifts", [[5, 5], [0, 0], [12, 20], [20]])
def test_windows_at_equal_shifts_and_at_the_horizon(shifts):
    """Two shifts at one decision and a shift at the very end are allowed, as the array
    version allows them."""
    excess = np.r_[np.zeros(5), np.ones(7), np.full(8, 0.5)]
    expected = metrics.windows(excess, shifts, 20, None, 1, 0.05, 1.0)
    assert feed(Windows(shifts, 20, None, 1, 0.05, 1.0), [excess[:6], excess[6:]]).result() == expected


def test_sums_over_blocks_are_compensated_and_in_double_precision():
    # Block sums 1e16, 1, 1, -1e16: a plain float total loses both 1s; the compensated one
    # keeps them, whichever of the two is the larger in magnitude at each step.
    totals = HarmTotals()
    for block in ([1e16], [1.0], [1.0], [-1e16], [3.0]):
        totals.add(np.array(block))
    assert totals.total == 5.0
    small_first = HarmTotals()
    for block in ([1.0], [1e16], [1.0], [-1e16]):
        small_first.add(np.array(block))
    assert small_first.total == 2.0
    # Single-precision blocks are read as double: 3e7 + 1 is not 3e7.
    single = HarmTotals()
    single.add(np.array([3e7, 1.0], np.float32))
    assert single.total == 30_000_001.0
    assert _continue_cumsum(np.zeros(1), 0, np.array([3e7, 1.0], np.float32)).tolist() == [3e7, 30_000_001.0]
    assert _continue_cumsum(np.array([3e7]), 1, np.array([1.0], np.float32)).tolist() == [30_000_001.0]


def test_burst_edges_and_messages():
    with pytest.raises(ValueError, match="^k must be at least 1, not 0$"):
        Burst(0)
    with pytest.raises(ValueError, match="^skip must be at least 0, not -1$"):
        Burst(2, skip=-1)
    with pytest.raises(ValueError, match="^a block must be one-dimensional, not of shape"):
        HarmTotals().add(np.zeros((2, 2)))
    # Fewer decisions after the skip than k: the burst is all of them, from the skip.
    short = feed(Burst(10, skip=1), [np.array([5.0, 1.0]), np.array([2.0])])
    assert short.result() == (3.0, 1) == audit.largest_burst(np.array([5.0, 1.0, 2.0]), 10, skip=1)
    one = feed(Burst(3, skip=0), [np.array([0.5])])
    assert one.result() == (0.5, 0)
    assert feed(Burst(3, skip=4), [np.array([1.0, 2.0])]).result() == (0.0, 4)


def test_an_empty_block_changes_nothing():
    totals = HarmTotals(catastrophe=0.5)
    totals.add(np.zeros(0))
    assert (totals.n, totals.total, totals.max, totals.harmful, totals.catastrophes) == (0, 0.0, 0.0, 0, 0)
