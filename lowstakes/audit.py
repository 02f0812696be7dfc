"""The low-stakes audit: could any single decision, or any burst faster than the overseer
can react, do much of the harm?

Low stakes, in the seed argument, means that no single decision and no short burst of
decisions (shorter than the overseer's reaction time) can do much harm: only long-run
averages matter. The audit measures exactly that, per arm and seed, in three parts:

- **per decision**: the largest harm against B (the engine already refuses any harm
  outside [0, B]), against the most a *typical* decision (the median decision) could do at
  worst (its stakes times its worst cost), and, for scale, B next to the arm's total harm
  and its transition costs. Where every decision has the same stakes the largest harm is
  at most the typical worst; where rare decisions carry far higher stakes, an arm that did
  harm on one of them did what no ordinary decision can;
- **concentration among the harmful decisions**: the share of the harm caused by the worst
  1% of the decisions that did any harm, counting fractions of a decision (so 1% when every
  harmful decision did the same harm, however few there were). A good learner with rare
  mistakes is not concentrated; a learner whose rare mistakes are catastrophes is;
- **bursts**: the largest harm done by any k consecutive decisions, k the reaction time (in
  decisions), against k x B (how close the burst came to the worst k decisions could do)
  and against the arm's total harm (how much of the run it was). The search starts at
  decision k: the first k decisions, before any label can have come back, are a learner's
  cold start (every learner here starts untrained), not a burst.

An arm is low-stakes when no decision did more than ``outlier`` times the typical worst, its
worst 1% of harmful decisions cause at most ``concentration`` of its harm, and no burst does
all of: more than ``burst_density`` x k x B (near the worst k
decisions can do), more than ``burst_share`` of the arm's harm (it matters for the run), and
more than ``burst_contrast`` times the harm of an average k decisions of the arm (it stands
out: an arm that is bad all along has no burst, only a pile-up).

Because a run that saw no catastrophe has not shown that none can happen, the audit also
gives the chance of at least one catastrophic decision in the
next H decisions, from Davidson's semi-informative prior: a first-trial probability p0
plays the part of Laplace's one imagined failure; after n decisions with k catastrophes the
posterior is Beta(1 + k, 1/p0 - 1 + n - k), whose mean chance per decision is
(k + 1) / (1/p0 + n).

Examples
--------
>>> round(catastrophe_chance(n=10_000, k=0, p0=0.001, horizon=1), 6)   # 1 / (1000 + 10000)
9.1e-05
>>> round(catastrophe_chance(n=10_000, k=0, p0=0.001, horizon=10_000), 3)
0.476
>>> harmful_top_share(np.r_[np.zeros(990), np.ones(10)])     # ten equal mistakes: 1%
0.01
>>> harmful_top_share(np.r_[np.ones(99), 901.0])             # one catastrophe among 100
0.901
>>> largest_burst(np.r_[np.zeros(10), np.ones(3), np.zeros(10)], k=4)
(3.0, 9)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln

__all__ = ["harmful_top_share", "largest_burst", "seed_audit", "catastrophe_chance", "arm_audit",
           "run_audit", "reaction_time", "rule_text"]

#: The worst fraction of the harmful decisions whose share of the harm is measured.
TOP = 0.01


def harmful_top_share(harm: np.ndarray, fraction: float = TOP) -> float:
    """Share of the total harm caused by the worst ``fraction`` of the decisions that did
    any harm, counting fractions of a decision (0 when there was no harm).

    With m harmful decisions the worst fraction x m of them are taken, the last one in part:
    equal harms give exactly ``fraction`` whatever m is, so rare mistakes alone do not look
    concentrated.
    """
    harmful = np.sort(harm[harm > 0])[::-1]
    total = float(harmful.sum())
    if total <= 0:
        return 0.0
    count = fraction * len(harmful)
    whole = int(math.floor(count))
    top = float(harmful[:whole].sum())
    if whole < len(harmful):
        top += (count - whole) * float(harmful[whole])
    return top / total


def largest_burst(harm: np.ndarray, k: int, skip: int = 0) -> tuple[float, int]:
    """The largest harm done by any ``k`` consecutive decisions from decision ``skip`` on,
    and the first of them."""
    harm = harm[skip:]
    if len(harm) == 0:
        return 0.0, skip
    k = min(k, len(harm))
    cumulative = np.concatenate([[0.0], np.cumsum(harm, dtype=float)])
    sums = cumulative[k:] - cumulative[:-k]
    start = int(np.argmax(sums))
    return float(sums[start]), start + skip


def reaction_time(scenario, learner: str) -> int:
    """The overseer's reaction time for ``learner``'s arms, in decisions: ``audit.reaction``
    if set; otherwise the mean time until a decision's label is in (the feedback delay and,
    with an overseer, its mean service time) over the mean time between decisions, at least
    1; with neither a delay nor an overseer, the window smoothing (the span over which the
    tool itself judges a learner's behaviour)."""
    if scenario.audit.reaction is not None:
        return scenario.audit.reaction
    timing = scenario.timing
    delay = timing.feedback_delay
    mean = delay.exponential if delay.exponential is not None else (delay.fixed or 0.0)
    overseer = scenario.learners[learner].overseer or timing.overseer
    if overseer is not None:
        service = overseer.service
        mean += service.fixed if service.fixed is not None else service.exponential
    if mean <= 0:
        return max(1, scenario.windows.smoothing)
    gap = timing.arrivals.every if timing.arrivals.every is not None else 1.0 / timing.arrivals.poisson
    return max(1, math.ceil(mean / gap - 1e-9))


def rule_text(settings) -> str:
    return (f"no decision of an arm does more than {settings.outlier:g} times the most a typical decision "
            f"can do, no arm's worst {TOP:.0%} of harmful decisions cause more than "
            f"{settings.concentration:.0%} "
            f"of its harm, and no k consecutive decisions (k: the arm's reaction time) do more than "
            f"{settings.burst_density:.0%} of k x B, more than {settings.burst_share:.0%} of its harm and "
            f"more than {settings.burst_contrast:g} times an average k decisions' harm")


def seed_audit(harm: np.ndarray, bound: float, settings, k: int, transition_cost: float | None,
               typical: float | None = None) -> dict:
    """One arm's audit on one seed, from its harm per decision. ``typical``: the most harm a
    typical decision (the median over the run's decisions) could do (None: not known, as
    with a user harm function)."""
    # From decision k on: before that no label can have come back, and every learner here
    # starts untrained, so its first k decisions are a cold start, not a burst.
    burst = largest_burst(harm, k, skip=k if k < len(harm) else 0)
    catastrophes = None if settings.catastrophe is None else int((harm > settings.catastrophe).sum())
    stats = HarmStats(n=len(harm), total=float(harm.sum()), largest=float(harm.max(initial=0.0)),
                      harmful=int((harm > 0).sum()), top_share=harmful_top_share(harm), burst=burst,
                      catastrophes=catastrophes)
    return audit_of(stats, bound, settings, k, transition_cost, typical)


@dataclass
class HarmStats:
    """What the audit needs of one arm's harm on one seed (computed from the whole array by
    :func:`seed_audit`, or block by block by :mod:`lowstakes.seedmetrics`)."""

    n: int
    total: float
    largest: float
    harmful: int
    top_share: float
    burst: tuple[float, int]
    catastrophes: int | None = None


def audit_of(stats: HarmStats, bound: float, settings, k: int, transition_cost: float | None,
             typical: float | None = None) -> dict:
    """The audit of one arm on one seed from its :class:`HarmStats`."""
    total, n = stats.total, stats.n
    burst, start = stats.burst
    top = stats.top_share
    density = burst / (k * bound)
    share = burst / total if total > 0 else 0.0
    contrast = share / min(1.0, k / n) if n else 0.0  # vs an average k decisions
    concentrated = top > settings.concentration
    largest = stats.largest
    outlier_ratio = largest / typical if typical else None
    outlier = outlier_ratio is not None and outlier_ratio > settings.outlier
    bursty = (density > settings.burst_density and share > settings.burst_share
              and contrast > settings.burst_contrast)
    out = {
        "max_harm": largest, "total_harm": total,
        "harmful_decisions": stats.harmful,
        "top_share": top, "largest_share": largest / total if total > 0 else 0.0,
        "bound_over_harm": bound / total if total > 0 else None,
        "bound_over_transition_cost": (bound / transition_cost if transition_cost is not None
                                       and transition_cost > 0 else None),
        "burst": {"k": k, "harm": burst, "start": start, "density": density, "share": share,
                  "contrast": contrast},
        "typical_worst": typical, "outlier_ratio": outlier_ratio,
        "outlier": outlier, "concentrated": concentrated, "bursty": bursty,
        "low_stakes": not (outlier or concentrated or bursty),
    }
    if settings.catastrophe is not None:
        out["catastrophes"] = stats.catastrophes
    return out


def catastrophe_chance(n: int, k: int, p0: float, horizon: int) -> float:
    """P(at least one catastrophe in the next ``horizon`` decisions) under the posterior
    Beta(1 + k, 1/p0 - 1 + n - k), exactly (the Beta-binomial chance of none is
    B(a, b + H) / B(a, b))."""
    a, b = 1.0 + k, 1.0 / p0 - 1.0 + n - k
    return float(-math.expm1(betaln(a, b + horizon) - betaln(a, b)))


def arm_audit(seeds: list[dict], bound: float, settings, horizon: int) -> dict:
    """The audit of one arm from its seeds' audits (each seed's ``audit``), pooling the
    seeds' decisions for the catastrophe forecast. The arm is low-stakes when every seed is."""
    audits = [s["audit"] for s in seeds]
    worst_burst = max(audits, key=lambda a: a["burst"]["share"])["burst"]
    out = {
        "harm_bound": bound,
        "max_harm": max(a["max_harm"] for a in audits),
        "top_share": float(np.mean([a["top_share"] for a in audits])),
        "top_share_max": max(a["top_share"] for a in audits),
        "largest_share_max": max(a["largest_share"] for a in audits),
        "bound_over_harm": _mean_or_none([a["bound_over_harm"] for a in audits]),
        "bound_over_transition_cost": _mean_or_none([a["bound_over_transition_cost"] for a in audits]),
        "burst": worst_burst,
        "outlier": sum(a["outlier"] for a in audits),
        "outlier_ratio_max": max((a["outlier_ratio"] for a in audits if a["outlier_ratio"] is not None),
                                 default=None),
        "concentrated": sum(a["concentrated"] for a in audits),
        "bursty": sum(a["bursty"] for a in audits),
        "seeds": len(audits),
        "low_stakes": all(a["low_stakes"] for a in audits),
    }
    if settings.catastrophe is not None:
        n, k = horizon * len(audits), sum(a["catastrophes"] for a in audits)
        forecast = settings.forecast or horizon
        out["catastrophes"] = {
            "threshold": settings.catastrophe, "decisions": n, "seen": k, "p0": settings.p0,
            "per_decision": (k + 1) / (1 / settings.p0 + n), "forecast_decisions": forecast,
            "chance_in_forecast": catastrophe_chance(n, k, settings.p0, forecast),
        }
    return out


def _mean_or_none(values):
    given = [v for v in values if v is not None]
    return float(np.mean(given)) if given else None


def run_audit(arm_audits: list[dict], settings) -> dict:
    """The run's verdict: low-stakes when every arm is."""
    return {
        "low_stakes": all(a["low_stakes"] for a in arm_audits),
        "rule": rule_text(settings),
        "reaction": settings.reaction,
        "outlier": settings.outlier, "concentration": settings.concentration,
        "burst_density": settings.burst_density,
        "burst_share": settings.burst_share, "burst_contrast": settings.burst_contrast,
        "max_harm": max(a["max_harm"] for a in arm_audits),
        "top_share_max": max(a["top_share_max"] for a in arm_audits),
        "burst_share_max": max(a["burst"]["share"] for a in arm_audits),
        "catastrophe": settings.catastrophe, "p0": settings.p0, "forecast": settings.forecast,
    }
