"""Expert pools: a learner that is an expert algorithm (Hedge, Fixed Share, ...) over experts.

Experts are fixed rules (vectorised over a block of decisions: the concept before or
after a shift, a constant action, or user code) or River models that learn from the
arm's feedback. Each expert predicts P(truth = 1 | context) and takes the least-cost
action under the arm's objective; its *loss* is the objective's cost of that action
against the arm's feedback (divided by the largest cost, so the algorithm sees [0, 1]),
and its *true harm* is recorded beside it.

The arm acts by least expected cost under the mixture of the experts' predictions
(``act: mixture``), or follows one expert drawn from the weights (``act: sample``). The
*mixture loss* p_t . l_t, what the guaranteed bounds speak of, is recorded separately
from the realised harm.
"""

from __future__ import annotations

import numpy as np

from lowstakes.comparators import Switching
from lowstakes.experts import Hedge, build_algorithm
from lowstakes.learners import build_model
from lowstakes.objectives import feature_key, in_region
from lowstakes.protocol import Policy
from lowstakes.registry import Registry, check_params

__all__ = ["RULES", "Rule", "ExpertPolicy", "GoodhartPairs"]

RULES = Registry("rule")

#: Pools up to this size track the Goodhart statistics of every pair of experts.
MAX_GOODHART_EXPERTS = 16


class Rule:
    """A fixed expert. ``predict(block)`` returns P(truth = 1) for each decision of the block."""

    def predict(self, block) -> np.ndarray:
        raise NotImplementedError


@RULES.register("concept")
class ConceptRule(Rule):
    """Predicts the clean label under concept row ``concept`` (0: the first, pre-shift one)."""

    def __init__(self, concept: int = 0):
        self.concept = int(concept)

    def predict(self, block):
        if self.concept >= block.labels.shape[0]:
            raise ValueError(f"concept rule: concept {self.concept} does not exist in this stream")
        return block.labels[self.concept].astype(float)


@RULES.register("constant")
class ConstantRule(Rule):
    """Always predicts the label ``label`` (so always takes that action under sane costs)."""

    def __init__(self, label: int = 0):
        if label not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {label!r}")
        self.label = int(label)

    def predict(self, block):
        return np.full(len(block), float(self.label))


@RULES.register("threshold")
class ThresholdRule(Rule):
    """Predicts 1 when the sum of ``features`` exceeds ``value`` (e.g. SEA's own concepts
    are ``features: [0, 1]`` with value 8, 9, 7 or 9.5)."""

    def __init__(self, features: list, value: float):
        if not features:
            raise ValueError("features must name at least one feature")
        self.features, self.value = list(features), float(value)

    def predict(self, block):
        features = [feature_key(block.x, f) for f in self.features]
        total = np.array([sum(x[f] for f in features) for x in block.x], dtype=float)
        return (total > self.value).astype(float)


