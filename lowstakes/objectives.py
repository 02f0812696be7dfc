"""Objectives: what feedback a learner trains on, and the cost matrix it acts under.

The *aligned* objective's feedback is the truth the harm is measured against. A *proxy*
differs from the truth somewhere. Each feedback rule turns a :class:`~lowstakes.streams.Block`
into one label per decision, vectorised, so proxies cost nothing per decision.

Examples
--------
>>> import numpy as np
>>> from lowstakes.streams import Stream, Shift
>>> stream = Stream("sea", {"variant": 0}, [Shift(at=500, params={"variant": 3})], 0.0, 1000,
...                 np.random.SeedSequence(0))
>>> block = next(stream.blocks(size=1000))
>>> stale = FEEDBACK.get("stale")()
>>> labels = stale.feedback(block, np.random.default_rng(0))
>>> bool((labels[:500] == block.y[:500]).all())     # before the shift the overseer is right
True
>>> bool((labels[500:] != block.y[500:]).any())      # after it, it keeps the old rule
True
"""

from __future__ import annotations

import numpy as np

from lowstakes.registry import Registry, check_params

__all__ = ["FEEDBACK", "Feedback", "cost_matrix", "in_region", "least_cost_action", "named_matrix"]

FEEDBACK = Registry("feedback")


def cost_matrix(false_positive=1.0, false_negative=1.0, true_positive=0.0, true_negative=0.0):
    """The binary cost matrix ``C[action, truth]``.

    >>> cost_matrix(false_positive=2.0, false_negative=0.5).tolist()
    [[0.0, 0.5], [2.0, 0.0]]
    """
    return np.array([[true_negative, false_negative], [false_positive, true_positive]], dtype=float)


def named_matrix(name: str, classes: int) -> np.ndarray:
    """A cost matrix by name, for a source with ``classes`` classes.

    ``zero_one``: K = C actions, cost 0 for the action equal to the class, else 1.
    ``arms``: for a ``k_armed`` source, whose outcome y says which of its K arms do harm
    (bit a of y, C = 2^K): action a (pulling arm a) costs 1 when arm a does harm.

    >>> named_matrix("zero_one", 3).tolist()
    [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    >>> named_matrix("arms", 4).tolist()
    [[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]]
    """
    if name == "zero_one":
        return 1.0 - np.eye(classes)
    if name == "arms":
        k = classes.bit_length() - 1
        if classes != 1 << k or k < 1:
            raise ValueError(f"the 'arms' matrix needs a k_armed source (2^K outcomes), "
                             f"not {classes} classes")
        return ((np.arange(classes)[None, :] >> np.arange(k)[:, None]) & 1).astype(float)
    raise ValueError(f"unknown cost matrix {name!r}; named matrices: zero_one, arms")


def least_cost_action(costs: np.ndarray, p: np.ndarray) -> np.ndarray:
    """For each row of class probabilities ``p``, the action of least expected cost.

    Ties go to the lower action index, as River's ``predict_one`` does.

    >>> least_cost_action(cost_matrix(), np.array([[0.7, 0.3], [0.5, 0.5], [0.2, 0.8]])).tolist()
    [0, 0, 1]
    """
    return np.argmin(p @ costs.T, axis=1)


