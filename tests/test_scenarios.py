"""Every scenario file validates and runs small; the flagship shows what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

import lowstakes

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


def regret(result, learner, objective):
    (arm,) = [a for a in result.summary["arms"]
              if a["learner"] == learner and a["objective"] == objective]
    return arm


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs_small(path, tmp_path):
    scenario = lowstakes.load_scenario(path)
    assert scenario.description, "every scenario says what it is for"
    result = lowstakes.run(scenario, out=tmp_path / "run", horizon=1000, seeds=1)
    assert len(result.trace) == 1000 * len(result.summary["arms"])
    for figure in ("regret.png", "transition.png"):
        assert (result.path / "figures" / figure).stat().st_size > 10_000


def test_flagship_shows_bounded_transition_versus_linear_pile_up(tmp_path):
    result = lowstakes.run("scenarios/shift.yaml", out=tmp_path / "run", horizon=6000, seeds=2,
                           workers=2)
    for learner in ("logreg", "tree"):
        aligned = regret(result, learner, "aligned")
        misaligned = regret(result, learner, "misaligned")
        assert misaligned["regret"] > aligned["regret"] + 100
    # Logistic regression recovers from the shift on the truth, never on the stale proxy.
    assert regret(result, "logreg", "aligned")["windows"][0]["recovered"] == 2
    assert regret(result, "logreg", "misaligned")["windows"][0]["recovered"] == 0
