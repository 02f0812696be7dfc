"""A run's summary across seeds, field by field, from the seeds' own metrics by hand.

Three seeds of four scenarios (a pool under a stale proxy with shifts, exploring K-action
arms, deceptive models, a best-constant comparator over one learner) are run block by block
as a run does (:func:`lowstakes.runner.seed_result`); :func:`lowstakes.results.summarize` must
give, for every arm, each seed-level number's mean and 95% interval (``metrics.mean_ci``, tested
on its own in test_metrics.py), the counts and medians of the windows, the pooled bounds and
their verdicts, and the paired differences between arms on the same seeds.
"""

from __future__ import annotations

import datetime as dt
import functools
from types import SimpleNamespace

import numpy as np
import pytest
from test_golden import differences
from test_seedmetrics import SCENARIOS, deceptive

from lowstakes import audit
from lowstakes.guarantees import seed_guarantee, summarize_guarantee
from lowstakes.metrics import mean_ci
from lowstakes.results import (
    COMPARATOR_TEXT,
    _bandit_summary,
    _exploration_summary,
    _pool_summary,
    expected_verdict,
    summarize,
)
from lowstakes.runner import seed_result
from lowstakes.scenario import Scenario

SEEDS = 3
NAMES = ["binary", "bandit", "deception", "deception_never", "delayed_best_constant", "user_harm"]


@functools.cache
def seeds_of(name: str):
    """A scenario over three seeds, every seed's metrics (per seed, per arm), and its arms."""
    if name.startswith("deception"):
        scenario = Scenario.from_dict({**deceptive(1200 if name == "deception" else None).to_dict(),
                                       "seeds": SEEDS})
    else:
        scenario = Scenario.from_dict({**SCENARIOS[name], "seeds": SEEDS})
    per_seed, arms = [], None
    for seed in range(SEEDS):
        metrics, _, _, arms = seed_result(scenario, seed)
        per_seed.append(metrics)
    return scenario, per_seed, arms


def same(got, want, what: str) -> None:
    problems = differences(got, want, what)
    assert not problems, problems


def check_windows(got: list[dict], seeds: list[dict], shifts: int) -> None:
    assert len(got) == shifts
    for k, window in enumerate(got):
        ws = [s["windows"][k] for s in seeds]
        recovered = [w["recovery"] for w in ws if w["recovery"] is not None]
        cost = mean_ci([w["cost"] for w in ws])
        same(window, {
            "shift": k, "start": ws[0]["start"], "end": ws[0]["end"], "cost": cost["mean"],
            "cost_ci95": cost["ci95"], "recovered": len(recovered),
            "recovery_median": float(np.median(recovered)) if recovered else None,
            "queries": sum(w["queries"] for w in ws) / len(ws),
            "queries_before": sum(w["queries_before"] for w in ws) / len(ws),
            "baseline": sum(w["baseline"] for w in ws) / len(ws),
            "raised": sum(w["raised"] for w in ws)}, f"window {k}")


def check_guarantee(got: dict, seeds: list[dict]) -> None:
    """Per window (and for the whole run, for a linear arm): mean regret and interval, mean
    bound and terms, the seeds where it held, the window's cost over the seeds it applied in."""
    entries = [s["guarantee"] for s in seeds]
    applied = [(g, s) for g, s in zip(entries, seeds, strict=True) if g["applies"]]
    if not applied:
        assert got == {"applies": False, "reason": "; ".join(dict.fromkeys(g["reason"] for g in entries))}
        return
    first = applied[0][0]
    assert {k: v for k, v in got.items() if k not in ("windows", "run", "seeds", "not_in_seeds")} == {
        k: v for k, v in first.items() if k not in ("windows", "run", "replay_error")}
    assert got["seeds"] == len(seeds)
    assert got.get("not_in_seeds") == ([g["reason"] for g in entries if not g["applies"]]
                                       if len(applied) < len(entries) else None)

    def window(ws, costs):
        regret = mean_ci([w["regret"] for w in ws])
        out = {"regret": regret["mean"], "regret_ci95": regret["ci95"],
               "bound": sum(w["bound"] for w in ws) / len(ws), "held": sum(w["holds"] for w in ws),
               "seeds": len(ws)}
        for term in ("distance", "step", "approximation", "apriori", "decision_shift", "events"):
            if term in ws[0]:
                out[term] = sum(w[term] for w in ws) / len(ws)
        if "comparator" in ws[0]:
            out["comparator_unconverged"] = sum(not w["comparator"]["converged"] for w in ws)
        if costs is not None:
            out["cost"], out["cost_ci95"] = mean_ci(costs)["mean"], mean_ci(costs)["ci95"]
        return out

    assert len(got["windows"]) == len(first["windows"])
    for k, summary in enumerate(got["windows"]):
        want = window([g["windows"][k] for g, _ in applied], [s["windows"][k]["cost"] for _, s in applied])
        same(summary, {"shift": k, **want}, f"guarantee window {k}")
    if first.get("run") is not None:
        same(got["run"], window([g["run"] for g, _ in applied], None), "guarantee run")
    else:
        assert "run" not in got


