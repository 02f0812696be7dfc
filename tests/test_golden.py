"""Every bundled scenario's summary at a small horizon, pinned: a refactor of the engine must
give the same numbers: every count, flag and text exactly, every real number to a relative
1e-9 (a sum taken block by block adds in another order than numpy's pairwise sum over one
array, which moves the last digits and nothing else). Regenerate (only when a change of the numbers is
intended, and say why in the commit) with

    python tests/test_golden.py
"""

from __future__ import annotations

import json
import math
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
#: A solver's diagnostics, not results: how many steps it took and the gradient it stopped
#: at depend on the machine's rounding (its result, the comparator, is polished to the
#: minimiser and compared as every other number is; whether it converged, exactly).
DIAGNOSTICS = ("iterations", "gradient_norm")


def summary_of(path: Path, out: Path) -> dict:
    result = lowstakes.run(path, out=out, horizon=HORIZON, seeds=SEEDS)
    summary = {k: v for k, v in result.summary.items() if k not in VOLATILE}
    return json.loads(json.dumps(summary))  # as summary.json holds it


def differences(got, want, where="summary") -> list[str]:
    """Where ``got`` and ``want`` differ: floats by more than a relative 1e-9 (or 1e-12
    absolute), anything else at all (but for a solver's DIAGNOSTICS)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [] if set(got) == set(want) else [f"{where}: keys {sorted(set(got) ^ set(want))} in one only"]
        for key in (want.keys() & got.keys()) - set(DIAGNOSTICS):
            out += differences(got[key], want[key], f"{where}.{key}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{where}: {len(got)} items, expected {len(want)}"]
        return [d for k, (g, w) in enumerate(zip(got, want, strict=True))
                for d in differences(g, w, f"{where}[{k}]")]
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        close = math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
        return [] if close else [f"{where}: {got!r} != {want!r}"]
    return [] if (type(got) is type(want) and got == want) else [f"{where}: {got!r} != {want!r}"]


def test_differences_finds_a_changed_number():
    want = {"a": [1, 2.0, {"b": True, "c": "x"}], "d": 0.1}
    assert differences(want, want) == []
    assert differences({"a": [1, 2.0 * (1 + 1e-12), {"b": True, "c": "x"}], "d": 0.1}, want) == []
    changed = {"a": [1, 2.0001, {"b": True, "c": "x"}], "d": 0.1}
    assert differences(changed, want) == ["summary.a[1]: 2.0001 != 2.0"]
    assert differences({"a": [2, 2.0, {"b": True, "c": "x"}], "d": 0.1}, want) == ["summary.a[0]: 2 != 1"]
    assert differences({"a": [1, 2.0, {"b": 1, "c": "x"}], "d": 0.1}, want) == ["summary.a[2].b: 1 != True"]
    assert differences({"a": [1, 2.0, {"b": True}], "d": 0.1}, want)[0].startswith("summary.a[2]: keys ['c']")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_summary_is_unchanged(path, tmp_path):
    golden = GOLDEN / f"{path.stem}.json"
    assert golden.exists(), f"no golden summary for {path.name}: run python tests/test_golden.py"
    found = differences(summary_of(path, tmp_path / "run"), json.loads(golden.read_text()))
    assert not found, "\n".join(found[:20])


if __name__ == "__main__":
    names = sys.argv[1:]
    for path in SCENARIOS:
        if names and path.stem not in names:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            summary = summary_of(path, Path(scratch) / "run")
        (GOLDEN / f"{path.stem}.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        print("wrote", path.stem)
