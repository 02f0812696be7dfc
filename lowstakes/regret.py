"""Regret of expert arms against their comparators, and the bounds that apply to them.

For an arm whose learner is an expert algorithm, this computes per seed:

- *proxy regret*: the mixture loss (on the arm's feedback) minus the best fixed expert's
  and the best m-switch sequence's loss on the same feedback: what the theorems bound;
- *true regret*: the mixture's expected harm minus the best fixed expert's harm;
- every bound of :mod:`lowstakes.bounds` that applies to the algorithm and the run's
  feedback timing, with its value, the measured regret, and whether it held;
- curves of the same quantities at checkpoints, with the main bound's value at each.

Bounds that hold at every prefix of the run (fixed eta, anytime, Fixed Share with its
alpha and eta, the delayed-feedback bound with the m_t seen so far) are drawn as curves.
"""

from __future__ import annotations

import math

import numpy as np

from lowstakes import bounds
from lowstakes.experts import AnytimeHedge, FixedShare, Hedge, Interleaved, InterleavedFixedShare, rounds

__all__ = ["unrevealed", "pool_seed_metrics", "pool_curves", "bandit_seed_metrics"]


def unrevealed(time: np.ndarray, feedback_time: np.ndarray) -> np.ndarray:
    """m_t: how many earlier decisions' feedback had not arrived when decision t was taken.

    Feedback arriving at the instant of a decision counts as arrived (it is learned first).

    >>> unrevealed(np.arange(5.0), np.array([2.0, 3.0, 4.0, np.nan, np.nan])).tolist()
    [0, 1, 1, 1, 1]
    """
    arrived = np.sort(np.where(np.isnan(feedback_time), np.inf, feedback_time))
    revealed = np.searchsorted(arrived, time, side="right")
    # A decision's own zero-delay feedback arrives after it acts; it is not an earlier one.
    own = feedback_time <= time
    return np.arange(len(time)) - (revealed - own)


def _bound_at(algorithm, n, scale, t, unrevealed, switches, delayed):
    """The main guaranteed bound after t decisions, or None when none applies.
    ``unrevealed``: the run's {"penalty", "max", "sum"} of m_t (read only for Hedge under
    delayed feedback)."""
    if isinstance(algorithm, Interleaved) and algorithm.late:
        return None  # a copy acted before it had every earlier loss: no theorem applies
    if isinstance(algorithm, InterleavedFixedShare):
        copies = [(rounds(t, algorithm.delay, k) if k < t else 0, c.alpha, c.eta)
                  for k, c in enumerate(algorithm.copies)]
        return bounds.fixed_share_constant_delay(copies, n, switches, algorithm.delay, scale)
    if isinstance(algorithm, Interleaved):
        return bounds.hedge_constant_delay(t, n, algorithm.delay, scale)
    if isinstance(algorithm, Hedge):
        if delayed:
            return bounds.hedge_delays_summed(n, algorithm.eta, t, unrevealed["penalty"], unrevealed["max"],
                                              unrevealed["sum"] / t, scale)
        return bounds.hedge_eta(t, n, algorithm.eta, scale)
    if delayed:
        return None
    if isinstance(algorithm, AnytimeHedge):
        return bounds.hedge_anytime(t, n, scale)
    if isinstance(algorithm, FixedShare):
        return bounds.fixed_share(t, n, switches, algorithm.alpha, algorithm.eta, scale)
    return None