def check_pool(got: dict, seeds: list[dict]) -> None:
    pools = [s["pool"] for s in seeds]
    want = {
        "algorithm": pools[0]["algorithm"], "experts": pools[0]["experts"], "switches": pools[0]["switches"],
        "proxy_regret": mean_ci([p["proxy_regret"]["best_fixed"] for p in pools]),
        "tracking_regret": mean_ci([p["proxy_regret"]["best_switching"] for p in pools]),
        "true_regret": mean_ci([p["true_regret"]["best_fixed"] for p in pools]),
        "true_tracking_regret": mean_ci([p["true_regret"]["best_switching"] for p in pools]),
        # the harm the arm did minus the best fixed expert's harm
        "realised_true_regret": mean_ci([s["harm"] - s["pool"]["mixture_harm"]
                                         + s["pool"]["true_regret"]["best_fixed"] for s in seeds]),
    }
    same({k: v for k, v in got.items() if k != "bounds"}, want, "pool")
    names = [(b["name"], b["comparator"]) for b in pools[0]["bounds"]]
    assert [(b["name"], b["comparator"]) for b in got["bounds"]] == names
    for bound, key in zip(got["bounds"], names, strict=True):
        each = [next(b for b in p["bounds"] if (b["name"], b["comparator"]) == key) for p in pools]
        same(bound, {"name": key[0], "comparator": key[1], "kind": each[0]["kind"],
                     "source": each[0]["source"],
                     "held": sum(b["holds"] for b in each), "seeds": len(each),
                     "value": sum(b["value"] for b in each) / len(each),
                     "measured": mean_ci([b["measured"] for b in each])}, f"pool bound {key}")


def check_bandit(got: dict, seeds: list[dict]) -> None:
    entries = [s["bandit"] for s in seeds]
    first = entries[0]
    want = {"algorithm": first["algorithm"], "actions": first["actions"], "switches": first["switches"],
            "regret_best_fixed": mean_ci([e["regret"]["best_fixed"] for e in entries]),
            "regret_best_switching": mean_ci([e["regret"]["best_switching"] for e in entries])}
    if "best_expert" in first["regret"]:
        want["regret_best_expert"] = mean_ci([e["regret"]["best_expert"] for e in entries])
    if "reason" in first:
        want["reason"] = first["reason"]
    same({k: v for k, v in got.items() if k != "bounds"}, want, "bandit")
    assert len(got["bounds"]) == len(first["bounds"])
    for i, bound in enumerate(got["bounds"]):
        measured = mean_ci([e["bounds"][i]["measured"] for e in entries])
        value = sum(e["bounds"][i]["value"] for e in entries) / len(entries)
        verdict = ("held" if measured["mean"] <= value
                   else "exceeded" if measured["ci95"][0] > value else "unclear")
        same(bound, {"name": first["bounds"][i]["name"], "kind": first["bounds"][i]["kind"],
                     "source": first["bounds"][i]["source"], "comparator": first["bounds"][i]["comparator"],
                     "value": value, "measured": measured, "verdict": verdict}, f"bandit bound {i}")


def check_deception(got: dict, seeds: list[dict]) -> None:
    ds = [s["deception"] for s in seeds]
    want = {name: mean_ci([d[name] for d in ds])
            for name in ("defections", "deceptive_actions", "deceptive_harm", "asked_at_defections")}
    want["algorithm"] = ds[0]["algorithm"]
    for name in ("query_probability_at_defections", "query_probability_at_first_defection"):
        given = [d[name] for d in ds if d[name] is not None]
        want[name] = sum(given) / len(given) if given else None
    same(got, want, "deception")


