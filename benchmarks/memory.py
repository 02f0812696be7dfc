"""Peak memory of a long run: 1,000,000 decisions, two arms, the whole path.

Runs SEA with one StandardScaler | LogisticRegression learner under two objectives
(truth and stale), one shift halfway and exponential feedback delays, through
``lowstakes.run``: simulation, trace.parquet, summary and figures. Target (issue 2):
peak resident memory under 1 GiB.

    python benchmarks/memory.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import lowstakes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="decisions")
    args = parser.parse_args()
    scenario = lowstakes.Scenario.from_dict({
        "name": "memory", "horizon": args.n, "seeds": 1,
        "stream": {"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
                   "shifts": [{"at": args.n // 2, "params": {"variant": 3}}]},
        "timing": {"feedback_delay": {"exponential": 20}},
        "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression",
                                "preprocess": ["preprocessing.StandardScaler"]}},
    })
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = lowstakes.run(scenario, out=f"{tmp}/run")
        rows = len(result.trace)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"{args.n:,} decisions x 2 arms ({rows:,} trace rows) in {elapsed:.0f} s")
    print(f"peak resident memory: {peak:,.0f} MiB  target < 1024 MiB: "
          f"{'met' if peak < 1024 else 'MISSED'}")


if __name__ == "__main__":
    main()
