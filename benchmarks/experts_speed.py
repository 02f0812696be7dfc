"""Hedge and Fixed Share over N fixed experts: decisions per second, against plain numpy.

For N = 10, 100, 1000 this times, on one random loss matrix of fixed-rule experts:

1. a plain numpy reference loop: exponential weights written inline (weights, mixture
   loss, update), the least a Python-level loop over decisions can cost;
2. lowstakes' ``Hedge`` and ``FixedShare`` (log space, renormalised every step) driven by
   ``experts.play``;
3. ``Hedge`` fed as the engine feeds it: SEA drawn on the fly through River's generator,
   the mixture's action from the N constant rules, the update with the losses of the
   label that came (the same work as the engine's, without its records);
4. the whole engine with a Hedge arm over N constant-rule experts (SEA stream, no delay),
   which adds the stream, the mixture action and the comparators' bookkeeping.

Repetitions are interleaved. Targets: issue 3, >= 100,000 decisions/s at N = 100 for
fixed-rule experts (the algorithm); issue 16, the engine's Hedge arm at N = 100 >= 0.6x
"the algorithm alone" (printed against both 2 and 3). Neither algorithm loops over
experts in Python.

    python benchmarks/experts_speed.py [--t 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from common import interleaved
from river.datasets import synth

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


def drawn_hedge(n, horizon):
    """Hedge over the engine's N constant rules (expert i predicts i mod 2), fed by SEA
    drawn on the fly: per decision a context, the mixture's action, the update."""
    algorithm = Hedge(n, horizon=horizon)
    predictions = (np.arange(n) % 2).astype(float)
    losses = [(predictions != 0).astype(float), (predictions != 1).astype(float)]
    for t, (_, y) in enumerate(synth.SEA(variant=0, seed=1).take(horizon)):
        p = float(algorithm.weights(t) @ predictions)
        _action = p > 0.5
        algorithm.update(losses[int(y)], t)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--t", type=int, default=20_000, help="decisions per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{args.t:,} decisions, best of {args.repeat} interleaved; decisions/s (ratio to the numpy "
          "reference)\n")
    print("| N | numpy reference | Hedge | Fixed Share | Hedge fed by SEA drawn on the fly "
          "| engine, Hedge arm |")
    print("|---:|---:|---:|---:|---:|---:|")
    at_100 = {}
    for n in (10, 100, 1000):
        losses = rng.random((args.t, n))
        eta = math.sqrt(8 * math.log(n) / args.t)
        seconds = interleaved(args.repeat, {
            "reference": (reference, losses, eta),
            "hedge": (run_algorithm, Hedge, n, args.t, losses, {}),
            "fixed_share": (run_algorithm, FixedShare, n, args.t, losses, {"switches": 3}),
            "drawn": (drawn_hedge, n, args.t),
            "engine": (engine, n, args.t),
        })
        rates = {name: args.t / value for name, value in seconds.items()}
        ref = rates["reference"]
        print(f"| {n} | {ref:,.0f} | " + " | ".join(
            f"{rates[k]:,.0f} ({rates[k] / ref:.2f}x)" for k in ("hedge", "fixed_share", "drawn", "engine"))
              + " |")
        if n == 100:
            at_100 = rates
    print()
    for name in ("hedge", "fixed_share"):
        rate = at_100[name]
        print(f"{name} at N = 100: {rate:,.0f} decisions/s; target >= 100,000: "
              f"{'met' if rate >= 100_000 else 'MISSED'}")
    for name, label in (("hedge", "Hedge on a loss matrix"), ("drawn", "Hedge fed by SEA drawn on the fly")):
        ratio = at_100["engine"] / at_100[name]
        print(f"engine's Hedge arm / {label}, N = 100: {ratio:.2f}x; target >= 0.6: "
              f"{'met' if ratio >= 0.6 else 'MISSED'}")

if __name__ == "__main__":
    main()