def pool_seed_metrics(info: dict, scenario, windows: list[tuple[int, int]], delayed: bool) -> dict:
    """The summary entry of one expert arm on one seed (``info``: what its policy reported
    at the end; ``delayed``: whether any of its labels came later than its decision)."""
    algorithm, n, scale = info["algorithm"], len(info["experts"]), info["loss_scale"]
    horizon = scenario.horizon
    mixture, mixture_harm = info["mixture_loss"], info["mixture_harm"]
    regret_fixed = mixture - info["best_fixed_loss"]
    regret_switching = mixture - info["best_switching_loss"]
    checks = []

    def check(bound, measured, comparator):
        if bound is not None:
            checks.append({**bound.to_dict(measured), "comparator": comparator})

    main = _bound_at(algorithm, n, scale, horizon, info["unrevealed"], info["switches"], delayed)
    shares = isinstance(algorithm, FixedShare | InterleavedFixedShare)
    if shares:
        check(main, regret_switching, f"best expert sequence ({info['switches']} switches)")
    else:
        check(main, regret_fixed, "best fixed expert")
    if isinstance(algorithm, Hedge) and not delayed and math.isclose(
            algorithm.eta, bounds.hedge_fixed_eta(horizon, n)):
        # The tuned special case, under its textbook name (same value as hedge_eta).
        checks[-1] = {**bounds.hedge_fixed(horizon, n, scale).to_dict(regret_fixed),
                      "comparator": "best fixed expert"}
    for k, (start, end) in enumerate(windows):
        bound = None
        if isinstance(algorithm, FixedShare) and not delayed:
            bound = bounds.fixed_share_window(end - start, n, algorithm.alpha, algorithm.eta, scale)
        elif isinstance(algorithm, InterleavedFixedShare) and not algorithm.late:
            d = algorithm.delay  # copy c's decisions in [start, end)
            taken = [_taken(start, end, d, c) for c in range(d + 1)]
            bound = bounds.fixed_share_window_constant_delay(
                [(tau, c.alpha, c.eta) for tau, c in zip(taken, algorithm.copies, strict=True)], n, d, scale)
        measured = info["window_mixture_loss"][k] - info["window_best_loss"][k]
        check(bound, measured, f"best expert in transition window {k}")
    return {
        "algorithm": type(algorithm).name,
        "experts": info["experts"],
        "expert_loss": info["expert_loss"],
        "expert_harm": info["expert_harm"],
        "mixture_loss": mixture,
        "mixture_harm": mixture_harm,
        "proxy_regret": {"best_fixed": regret_fixed, "best_switching": regret_switching},
        "true_regret": {"best_fixed": mixture_harm - info["best_fixed_harm"],
                        "best_switching": mixture_harm - info["best_switching_harm"]},
        "switches": info["switches"],
        "windows": [{"mixture_loss": mix, "best_expert_loss": info["window_best_loss"][k],
                     "regret": mix - info["window_best_loss"][k]}
                    for k, mix in enumerate(info["window_mixture_loss"])],
        "max_unrevealed": info["unrevealed"]["max"],
        **({"late_decisions": algorithm.late} if isinstance(algorithm, Interleaved) else {}),
        "goodhart": _goodhart_summary(info["goodhart"], mixture_harm - info["best_fixed_harm"],
                                      regret_fixed, main),
        "bounds": checks,
    }