@RULES.register("deceptive")
class DeceptiveRule(Rule):
    """Behaves exactly like another rule (``imitate``) until a trigger, then takes ``action``.

    ``imitate``: ``{rule: name, params: {...}}``, e.g. the demonstrator's own rule.
    ``action``: 0, 1, or ``opposite`` (of what the imitated rule predicts: always wrong
    against it). The trigger holds at a decision when every condition given holds: decision
    step at least ``after`` and before ``before``; context inside ``region`` (feature ->
    [low, high]: rare or novel inputs); a random draw below ``probability`` (from ``seed``,
    the run-seed and the decision: every arm of a run-seed sees the same draws, other
    run-seeds other draws, and deceptive experts with the same seed defect together). At
    least one condition is required.
    """

    def __init__(self, imitate: dict, action="opposite", after: int | None = None, before: int | None = None,
                 region: dict | None = None, probability: float | None = None, seed: int = 0):
        if not isinstance(imitate, dict) or "rule" not in imitate or set(imitate) - {"rule", "params"}:
            raise ValueError("imitate must be {rule: NAME, params: {...}}, the rule this expert behaves "
                             f"like until it defects; got {imitate!r}")
        if not isinstance(imitate.get("params") or {}, dict):
            raise ValueError(f"imitate.params must be a mapping (param: value), got {imitate['params']!r}")
        if imitate["rule"] == "deceptive":
            raise ValueError("imitate: a deceptive rule imitates an honest one, not another deceptive rule")
        try:
            self.imitated = build_rule(imitate["rule"], dict(imitate.get("params") or {}))
        except ValueError as exc:
            raise ValueError(f"imitate: {exc}") from None
        for key, step in (("after", after), ("before", before)):
            if step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or step < 0):
                raise ValueError(f"{key} must be a decision number (0 or more), got {step!r}")
        if before == 0:
            raise ValueError("before must be above 0: the trigger would never hold")
        if after is not None and before is not None and after >= before:
            raise ValueError(f"after ({after}) must be below before ({before}): the trigger would never hold")
        if action not in (0, 1, "opposite"):
            raise ValueError(f"action must be 0, 1 or 'opposite', got {action!r}")
        if after is None and before is None and region is None and probability is None:
            raise ValueError("give a trigger: after, before, region and/or probability")
        if probability is not None and not 0 < probability <= 1:
            raise ValueError(f"probability must be in (0, 1], got {probability}")
        if region is not None and (not isinstance(region, dict) or not region or any(
                not isinstance(v, list | tuple) or len(v) != 2 or v[0] > v[1] for v in region.values())):
            raise ValueError(f"region must map features to [low, high], got {region!r}")
        self.action, self.after, self.before = action, after, before
        self.region, self.probability, self.seed = region, probability, int(seed)

    def defects(self, block) -> np.ndarray:
        """Where the trigger holds in this block."""
        steps = np.asarray(block.steps)
        on = np.ones(len(block), dtype=bool)
        if self.after is not None:
            on &= steps >= self.after
        if self.before is not None:
            on &= steps < self.before
        if self.region is not None:
            on &= in_region(block.x, self.region)
        if self.probability is not None:
            rng = np.random.default_rng([self.seed, int(block.entropy), int(block.start)])
            draws = rng.random(len(block))
            on &= draws < self.probability
        return on

    def predict(self, block):
        honest = np.clip(self.imitated.predict(block), 0.0, 1.0)
        if self.action == "opposite":
            chosen = 1.0 - np.round(honest)
        else:
            chosen = np.full(len(block), float(self.action))
        return np.where(self.defects(block), chosen, honest)


def rule_class(name: str) -> type:
    """The rule registered (or importable as ``module:attribute``) under ``name``; ValueError
    if there is none, or it has no ``predict(block)``."""
    cls = RULES.get(name)
    if not callable(getattr(cls, "predict", None)):
        raise ValueError(f"rule {name!r} has no predict(block) method")
    return cls


def build_rule(name: str, params: dict) -> Rule:
    cls = rule_class(name)
    check_params(cls, params)
    return cls(**params)


def build_experts(experts: dict, seeds=None) -> tuple[dict, dict]:
    """The rules and the River models of a pool, each keyed by the expert's position
    (``seeds``: a :class:`~lowstakes.learners.ModelSeeds` for models that take a seed)."""
    rules, models = {}, {}
    for i, expert in enumerate(experts.values()):
        if expert.rule is not None:
            rules[i] = build_rule(expert.rule, expert.params)
        else:
            models[i] = build_model(expert.model, expert.params,
                                    [(s.model, s.params) for s in expert.preprocess], seeds=seeds)
    return rules, models


