"""An expert arm's seed metrics and bound curves (lowstakes.regret), field by field, from
hand-made records: which bound applies to which algorithm and timing, its value, the
measured regret it is held against, and the Goodhart line."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from lowstakes import bounds
from lowstakes.experts import AnytimeHedge, FixedShare, Hedge, Interleaved
from lowstakes.regret import pool_curves, pool_seed_metrics, unrevealed

T = 100
SCENARIO = SimpleNamespace(horizon=T)


def info(algorithm, **changes):
    """What an ExpertPolicy reports at the end of a seed (made up, every number distinct)."""
    steps = np.array([0, 49, 99])
    out = {
        "kind": "pool", "algorithm": algorithm, "experts": ["a", "b", "c"], "loss_scale": 2.0,
        "expert_loss": [30.0, 40.0, 50.0], "expert_harm": [20.0, 35.0, 45.0],
        "mixture_loss": 41.0, "mixture_harm": 33.0,
        "best_fixed_loss": 30.0, "best_fixed_harm": 20.0,
        "best_switching_loss": 25.0, "best_switching_harm": 18.0,
        "switches": 2, "window_mixture_loss": [12.0, 9.0], "window_best_loss": [7.0, 8.5],
        "unrevealed": {"max": 4, "sum": 150, "penalty": 37.5},
        "checkpoints": steps,
        "curves": {"mixture_loss": np.array([0.5, 20.0, 41.0]),
                   "best_fixed_loss": np.array([0.0, 14.0, 30.0]),
                   "best_switching_loss": np.array([0.0, 12.0, 25.0]),
                   "mixture_harm": np.array([0.25, 16.0, 33.0]),
                   "best_fixed_harm": np.array([0.0, 9.0, 20.0]),
                   "delay_penalty": np.array([0.0, 10.0, 37.5])},
        "goodhart": {"reason": "feedback and truth agree on the best expert (a)"},
    }
    out.update(changes)
    return out


WINDOWS = [(20, 60), (60, 100)]


def test_the_fields_of_an_expert_arm():
    out = pool_seed_metrics(info(Hedge(3, eta=0.3)), SCENARIO, WINDOWS, delayed=False)
    assert out["algorithm"] == "hedge" and out["experts"] == ["a", "b", "c"]
    assert out["expert_loss"] == [30.0, 40.0, 50.0] and out["expert_harm"] == [20.0, 35.0, 45.0]
    assert (out["mixture_loss"], out["mixture_harm"]) == (41.0, 33.0)
    assert out["proxy_regret"] == {"best_fixed": 11.0, "best_switching": 16.0}
    assert out["true_regret"] == {"best_fixed": 13.0, "best_switching": 15.0}
    assert out["switches"] == 2 and out["max_unrevealed"] == 4
    assert out["windows"] == [{"mixture_loss": 12.0, "best_expert_loss": 7.0, "regret": 5.0},
                              {"mixture_loss": 9.0, "best_expert_loss": 8.5, "regret": 0.5}]
    assert out["goodhart"] == {"reason": "feedback and truth agree on the best expert (a)"}


@pytest.mark.parametrize("delayed", [False, True])
def test_hedge_with_a_fixed_eta(delayed):
    out = pool_seed_metrics(info(Hedge(3, eta=0.3)), SCENARIO, WINDOWS, delayed=delayed)
    (check,) = out["bounds"]
    if delayed:  # ln N / eta + eta T / 8 + (1/2) sum (exp(eta m) - 1), times B
        value = 2.0 * (math.log(3) / 0.3 + 0.3 * T / 8 + 0.5 * 37.5)
        assert check["name"] == "hedge_delays"
        assert check["params"] == {"T": T, "N": 3, "eta": 0.3, "B": 2.0, "max_unrevealed": 4,
                                   "mean_unrevealed": 1.5}
    else:
        value = 2.0 * (math.log(3) / 0.3 + 0.3 * T / 8)
        assert check["name"] == "hedge_eta"
    assert check["value"] == pytest.approx(value, rel=1e-12)
    assert check["measured"] == 11.0 and check["comparator"] == "best fixed expert"
    assert check["holds"] == (value >= 11.0)


def test_tuned_hedge_is_reported_as_the_textbook_bound():
    out = pool_seed_metrics(info(Hedge(3, horizon=T)), SCENARIO, WINDOWS, delayed=False)
    (check,) = out["bounds"]
    assert check["name"] == "hedge_fixed"
    assert check["value"] == pytest.approx(2.0 * math.sqrt(T / 2 * math.log(3)), rel=1e-12)
    assert check["measured"] == 11.0
    # Under delays the tuned rate gets the delay bound, not the textbook one.
    (delayed,) = pool_seed_metrics(info(Hedge(3, horizon=T)), SCENARIO, WINDOWS, delayed=True)["bounds"]
    assert delayed["name"] == "hedge_delays"


def test_anytime_hedge_has_its_bound_only_without_delays():
    out = pool_seed_metrics(info(AnytimeHedge(3)), SCENARIO, WINDOWS, delayed=False)
    (check,) = out["bounds"]
    assert check["name"] == "hedge_anytime"
    anytime = 2.0 * (math.sqrt(2 * T * math.log(3)) + math.sqrt(math.log(3) / 8))
    assert check["value"] == pytest.approx(anytime, rel=1e-12)
    assert pool_seed_metrics(info(AnytimeHedge(3)), SCENARIO, WINDOWS, delayed=True)["bounds"] == []


def test_fixed_share_against_switching_experts_and_per_window():
    algorithm = FixedShare(3, alpha=0.05, eta=0.4)
    out = pool_seed_metrics(info(algorithm), SCENARIO, WINDOWS, delayed=False)
    main, *windows = out["bounds"]
    assert main["name"] == "fixed_share" and main["measured"] == 16.0
    assert main["comparator"] == "best expert sequence (2 switches)"
    assert main["value"] == pytest.approx(bounds.fixed_share(T, 3, 2, 0.05, 0.4, 2.0).value, rel=1e-12)
    assert [w["name"] for w in windows] == ["fixed_share_window"] * 2
    assert [w["measured"] for w in windows] == [5.0, 0.5]
    assert [w["comparator"] for w in windows] == [f"best expert in transition window {k}" for k in (0, 1)]
    assert [w["value"] for w in windows] == pytest.approx(
        [bounds.fixed_share_window(40, 3, 0.05, 0.4, 2.0).value] * 2, rel=1e-12)
    assert pool_seed_metrics(info(algorithm), SCENARIO, WINDOWS, delayed=True)["bounds"] == []


def test_interleaved_hedge_under_a_constant_delay():
    out = pool_seed_metrics(info(Interleaved(3, 4, T)), SCENARIO, WINDOWS, delayed=True)
    (check,) = out["bounds"]
    assert check["name"] == "hedge_constant_delay"
    assert check["value"] == pytest.approx(2.0 * math.sqrt(5 * T / 2 * math.log(3)), rel=1e-12)


def test_the_goodhart_line_from_the_bound_and_from_the_measured_regret():
    goodhart = {"truly_best": "a", "feedback_best": "b", "a": 0, "b": 1, "decisions": 30, "g": 0.5,
                "delta": 2.0, "P": 3.0, "Q": 1.5}
    out = pool_seed_metrics(info(Hedge(3, eta=0.3), goodhart=goodhart), SCENARIO, WINDOWS, delayed=False)
    line = out["goodhart"]
    bound = 2.0 * (math.log(3) / 0.3 + 0.3 * T / 8)
    assert line["proxy_bound"] == pytest.approx(bound)
    assert line["value"] == pytest.approx(0.5 * (30 - (bound + 3.0) / 2.0) - 1.5)
    assert line["value_from_measured"] == 0.5 * (30 - (11.0 + 3.0) / 2.0) - 1.5
    assert line["measured"] == 13.0 and line["proxy_regret"] == 11.0
    assert line["kind"] == bounds.GUARANTEED_LOWER
    assert line["holds"] == (line["value"] <= 13.0 and line["value_from_measured"] <= 13.0)
    assert "a" not in line and "curves" not in line and line["truly_best"] == "a"
    # Delayed: no bound on the feedback regret applies to Fixed Share, only the measured line.
    delayed = pool_seed_metrics(info(FixedShare(3, alpha=0.05, eta=0.4), goodhart=goodhart), SCENARIO,
                                WINDOWS, delayed=True)["goodhart"]
    assert delayed["value"] is None and delayed["proxy_bound"] is None
    assert "delayed feedback" in delayed["reason"]
    assert delayed["value_from_measured"] == 0.5 * (30 - (11.0 + 3.0) / 2.0) - 1.5


def test_a_goodhart_line_above_the_true_regret_does_not_hold():
    goodhart = {"truly_best": "a", "feedback_best": "b", "a": 0, "b": 1, "decisions": 90, "g": 1.0,
                "delta": 1.0, "P": 0.0, "Q": 0.0}
    line = pool_seed_metrics(info(Hedge(3, eta=0.3), goodhart=goodhart), SCENARIO, WINDOWS,
                             delayed=False)["goodhart"]
    assert line["value_from_measured"] == 90 - 11.0 > 13.0 and not line["holds"]


def test_curves_of_regret_and_bound():
    curves = pool_curves(info(Hedge(3, eta=0.3)), delayed=True)
    assert curves["step"].tolist() == [0, 49, 99]
    assert curves["proxy_regret"].tolist() == [0.5, 6.0, 11.0]
    assert curves["tracking_regret"].tolist() == [0.5, 8.0, 16.0]
    assert curves["true_regret"].tolist() == [0.25, 7.0, 13.0]
    t = np.array([1, 50, 100])
    np.testing.assert_allclose(curves["bound"], 2.0 * (math.log(3) / 0.3 + 0.3 * t / 8
                                                        + 0.5 * np.array([0.0, 10.0, 37.5])), rtol=1e-12)
    assert np.isnan(curves["goodhart"]).all() and curves["bound_comparator"].tolist() == ["best_fixed"] * 3


def test_curves_of_fixed_share_and_of_an_algorithm_without_a_bound():
    shares = pool_curves(info(FixedShare(3, alpha=0.05, eta=0.4)), delayed=False)
    assert shares["bound_comparator"].tolist() == ["best_switching"] * 3
    np.testing.assert_allclose(shares["bound"], [bounds.fixed_share(t, 3, 2, 0.05, 0.4, 2.0).value
                                                 for t in (1, 50, 100)], rtol=1e-12)
    assert np.isnan(pool_curves(info(FixedShare(3, alpha=0.05, eta=0.4)), delayed=True)["bound"]).all()
    copies = pool_curves(info(Interleaved(3, 1, T)), delayed=True)["bound"]
    # Two copies take turns: after t decisions each has had ceil((t - k) / 2) rounds.
    twins = Interleaved(3, 1, T).copies
    expected = [sum(2.0 * (math.log(3) / c.eta + c.eta * math.ceil((t - k) / 2) / 8)
                    for k, c in enumerate(twins) if t - k > 0) for t in (1, 50, 100)]
    np.testing.assert_allclose(copies, expected, rtol=1e-12)


def test_curves_carry_the_goodhart_line_when_there_is_a_bound():
    goodhart = {"truly_best": "a", "feedback_best": "b", "a": 0, "b": 1, "decisions": 30, "g": 0.5,
                "delta": 2.0, "P": 3.0, "Q": 1.5,
                "curves": {"count": np.array([0.0, 10.0, 30.0]), "P": np.array([0.0, 1.0, 3.0]),
                           "Q": np.array([0.0, 0.5, 1.5])}}
    curves = pool_curves(info(Hedge(3, eta=0.3), goodhart=goodhart), delayed=False)
    bound = curves["bound"]
    np.testing.assert_allclose(curves["goodhart"], 0.5 * (np.array([0.0, 10.0, 30.0])
                                                          - (bound + np.array([0.0, 1.0, 3.0])) / 2.0)
                               - np.array([0.0, 0.5, 1.5]), rtol=1e-12)


def test_what_was_unrevealed_at_each_decision():
    # Decision 1's label is in at time 2, decision 0's at 2.5, the others' never.
    m = unrevealed(np.arange(5.0), np.array([2.5, 2.0, np.nan, np.nan, np.nan]))
    assert m.tolist() == [0, 1, 1, 1, 2]
    assert unrevealed(np.arange(3.0), np.arange(3.0)).tolist() == [0, 0, 0]  # learned right after acting


GOODHART = {"truly_best": "a", "feedback_best": "b", "a": 0, "b": 1, "decisions": 30, "g": 0.5,
            "delta": 2.0, "P": 3.0, "Q": 1.5}


def _line(algorithm, delayed, true_regret, mixture_loss=41.0):
    """The Goodhart summary with the true regret set to ``true_regret``."""
    made = info(algorithm, goodhart=dict(GOODHART), mixture_loss=mixture_loss,
                mixture_harm=20.0 + true_regret)
    return pool_seed_metrics(made, SCENARIO, WINDOWS, delayed=delayed)["goodhart"]


def test_the_goodhart_summary_keys_and_texts():
    line = _line(Hedge(3, eta=0.3), False, 13.0)
    assert set(line) == {"truly_best", "feedback_best", "decisions", "g", "delta", "P", "Q", "kind", "source",
                         "measured", "proxy_regret", "value_from_measured", "proxy_bound", "value", "holds"}
    assert line["source"] == "BOUNDS.md, 'The Goodhart lower bound, made exact'"
    delayed = _line(FixedShare(3, alpha=0.05, eta=0.4), True, 13.0)
    assert delayed["reason"] == ("no guaranteed bound on the feedback regret applies (delayed feedback), so "
                                 "only the line from the measured feedback regret is given")


@pytest.mark.parametrize("delayed", [False, True])
def test_the_goodhart_check_tolerates_rounding_and_no_more(delayed):
    # Proxy regret 11, below Hedge's bound (~14.8): the line from the measured proxy regret
    # (10.0) lies above the line from the bound and decides. Tolerance: 1e-9 (|true regret|
    # + |S| g + 1) = 1e-9 (10 + 15 + 1).
    algorithm = Hedge(3, eta=0.3) if not delayed else FixedShare(3, alpha=0.05, eta=0.4)
    level = _line(algorithm, delayed, 0.0)["value_from_measured"]
    assert level == 0.5 * (30 - (11.0 + 3.0) / 2.0) - 1.5 == 10.0
    tolerance = 1e-9 * (10.0 + 30 * 0.5 + 1)
    assert _line(algorithm, delayed, level - 0.97 * tolerance)["holds"] is True
    assert _line(algorithm, delayed, level - 1.03 * tolerance)["holds"] is False


def test_the_goodhart_check_needs_both_lines():
    hedge = Hedge(3, eta=0.3)
    between = _line(hedge, False, 9.5)  # above the bound's line (~9.04), below the measured one (10)
    assert between["value"] < 9.5 < between["value_from_measured"] and between["holds"] is False
    # Proxy regret 60, above the bound (~14.8): now the bound's line (~9.04) is the higher one.
    level = _line(hedge, False, 0.0, mixture_loss=90.0)["value"]
    assert level > _line(hedge, False, 0.0, mixture_loss=90.0)["value_from_measured"]
    tolerance = 1e-9 * (abs(level) + 30 * 0.5 + 1)
    assert _line(hedge, False, level - 0.5 * tolerance, mixture_loss=90.0)["holds"] is True
    assert _line(hedge, False, level - 2.0 * tolerance, mixture_loss=90.0)["holds"] is False


def test_tuned_hedge_names_its_comparator():
    (check,) = pool_seed_metrics(info(Hedge(3, horizon=T)), SCENARIO, WINDOWS, delayed=False)["bounds"]
    assert check["comparator"] == "best fixed expert"
    (plain,) = pool_seed_metrics(info(Hedge(3, eta=0.3)), SCENARIO, WINDOWS, delayed=False)["bounds"]
    assert plain["comparator"] == "best fixed expert"


def test_unrevealed_counts_a_label_that_never_came():
    # Decision 0's label never comes: it stays unrevealed at every later decision.
    assert unrevealed(np.arange(4.0), np.array([np.nan, 1.0, 2.0, 3.0])).tolist() == [0, 1, 1, 1]
