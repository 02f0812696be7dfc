"""The low-stakes audit: worst-share, the semi-informative catastrophe forecast, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

import lowstakes
from lowstakes.audit import catastrophe_chance, worst_share


def test_worst_share_counts_the_worst_one_percent():
    assert worst_share(np.ones(1000)) == pytest.approx(0.01)
    assert worst_share(np.r_[np.ones(990), np.full(10, 99.0)]) == pytest.approx(990 / 1980)
    assert worst_share(np.zeros(50)) == 0.0


def test_catastrophe_forecast_matches_simulating_the_prior():
    # Draw the per-decision chance from the posterior, then H decisions: the share of
    # draws with at least one catastrophe is the forecast.
    n, k, p0, horizon = 2000, 3, 0.01, 500
    rng = np.random.default_rng(0)
    chance = rng.beta(1 + k, 1 / p0 - 1 + n - k, size=200_000)
    simulated = 1 - np.mean((1 - chance) ** horizon)
    assert catastrophe_chance(n, k, p0, horizon) == pytest.approx(simulated, abs=0.005)
    # With nothing seen, the first-trial probability sets the per-decision chance.
    assert catastrophe_chance(0, 0, p0, 1) == pytest.approx(p0)


def test_flagship_is_low_stakes_and_the_contrast_is_not(tmp_path):
    flagship = lowstakes.run("scenarios/shift.yaml", out=tmp_path / "a", horizon=4000, seeds=2)
    contrast = lowstakes.run("scenarios/high_stakes.yaml", out=tmp_path / "b", horizon=4000, seeds=2)
    assert flagship.summary["audit"]["low_stakes"]
    assert flagship.summary["audit"]["worst_1pct_share_max"] < 0.2
    assert not contrast.summary["audit"]["low_stakes"]
    forecast = contrast.summary["arms"][0]["audit"]["catastrophes"]
    assert forecast["seen"] > 0 and forecast["chance_in_forecast"] > 0.5
    assert contrast.summary["audit"]["max_harm"] == 1000.0


def test_user_stakes_function_and_the_bound_check(tmp_path, monkeypatch):
    (tmp_path / "my_stakes.py").write_text(
        "import numpy as np\n"
        "def tenfold_when_x0_high(block):\n"
        "    return np.where([x[0] > 9.9 for x in block.x], 10.0, 1.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    base = {"name": "stakes", "horizon": 4000, "stream": {"source": "sea", "label_noise": 0.1},
            "learners": {"logreg": {"model": "linear_model.LogisticRegression"}}}
    stakes = {"function": "my_stakes:tenfold_when_x0_high"}
    ok = lowstakes.run(lowstakes.Scenario.from_dict(
        {**base, "harm": {"bound": 10.0, "stakes": stakes}}), out=tmp_path / "ok")
    assert ok.summary["audit"]["max_harm"] == 10.0
    # The function's multipliers exceed a bound of 5: the run fails loudly, not silently.
    with pytest.raises(lowstakes.HarmBoundError, match="outside \\[0, B=5.0\\]"):
        lowstakes.run(lowstakes.Scenario.from_dict({**base, "harm": {"bound": 5.0, "stakes": stakes}}),
                      out=tmp_path / "bad")
    assert (tmp_path / "bad" / "INCOMPLETE").exists()
    with pytest.raises(lowstakes.ScenarioError, match="harm.stakes.function: module 'my_stakes' has no"):
        missing = {"function": "my_stakes:nope"}
        lowstakes.Scenario.from_dict({**base, "harm": {"bound": 5.0, "stakes": missing}})


def test_user_harm_function_replaces_the_cost_matrix(tmp_path, monkeypatch):
    (tmp_path / "my_harm.py").write_text(
        "import numpy as np\n"
        "def costly_misses(actions, truth, block):\n"
        "    # A missed positive costs 3, a false alarm 1, when x2 > 5; nothing otherwise.\n"
        "    x2 = np.array([x[2] for x in block.x])\n"
        "    miss = (actions == 0) & (truth == 1)\n"
        "    alarm = (actions == 1) & (truth == 0)\n"
        "    return np.where(x2 > 5, 3.0 * miss + 1.0 * alarm, 0.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = lowstakes.Scenario.from_dict({
        "name": "fn", "horizon": 3000, "harm": {"bound": 3.0, "function": "my_harm:costly_misses"},
        "stream": {"source": "sea", "label_noise": 0.1},
        "learners": {"logreg": {"model": "linear_model.LogisticRegression"}}})
    trace = lowstakes.run(scenario, out=tmp_path / "run").trace
    assert set(np.unique(trace["harm"])) == {0.0, 1.0, 3.0}
    expected = np.where((trace["action"] == 0) & (trace["truth"] == 1), 3.0, 1.0)
    harmful = trace["harm"] > 0
    np.testing.assert_array_equal(trace["harm"][harmful], expected[harmful])
    with pytest.raises(lowstakes.ScenarioError, match="harm.function: module 'my_harm' has no"):
        lowstakes.Scenario.from_dict({**scenario.to_dict(), "harm": {"bound": 3.0, "function": "my_harm:x"}})
