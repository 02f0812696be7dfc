"""The low-stakes audit: was no single decision able to do much of the harm?

For each arm: the bound B, the largest harm seen, the share of the arm's total harm
caused by its worst 1% of decisions, and a verdict against the scenario's threshold.
Because a run without a catastrophe has not shown that none can happen, the audit also
gives the chance of at least one catastrophic decision in the next H decisions, from
Davidson's semi-informative prior: a first-trial probability p0 plays the part of
Laplace's one imagined failure; after n decisions with k catastrophes the posterior is
Beta(1 + k, 1/p0 - 1 + n - k), whose mean chance per decision is (k + 1) / (1/p0 + n).

Examples
--------
>>> round(catastrophe_chance(n=10_000, k=0, p0=0.001, horizon=1), 6)   # 1 / (1000 + 10000)
9.1e-05
>>> round(catastrophe_chance(n=10_000, k=0, p0=0.001, horizon=10_000), 3)
0.476
>>> worst_share(np.r_[np.zeros(99), 5.0])
1.0
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betaln

__all__ = ["worst_share", "catastrophe_chance", "arm_audit", "run_audit"]


def worst_share(harm: np.ndarray, fraction: float = 0.01) -> float:
    """Share of the total harm caused by the worst ``fraction`` of decisions (0 if no harm)."""
    total = float(harm.sum())
    if total <= 0:
        return 0.0
    worst = max(1, math.ceil(fraction * len(harm)))
    return float(np.sort(harm)[-worst:].sum() / total)


def catastrophe_chance(n: int, k: int, p0: float, horizon: int) -> float:
    """P(at least one catastrophe in the next ``horizon`` decisions) under the posterior
    Beta(1 + k, 1/p0 - 1 + n - k), exactly (the Beta-binomial chance of none is
    B(a, b + H) / B(a, b))."""
    a, b = 1.0 + k, 1.0 / p0 - 1.0 + n - k
    return float(-math.expm1(betaln(a, b + horizon) - betaln(a, b)))


def arm_audit(seeds: list[dict], bound: float, settings, horizon: int) -> dict:
    """The audit of one arm from its seeds' metrics (``max_harm``, ``worst_1pct_share`` and,
    with a catastrophe threshold, ``catastrophes``), pooling the seeds' decisions."""
    shares = [s["worst_1pct_share"] for s in seeds]
    out = {
        "harm_bound": bound,
        "max_harm": max(s["max_harm"] for s in seeds),
        "worst_1pct_share": float(np.mean(shares)),
        "worst_1pct_share_max": max(shares),
        "low_stakes": max(shares) <= settings.worst_share,
    }
    if settings.catastrophe is not None:
        n, k = horizon * len(seeds), sum(s["catastrophes"] for s in seeds)
        forecast = settings.forecast or horizon
        out["catastrophes"] = {
            "threshold": settings.catastrophe, "decisions": n, "seen": k, "p0": settings.p0,
            "per_decision": (k + 1) / (1 / settings.p0 + n), "forecast_decisions": forecast,
            "chance_in_forecast": catastrophe_chance(n, k, settings.p0, forecast),
        }
    return out


def run_audit(arm_audits: list[dict], settings) -> dict:
    """The run's verdict: low-stakes when every arm is."""
    low = all(a["low_stakes"] for a in arm_audits)
    return {
        "low_stakes": low,
        "rule": (f"every arm's worst 1% of decisions cause at most {settings.worst_share:.0%} "
                 "of its harm"),
        "max_harm": max(a["max_harm"] for a in arm_audits),
        "worst_1pct_share_max": max(a["worst_1pct_share_max"] for a in arm_audits),
        "catastrophe": settings.catastrophe, "p0": settings.p0, "forecast": settings.forecast,
    }
