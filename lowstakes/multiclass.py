"""Sources of decisions with more than two outcomes, whose P(y | x) is known exactly.

- ``contextual``: K classes (one per action under ``matrix: zero_one``) drawn from a softmax
  of a linear function of the context; a shift of ``concept`` draws new weights, so the best
  action of a context changes;
- ``k_armed``: a K-armed bandit with no context and piecewise-stationary means: at each
  decision arm a does harm with probability ``means[a]``, independently; the outcome y says
  which arms do harm (bit a of y), so with ``matrix: arms`` pulling arm a costs 1 exactly
  when it does harm;
- River's multi-class streams, whose concept shifts by a ``permutation`` of the classes
  (class c is reported as ``permutation[c]`` from the shift on): ``led`` (River's LED
  digits, with its exact posterior as the oracle), ``random_rbf`` (River's RandomRBF; no
  oracle) and ``image_segments`` (River's bundled ImageSegments data, replayed; no oracle).

Both draw every concept's label of a decision from one shared uniform draw (inverse
transform), as the binary sources label every context under every concept: a ``stale``
proxy is the label the old concept would have given with the same luck.

Examples
--------
>>> import numpy as np
>>> source = KArmed([{"means": [0.1, 0.9]}, {"means": [0.9, 0.1]}], np.random.SeedSequence(0))
>>> xs, labels = source.draw(np.zeros(4000, dtype=np.int64))
>>> xs[0], labels.shape
({}, (2, 4000))
>>> [round(float(((labels[0] >> a) & 1).mean()), 1) for a in range(2)]   # each arm's rate of harm
[0.1, 0.9]
>>> source.proba(xs[:1], np.array([1])).round(2).tolist()   # outcomes 0..3: no arm, arm 0, arm 1, both
[[0.09, 0.81, 0.01, 0.09]]
"""

from __future__ import annotations

import numpy as np

from lowstakes.streams import SOURCES, Source

__all__ = ["Contextual", "KArmed", "LED", "RandomRBF", "ImageSegments"]


def _label_type(classes: int):
    return np.int8 if classes <= 127 else np.int16


