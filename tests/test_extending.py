"""The worked extension example of docs/extending.md runs, and its pieces are used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lowstakes

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def test_docs_example_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES)}
    done = subprocess.run([sys.executable, "-m", "lowstakes", "run", str(EXAMPLES / "my_scenario.yaml"),
                           "--out", str(tmp_path / "run")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = lowstakes.load(tmp_path / "run").summary
    arms = {(a["learner"], a["objective"]): a for a in summary["arms"]}
    # The lazy overseer hides positives, so its arm does more harm than the truthful one.
    assert arms["tree", "lazy"]["harm"] > arms["tree", "aligned"]["harm"]
    assert arms["hedge", "aligned"]["pool"]["experts"] == ["left", "old_stripe", "new_stripe"]


def test_docs_code_blocks_are_the_example_module():
    text = (ROOT / "docs" / "extending.md").read_text()
    module = (EXAMPLES / "my_extension.py").read_text()
    for name in ("class Stripes(Source):", "class LazyOverseer(Feedback):", "class LeftHalf(Rule):"):
        assert name in text and name in module
    assert "def feedback(self, block, rng):\n        lazy = np.array" in text
