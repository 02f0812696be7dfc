"""The notebook helpers agree with the summary they are drawn from."""

from __future__ import annotations

import pytest
from conftest import make_scenario

import lowstakes
from lowstakes import analysis


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return lowstakes.run(make_scenario(horizon=1200), out=tmp_path_factory.mktemp("a") / "run")


def test_regret_curves_end_at_the_summary_regret(result):
    curves = analysis.regret_curves(result, points=50)
    last = curves[curves["step"] == curves["step"].max()]
    for arm in result.summary["arms"]:
        for seed in arm["seeds"]:
            row = last[(last["learner"] == arm["learner"]) & (last["objective"] == arm["objective"])
                       & (last["seed"] == seed["seed"])]
            assert row["regret"].item() == pytest.approx(seed["regret"])


def test_windows_and_oversight_tables_match_the_summary(result):
    windows = analysis.windows_table(result)
    assert windows["cost"].sum() == pytest.approx(
        sum(w["cost"] for a in result.summary["arms"] for s in a["seeds"] for w in s["windows"]))
    table = analysis.oversight_table(result)
    assert (table["queries"] == 1200).all() and (table["harm_per_label"] > 0).all()
    around = analysis.excess_around_shifts(result, before=100)
    assert around["since_shift"].min() == -100
    assert analysis.bounds_table(result).empty  # no expert arms here


def test_guarantees_table_matches_the_summary(result):
    table = analysis.guarantees_table(result)
    # The scenario's logreg arms (two objectives x two seeds): one shift window and the run.
    assert len(table) == 2 * 2 * 2 and table["holds"].all()
    for arm in result.summary["arms"]:
        for seed in arm["seeds"]:
            window = seed["guarantee"]["windows"][0]
            row = table[(table["objective"] == arm["objective"]) & (table["seed"] == seed["seed"])
                        & (table["window"] == 0)]
            assert row["regret"].item() == pytest.approx(window["regret"])
            assert row["bound"].item() == pytest.approx(window["bound"])
            assert row["cost"].item() == pytest.approx(seed["windows"][0]["cost"])
    assert analysis.goodhart_table(result).empty  # no expert arms here


def test_bandit_tables_match_the_trace_and_the_summary(tmp_path):
    scenario = lowstakes.Scenario.from_dict({
        "name": "k", "horizon": 1200, "seeds": 2, "harm": {"matrix": "arms"},
        "stream": {"source": "k_armed", "params": {"means": [0.2, 0.8, 0.5]}},
        "objectives": {"aligned": {"feedback_mode": "bandit"}},
        "learners": {"ucb": {"model": "bandit.UCB", "params": {"delta": 1.0}},
                     "exp3": {"algorithm": "exp3"}}})
    result = lowstakes.run(scenario, out=tmp_path / "run")
    table = analysis.bandit_table(result)
    assert len(table) == 4
    for arm in result.summary["arms"]:
        rows = table[table["learner"] == arm["learner"]].sort_values("seed")
        assert rows["exploration_harm"].tolist() == pytest.approx(
            [s["exploration"]["harm"] for s in arm["seeds"]])
        assert rows["regret_best_action"].tolist() == pytest.approx(
            [s["bandit"]["regret"]["best_fixed"] for s in arm["seeds"]])
    assert table.loc[table["learner"] == "ucb", "bound_best_action"].isna().all()
    assert table.loc[table["learner"] == "exp3", "bound_best_action"].notna().all()
    shares = analysis.action_shares(result, width=300)
    totals = shares.groupby(["learner", "seed", "step"])["share"].sum()
    assert totals.to_numpy() == pytest.approx(1.0)
    # Every (arm, seed, span) lists every action, taken or not.
    assert shares.groupby(["learner", "seed", "step"]).size().eq(3).all()
    trace = result.trace
    first = trace[(trace["learner"] == "ucb") & (trace["seed"] == 0) & (trace["step"] < 300)]
    share0 = shares[(shares["learner"] == "ucb") & (shares["seed"] == 0) & (shares["step"] == 0)
                    & (shares["action"] == 0)]["share"].item()
    assert share0 == pytest.approx((first["action"] == 0).mean())
