"""Peak memory of `lowstakes run` against the horizon: does memory stay flat?

The scenario is the flagship's shape: SEA with one abrupt shift halfway, exponential
feedback delays (mean 20), two learners (StandardScaler | LogisticRegression, and a
Hoeffding adaptive tree) under two objectives (truth and a stale proxy): four arms, one
seed. Each horizon runs the whole command (`lowstakes run`: simulation, metrics, trace,
summary and figures) in its own process, and its peak resident set size is read from the
operating system when it exits (``ru_maxrss`` of the waited child).

Targets (issue 16): at 2 x 10^6 decisions, peak <= 1.25 x the peak at 2 x 10^5, and under
600 MiB; a 10^7-decision run completes under 600 MiB.

    python benchmarks/memory.py                        # 2e5, 1e6, 2e6 decisions
    python benchmarks/memory.py --horizons 200000 10000000 --learners linear
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SCENARIO = {
    "name": "memory",
    "seeds": 1,
    "seed": 2024,
    "stream": {"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
               "shifts": [{"at": 0, "params": {"variant": 3}}]},
    "timing": {"feedback_delay": {"exponential": 20}},
    "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
    "learners": {
        "logreg": {"model": "linear_model.LogisticRegression",
                   "preprocess": ["preprocessing.StandardScaler"]},
        "tree": {"model": "tree.HoeffdingAdaptiveTreeClassifier", "params": {"seed": 1}},
    },
    "windows": {"length": 4000, "smoothing": 500, "tolerance": 0.05},
}

#: ``--learners linear``: two linear learners (both recorded for the OGD bound, so every
#: learning event of all four arms goes through the spilled records), several times faster
#: than the tree, for the longest runs.
LINEAR = {
    "logreg": {"model": "linear_model.LogisticRegression", "preprocess": ["preprocessing.StandardScaler"]},
    "perceptron": {"model": "linear_model.Perceptron", "preprocess": ["preprocessing.StandardScaler"]},
}

#: Run in a fresh interpreter: the command, then the child's peak RSS (KiB on Linux).
CHILD = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:]).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_of(horizon: int, trace: str, scratch: Path, learners: str = "tree") -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit status) of `lowstakes run` at ``horizon`` decisions."""
    scenario = {**SCENARIO, "horizon": horizon}
    if learners == "linear":
        scenario["learners"] = LINEAR
    scenario["stream"] = {**SCENARIO["stream"], "shifts": [{"at": horizon // 2, "params": {"variant": 3}}]}
    path = scratch / f"memory-{horizon}.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    command = [sys.executable, "-m", "lowstakes", "run", str(path), "--out", str(scratch / f"run-{horizon}"),
               "--trace", trace]
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *command], capture_output=True, text=True, check=True)
    status, kib = out.stdout.split()[-2:]
    return int(kib) / 1024, time.perf_counter() - started, int(status)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[200_000, 1_000_000, 2_000_000])
    parser.add_argument("--trace", choices=["full", "summary"], default="full")
    parser.add_argument("--learners", choices=["tree", "linear"], default="tree",
                        help="tree: LogisticRegression and a Hoeffding adaptive tree (the flagship's); "
                             "linear: LogisticRegression and Perceptron (faster, for 10^7 decisions)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for horizon in args.horizons:
            peak, seconds, status = peak_of(horizon, args.trace, Path(tmp), args.learners)
            rows.append({"horizon": horizon, "peak_mib": round(peak, 1), "seconds": round(seconds, 1),
                         "exit": status, "learners": args.learners, "trace": args.trace})
            print(f"{horizon:>12,} decisions x 4 arms ({args.learners}), trace {args.trace}: "
                  f"peak {peak:7.1f} MiB, "
                  f"{seconds:7.1f} s, exit {status}", flush=True)
    first = rows[0]
    for row in rows[1:]:
        ratio = row["peak_mib"] / first["peak_mib"]
        print(f"{row['horizon']:,} vs {first['horizon']:,}: peak ratio {ratio:.2f}x")
    largest = rows[-1]
    print(f"largest run under 600 MiB: {'met' if largest['peak_mib'] < 600 else 'MISSED'} "
          f"({largest['peak_mib']:.0f} MiB at {largest['horizon']:,})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
