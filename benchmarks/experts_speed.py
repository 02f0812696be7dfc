"""Hedge and Fixed Share over N fixed experts: decisions per second, against plain numpy.

For N = 10, 100, 1000 this times, on one random loss matrix of fixed-rule experts:

1. a plain numpy reference loop: exponential weights written inline (weights, mixture
   loss, update), the least a Python-level loop over decisions can cost;
2. lowstakes' ``Hedge`` and ``FixedShare`` (log space, renormalised every step) driven by
   ``experts.play``;
3. the whole engine with a Hedge arm over N constant-rule experts (SEA stream, no delay),
   which adds the stream, SimPy, the mixture action and the comparators' bookkeeping.

Target (issue 3): >= 100,000 decisions/s at N = 100 for fixed-rule experts (the
algorithm). Neither algorithm loops over experts in Python.

    python benchmarks/experts_speed.py [--t 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from common import best_of

import lowstakes
from lowstakes.experts import FixedShare, Hedge, play
from lowstakes.simulation import simulate


def reference(losses, eta):
    n = losses.shape[1]
    log_w = np.full(n, -math.log(n))
    total = 0.0
    for row in losses:
        w = np.exp(log_w - log_w.max())
        w /= w.sum()
        total += w @ row
        log_w -= eta * row
    return total


def engine(n, horizon):
    experts = {f"e{i}": {"rule": "constant", "params": {"label": i % 2}} for i in range(n)}
    scenario = lowstakes.Scenario.from_dict({
        "name": "bench", "horizon": horizon, "stream": {"source": "sea"},
        "learners": {"hedge": {"algorithm": "hedge", "experts": experts}}})
    simulate(scenario, 0)


def run_algorithm(cls, n, horizon, losses, params):
    play(cls(n, horizon=horizon, **params), losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--t", type=int, default=20_000, help="decisions per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{args.t:,} decisions, best of {args.repeat}; decisions/s (ratio to the numpy reference)\n")
    print("| N | numpy reference | Hedge | Fixed Share | engine, Hedge arm |")
    print("|---:|---:|---:|---:|---:|")
    at_100 = {}
    for n in (10, 100, 1000):
        losses = rng.random((args.t, n))
        eta = math.sqrt(8 * math.log(n) / args.t)
        rates = {
            "reference": args.t / best_of(args.repeat, reference, losses, eta),
            "hedge": args.t / best_of(args.repeat, run_algorithm, Hedge, n, args.t, losses, {}),
            "fixed_share": args.t / best_of(args.repeat, run_algorithm, FixedShare, n, args.t, losses,
                                            {"switches": 3}),
            "engine": args.t / best_of(args.repeat, engine, n, args.t),
        }
        ref = rates["reference"]
        print(f"| {n} | {ref:,.0f} | " + " | ".join(
            f"{rates[k]:,.0f} ({rates[k] / ref:.2f}x)" for k in ("hedge", "fixed_share", "engine")) + " |")
        if n == 100:
            at_100 = rates
    print()
    for name in ("hedge", "fixed_share"):
        rate = at_100[name]
        print(f"{name} at N = 100: {rate:,.0f} decisions/s; target >= 100,000: "
              f"{'met' if rate >= 100_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