def _taken(start: int, end: int, d: int, copy: int) -> int:
    """How many of decisions start..end-1 are copy ``copy``'s (those equal to it mod d+1).

    >>> [_taken(3, 10, 2, c) for c in range(3)]  # 3, 6, 9 | 4, 7 | 5, 8
    [3, 2, 2]
    """
    def before(t):  # ceil((t - copy) / (d + 1)): 0 for t <= copy, as copy <= d
        return -(-(t - copy) // (d + 1))
    return before(end) - before(start)


def _goodhart_line(goodhart: dict, proxy_regret):
    """g (|S| - (proxy_regret + P) / delta) - Q, at the end or at every checkpoint."""
    g, delta = goodhart["g"], goodhart["delta"]
    if isinstance(proxy_regret, np.ndarray):
        curves = goodhart["curves"]
        return g * (curves["count"] - (proxy_regret + curves["P"]) / delta) - curves["Q"]
    return g * (goodhart["decisions"] - (proxy_regret + goodhart["P"]) / delta) - goodhart["Q"]


def _goodhart_summary(goodhart: dict, true_regret: float, proxy_regret: float, main) -> dict:
    """The Goodhart lower bound on the true regret against the truly best expert a, from the
    algorithm's guaranteed bound on its feedback regret (``main``), and from the measured
    feedback regret against b (both hold for every sequence; the second is tighter)."""
    if "reason" in goodhart:
        return {"reason": goodhart["reason"]}
    out = {k: v for k, v in goodhart.items() if k not in ("curves", "a", "b")}
    out |= {"kind": bounds.GUARANTEED_LOWER, "source": "BOUNDS.md, 'The Goodhart lower bound, made exact'",
            "measured": true_regret, "proxy_regret": proxy_regret,
            "value_from_measured": _goodhart_line(goodhart, proxy_regret)}
    tolerance = 1e-9 * (abs(true_regret) + goodhart["decisions"] * goodhart["g"] + 1)
    if main is None:
        out |= {"value": None, "proxy_bound": None,
                "reason": "no guaranteed bound on the feedback regret applies (delayed feedback), so only "
                          "the line from the measured feedback regret is given"}
        out["holds"] = true_regret >= out["value_from_measured"] - tolerance
    else:
        out |= {"proxy_bound": main.value, "value": _goodhart_line(goodhart, main.value)}
        out["holds"] = bool(true_regret >= out["value"] - tolerance
                            and true_regret >= out["value_from_measured"] - tolerance)
    return out


def pool_curves(info: dict, delayed: bool) -> dict[str, np.ndarray]:
    """Regret curves at the checkpoints and the main bound's value at each (NaN if none)."""
    algorithm, n, scale = info["algorithm"], len(info["experts"]), info["loss_scale"]
    steps = info["checkpoints"]
    curves = info["curves"]
    if isinstance(algorithm, Interleaved) and algorithm.late:
        values = np.full(len(steps), np.nan)  # no bound applies (see _bound_at)
    elif type(algorithm) is Interleaved:
        # Each copy keeps its own fixed-eta bound at every prefix; their sum is at most
        # the textbook sqrt((d+1)(T/2) ln N) at the horizon (Cauchy-Schwarz).
        values = np.zeros(len(steps))
        for k, copy in enumerate(algorithm.copies):
            rounds = np.maximum(0, np.ceil((steps + 1 - k) / len(algorithm.copies)))
            values += np.where(rounds > 0, scale * (math.log(n) / copy.eta + copy.eta * rounds / 8), 0)
    elif isinstance(algorithm, Hedge):
        # The delay bound at every prefix, from one cumulative sum (no loop over steps).
        eta, t = algorithm.eta, steps + 1
        penalty = np.asarray(curves["delay_penalty"])
        values = scale * (math.log(n) / eta + eta * t / 8 + 0.5 * penalty)
    else:
        values = np.full(len(steps), np.nan)
        for k, step in enumerate(steps):
            # Not Hedge: no bound reads m_t (and under delays there is none).
            bound = _bound_at(algorithm, n, scale, int(step) + 1, None, info["switches"], delayed)
            if bound is not None:
                values[k] = bound.value
    fixed_share = isinstance(algorithm, FixedShare | InterleavedFixedShare)
    return {
        "step": steps,
        "proxy_regret": curves["mixture_loss"] - curves["best_fixed_loss"],
        "tracking_regret": curves["mixture_loss"] - curves["best_switching_loss"],
        "true_regret": curves["mixture_harm"] - curves["best_fixed_harm"],
        "bound": values,
        # The Goodhart lower bound at each prefix, from the bound's value there (NaN where
        # there is none).
        "goodhart": (np.full(len(steps), np.nan) if "reason" in info["goodhart"]
                     else _goodhart_line(info["goodhart"], values)),
        "bound_comparator": np.array(["best_switching" if fixed_share else "best_fixed"] * len(steps)),
    }


def bandit_seed_metrics(info: dict, switching, totals: dict, scenario, late: bool) -> dict:
    """The summary entry of an arm choosing among K actions on one seed: its loss on its own
    feedback against the best fixed action and the best action sequence with m switches
    (``switching``, a :class:`~lowstakes.comparators.Switching` fed the feedback's costs of
    every action), and the in-expectation bounds that apply (exp3, exp3_share, with every
    label back before the next decision: ``late`` False). Their theorems are for losses fixed
    in advance, which the engine's are: the stream is drawn without looking at any arm."""
    horizon, k, scale = scenario.horizon, info["k"], info["scale"]
    loss = totals["feedback_loss"]
    regret_fixed = loss - float(switching.totals.min())
    regret_switching = loss - switching.value
    m = len(switching.state) - 1
    checks, reason = [], None
    params = info["bound"]
    if params is None:
        reason = f"{info['algorithm']}: no regret bound is computed for this learner"
    elif late:
        reason = (f"{info['algorithm']} with labels that come late or not at all: its bound assumes each "
                  "cost is seen before the next decision")
    elif info["algorithm"] == "exp4":
        regret_expert = loss - min(info["expert_loss"])
        bound = bounds.exp4(horizon, k, params["experts"], params["eta"], scale)
        checks.append({**bound.to_dict(regret_expert),
                       "comparator": "best expert"})
    elif info["algorithm"] == "exp3":
        checks.append({**bounds.exp3_general(horizon, k, params["eta"], scale).to_dict(regret_fixed),
                       "comparator": "best fixed action"})
    else:
        alpha, eta = params["alpha"], params["eta"]
        checks.append({**bounds.exp3_share(horizon, k, 0, alpha, eta, scale).to_dict(regret_fixed),
                       "comparator": "best fixed action"})
        checks.append({**bounds.exp3_share(horizon, k, m, alpha, eta, scale).to_dict(regret_switching),
                       "comparator": f"best action sequence ({m} switches)"})
    for check in checks:  # an expected bound is held against the seeds' mean, not one run
        del check["holds"]
    regret = {"best_fixed": regret_fixed, "best_switching": regret_switching}
    if "expert_loss" in info:
        regret["best_expert"] = loss - min(info["expert_loss"])
    return {"algorithm": info["algorithm"], "actions": k, "feedback_loss": loss, "regret": regret,
            "switches": m,
            "bounds": checks, **({"reason": reason} if reason else {})}