def _cost_of(costs: np.ndarray, chosen: np.ndarray, labels: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``costs[action, label]`` for every (decision, expert), action 1 where ``chosen``: the
    same numbers as indexing ``costs`` with the actions, written into ``out``."""
    np.copyto(out, costs[0, labels][:, None])
    np.copyto(out, costs[1, labels][:, None], where=chosen)
    return out


class ExpertPolicy(Policy):
    """One arm whose learner is an expert algorithm over a pool of experts."""

    def __init__(self, spec, objective_costs, harm_costs, horizon, shifts, windows, fixed_delay,
                 seed_rng, model_seeds=None):
        self.names = list(spec.experts)
        self.rules, self.models = build_experts(spec.experts, model_seeds)
        n = len(self.names)
        params = dict(spec.params)
        if spec.algorithm in ("hedge_interleaved", "fixed_share_interleaved"):
            params.setdefault("delay", fixed_delay)
        if spec.algorithm in ("fixed_share", "fixed_share_interleaved"):
            params.setdefault("switches", max(1, len(shifts)))
        self.algorithm = build_algorithm(spec.algorithm, n, horizon, params)
        self.sample = spec.act == "sample"
        self.confidence = 0.0
        self.rng = seed_rng
        self.costs = objective_costs
        self.scale = float(objective_costs.max()) or 1.0
        self.harm_costs = harm_costs
        self.switches = params.get("switches", max(1, len(shifts)))
        # Per decision: each expert's action, and the mixture's loss and harm.
        # The current block's expert actions; rows still awaiting feedback are kept apart.
        self._block_actions = np.zeros((0, n), np.int8)
        self._buffers: dict | None = None
        # Whether every block so far had the same losses on the feedback and on the harm.
        self._same_so_far = bool(np.array_equal(objective_costs, harm_costs))
        self._pending: dict[int, np.ndarray] = {}
        # Unrevealed losses: m_t = t - (labels learned before decision t), for the delayed
        # bound; folded in per block (the penalty sum_t expm1(eta m_t) and its prefix sums
        # at the checkpoints), never kept per decision.
        self.learned = 0
        self._m: list[int] = []
        self.unrevealed = {"max": 0, "sum": 0, "penalty": 0.0}
        self._p1 = np.zeros((0, n))
        self._start = 0
        self._miss = (float(objective_costs[0, 1] - objective_costs[1, 1]),
                      float(objective_costs[1, 0] - objective_costs[0, 0]))
        self.proxy_best = Switching(n, self.switches)
        self.true_best = Switching(n, self.switches)
        self.window_spans = windows
        self.window_proxy = np.zeros((len(windows), n))
        self.window_true = np.zeros((len(windows), n))
        self.window_mixture = np.zeros(len(windows))
        # Curves at a few hundred checkpoints, for figures of regret against bounds.
        self.checkpoints = np.unique(np.linspace(0, horizon - 1, min(400, horizon)).astype(int))
        self.curves = {name: [] for name in ("mixture_loss", "best_fixed_loss", "best_switching_loss",
                                             "mixture_harm", "best_fixed_harm")}
        self._mixture_total = np.zeros(2)
        # For the Goodhart lower bound: per pair (a, b), the decisions S where the feedback
        # prefers b and the truth prefers a, the least margins on S, and what b loses on the
        # feedback and a on the truth outside S (P and Q). Only for small pools (N^2 pairs).
        self.goodhart_pairs = GoodhartPairs(n) if n <= MAX_GOODHART_EXPERTS else None

    # -- the engine's interface -----------------------------------------------------------

    def _arrays(self, n: int) -> dict:
        """(n, N) work arrays for a block of n decisions, kept from one block to the next: a
        fresh set per block cost more (allocation, first touch) than the passes filling them.
        Nothing outside a block's begin_block .. end_block holds on to them."""
        if self._buffers is None or len(self._buffers["p1"]) != n:
            shape = (n, len(self.names))
            self._buffers = {name: np.empty(shape) for name in ("p1", "proxy", "true", "weights", "spare")}
            self._buffers["chosen"] = np.empty(shape, bool)
        return self._buffers

    def begin_block(self, block, feedback, truth, stakes=None) -> None:
        """Precompute the rules' predictions and keep the block's labels for the records."""
        arrays = self._arrays(len(block))
        p1 = arrays["p1"]
        for k in self.models:  # filled in as each decision is taken
            p1[:, k] = 0.0
        for i, rule in self.rules.items():
            p1[:, i] = np.clip(rule.predict(block), 0.0, 1.0)
        self._p1, self._start = p1, block.start
        self._m = []
        self._weights = arrays["weights"]  # row i: the mixture's weights at decision i
        chosen = self._chosen(p1, out=arrays["chosen"], scratch=(arrays["proxy"], arrays["spare"]))
        self._block_actions = chosen.view(np.int8)
        self._feedback, self._truth = feedback, truth
        # Every expert's loss on the feedback, per decision: the algorithm's losses (scaled
        # to [0, 1]) once the label comes, and the comparators' after the block. The label
        # an arm learns for decision t is the feedback the block was given for t (delayed or
        # asked through an overseer, never changed), so these are computed here at once
        # rather than one decision at a time; nothing reaches the algorithm before learn().
        self._proxy = _cost_of(self.costs, chosen, feedback, out=arrays["proxy"])
        # x / 1.0 == x: with costs already in [0, 1] the losses are the proxy itself. Rows
        # of it wait in _pending for their labels; end_block copies those still waiting.
        self._losses = (self._proxy if self.scale == 1.0
                        else np.divide(self._proxy, self.scale, out=arrays["spare"]))
        # Harm multipliers of 1 (no high-stakes region in this block) change no number.
        self._stakes = None if stakes is None or (stakes == 1).all() else stakes

    def _chosen(self, p1: np.ndarray, out=None, scratch=(None, None)) -> np.ndarray:
        """Where each expert's action is 1: p1 (C[0,1] - C[1,1]) > (1 - p1) (C[1,0] - C[0,0])
        (into ``out``, through two ``scratch`` arrays of p1's shape, when given)."""
        a, b = scratch
        return np.greater(np.multiply(p1, self._miss[0], out=a),
                          np.multiply(np.subtract(1, p1, out=b), self._miss[1], out=b), out=out)

    def act(self, t: int, x: dict) -> int:
        i = t - self._start
        row = self._p1[i]
        if self.models:
            for k, model in self.models.items():
                row[k] = model.predict_proba_one(x).get(True, 0.0)
            self._block_actions[i] = self._chosen(row)
            actions = self._block_actions[i]
            self._proxy[i] = self.costs[actions, self._feedback[i]]
            self._losses[i] = self._proxy[i] / self.scale
        self._pending[t] = self._losses[i]
        self._m.append(t - self.learned)
        w = self.algorithm.weights(t, out=self._weights[i])
        if self.sample:
            return int(self._block_actions[i, self.rng.choice(len(w), p=w)])
        p = float(w @ row)
        self.confidence = p if p >= 0.5 else 1 - p  # max(p, 1 - p)
        miss_positive, miss_negative = self._miss
        return 1 if p * miss_positive > (1 - p) * miss_negative else 0

    def forget(self, t: int) -> None:
        """Decision t's label will never come (not asked for, or dropped)."""
        self._pending.pop(t, None)

    def learn(self, t: int, x: dict, label: int) -> None:
        self.algorithm.update(self._pending.pop(t), t)
        self.learned += 1
        if self.models:
            for model in self.models.values():
                model.learn_one(x, bool(label))

    def end_block(self, start: int, end: int) -> dict:
        """Fold the block's expert losses into the comparators (they never see the future
        at decision time; this is bookkeeping after the block's decisions); return the
        mixture's expected loss and harm per decision."""
        arrays, proxy, weights = self._buffers, self._proxy, self._weights
        for t, row in self._pending.items():  # labels still to come: off the reused arrays
            if row.base is not None:
                self._pending[t] = row.copy()
        # An arm whose feedback is the harm (the same costs, the same labels, stakes of 1)
        # has the same loss sequence on both; its harm comparators are then its feedback
        # comparators, computed once (exactly the same numbers: the same inputs in).
        same = (self._same_so_far and self._stakes is None
                and np.array_equal(self._feedback, self._truth))
        self._same_so_far = same
        true = proxy if same else _cost_of(self.harm_costs, arrays["chosen"], self._truth,
                                           out=arrays["true"])
        if self._stakes is not None:
            np.multiply(true, self._stakes[:, None], out=true)
        mixture = {"mixture_loss": np.einsum("ij,ij->i", weights, proxy),
                   "mixture_harm": np.einsum("ij,ij->i", weights, true)}
        marks = self.checkpoints[(self.checkpoints >= start) & (self.checkpoints < end)] - start
        curves = self.curves
        self._fold_unrevealed(marks)
        # Each comparator's level 0 is every expert's running total: the best fixed expert.
        switching, fixed = self.proxy_best.fold(proxy, record=marks)
        curves["best_switching_loss"] += switching
        curves["best_fixed_loss"] += fixed
        if same:
            self.true_best.state[:] = self.proxy_best.state
            curves["best_fixed_harm"] += fixed
        else:
            curves["best_fixed_harm"] += self.true_best.fold(true, record=marks)[1]
        if self.goodhart_pairs is not None:
            self.goodhart_pairs.add(proxy, true, marks)
        for k, name in enumerate(("mixture_loss", "mixture_harm")):
            # np.cumsum adds in order, so continuing it from the last block's total gives the
            # same numbers as one cumulative sum over the whole run.
            cumulative = np.cumsum(np.r_[self._mixture_total[k], mixture[name]])[1:]
            curves[name] += cumulative[marks].tolist()
            self._mixture_total[k] = cumulative[-1]
        for k, (a, b) in enumerate(self.window_spans):
            lo, hi = max(a, start), min(b, end)
            if lo < hi:
                self.window_proxy[k] += proxy[lo - start:hi - start].sum(axis=0)
                self.window_true[k] += true[lo - start:hi - start].sum(axis=0)
                self.window_mixture[k] += mixture["mixture_loss"][lo - start:hi - start].sum()
        return mixture

    @property
    def proxy_total(self) -> np.ndarray:
        """Every expert's total feedback loss so far."""
        return self.proxy_best.totals

    @property
    def true_total(self) -> np.ndarray:
        """Every expert's total harm so far."""
        return self.true_best.totals

    def _fold_unrevealed(self, marks) -> None:
        m, stats = np.array(self._m, np.int64), self.unrevealed
        stats["max"] = max(stats["max"], int(m.max(initial=0)))
        stats["sum"] += int(m.sum())
        if isinstance(self.algorithm, Hedge):  # the only one with a bound under delays that needs m_t
            eta = self.algorithm.eta
            cumulative = np.cumsum(np.r_[stats["penalty"], np.expm1(eta * m)])[1:]
            self.curves.setdefault("delay_penalty", [])
            self.curves["delay_penalty"] += cumulative[marks].tolist()
            stats["penalty"] = float(cumulative[-1])

    def goodhart(self) -> dict:
        """The Goodhart statistics of (a, b): a the expert with the least true harm, b the one
        with the least feedback loss (see :class:`GoodhartPairs`); ``{"reason": ...}`` when
        none can be given."""
        if self.goodhart_pairs is None:
            return {"reason": f"tracked for pools of at most {MAX_GOODHART_EXPERTS} experts (N^2 pairs); "
                              f"this one has {len(self.names)}"}
        a, b = int(self.true_total.argmin()), int(self.proxy_total.argmin())
        if a == b:
            return {"reason": f"feedback and truth agree on the best expert ({self.names[b]})"}
        out = self.goodhart_pairs.result(a, b)
        if out["decisions"] == 0:
            return {"reason": f"no decision where the feedback prefers {self.names[b]} and the truth "
                              f"prefers {self.names[a]}"}
        return {"truly_best": self.names[a], "feedback_best": self.names[b], **out}

    def finish(self) -> dict:
        return {
            "kind": "pool",
            "goodhart": self.goodhart(),
            "experts": self.names,
            "expert_loss": self.proxy_total.tolist(),
            "expert_harm": self.true_total.tolist(),
            "mixture_loss": float(self._mixture_total[0]),
            "mixture_harm": float(self._mixture_total[1]),
            "unrevealed": dict(self.unrevealed),
            "best_fixed_loss": float(self.proxy_total.min()),
            "best_fixed_harm": float(self.true_total.min()),
            "best_switching_loss": self.proxy_best.value,
            "best_switching_harm": self.true_best.value,
            "switches": self.switches,
            "window_mixture_loss": self.window_mixture.tolist(),
            "window_best_loss": self.window_proxy.min(axis=1).tolist() if len(self.window_spans) else [],
            "loss_scale": self.scale,
            "checkpoints": self.checkpoints,
            "curves": {name: np.array(values) for name, values in self.curves.items()},
            "algorithm": self.algorithm,
        }


class GoodhartPairs:
    """For every pair (a, b) of experts, what :func:`lowstakes.bounds.goodhart_lower` needs,
    folded in block by block: the decisions S where the feedback prefers b and the truth
    prefers a, the least margins on S (delta, g), and outside S what b loses to the best
    expert on the feedback (P) and a on the truth (Q); at the end and at checkpoints.

    Experts act, so an expert's losses depend on its action alone: where a and b act
    differently and both preferences are strict, b's action is the best on the feedback and
    a's on the truth, and every other expert acts like one of them, so the set of
    ``goodhart_set`` with delta and g the least margins is exactly this S. (With more than two
    actions that would not follow; the test checks the equality on binary actions.)
    """

    def __init__(self, n: int):
        self.totals = {"count": np.zeros((n, n)), "P": np.zeros((n, n)), "Q": np.zeros((n, n))}
        self.least = {"delta": np.full((n, n), np.inf), "g": np.full((n, n), np.inf)}
        self.curves: list[tuple[str, np.ndarray]] = []

    def add(self, proxy: np.ndarray, true: np.ndarray, marks=()) -> None:
        """Fold in a block of (decisions, experts) losses; keep the running totals after each
        row index in ``marks``."""
        proxy_gap = proxy[:, :, None] - proxy[:, None, :]  # [t, a, b] > 0: the feedback prefers b
        true_gap = true[:, None, :] - true[:, :, None]     # [t, a, b] > 0: the truth prefers a
        in_s = (proxy_gap > 0) & (true_gap > 0)
        lose_proxy = proxy - proxy.min(axis=1, keepdims=True)  # what each expert loses to the best
        lose_true = true - true.min(axis=1, keepdims=True)
        for name, gap in (("delta", proxy_gap), ("g", true_gap)):
            np.minimum(self.least[name], np.where(in_s, gap, np.inf).min(axis=0), out=self.least[name])
        outside = ~in_s
        steps = {"count": in_s, "P": outside * lose_proxy[:, None, :], "Q": outside * lose_true[:, :, None]}
        for name, values in steps.items():
            cumulative = self.totals[name] + np.cumsum(values, axis=0)
            if len(marks):
                self.curves.append((name, cumulative[marks]))
            self.totals[name] = cumulative[-1]

    def result(self, a: int, b: int) -> dict:
        curves = {name: [] for name in self.totals}
        for name, values in self.curves:
            curves[name] += values[:, a, b].tolist()
        return {"a": a, "b": b, "delta": float(self.least["delta"][a, b]), "g": float(self.least["g"][a, b]),
                "decisions": int(self.totals["count"][a, b]), "P": float(self.totals["P"][a, b]),
                "Q": float(self.totals["Q"][a, b]),
                "curves": {name: np.array(values) for name, values in curves.items()}}