def check_paired(got: list[dict], scenario, arms: dict) -> None:
    objectives, learners = list(scenario.objectives), list(scenario.learners)
    pairs = ([((lr, o), (lr, objectives[0]), "objective") for lr in learners for o in objectives[1:]]
             + [((lr, o), (learners[0], o), "learner") for o in objectives for lr in learners[1:]])
    assert [(tuple(p["arm"]), tuple(p["minus"]), p["varies"]) for p in got] == pairs
    for entry, (a, b, _) in zip(got, pairs, strict=True):
        first, second = arms[a]["seeds"], arms[b]["seeds"]
        pairs_ = zip(first, second, strict=True)
        same(entry["regret"], mean_ci([x["regret"] - y["regret"] for x, y in pairs_]), f"paired {a} - {b}")
        assert [w["shift"] for w in entry["windows"]] == list(range(len(scenario.stream.shifts)))
        for k, window in enumerate(entry["windows"]):
            same({key: v for key, v in window.items() if key != "shift"},
                 mean_ci([x["windows"][k]["cost"] - y["windows"][k]["cost"]
                          for x, y in zip(first, second, strict=True)]), f"paired {a} - {b} window {k}")


@pytest.mark.parametrize("name", NAMES)
def test_the_summary_is_the_seeds_numbers_by_hand(name):
    scenario, per_seed, arms = seeds_of(name)
    summary = summarize(scenario, arms, per_seed, 12.3456)
    shifts = len(scenario.stream.shifts)
    assert [(a["learner"], a["objective"]) for a in summary["arms"]] == [tuple(a) for a in arms]
    for j, arm in enumerate(summary["arms"]):
        learner, objective = arms[j]
        seeds = [seed_list[j] for seed_list in per_seed]
        assert arm["seeds"] == seeds and [s["seed"] for s in seeds] == list(range(SEEDS))
        regret, harm = mean_ci([s["regret"] for s in seeds]), mean_ci([s["harm"] for s in seeds])
        same({k: arm[k] for k in ("learner", "objective", "feedback", "regret", "regret_ci95", "harm",
                                  "harm_ci95", "regret_per_decision", "queries")},
             {"learner": learner, "objective": objective, "feedback": scenario.objectives[objective].feedback,
              "regret": regret["mean"], "regret_ci95": regret["ci95"], "harm": harm["mean"],
              "harm_ci95": harm["ci95"], "regret_per_decision": regret["mean"] / scenario.horizon,
              "queries": mean_ci([s["queries"] for s in seeds])}, f"arm {j}")
        check_windows(arm["windows"], seeds, shifts)
        check_guarantee(arm["guarantee"], seeds)
        same(arm["audit"], audit.arm_audit(seeds, scenario.harm.bound, scenario.audit, scenario.horizon),
             "audit")
        for key, check in (("pool", check_pool), ("bandit", check_bandit), ("deception", check_deception)):
            if key in seeds[0]:
                check(arm[key], seeds)
            else:
                assert key not in arm
        if "exploration" in seeds[0]:
            explored = [s["exploration"] for s in seeds]
            harm_ = mean_ci([e["harm"] for e in explored])
            decisions = mean_ci([e["decisions"] for e in explored])
            total = sum(s["harm"] for s in seeds)
            same(arm["exploration"], {"harm": harm_["mean"], "harm_ci95": harm_["ci95"],
                                      "decisions": decisions["mean"], "decisions_ci95": decisions["ci95"],
                                      "share_of_harm": sum(e["harm"] for e in explored) / total},
                 "exploration")
        else:
            assert "exploration" not in arm
    same({k: v for k, v in summary.items() if k not in ("arms", "audit", "paired", "finished")}, {
        "scenario": scenario.name, "description": scenario.description, "horizon": scenario.horizon,
        "harm_bound": scenario.harm.bound, "master_seed": scenario.seed, "seeds": list(range(SEEDS)),
        "shifts": [s.at for s in scenario.stream.shifts], "comparator": scenario.comparator,
        "comparator_description": COMPARATOR_TEXT[scenario.comparator],
        "windows": scenario.windows.model_dump(), "elapsed_seconds": 12.346}, "summary")
    same(summary["audit"], audit.run_audit([a["audit"] for a in summary["arms"]], scenario.audit),
         "run audit")
    check_paired(summary["paired"], scenario, {(a["learner"], a["objective"]): a for a in summary["arms"]})
    finished = dt.datetime.fromisoformat(summary["finished"])
    assert finished.tzinfo is not None and abs(dt.datetime.now(dt.UTC) - finished).total_seconds() < 600


