"""Every arm against a guaranteed bound per transition window, or the reason none applies.

Per arm and seed, ``guarantee`` is one of:

- a River linear model that online gradient descent covers (:mod:`lowstakes.linear`): per
  window and for the whole run, its regret on its own feedback (the surrogate loss it
  learns on) against the best fixed linear model u* of that window, the bound with its
  distance and step terms, the a-priori form, and whether it held;
- a Fixed Share expert arm under immediate feedback: per window, its regret against the
  best single expert of the window and ``fixed_share_window``;
- anything else: ``applies: false`` and a one-line reason.

The window's true cost (excess harm over the comparator) sits beside each bound in the
summary, so the two readings of a window can be held side by side: what the arm was told
to minimise, and what it cost.
"""

from __future__ import annotations

import numpy as np

from lowstakes import linear, metrics

__all__ = ["seed_guarantee", "summarize_guarantee", "REMEDY"]

REMEDY = ("an expert arm (algorithm: fixed_share) over such models carries Fixed Share's window "
          "bound against the best of them")

BANDIT_REASON = ("an arm choosing among K actions: its bounds (exp3, exp3_share) hold in expectation "
                 "over the whole run, against the best action and action sequence; see the bandit table")

CONSENSUS_REASON = ("imitation of the overseer: the consensus imitator's guarantees are per-decision "
                    "invariants, not a regret bound (BOUNDS.md, 'Consensus imitation'); no window bound is "
                    "computed for the Bayesian-mixture or MAP imitators either")


#: Why an interleaved algorithm has no bound on a seed where a copy acted before it had learned
#: all its earlier losses (the summary's pool entry counts those decisions: late_decisions).
INTERLEAVED_LATE = ("a copy acted before it had learned every earlier decision's loss "
                    "(a label later than the fixed delay, or never asked for), so the interleaved bound, "
                    "which assumes every label comes within the delay, does not apply")


def _pool_guarantee(pool: dict, delayed: bool) -> dict:
    algorithm = pool["algorithm"]
    windows = [b for b in pool["bounds"] if b["name"].startswith("fixed_share_window")]
    if windows:
        return {"applies": True, "name": windows[0]["name"], "kind": "guaranteed",
                "source": windows[0]["source"],
                "comparator": "the best single expert in the window, on the arm's feedback",
                "windows": [{"shift": k, "regret": b["measured"], "bound": b["value"],
                             "holds": b["holds"]} for k, b in enumerate(windows)],
                "run": None}
    if pool.get("late_decisions"):
        reason = f"{algorithm}: {INTERLEAVED_LATE}"
    elif delayed and algorithm in ("fixed_share", "hedge_anytime"):
        reason = f"{algorithm} under delayed feedback: its theorems assume immediate feedback"
        if algorithm == "fixed_share":
            reason += " (for a fixed delay, fixed_share_interleaved carries Fixed Share's bounds)"
    elif algorithm in ("fixed_share", "fixed_share_interleaved"):
        reason = "no transition window in this run"
    else:
        reason = (f"{algorithm}'s guarantee is against the best fixed expert over the whole run (see the "
                  "expert table), not per window; Fixed Share has one per window")
    return {"applies": False, "reason": reason}


def seed_guarantee(info, j: int, spans, horizon: int, true_cost=None, pool=None,
                   delayed: bool = False) -> tuple[dict, list | None]:
    """Arm ``j``'s guarantee on this seed and, for linear arms, the bound curves per window
    (None otherwise). ``info``: what the seed reported at its end (a SeedInfo or SeedRun);
    ``true_cost[k]``: the arm's excess harm summed from window k's start to each of the
    window's checkpoints (:func:`lowstakes.linear.checkpoints`); ``pool``: an expert arm's
    metrics (:func:`lowstakes.regret.pool_seed_metrics`); ``delayed``: whether any of the
    arm's labels came later than its decision."""
    if j in info.linear:
        out = linear.window_guarantees(info.linear[j], spans, horizon,
                                       curves_at=linear.checkpoints(spans))
        if not out["applies"]:
            return out, None
        records = info.linear[j]
        out |= {"name": linear.NAME, "kind": "guaranteed", "source": linear.SOURCE,
                "comparator": "u*: the best fixed linear model on the window's learning events",
                "loss": records["kind"], "eta": {"weights": records["eta_w"], "intercept": records["eta_b"]},
                "l2": records["l2"]}
        curves = []
        for k, window in enumerate(out["windows"]):
            curve = window.pop("curve")
            if true_cost is not None:  # at the same checkpoints as the curve's steps
                curve["true_cost"] = list(true_cost[k])
            curves.append({"window": k, **curve})
        return out, curves
    if pool is not None:
        return _pool_guarantee(pool, delayed), None
    if j in info.consensus:
        return {"applies": False, "reason": CONSENSUS_REASON}, None
    if j in info.bandits:
        return {"applies": False, "reason": BANDIT_REASON}, None
    reason = info.no_guarantee.get(j) or "no guarantee is computed for this arm"
    if "no regret bound applies" in reason:
        reason += f"; {REMEDY}"
    return {"applies": False, "reason": reason}, None


def summarize_guarantee(seeds: list[dict]) -> dict:
    """One arm's guarantee across seeds: per window the mean regret (with its CI), the mean
    bound and terms, the window cost beside them, and in how many seeds the bound held."""
    entries = [s["guarantee"] for s in seeds]
    applied = [g for g in entries if g["applies"]]
    if not applied:
        reasons = list(dict.fromkeys(g["reason"] for g in entries))
        return {"applies": False, "reason": "; ".join(reasons)}
    first = applied[0]
    out = {k: v for k, v in first.items() if k not in ("windows", "run", "replay_error")}
    out["seeds"] = len(entries)
    if len(applied) < len(entries):
        out["not_in_seeds"] = [g["reason"] for g in entries if not g["applies"]]
    costs = [s["windows"] for s in seeds if s["guarantee"]["applies"]]
    out["windows"] = []
    for k in range(len(first["windows"])):
        out["windows"].append(_summarize_window([g["windows"][k] for g in applied],
                                                [c[k]["cost"] for c in costs], shift=k))
    if first.get("run") is not None:
        out["run"] = _summarize_window([g["run"] for g in applied], None)
    return out


def _summarize_window(windows: list[dict], costs, shift=None) -> dict:
    regret = metrics.mean_ci([w["regret"] for w in windows])
    out = {} if shift is None else {"shift": shift}
    out |= {"regret": regret["mean"], "regret_ci95": regret["ci95"],
            "bound": float(np.mean([w["bound"] for w in windows])),
            "held": sum(w["holds"] for w in windows), "seeds": len(windows)}
    for term in ("distance", "step", "approximation", "apriori", "decision_shift", "events"):
        if term in windows[0]:
            out[term] = float(np.mean([w[term] for w in windows]))
    if "comparator" in windows[0]:
        # u* not found to precision: the window's labels are separable, no finite best model.
        out["comparator_unconverged"] = sum(not w["comparator"]["converged"] for w in windows)
    if costs is not None:
        cost = metrics.mean_ci(costs)
        out["cost"], out["cost_ci95"] = cost["mean"], cost["ci95"]
    return out
