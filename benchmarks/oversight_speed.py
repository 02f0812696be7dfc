"""The cost of oversight: the engine with an overseer against the zero-delay engine.

1. On one materialised SEA stream with StandardScaler | LogisticRegression (as in
   speed.py): the engine with no delay, with exponential delays, and with an overseer of
   capacity 1 (exponential service, mean 0.5: it keeps up) that every label goes through;
   the overseer run also with patience (which it never runs out of: the same labels, but
   on lowstakes.events.Calendar instead of the closed-form FifoDesk) and with ``fast=False``
   (every event through SimPy's own objects, the simulation of record) to show what each
   saves. Repetitions are interleaved.
   Target (issue 16): the engine with the overseer >= 0.75x the engine without.
2. SimPy alone, for N labelling requests at capacity 1: the design the SimPy path uses
   (a resource request whose callbacks start the service and deliver the label) against
   a SimPy process per request (``with resource.request(): yield ...``).

    python benchmarks/oversight_speed.py [--n 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import simpy
from common import Replay, best_of, interleaved
from river.datasets import synth

import lowstakes
from lowstakes.oversight import Overseer
from lowstakes.simulation import simulate
from lowstakes.streams import SOURCES


def engine(n, timing, fast=True):
    scenario = lowstakes.Scenario.from_dict({
        "name": "bench", "horizon": n, "comparator": "hindsight", "timing": timing,
        "stream": {"source": "replay-oversight"},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                                "preprocess": ["preprocessing.StandardScaler"]}}})
    simulate(scenario, 0, fast=fast)


def callbacks(n, services):
    env = simpy.Environment()
    done = []

    def answer(t, wait):
        done.append(t)

    overseer = Overseer(env, capacity=1, patience=None, answer=answer)

    def arrivals():
        for t in range(n):
            overseer.ask(t, services[t])
            yield env.timeout(1.0)

    env.process(arrivals())
    env.run()


def processes(n, services):
    env = simpy.Environment()
    resource = simpy.Resource(env, capacity=1)
    done = []

    def label(t):
        with resource.request() as request:
            yield request
            yield env.timeout(services[t])
        done.append(t)

    def arrivals():
        for t in range(n):
            env.process(label(t))
            yield env.timeout(1.0)

    env.process(arrivals())
    env.run()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    Replay.data = list(itertools.islice(synth.SEA(variant=0, noise=0.1, seed=1), args.n))
    SOURCES.add("replay-oversight", Replay)
    overseer = {"overseer": {"capacity": 1, "service": {"exponential": 0.5}}}
    patient = {"overseer": {"capacity": 1, "service": {"exponential": 0.5}, "patience": 50}}
    runs = {
        "engine, no delay": (engine, args.n, {}),
        "engine, exponential delay (mean 20)": (engine, args.n, {"feedback_delay": {"exponential": 20}}),
        "engine, overseer capacity 1 (service mean 0.5)": (engine, args.n, overseer),
        # Patience takes the route off the closed form onto the calendar; nobody waits 50.
        "engine, the same overseer with patience 50, on the calendar": (engine, args.n, patient),
        "engine, overseer capacity 1, every event through SimPy": (engine, args.n, overseer, False),
    }
    rates = {name: args.n / seconds for name, seconds in interleaved(args.repeat, runs).items()}
    base = rates["engine, no delay"]
    print(f"{args.n:,} decisions, best of {args.repeat} interleaved\n")
    print("| run | decisions/s | vs no delay |")
    print("|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x |")
    ratio = rates["engine, overseer capacity 1 (service mean 0.5)"] / base
    print(f"\nengine with the overseer / engine without: {ratio:.2f}x  target >= 0.75: "
          f"{'met' if ratio >= 0.75 else 'MISSED'}")
    services = np.random.default_rng(0).exponential(0.5, args.n).tolist()
    cb = args.n / best_of(args.repeat, callbacks, args.n, services)
    pr = args.n / best_of(args.repeat, processes, args.n, services)
    print(f"\nSimPy alone, {args.n:,} requests at capacity 1: callbacks {cb:,.0f}/s, "
          f"a process per request {pr:,.0f}/s ({cb / pr:.2f}x)")


if __name__ == "__main__":
    main()