def test_the_scenarios_reach_every_part_of_the_summary():
    """Each part checked above is present in some arm (else its check would pass unseen)."""
    parts = set()
    for name in NAMES:
        scenario, per_seed, arms = seeds_of(name)
        summary = summarize(scenario, arms, per_seed, 0.0)
        for arm in summary["arms"]:
            parts |= {k for k in ("pool", "bandit", "deception", "exploration") if k in arm}
            parts |= {"recovered"} if any(w["recovered"] for w in arm["windows"]) else set()
            parts |= {"unrecovered"} if any(w["recovered"] < SEEDS for w in arm["windows"]) else set()
            parts |= {"bandit bound"} if arm.get("bandit", {}).get("bounds") else set()
            parts |= {"pool bound"} if arm.get("pool", {}).get("bounds") else set()
            parts |= {"best expert"} if "regret_best_expert" in arm.get("bandit", {}) else set()
            defections = arm.get("deception", {}).get("defections", {})
            parts |= {"no defections"} if defections.get("mean") == 0 else set()
            parts |= {f"guarantee {arm['guarantee'].get('name')}"} if arm["guarantee"]["applies"] else set()
        parts |= {f"paired by {p['varies']}" for p in summary["paired"]}
    assert parts == {"pool", "bandit", "deception", "exploration", "recovered", "unrecovered", "bandit bound",
                     "pool bound", "paired by objective", "paired by learner", "guarantee ogd_window",
                     "guarantee fixed_share_window", "best expert", "no defections"}


def test_an_expected_bound_is_held_exceeded_or_unclear_at_its_edges():
    assert expected_verdict(5.0, [4.0, 6.0], 5.0) == "held"              # the mean on the bound
    assert expected_verdict(5.5, [5.0, 6.0], 5.0) == "unclear"           # the interval touches it
    assert expected_verdict(5.5, [5.0 + 1e-9, 6.0], 5.0) == "exceeded"
    assert expected_verdict(5.5, [None, None], 5.0) == "unclear"         # one seed: no interval


def bound_entry(name, value, measured, holds=True, comparator="best fixed"):
    return {"name": name, "kind": "expected", "comparator": comparator, "source": "a theorem", "value": value,
            "measured": measured, "holds": holds}


def test_bandit_bounds_get_their_verdicts_from_the_seeds_interval():
    """Seeds made by hand: one bound held, one exceeded (the whole interval above it), one unclear."""
    def seed(shift):
        return {"bandit": {"algorithm": "exp3", "actions": 3, "switches": 1,
                           "regret": {"best_fixed": 1.0 + shift, "best_switching": 2.0 + shift},
                           "bounds": [bound_entry("a", 10.0, 5.0 + shift),
                                      bound_entry("b", 10.0, 20.0 + shift),
                                      bound_entry("c", 10.0, 10.5 + 30 * shift)]}}

    summary = _bandit_summary([seed(0.0), seed(0.1), seed(-0.1)])
    assert [b["verdict"] for b in summary["bounds"]] == ["held", "exceeded", "unclear"]
    assert summary["bounds"][1]["measured"]["ci95"][0] > 10.0
    assert "regret_best_expert" not in summary and "reason" not in summary


def test_a_pool_keeps_each_bound_apart_and_counts_where_it_held():
    seeds = [{"harm": 10.0, "pool": {"algorithm": "fixed_share", "experts": ["a", "b"], "switches": 1,
                                     "mixture_harm": 9.0,
                                     "proxy_regret": {"best_fixed": 1.0, "best_switching": 0.5},
                                     "true_regret": {"best_fixed": 2.0, "best_switching": 1.0},
                                     "bounds": [bound_entry("fixed_share", 5.0, 1.0, holds=True),
                                                bound_entry("fixed_share_window", 3.0, 4.0 - k, holds=k > 0,
                                                            comparator="window")]}}
             for k in range(2)]
    bounds = _pool_summary(seeds)["bounds"]
    assert [(b["name"], b["held"], b["seeds"], b["value"]) for b in bounds] == [
        ("fixed_share", 2, 2, 5.0), ("fixed_share_window", 1, 2, 3.0)]
    assert bounds[1]["measured"]["mean"] == 3.5


