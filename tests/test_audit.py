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
