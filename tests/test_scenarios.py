"""Every scenario file validates and runs small; the flagship shows what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

import lowstakes

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


def arm(result, learner, objective):
    (found,) = [a for a in result.summary["arms"]
                if a["learner"] == learner and a["objective"] == objective]
    return found


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs_small(path, tmp_path):
    scenario = lowstakes.load_scenario(path)
    assert scenario.description, "every scenario says what it is for"
    result = lowstakes.run(scenario, out=tmp_path / "run", horizon=1000, seeds=1)
    assert len(result.trace) == 1000 * len(result.summary["arms"])
    assert (result.path / "figures" / "regret.png").stat().st_size > 10_000
    # Without shifts the transition figure only says so.
    minimum = 10_000 if result.summary["shifts"] else 1_000
    assert (result.path / "figures" / "transition.png").stat().st_size > minimum


def test_flagship_shows_bounded_transition_versus_linear_pile_up(tmp_path):
    result = lowstakes.run("scenarios/shift.yaml", out=tmp_path / "run", horizon=6000, seeds=2,
                           workers=2)
    for learner in ("logreg", "tree"):
        aligned = arm(result, learner, "aligned")
        misaligned = arm(result, learner, "misaligned")
        assert misaligned["regret"] > aligned["regret"] + 100
    # Logistic regression recovers from the shift on the truth, never on the stale proxy.
    assert arm(result, "logreg", "aligned")["windows"][0]["recovered"] == 2
    assert arm(result, "logreg", "misaligned")["windows"][0]["recovered"] == 0


def cost(result, learner, objective, shift=0):
    return arm(result, learner, objective)["windows"][shift]["cost"]


def total(result, learner, objective):
    return arm(result, learner, objective)["regret"]


CLAIMS = {
    "gradual": lambda r: total(r, "logreg", "misaligned") > total(r, "logreg", "aligned") + 150,
    # The stale proxy is wrong only while B is in force.
    "recurring": lambda r: cost(r, "logreg", "misaligned", 1) < cost(r, "logreg", "misaligned", 0) / 2,
    "noise_is_not_misalignment": lambda r: cost(r, "logreg", "misaligned") > 2 * cost(r, "logreg", "noisy"),
    "cost_mismatch": lambda r: total(r, "logreg", "misaligned") > 5 * total(r, "logreg", "aligned"),
    # Before the shift the proxy is the truth; after it, it costs a lot.
    "covariate_shift": lambda r: cost(r, "logreg", "misaligned") > 5 * cost(r, "logreg", "aligned"),
    "friedman": lambda r: cost(r, "tree", "misaligned") > cost(r, "tree", "aligned") + 500,
    "delayed_feedback": lambda r: cost(r, "late_500", "aligned") > cost(r, "now", "aligned") + 20,
}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_library_scenario_shows_its_claim(name, tmp_path):
    result = lowstakes.run(f"scenarios/{name}.yaml", out=tmp_path / "run", horizon=10000, seeds=2,
                           workers=2)
    assert CLAIMS[name](result)