@pytest.mark.parametrize("harms", [[0.0, 0.0], [0.25, 0.25], [2.0, 3.0]])
def test_the_share_of_harm_done_exploring_needs_some_harm(harms):
    """A fifth of each seed's harm was done exploring; with no harm at all there is no share."""
    seeds = [{"harm": h, "exploration": {"harm": h / 5, "decisions": 3}} for h in harms]
    share = _exploration_summary(seeds)["share_of_harm"]
    assert share is None if sum(harms) == 0 else share == pytest.approx(0.2)


def linear_seed(regret, applies=True, reason="clipping triggered"):
    """A seed whose linear arm's guarantee applied (one window and the run) or not."""
    if not applies:
        return {"windows": [{"cost": 99.0}], "guarantee": {"applies": False, "reason": reason}}
    window = {"regret": regret, "bound": 10.0, "holds": regret <= 10.0, "distance": 1.0, "step": 2.0,
              "comparator": {"converged": regret < 5.0}}
    return {"windows": [{"cost": regret + 1.0}],
            "guarantee": {"applies": True, "name": "ogd_window", "kind": "guaranteed", "loss": "log",
                          "windows": [window], "run": dict(window), "replay_error": 0.0}}


def test_a_guarantee_applied_in_some_seeds_names_the_others():
    summary = summarize_guarantee([linear_seed(3.0), linear_seed(0.0, applies=False), linear_seed(12.0)])
    assert summary["seeds"] == 3 and summary["not_in_seeds"] == ["clipping triggered"]
    assert {k: summary[k] for k in ("applies", "name", "kind", "loss")} == {
        "applies": True, "name": "ogd_window", "kind": "guaranteed", "loss": "log"}
    window = summary["windows"][0]
    assert [window[k] for k in ("shift", "regret", "bound", "held", "seeds")] == [0, 7.5, 10.0, 1, 2]
    assert [window[k] for k in ("distance", "step", "comparator_unconverged", "cost")] == [1.0, 2.0, 1, 8.5]
    assert summary["run"]["regret"] == 7.5 and "cost" not in summary["run"] and "shift" not in summary["run"]
    assert "replay_error" not in summary
    one = summarize_guarantee([linear_seed(4.0, applies=False, reason="a"), linear_seed(4.0)])
    assert one["not_in_seeds"] == ["a"] and one["windows"][0]["seeds"] == 1
    assert "not_in_seeds" not in summarize_guarantee([linear_seed(4.0)])


def test_a_guarantee_that_applied_nowhere_gives_each_reason_once():
    reasons = ("clipping triggered", "no events", "clipping triggered")
    seeds = [linear_seed(0, applies=False, reason=r) for r in reasons]
    assert summarize_guarantee(seeds) == {"applies": False, "reason": "clipping triggered; no events"}


def test_why_an_arm_has_no_guarantee():
    info = SimpleNamespace(linear={}, consensus={}, bandits={}, no_guarantee={})
    pool = {"algorithm": "fixed_share", "bounds": []}
    assert seed_guarantee(info, 0, [], 100, pool=pool) == (
        {"applies": False, "reason": "no transition window in this run"}, None)
    assert seed_guarantee(info, 0, [], 100, pool=pool, delayed=True)[0]["reason"] == (
        "fixed_share under delayed feedback: its theorems assume immediate feedback (for a fixed delay, "
        "fixed_share_interleaved carries Fixed Share's bounds)")
    late = {"algorithm": "fixed_share_interleaved", "bounds": [], "late_decisions": 3}
    assert seed_guarantee(info, 0, [], 100, pool=late, delayed=True)[0]["reason"].startswith(
        "fixed_share_interleaved: a copy acted before it had learned every earlier decision's loss")
    anytime = {"algorithm": "hedge_anytime", "bounds": []}
    assert seed_guarantee(info, 0, [], 100, pool=anytime, delayed=True)[0]["reason"] == (
        "hedge_anytime under delayed feedback: its theorems assume immediate feedback")
    assert seed_guarantee(info, 0, [], 100)[0] == {"applies": False,
                                                   "reason": "no guarantee is computed for this arm"}
