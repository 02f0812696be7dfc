"""Engine speed against River, measured in one run on the same data and model.

All loops consume the same materialised SEA stream (generation is not timed for anyone)
and a fresh ``StandardScaler | LogisticRegression``:

1. a bare River loop: ``predict_one`` then ``learn_one``;
2. River's ``evaluate.progressive_val_score``, without and with a delay;
3. the lowstakes engine with one aligned arm, without and with exponential delays.

Repetitions are interleaved so that machine noise hits every loop alike; the best of
them is kept. Targets (issue 2): zero-delay engine >= 0.8x the bare loop; delayed engine
>= 1.0x River's delayed ``progressive_val_score``.

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="decisions per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--delay", type=int, default=20, help="River delay / mean exponential delay")
    args = parser.parse_args()

    data = list(itertools.islice(synth.SEA(variant=0, noise=0.1, seed=1), args.n))
    Replay.data = data
    SOURCES.add("replay-bench", Replay)
    loops = {
        "bare River loop": (bare_loop, 0),
        "River progressive_val_score": (river_evaluator, 0),
        f"River progressive_val_score, delay={args.delay}": (river_evaluator, args.delay),
        "lowstakes engine, no delay": (lowstakes_engine, 0),
        f"lowstakes engine, exponential delay (mean {args.delay})": (lowstakes_engine, args.delay),
    }
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(args.repeat):
        for name, (loop, delay) in loops.items():
            started = time.perf_counter()
            loop(data, delay)
            best[name] = min(best[name], time.perf_counter() - started)

    rate = {name: args.n / seconds for name, seconds in best.items()}
    names = list(loops)
    print(f"{args.n:,} decisions, SEA, StandardScaler | LogisticRegression, best of {args.repeat}\n")
    print("| loop | decisions/s | vs bare loop |")
    print("|---|---:|---:|")
    for name in names:
        print(f"| {name} | {rate[name]:,.0f} | {rate[name] / rate[names[0]]:.2f}x |")
    zero = rate[names[3]] / rate[names[0]]
    delayed = rate[names[4]] / rate[names[2]]
    print()
    print(f"engine (no delay) / bare loop: {zero:.2f}x  target >= 0.8: "
          f"{'met' if zero >= 0.8 else 'MISSED'}")
    print(f"engine (delayed) / progressive_val_score (delayed): {delayed:.2f}x  target >= 1.0: "
          f"{'met' if delayed >= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
