"""Every bundled scenario's summary at a small horizon, pinned: a refactor of the engine must
give the same numbers to the last digit. Regenerate (only when a change of the numbers is
intended, and say why in the commit) with

    python tests/test_golden.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

import lowstakes

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
HORIZON, SEEDS = 1200, 2
VOLATILE = ("elapsed_seconds", "finished")


def summary_of(path: Path, out: Path) -> dict:
    result = lowstakes.run(path, out=out, horizon=HORIZON, seeds=SEEDS)
    summary = {k: v for k, v in result.summary.items() if k not in VOLATILE}
    return json.loads(json.dumps(summary))  # as summary.json holds it


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_summary_is_unchanged(path, tmp_path):
    golden = GOLDEN / f"{path.stem}.json"
    assert golden.exists(), f"no golden summary for {path.name}: run python tests/test_golden.py"
    assert summary_of(path, tmp_path / "run") == json.loads(golden.read_text())


if __name__ == "__main__":
    names = sys.argv[1:]
    for path in SCENARIOS:
        if names and path.stem not in names:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            summary = summary_of(path, Path(scratch) / "run")
        (GOLDEN / f"{path.stem}.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        print("wrote", path.stem)