class Feedback:
    """A feedback rule. Subclass it and override :meth:`feedback`; params arrive as kwargs.

    ``feedback(block, rng)`` returns the label the overseer gives for each decision of
    the block; ``rng`` is this objective's own generator (the same for every arm of a
    seed that uses this objective).
    """

    aligned = False
    #: The kinds of stream this rule makes sense for.
    tasks = ("classification",)
    #: Whether it gives labels of any number of classes (False: binary labels only).
    multiclass = False

    def feedback(self, block, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@FEEDBACK.register("truth")
class Truth(Feedback):
    """Aligned: the overseer reports the truth the harm is measured against."""

    aligned = True
    tasks = ("classification", "regression")
    multiclass = True

    def feedback(self, block, rng):
        return block.y


@FEEDBACK.register("stale")
class Stale(Feedback):
    """Proxy: the overseer keeps judging by an old concept (default: the first, pre-shift one).

    It sees the same noisy world (the same label noise), so it differs from the truth
    exactly where the old and the current concepts disagree.
    """

    tasks = ("classification", "regression")
    multiclass = True

    def __init__(self, concept: int = 0):
        if int(concept) != concept or concept < 0:
            raise ValueError(f"concept must be a concept index >= 0, got {concept!r}")
        self.concept = int(concept)

    def feedback(self, block, rng):
        if self.concept >= block.labels.shape[0]:
            raise ValueError(
                f"stale: concept {self.concept} does not exist; this stream has "
                f"{block.labels.shape[0]} concept(s)"
            )
        if block.noise is not None:  # regression: the old concept's value, the same noise
            return block.labels[self.concept] + block.noise
        return block.labels[self.concept] ^ block.flip


@FEEDBACK.register("region_flip")
class RegionFlip(Feedback):
    """Proxy: inside a box of feature space the overseer gives the other label.

    ``region`` maps a feature name to ``[low, high]``; a context is inside when every
    named feature lies in its interval. ``rate`` is the chance of a flip inside (1: always).
    """

    def __init__(self, region: dict, rate: float = 1.0):
        if not region:
            raise ValueError("region must name at least one feature, e.g. {0: [0, 5]}")
        for feature, bounds in region.items():
            if len(bounds) != 2 or not bounds[0] <= bounds[1]:
                raise ValueError(f"region[{feature!r}] must be [low, high] with low <= high")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        self.region = {k: (float(lo), float(hi)) for k, (lo, hi) in region.items()}
        self.rate = float(rate)

    def feedback(self, block, rng):
        flip = in_region(block.x, self.region) & (rng.random(len(block)) < self.rate)
        return block.y ^ flip


@FEEDBACK.register("noise")
class SymmetricNoise(Feedback):
    """Not misalignment: each label is flipped with probability ``rate`` < 0.5, everywhere.

    The Bayes-optimal action under symmetric costs is unchanged, so in expectation this
    objective points the same way as the truth, only more noisily.
    """

    def __init__(self, rate: float = 0.2):
        if not 0.0 <= rate < 0.5:
            raise ValueError(f"rate must be in [0, 0.5), got {rate}")
        self.rate = float(rate)

    def feedback(self, block, rng):
        return block.y ^ (rng.random(len(block)) < self.rate)


def in_region(xs: list, region: dict) -> np.ndarray:
    """Which contexts lie in the box ``region`` (feature -> (low, high), bounds included).

    >>> in_region([{0: 1.0, 1: 5.0}, {0: 3.0, 1: 5.0}], {0: (0, 2), 1: (4, 6)}).tolist()
    [True, False]
    """
    inside = np.ones(len(xs), dtype=bool)
    for feature, (lo, hi) in region.items():
        feature = feature_key(xs, feature)
        values = np.array([x[feature] for x in xs], dtype=float)
        inside &= (values >= lo) & (values <= hi)
    return inside


def feature_key(xs: list, feature):
    """The key of ``feature`` in these contexts (an integer name may come back as a string)."""
    # Written back as YAML/JSON, an integer feature name (SEA's 0, 1, 2) becomes "2".
    if xs and feature not in xs[0] and isinstance(feature, str) and feature.isdigit():
        return int(feature)
    return feature


def build_feedback(name: str, params: dict) -> Feedback:
    """Instantiate a feedback rule by id or ``module:attribute``, checking its params.

    Raises ValueError: unknown names through :data:`FEEDBACK`, bad params from
    :func:`~lowstakes.registry.check_params` or the rule itself.
    """
    cls = FEEDBACK.get(name)
    if not callable(getattr(cls, "feedback", None)):
        raise ValueError(f"feedback {name!r} has no feedback(block, rng) method")
    check_params(cls, params)
    return cls(**params)
