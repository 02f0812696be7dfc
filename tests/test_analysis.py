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