def _inverse_transform(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The class of each row of probabilities ``p`` at its uniform draw ``u``."""
    return np.minimum((np.cumsum(p, axis=1) <= u[:, None]).sum(axis=1), p.shape[1] - 1)


def _whole(params: dict, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number in {low}..{high}, got {value!r}")
    return value


def _fixed(concepts, name, default):
    """A param that configures the stream itself and may not change at a shift."""
    values = [p.get(name, default) for p in concepts]
    if any(v != values[0] for v in values):
        raise ValueError(f"{name} cannot change at a shift")
    return values[0]


@SOURCES.register("contextual")
class Contextual(Source):
    """A contextual decision with ``n_classes`` outcomes: the context has ``n_features``
    features uniform in [-1, 1], and P(y = c | x) is the softmax of ``sharpness`` x W x, with
    weights W (n_classes x n_features, standard normal) fixed by ``concept``: the same concept
    index gives the same weights in every run. A shift of ``concept`` changes which outcome,
    and so which action, is best for most contexts; one of ``sharpness`` makes the outcome
    more (higher) or less certain."""

    shiftable = ("concept", "sharpness")
    params = {"n_classes": "4 (2..20)", "n_features": "5 (1..50)",
              "concept": "0 (which weights: any whole number >= 0)",
              "sharpness": "4.0 (> 0: how certain the outcome is)"}

    #: Each whole-number param: (default, lowest, highest).
    RANGES = {"n_classes": (4, 2, 20), "n_features": (5, 1, 50), "concept": (0, 0, 2**31 - 1)}

    def __init__(self, concepts, seed):
        super().__init__(concepts, seed)
        for name in ("n_classes", "n_features"):
            _fixed(concepts, name, self.RANGES[name][0])
        self.k = _whole(concepts[0], "n_classes", *self.RANGES["n_classes"])
        self.d = _whole(concepts[0], "n_features", *self.RANGES["n_features"])
        self._weights = []
        for p in concepts:
            concept = _whole(p, "concept", *self.RANGES["concept"])
            sharpness = p.get("sharpness", 4.0)
            if isinstance(sharpness, bool) or not isinstance(sharpness, int | float) or not sharpness > 0:
                raise ValueError(f"sharpness must be a number > 0, got {sharpness!r}")
            weights = np.random.default_rng([self.k, self.d, concept]).standard_normal((self.k, self.d))
            self._weights.append(float(sharpness) * weights)
        self._rng = np.random.default_rng(seed)

    @classmethod
    def classes(cls, params):
        return _whole(params, "n_classes", *cls.RANGES["n_classes"])

    def _proba_of(self, f: np.ndarray, row: int) -> np.ndarray:
        logits = f @ self._weights[row].T
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def draw(self, segments):
        n = len(segments)
        f = self._rng.uniform(-1.0, 1.0, (n, self.d))
        u = self._rng.random(n)
        labels = np.stack([_inverse_transform(self._proba_of(f, row), u) for row in range(self.n_rows)])
        return [dict(enumerate(r)) for r in f.tolist()], labels.astype(_label_type(self.k))

    def proba(self, xs, rows):
        f = np.array([list(x.values()) for x in xs], dtype=float).reshape(len(xs), self.d)
        out = np.empty((len(xs), self.k))
        for row in np.unique(rows):
            at = rows == row
            out[at] = self._proba_of(f[at], int(row))
        return out


@SOURCES.register("k_armed")
class KArmed(Source):
    """A K-armed bandit without context: at each decision arm a does harm with probability
    ``means[a]`` (2 to 8 arms), independently of the other arms and of the past; a shift
    changes the means (their number stays). The outcome y has bit a set when arm a does
    harm (2^K outcomes); use it with ``harm: {matrix: arms}``."""

    contextual = False
    #: Its outcomes say which arms do harm (the ``arms`` cost matrix reads them).
    arms = True
    shiftable = ("means",)
    params = {"means": "[0.2, 0.5, 0.8] (each arm's chance of doing harm, in [0, 1]; 2..8 arms)"}

    def __init__(self, concepts, seed):
        super().__init__(concepts, seed)
        means = [self._checked(p) for p in concepts]
        if len({len(m) for m in means}) != 1:
            raise ValueError("the number of arms (the length of means) cannot change at a shift")
        self._means = np.array(means)
        self.k = self._means.shape[1]
        outcomes = np.arange(1 << self.k)
        bits = (outcomes[None, :] >> np.arange(self.k)[:, None]) & 1  # (K, 2^K)
        m = self._means[:, :, None]
        self._table = np.prod(np.where(bits[None], m, 1 - m), axis=1)  # (concepts, 2^K)
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def _checked(params) -> list[float]:
        means = params.get("means", [0.2, 0.5, 0.8])
        if (not isinstance(means, list | tuple) or not 2 <= len(means) <= 8
                or not all(isinstance(m, int | float) and not isinstance(m, bool) and 0 <= m <= 1
                           for m in means)):
            raise ValueError(f"means must be a list of 2 to 8 numbers in [0, 1], got {means!r}")
        return [float(m) for m in means]

    @classmethod
    def classes(cls, params):
        return 1 << len(cls._checked(params))

    def draw(self, segments):
        n = len(segments)
        u = self._rng.random((n, self.k))
        weights = 1 << np.arange(self.k)
        labels = np.stack([(u < means).astype(np.int64) @ weights for means in self._means])
        return [{} for _ in range(n)], labels.astype(_label_type(1 << self.k))

    def proba(self, xs, rows):
        return self._table[rows]


def _permutations(concepts, classes: int) -> np.ndarray:
    """Each concept's ``permutation`` of the classes (default: none), checked."""
    out = []
    for p in concepts:
        perm = p.get("permutation", list(range(classes)))
        if (not isinstance(perm, list | tuple) or sorted(perm) != list(range(classes))
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in perm)):
            raise ValueError(f"permutation must list each class 0..{classes - 1} once, got {perm!r}")
        out.append(perm)
    return np.array(out, dtype=np.int64)


class _Relabelled(Source):
    """A multi-class stream whose concept is a relabelling of its classes: every concept's
    label of a decision is the permutation of the one class the stream drew."""

    shiftable = ("permutation",)
    n_classes = 10

    def _labels(self, base: np.ndarray) -> np.ndarray:
        return self._perms[:, base].astype(_label_type(self.classes(self.concepts[0])))

    def draw(self, segments):
        """The next samples of the River generator ``self._samples``, relabelled per concept."""
        xs, base = [], np.empty(len(segments), dtype=np.int64)
        for i in range(len(segments)):
            x, y = next(self._samples)
            xs.append(x)
            base[i] = y
        return xs, self._labels(base)


