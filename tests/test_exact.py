"""Exact values, and the edges of every check: the deliberate bugs an outside review planted
(issue 19) each make a test here fail. Values written as numbers were computed by hand from
the formulas of BOUNDS.md, not by the functions under test."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import LOGREG, make_scenario

import lowstakes
from lowstakes import bounds
from lowstakes.grid import task_key
from lowstakes.metrics import windows
from lowstakes.regret import unrevealed
from lowstakes.simulation import seed_sequence, simulate

ROOT = Path(__file__).parent.parent
LN4 = math.log(4)


@pytest.mark.parametrize("bound, value", [
    # sqrt(2 T ln N) + sqrt(ln N / 8), T = 100, N = 4, times B = 2
    (lambda: bounds.hedge_anytime(100, 4, 2.0), 2 * (math.sqrt(200 * LN4) + math.sqrt(LN4 / 8))),
    # [ln(N / alpha) + tau ln(1 / (1 - alpha))] / eta + eta tau / 8, tau = 100, N = 4, alpha = .01, eta = .5
    (lambda: bounds.fixed_share_window(100, 4, 0.01, 0.5),
     (math.log(400) + 100 * math.log(1 / 0.99)) / 0.5 + 6.25),
    # ln N / eta + eta T / 8 + (1/2) sum (exp(eta m_t) - 1), m = [0, 1, 2, 3], eta = .5
    (lambda: bounds.hedge_delays(4, 0.5, [0, 1, 2, 3]),
     LN4 / 0.5 + 0.25 + 0.5 * (math.exp(0.5) - 1 + math.exp(1.0) - 1 + math.exp(1.5) - 1)),
    # [(m+1) ln N + m ln(1/alpha) + (T-m-1) ln(1/(1-alpha))] / eta + eta T / 8
    (lambda: bounds.fixed_share(1000, 4, 2, 0.002, 0.1),
     (3 * LN4 + 2 * math.log(500) + 997 * math.log(1 / 0.998)) / 0.1 + 12.5),
    (lambda: bounds.hedge_constant_delay(100, 4, 3), math.sqrt(4 * 50 * 1.386294361)),
    (lambda: bounds.hedge_eta(100, 4, 0.5), 1.386294361 / 0.5 + 6.25),
    (lambda: bounds.hedge_fixed(100, 4, 3.0), 3 * math.sqrt(50 * 1.386294361)),
    (lambda: bounds.hedge_doubling(100, 4), 3.414213562 * math.sqrt(50 * 1.386294361)),
    (lambda: bounds.ogd(100, 2, 3), 90.0),
    (lambda: bounds.exp3(100, 4), math.sqrt(800 * 1.386294361)),
    (lambda: bounds.minimax_lower(100, 4), math.sqrt(50 * 1.386294361)),
])
def test_each_bound_at_a_point_computed_by_hand(bound, value):
    assert bound().value == pytest.approx(value, rel=1e-8)


def test_tuned_fixed_share_by_hand():
    alpha, eta = bounds.fixed_share_tuned(T=1000, N=4, m=2)
    assert alpha == pytest.approx(2 / 999)
    # C = 3 ln 4 + 999 H(2/999); eta = sqrt(8 C / T)
    h = -(2 / 999) * math.log(2 / 999) - (997 / 999) * math.log(997 / 999)
    assert eta == pytest.approx(math.sqrt(8 * (3 * 1.386294361 + 999 * h) / 1000), rel=1e-8)


def test_the_delay_bound_counts_what_is_unrevealed():
    # Decisions at 0..4; the first label arrives at 2.5, the second at 2.0 (at decision 2's
    # instant: it counts as in), the rest never.
    m = unrevealed(np.arange(5.0), np.array([2.5, 2.0, np.nan, np.nan, np.nan]))
    assert m.tolist() == [0, 1, 1, 1, 2]
    assert bounds.hedge_delays(4, 0.5, m).value > bounds.hedge_eta(5, 4, 0.5).value


def test_no_bound_for_fixed_share_or_anytime_hedge_under_delays(tmp_path):
    experts = {"a": {"rule": "concept", "params": {"concept": 0}},
               "b": {"rule": "concept", "params": {"concept": 1}}, "c": {"rule": "constant"}}
    scenario = make_scenario(horizon=2000, seeds=1, timing={"feedback_delay": {"exponential": 5}},
                             learners={"fs": {"algorithm": "fixed_share", "experts": experts},
                                       "any": {"algorithm": "hedge_anytime", "experts": experts},
                                       "hedge": {"algorithm": "hedge", "experts": experts}})
    result = lowstakes.run(scenario, out=tmp_path / "run")
    for arm in result.summary["arms"]:
        names = [b["name"] for b in arm["seeds"][0]["pool"]["bounds"]]
        if arm["learner"] in ("fs", "any"):
            assert names == [] and "delayed feedback" in arm["guarantee"]["reason"]
        else:
            assert names == ["hedge_delays"]


def test_recovery_runs_to_the_next_shift_and_its_tolerance_is_in_units_of_b():
    # B = 10: tolerance 0.05 x B = 0.5. After the shift at 100 the excess is 3 until 230,
    # then 0.3 (within 0.5 of the baseline 0): recovered at 130 + smoothing lag. The window
    # ends at 150, the next shift is at 400: recovery is measured past the window's end.
    excess = np.r_[np.zeros(100), np.full(130, 3.0), np.full(170, 0.3)]
    (w,) = windows(excess, shifts=[100], horizon=400, length=50, smoothing=20, tolerance=0.05, bound=10.0)
    assert (w["start"], w["end"], w["cost"]) == (100, 150, 150.0)
    # The trailing mean over 20 at step 247 holds two 3s and 18 x 0.3: 0.57 > 0.5; at 248 one
    # 3 and 19 x 0.3: 0.435. The last step above is 247: recovery = 248 - 100 = 148.
    assert w["recovery"] == 148
    (w,) = windows(excess, shifts=[100], horizon=400, length=50, smoothing=20, tolerance=0.05, bound=1.0)
    assert w["recovery"] is None  # 0.3 > 0.05 x 1: never within tolerance


def test_negative_harm_fails_the_run_loudly(tmp_path, monkeypatch):
    (tmp_path / "neg_harm.py").write_text(
        "import numpy as np\n"
        "def harm(actions, truth, block):\n"
        "    return np.where(np.asarray(block.steps) == 150, -0.5, (actions != truth).astype(float))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = make_scenario(harm={"bound": 1.0, "function": "neg_harm:harm"})
    with pytest.raises(lowstakes.HarmBoundError, match="decision 150 did harm -0.5, outside"):
        lowstakes.run(scenario, out=tmp_path / "run")


def test_neighbouring_master_seeds_do_not_share_seed_streams():
    def state(master, n, seed):
        return seed_sequence(master, n, seed).generate_state(4).tolist()

    assert state(1, 3, 1) != state(2, 3, 0)
    assert state(7, 2, 1) == state(7, 9, 1)  # the number of seeds does not change a seed's stream


@pytest.mark.parametrize("shift, ok", [({"at": 995, "width": 5}, True), ({"at": 995, "width": 6}, False),
                                        ({"at": 999, "width": 1}, True), ({"at": 1000, "width": 1}, False)])
def test_a_shift_must_end_within_the_horizon(shift, ok):
    make = lambda: make_scenario(stream={"source": "sea", "shifts": [{**shift, "params": {"variant": 3}}]})  # noqa: E731
    if ok:
        make()
    else:
        with pytest.raises(lowstakes.ScenarioError, match="ends beyond the horizon"):
            make()


@pytest.mark.parametrize("noise, ok", [(0.499, True), (0.5, False)])
def test_label_noise_below_one_half(noise, ok):
    stream = {"source": "sea", "label_noise": noise, "shifts": [{"at": 500, "params": {"variant": 3}}]}
    if ok:
        make_scenario(stream=stream)
    else:
        with pytest.raises(lowstakes.ScenarioError, match="must be below 0.5"):
            make_scenario(stream=stream)


def test_best_constant_cannot_go_with_a_harm_function(tmp_path, monkeypatch):
    (tmp_path / "some_harm.py").write_text("def harm(actions, truth, block):\n    return actions != truth\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    make_scenario(comparator="oracle", harm={"function": "some_harm:harm"})
    with pytest.raises(lowstakes.ScenarioError, match="best_constant cannot be used with harm.function"):
        make_scenario(comparator="best_constant", harm={"function": "some_harm:harm"})


def test_uncertainty_queries_need_class_probabilities():
    stream = {"source": "friedman", "label_noise": 1.0}
    learner = {"model": "linear_model.LinearRegression", "query": {"policy": "fraction", "rate": 0.5}}
    lowstakes.Scenario.from_dict({"name": "r", "horizon": 500, "harm": {"bound": 5.0}, "stream": stream,
                                  "learners": {"lin": learner}})
    with pytest.raises(lowstakes.ScenarioError, match="uncertainty queries need class probabilities"):
        lowstakes.Scenario.from_dict({"name": "r", "horizon": 500, "harm": {"bound": 5.0}, "stream": stream,
                                      "learners": {"lin": {**learner, "query": {"policy": "uncertainty"}}}})


@pytest.mark.slow
def test_horizon_scales_shifts_and_windows_by_the_numbers(tmp_path):
    done = _cli("run", "scenarios/shift.yaml", "--horizon", "2000", "--seeds", "1", "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    summary = lowstakes.load(tmp_path / "run").summary
    # shift.yaml: shift at 10,000 of 20,000, window length 4,000, smoothing 500.
    assert summary["shifts"] == [1000]
    assert summary["windows"]["length"] == 400 and summary["windows"]["smoothing"] == 50
    assert summary["arms"][0]["windows"][0]["end"] == 1400


def test_rate_cap_asks_as_often_as_its_tokens_allow():
    learner = {**LOGREG, "query": {"policy": "rate_cap", "per_time": 0.1, "burst": 5}}
    scenario = make_scenario(horizon=4000, seeds=1, objectives={"aligned": {"feedback": "truth"}},
                             learners={"capped": learner})
    asked = simulate(scenario, 0).requested[0]
    # 5 at once, then a token every 10 time units: about 5 + 3999 / 10.
    assert 403 <= asked.sum() <= 405
    assert asked[:5].all() and not asked[5:10].any() and asked[10:12].any()


def test_a_task_is_keyed_by_everything_that_changes_its_result():
    scenario = make_scenario(horizon=1000, seeds=2)
    key = task_key(scenario, 0)
    assert task_key(scenario, 1) != key
    assert task_key(scenario.with_overrides(horizon=2000), 0) != key
    # The horizon alone (shifts and windows as they were) still changes the result.
    longer = lowstakes.Scenario.from_dict({**scenario.to_dict(), "horizon": 2000})
    assert longer.stream.shifts == scenario.stream.shifts and task_key(longer, 0) != key
    changed = lowstakes.Scenario.from_dict({**scenario.to_dict(), "harm": {"bound": 2.0}})
    assert task_key(changed, 0) != key
    assert task_key(scenario.with_overrides(seeds=5), 0) == key  # the number of seeds does not


def _cli(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "lowstakes", *map(str, argv)], capture_output=True,
                          text=True, cwd=cwd)


@pytest.mark.slow
def test_exit_status_1_through_the_command_for_a_run_and_a_sweep(tmp_path):
    (tmp_path / "too_big.py").write_text(
        "import numpy as np\n"
        "def stakes(block):\n"
        "    return np.where(np.asarray(block.steps) >= 300, 10.0, 1.0)\n")
    text = (ROOT / "scenarios" / "shift.yaml").read_text().replace(
        "harm: {bound: 1.0, false_positive: 1.0, false_negative: 1.0}",
        "harm: {bound: 1.0, false_positive: 1.0, false_negative: 1.0, stakes: {function: 'too_big:stakes'}}")
    (tmp_path / "s.yaml").write_text(text)
    run = _cli("run", "s.yaml", "--horizon", "600", "--seeds", "1", "--out", "r", cwd=tmp_path)
    assert run.returncode == 1 and "outside [0, B=1.0]" in run.stderr and "Traceback" not in run.stderr
    sweep = _cli("sweep", "s.yaml", "--horizon", "600", "--seeds", "1", "--workers", "1", "--set",
                 "stream.label_noise=0.0,0.1", "--out", "sw", cwd=tmp_path)
    assert sweep.returncode == 1 and "2 task(s) failed" in sweep.stderr and "Traceback" not in sweep.stderr


@pytest.mark.slow
def test_a_task_that_kills_its_workers_fails_with_killed_worker(tmp_path):
    (tmp_path / "killer.py").write_text(
        "import os\n"
        "def harm(actions, truth, block):\n"
        "    os._exit(3)\n")
    text = (ROOT / "scenarios" / "shift.yaml").read_text().replace(
        "harm: {bound: 1.0, false_positive: 1.0, false_negative: 1.0}",
        "harm: {bound: 1.0, function: 'killer:harm'}")
    (tmp_path / "s.yaml").write_text(text)
    argv = ["sweep", "s.yaml", "--horizon", "400", "--seeds", "1", "--workers", "2",
            "--set", "stream.label_noise=0.0", "--out", "sw"]
    done = subprocess.run([sys.executable, "-m", "lowstakes", *argv],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1, done.stderr
    assert "KilledWorker" in (tmp_path / "sw" / "failures.json").read_text()
