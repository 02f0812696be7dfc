"""The cost of holding a logistic-regression arm against its OGD bound, measured in one run.

The same engine run (one aligned ``StandardScaler | LogisticRegression`` arm on SEA with
10% label noise and one shift, exponential delays; the stream is drawn in both runs) with
the arm's learning events recorded for the bound, and without (the recorder switched off,
as for any model the bound does not cover). Two measurements: the simulation alone, and
the simulation plus the per-seed metrics (for the recorded arm: the comparator u* per
window and for the whole run, the bound's terms and the replay check). Repetitions are
interleaved; the best of each is kept. Target (issue 13): recorded >= 0.8x of not recorded.

    python benchmarks/linear_bound_speed.py [--n 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import lowstakes
from lowstakes import learners
from lowstakes.results import seed_metrics
from lowstakes.simulation import simulate


def scenario(n):
    return lowstakes.Scenario.from_dict({
        "name": "bench", "horizon": n,
        "stream": {"source": "sea", "label_noise": 0.1,
                   "shifts": [{"at": n // 2, "params": {"variant": 3}}]},
        "timing": {"feedback_delay": {"exponential": 20}},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                                "preprocess": ["preprocessing.StandardScaler"]}},
        "windows": {"length": n // 5},
    })


def run(spec, recorded: bool, metrics: bool):
    support = learners.support
    if not recorded:
        learners.support = lambda model: "switched off for the benchmark"
    try:
        seed_run = simulate(spec, 0)
    finally:
        learners.support = support
    assert bool(seed_run.linear) == recorded
    if metrics:
        seed_metrics(seed_run, spec)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="decisions per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spec = scenario(args.n)
    cases = {(recorded, metrics): float("inf") for metrics in (False, True) for recorded in (False, True)}
    for _ in range(args.repeat):
        for recorded, metrics in cases:
            started = time.perf_counter()
            run(spec, recorded, metrics)
            cases[recorded, metrics] = min(cases[recorded, metrics], time.perf_counter() - started)
    print(f"{args.n:,} decisions, one StandardScaler | LogisticRegression arm, exponential delay 20, "
          f"best of {args.repeat}\n")
    print("| measured | not recorded (decisions/s) | recorded, with the bound (decisions/s) | ratio |")
    print("|---|---:|---:|---:|")
    for metrics, label in ((False, "simulation"), (True, "simulation + per-seed metrics")):
        plain, recorded = args.n / cases[False, metrics], args.n / cases[True, metrics]
        ratio = recorded / plain
        print(f"| {label} | {plain:,.0f} | {recorded:,.0f} | {ratio:.2f}x "
              f"({'met' if ratio >= 0.8 else 'MISSED'}: >= 0.8x) |")


if __name__ == "__main__":
    main()
