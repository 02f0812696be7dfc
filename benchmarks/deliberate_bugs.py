"""The deliberate bugs of issue 19, planted one at a time: each must fail a test.

Each entry replaces one piece of the code with a plausible bug, runs the fast test files,
reports CAUGHT (some test failed) or SURVIVED, and puts the code back (also on Ctrl-C).
Run it after changing the checks, bounds, metrics or the audit; mutmut (README,
"Development") does the same systematically.

    python benchmarks/deliberate_bugs.py
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

BUGS = [
    ("hedge_anytime's bound x10", "lowstakes/bounds.py",
     'return Bound("hedge_anytime", B * value,', 'return Bound("hedge_anytime", 10 * B * value,'),
    ("fixed_share_window's bound x10", "lowstakes/bounds.py",
     'return Bound("fixed_share_window", B * value,', 'return Bound("fixed_share_window", 10 * B * value,'),
    ("the delayed-Hedge penalty x10", "lowstakes/bounds.py",
     "value = math.log(N) / eta + eta * T / 8 + 0.5 * penalty",
     "value = math.log(N) / eta + eta * T / 8 + 5 * penalty"),
    ("a bound for Fixed Share or anytime Hedge under delays", "lowstakes/regret.py",
     "    if delayed:\n        return None\n    if isinstance(algorithm, AnytimeHedge):",
     "    if isinstance(algorithm, AnytimeHedge):"),
    ("recovery measured only to the window's end", "lowstakes/metrics.py",
     '"recovery": recovery(excess, start, following, smoothing, tolerance * bound),',
     '"recovery": recovery(excess, start, end, smoothing, tolerance * bound),'),
    ("a tolerance not multiplied by B", "lowstakes/metrics.py",
     '"recovery": recovery(excess, start, following, smoothing, tolerance * bound),',
     '"recovery": recovery(excess, start, following, smoothing, tolerance),'),
    ("the harm check ignoring negative harms", "lowstakes/seedmetrics.py",
     "bad = np.flatnonzero((harm < 0) | (harm > bound))", "bad = np.flatnonzero(harm > bound)"),
    ("seed_sequence as SeedSequence(master + seed)", "lowstakes/simulation.py",
     "return np.random.SeedSequence(master).spawn(n_seeds)[seed]",
     "return np.random.SeedSequence(master + seed)"),
    ("the shift-end check ignoring width", "lowstakes/checks.py",
     "if shift.at + shift.width > scenario.horizon:", "if shift.at + 1 > scenario.horizon:"),
    ("the label-noise check accepting 0.5", "lowstakes/checks.py",
     "scenario.stream.label_noise >= 0.5:", "scenario.stream.label_noise > 0.5:"),
    ("best_constant allowed with harm.function", "lowstakes/checks.py",
     'if scenario.comparator == "best_constant":', "if False:"),
    ("uncertainty queries allowed on a regression source", "lowstakes/checks.py",
     'if task == "regression" and learner.query and learner.query.get("policy") == "uncertainty":',
     "if False:"),
    ("the audit verdict from any arm", "lowstakes/audit.py",
     '"low_stakes": all(a["low_stakes"] for a in arm_audits),',
     '"low_stakes": any(a["low_stakes"] for a in arm_audits),'),
    ("--horizon not scaling windows.length", "lowstakes/scenario.py",
     'windows["length"], windows["smoothing"] = scale(windows["length"]), scale(windows["smoothing"])',
     'windows["smoothing"] = scale(windows["smoothing"])'),
    ("rate_cap never asking", "lowstakes/oversight.py",
     "        if self._tokens >= 1:\n            self._tokens -= 1\n            return True",
     "        if False:\n            return True"),
    ("a sweep task key ignoring the horizon", "lowstakes/grid.py",
     'data = {**scenario.to_dict(), "seeds": None, "sweep": None}',
     'data = {**scenario.to_dict(), "seeds": None, "sweep": None, "horizon": None}'),
]

TESTS = ["tests/test_exact.py", "tests/test_checks.py", "tests/test_audit.py", "tests/test_metrics.py",
         "tests/test_experts.py", "tests/test_bad_scenarios.py", "tests/test_engine.py",
         "tests/test_oversight.py", "tests/test_pools.py", "lowstakes"]


def main() -> int:
    survived = 0
    for name, path, old, new in BUGS:
        target = ROOT / path
        original = target.read_text()
        if old not in original:
            print(f"MISSING {name}: the code it changes is not in {path} any more", flush=True)
            survived += 1
            continue
        target.write_text(original.replace(old, new, 1))
        try:
            command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        finally:
            target.write_text(original)
        failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
        survived += done.returncode == 0
        print(f"{'CAUGHT' if done.returncode else 'SURVIVED'} {name}: {failed[:1]}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