@SOURCES.register("led")
class LED(_Relabelled):
    """River's LED digits: a digit 0..9 drawn uniformly, shown on seven segments each of which
    River flips with probability ``noise_percentage`` - 0.01 (its generator's rule), plus 17
    irrelevant random bits (``irrelevant_features``). The oracle is the exact posterior over
    digits given the seven segments (uniform prior). A shift of ``permutation`` relabels the
    digits."""

    params = {"noise_percentage": "0.1 (0..0.5)", "irrelevant_features": "true (true/false)",
              "permutation": "[0, 1, ..., 9] (the label each digit is reported as)"}

    def __init__(self, concepts, seed):
        from river.datasets import synth

        super().__init__(concepts, seed)
        noise = _fixed(concepts, "noise_percentage", 0.1)
        if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0 <= noise <= 0.5:
            raise ValueError(f"noise_percentage must be a number in [0, 0.5], got {noise!r}")
        irrelevant = _fixed(concepts, "irrelevant_features", True)
        if not isinstance(irrelevant, bool):
            raise ValueError(f"irrelevant_features must be true or false, got {irrelevant!r}")
        self._perms = _permutations(concepts, 10)
        seed_int = int(seed.generate_state(1)[0])
        self._samples = iter(synth.LED(seed=seed_int, noise_percentage=float(noise),
                                       irrelevant_features=irrelevant))
        self._segments = np.array(synth.LED._ORIGINAL_INSTANCES, dtype=np.int64)  # (10 digits, 7)
        self._flip = max(0.0, float(noise) - 0.01)

    def posterior(self, xs) -> np.ndarray:
        """P(digit | x) for each context, (n, 10)."""
        shown = np.array([[x[i] for i in range(7)] for x in xs], dtype=np.int64).reshape(len(xs), 7)
        differ = (shown[:, None, :] != self._segments[None, :, :]).sum(axis=2)  # (n, 10)
        # With no noise 0.0 ** 0 = 1: only the exact pattern keeps any likelihood.
        likelihood = self._flip ** differ * (1 - self._flip) ** (7 - differ)
        return likelihood / likelihood.sum(axis=1, keepdims=True)

    def proba(self, xs, rows):
        post = self.posterior(xs)
        out = np.empty_like(post)
        for row in np.unique(rows):
            at = rows == row
            out[np.ix_(at, self._perms[row])] = post[at]
        return out


@SOURCES.register("random_rbf")
class RandomRBF(_Relabelled):
    """River's RandomRBF: ``n_centroids`` centroids in [0, 1]^``n_features`` with a class each
    (``n_classes``), fixed by ``seed_model``; a context is drawn around a centroid chosen by
    weight. No oracle (choose comparator hindsight or best_constant). A shift of
    ``permutation`` relabels the classes."""

    has_oracle = False
    params = {"n_classes": "4 (2..20)", "n_features": "10 (1..50)", "n_centroids": "50 (1..1000)",
              "seed_model": "0 (which centroids)",
              "permutation": "[0, 1, ..., n_classes - 1] (the label each class is reported as)"}
    #: Each param that configures River's generator: (default, lowest, highest).
    RANGES = {"n_classes": (4, 2, 20), "n_features": (10, 1, 50), "n_centroids": (50, 1, 1000),
              "seed_model": (0, 0, 2**31 - 1)}

    def __init__(self, concepts, seed):
        from river.datasets import synth

        super().__init__(concepts, seed)
        own = {}
        for name, (default, low, high) in self.RANGES.items():
            _fixed(concepts, name, default)
            own[name] = _whole(concepts[0], name, default, low, high)
        self._perms = _permutations(concepts, own["n_classes"])
        self._samples = iter(synth.RandomRBF(seed_sample=int(seed.generate_state(1)[0]), **own))

    @classmethod
    def classes(cls, params):
        return _whole(params, "n_classes", *cls.RANGES["n_classes"])


@SOURCES.register("image_segments")
class ImageSegments(_Relabelled):
    """River's bundled ImageSegments data (2,310 image regions, 18 features, 7 classes in
    alphabetical order: brickface, cement, foliage, grass, path, sky, window), replayed in
    shuffled epochs. No oracle. A shift of ``permutation`` relabels the classes."""

    has_oracle = False
    n_classes = 7
    params = {"permutation": "[0, 1, ..., 6] (the label each class is reported as)"}

    def __init__(self, concepts, seed):
        from river import datasets

        super().__init__(concepts, seed)
        self._perms = _permutations(concepts, 7)
        data = list(datasets.ImageSegments())
        names = sorted({y for _, y in data})
        self._x = [x for x, _ in data]
        self._y = np.array([names.index(y) for _, y in data], dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self._order: list[int] = []

    def draw(self, segments):
        while len(self._order) < len(segments):
            self._order += self._rng.permutation(len(self._x)).tolist()
        idx, self._order = self._order[:len(segments)], self._order[len(segments):]
        return [dict(self._x[i]) for i in idx], self._labels(self._y[idx])
