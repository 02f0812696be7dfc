"""Engine speed against River, measured in one run on the same data and model.

Every loop runs a fresh ``StandardScaler | LogisticRegression`` over SEA:

1. a bare River loop: ``predict_one`` then ``learn_one``;
2. River's ``evaluate.progressive_val_score``, with a delay;
3. the lowstakes engine with one aligned arm, without and with exponential delays.

Issue 16 defines the comparison with every loop drawing its own SEA stream on the fly
(the engine through River's generator too); the materialised comparison of issue 2 is
kept beside it. The engine also runs with ``fast=False`` (every decision through SimPy),
to show what the fast path saves. Repetitions are interleaved so that machine noise hits
every loop alike; the best of them is kept. Targets (issue 16): zero-delay engine >= 0.85x
the bare loop; delayed engine >= 1.1x River's delayed ``progressive_val_score``.

    python benchmarks/speed.py [--n 50000] [--repeat 3] [--delay 20]
"""

from __future__ import annotations

import argparse
import itertools
import time

from common import Replay
from river import evaluate, linear_model, metrics, preprocessing
from river.datasets import synth

import lowstakes
from lowstakes.simulation import simulate
from lowstakes.streams import SOURCES


def make_model():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def engine_scenario(n, delay):
    timing = {"feedback_delay": {"exponential": delay}} if delay else {}
    return lowstakes.Scenario.from_dict({
        "name": "bench", "horizon": n, "comparator": "hindsight",
        "stream": {"source": "replay-bench"}, "timing": timing,
        "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                                "preprocess": ["preprocessing.StandardScaler"]}},
    })


def bare_loop(data, delay):
    model = make_model()
    for x, y in data:
        model.predict_one(x)
        model.learn_one(x, y)


def river_evaluator(data, delay):
    evaluate.progressive_val_score(data, make_model(), metrics.Accuracy(), delay=delay or None)


def lowstakes_engine(data, delay):
    simulate(engine_scenario(len(data), delay), 0)


def drawn_bare_loop(n, delay):
    """A hand-written River loop over SEA drawn on the fly: draw, predict, learn."""
    model = make_model()
    for x, y in synth.SEA(variant=0, noise=0.1, seed=1).take(n):
        model.predict_one(x)
        model.learn_one(x, y)


def drawn_river_evaluator(n, delay):
    """River's progressive_val_score over SEA drawn on the fly."""
    evaluate.progressive_val_score(synth.SEA(variant=0, noise=0.1, seed=1).take(n), make_model(),
                                   metrics.Accuracy(), delay=delay or None)


def drawn_engine(n, delay, fast=True):
    """The engine drawing its own SEA stream (through River's generator, as the loops do)."""
    timing = {"feedback_delay": {"exponential": delay}} if delay else {}
    scenario = lowstakes.Scenario.from_dict({
        "name": "bench", "horizon": n, "comparator": "hindsight", "timing": timing,
        "stream": {"source": "sea", "params": {"variant": 0}, "label_noise": 0.1},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                                "preprocess": ["preprocessing.StandardScaler"]}},
    })
    simulate(scenario, 0, fast=fast)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="decisions per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--delay", type=int, default=20, help="River delay / mean exponential delay")
    args = parser.parse_args()

    data = list(itertools.islice(synth.SEA(variant=0, noise=0.1, seed=1), args.n))
    Replay.data = data
    SOURCES.add("replay-bench", Replay)
    d = args.delay
    loops = {
        # Issue 16's definitions: every loop draws its own SEA stream as it goes.
        "bare River loop, SEA drawn on the fly": (drawn_bare_loop, 0, args.n),
        f"River progressive_val_score, delay={d}, SEA drawn on the fly": (drawn_river_evaluator, d, args.n),
        "lowstakes engine, no delay": (drawn_engine, 0, args.n),
        f"lowstakes engine, exponential delay (mean {d})": (drawn_engine, d, args.n),
        "lowstakes engine, no delay, every decision through SimPy":
            (lambda n, delay: drawn_engine(n, delay, fast=False), 0, args.n),
        f"lowstakes engine, delay (mean {d}), every decision through SimPy":
            (lambda n, delay: drawn_engine(n, delay, fast=False), d, args.n),
        # The earlier definitions: one materialised stream, generation timed for no one.
        "bare River loop, materialised stream": (bare_loop, 0, data),
        f"River progressive_val_score, delay={d}, materialised": (river_evaluator, d, data),
        "lowstakes engine, no delay, materialised": (lowstakes_engine, 0, data),
        f"lowstakes engine, delay (mean {d}), materialised": (lowstakes_engine, d, data),
    }
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(args.repeat):
        for name, (loop, delay, what) in loops.items():
            started = time.perf_counter()
            loop(what, delay)
            best[name] = min(best[name], time.perf_counter() - started)

    rate = {name: args.n / seconds for name, seconds in best.items()}
    names = list(loops)
    print(f"{args.n:,} decisions, SEA, StandardScaler | LogisticRegression (recorded for its bound), "
          f"best of {args.repeat} interleaved\n")
    print("| loop | decisions/s | vs bare loop (same stream kind) |")
    print("|---|---:|---:|")
    for name in names:
        base = names[6] if "materialised" in name else names[0]
        print(f"| {name} | {rate[name]:,.0f} | {rate[name] / rate[base]:.2f}x |")
    zero = rate[names[2]] / rate[names[0]]
    delayed = rate[names[3]] / rate[names[1]]
    print()
    print(f"engine (no delay) / bare loop, drawn on the fly: {zero:.2f}x  target >= 0.85: "
          f"{'met' if zero >= 0.85 else 'MISSED'}")
    print(f"engine (delayed) / progressive_val_score (delayed), drawn on the fly: {delayed:.2f}x  "
          f"target >= 1.1: {'met' if delayed >= 1.1 else 'MISSED'}")


if __name__ == "__main__":
    main()
