"""Streams of decisions: a source, a shift schedule and label noise, with the concept known.

The testbed owns the shift and the noise (see the design notes in the README): each
*segment* of the schedule has its own concept (the source's params, updated by each
shift), a gradual shift mixes two segments with a linear ramp over its ``width``, and
the noise flips clean labels afterwards. So for every decision the stream knows which
concept made it, the clean label under every concept, and the exact probability of
each truth given the context: the Bayes-optimal (oracle) action follows from that.

Sources draw their contexts from ``river.datasets``; their clean labels are checked
against River's own generator on every decision, so the concept functions here cannot
silently drift from River's.

Examples
--------
>>> import numpy as np
>>> stream = Stream("sea", {"variant": 0}, shifts=[Shift(at=5, params={"variant": 3})],
...                 label_noise=0.0, horizon=8, seed=np.random.SeedSequence(0))
>>> block = next(stream.blocks(size=8))
>>> block.segment.tolist()
[0, 0, 0, 0, 0, 1, 1, 1]
>>> bool((block.y == block.labels[block.segment, np.arange(8)]).all())
True
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from river.datasets import synth

from lowstakes.registry import Registry

__all__ = ["Block", "Shift", "Source", "Stream", "SOURCES", "concept_params"]

SOURCES = Registry("source")


@dataclass(frozen=True)
class Shift:
    """From step ``at`` the concept moves to the previous params updated by ``params``,
    linearly over ``width`` decisions (``width=1``: abrupt)."""

    at: int
    params: dict = field(default_factory=dict)
    width: int = 1


@dataclass
class Block:
    """Consecutive decisions ``start .. start+len-1`` of a stream.

    ``labels[k, i]`` is the clean label of decision i under concept row k; ``segment``
    is the schedule segment that drew it and ``row`` that segment's concept row;
    ``flip`` marks label noise (``noise`` holds it for regression sources, whose labels are
    real values); ``y`` is the truth the harm is measured against;
    ``p`` is P(y = k | x, step) for each class (None where no oracle exists).
    """

    start: int
    x: list
    y: np.ndarray
    segment: np.ndarray
    row: np.ndarray
    labels: np.ndarray
    flip: np.ndarray
    p: np.ndarray | None
    #: Regression only: the Gaussian noise added to the clean value (``y = clean + noise``).
    noise: np.ndarray | None = None
    #: An integer drawn once per run-seed: randomness of its own that a rule may draw from
    #: (with the block's start), the same for every arm of the run-seed.
    entropy: int = 0
    #: ``concept_proba(k)``: P(y | x) of each decision under concept row k, (n, classes), for
    #: rules that act as a concept's Bayes-optimal action would (None: no oracle).
    concept_proba: Callable[[int], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def steps(self) -> np.ndarray:
        return np.arange(self.start, self.start + len(self.x))


def concept_params(params: dict, shifts) -> list[dict]:
    """The params of each segment: the base params updated by each shift in turn.

    >>> concept_params({"variant": 0, "noise": 0}, [Shift(10, {"variant": 2}), Shift(20, {"variant": 0})])
    [{'variant': 0, 'noise': 0}, {'variant': 2, 'noise': 0}, {'variant': 0, 'noise': 0}]
    """
    out = [dict(params)]
    for shift in shifts:
        out.append({**out[-1], **shift.params})
    return out


class Source:
    """Where contexts and clean labels come from.

    A source is built with the params of every segment and a seed. ``draw(segments)``
    returns one context per entry of ``segments`` (drawn from that segment's concept)
    and the clean labels of every context under every concept row. Subclass it (and
    register it, or name it as ``module:attribute``) to add your own.
    """

    n_classes = 2
    #: "classification" (binary labels, cost matrices) or "regression" (real values; harm is
    #: the absolute error clipped at B).
    task = "classification"
    #: True when the clean label is a known function of the context, so the oracle is exact.
    has_oracle = True
    #: Param names a shift may change (None: any).
    shiftable: tuple[str, ...] | None = None
    #: The params a scenario may set, with their default and the values they take (checked
    #: for unknown names, shown by ``lowstakes list``). Empty: not declared, not checked.
    params: dict[str, str] = {}

    #: Whether contexts carry information (False: every context is empty, a K-armed bandit).
    contextual = True

    @classmethod
    def classes(cls, params: dict) -> int:
        """The number of classes under ``params`` (the columns of a cost matrix)."""
        return cls.n_classes

    def proba(self, xs: list, rows: np.ndarray) -> np.ndarray | None:
        """P(y = c | x) of each context under concept row ``rows[i]``, (n, C); None for a
        binary source, whose oracle follows from its clean labels and the label noise."""
        return None

    @classmethod
    def n_concepts(cls, segments: int) -> int:
        """How many concept rows (labellings) a stream of ``segments`` segments has: the
        concept indices a ``concept`` rule or a ``stale`` proxy may name are 0 .. this - 1."""
        return segments

    @classmethod
    def check_names(cls, params: dict) -> None:
        """Raise ValueError for a param this source does not take (with a did-you-mean)."""
        if not cls.params:
            return
        for name in params:
            if name not in cls.params:
                from lowstakes.registry import suggest

                raise ValueError(f"unknown param {name!r}{suggest(name, list(cls.params))}; it takes: "
                                 + ", ".join(cls.params))

    def __init__(self, concepts: list[dict], seed: np.random.SeedSequence):
        self.concepts = concepts
        self.seed = seed

    @property
    def n_rows(self) -> int:
        return len(self.concepts)

    def row(self, segments: np.ndarray) -> np.ndarray:
        """The concept row that labels decisions of each segment."""
        return segments

    def draw(self, segments: np.ndarray) -> tuple[list, np.ndarray]:
        raise NotImplementedError(f"source {type(self).__name__} does not define draw(segments)")

    @classmethod
    def check(cls, concepts: list[dict]) -> None:
        """Raise ValueError if params are wrong; called when a scenario is validated."""
        cls(concepts, np.random.SeedSequence(0)).draw(np.zeros(1, dtype=np.int64))

    @classmethod
    def feature_names(cls, params: dict) -> list:
        """The feature names of a context (one drawn under ``params``)."""
        xs, _ = cls([params], np.random.SeedSequence(0)).draw(np.zeros(1, dtype=np.int64))
        return list(xs[0])


def _focused(samples, focus: dict | None, patience: int = 10_000):
    """Only the samples whose context lies in the box ``focus`` (rejection sampling); the
    samples themselves, with no generator in between, when there is no box."""
    return _in_box(samples, focus, patience) if focus else samples


def _in_box(samples, focus: dict, patience: int):
    box = {(int(k) if isinstance(k, str) and k.isdigit() else k): v for k, v in focus.items()}
    misses = 0
    for x, y in samples:
        missing = [f for f in box if f not in x]
        if missing:
            raise ValueError(f"focus: {missing[0]!r} is not a feature of this stream; its features are "
                             + ", ".join(map(str, x)))
        if all(lo <= x[f] <= hi for f, (lo, hi) in box.items()):
            misses = 0
            yield x, y
        else:
            misses += 1
            if misses > patience:
                raise ValueError(f"focus {focus} is (almost) never reached by this source's contexts")


class RiverGenerator(Source):
    """A River synthetic generator per segment; subclasses give the concept as ``label``.

    Every generator also takes ``focus``: a box (feature -> [low, high]) that restricts the
    contexts of that segment to it, by rejection sampling. A shift of ``focus`` alone is a
    covariate shift: where contexts fall changes, the labelling rule does not.
    """

    river_class: type | None = None

    def __init__(self, concepts, seed):
        super().__init__(concepts, seed)
        seeds = seed.generate_state(len(concepts))
        # Each segment draws from its own seed so post-shift contexts are fresh ones,
        # not a replay of the pre-shift sequence.
        self._datasets = [
            self.river_class(**self.river_params({k: v for k, v in p.items() if k != "focus"}),
                             seed=int(s))
            for p, s in zip(concepts, seeds, strict=True)
        ]
        self._iterators = [_focused(iter(d), p.get("focus"))
                           for d, p in zip(self._datasets, concepts, strict=True)]

    def river_params(self, params: dict) -> dict:
        return params

    @classmethod
    def check(cls, concepts: list[dict]) -> None:
        """The River generator's own params are checked against its signature first (a text
        or a boolean where it takes a number is refused), then one sample is drawn."""
        from lowstakes.registry import check_params

        if cls.river_class is not None:
            takes = inspect.signature(cls.river_class).parameters
            for params in concepts:
                own = {k: v for k, v in params.items() if k in takes and k in cls.params}
                if own:
                    check_params(cls.river_class, own)
        super().check(concepts)

    def label(self, params: dict, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def river_label(self, params: dict, features: np.ndarray) -> np.ndarray:
        """The label River's generator gives (checked on every draw); usually ``label``."""
        return self.label(params, features)

    def features(self, xs: list) -> np.ndarray:
        width = len(xs[0]) if xs else 0
        if set(map(len, xs)) == {width}:  # one pass in C, no list per context
            values = itertools.chain.from_iterable(x.values() for x in xs)
            return np.fromiter(values, float, count=len(xs) * width).reshape(len(xs), width)
        return np.array([list(x.values()) for x in xs], dtype=float).reshape(len(xs), -1)

    def take(self, segments: np.ndarray, dtype) -> tuple[list, np.ndarray]:
        """The next context of each decision from its segment's generator, in the order of
        ``segments``, and the label River's generator gave it."""
        xs = [None] * len(segments)
        generated = np.empty(len(segments), dtype=dtype)
        for k in np.unique(segments):
            idx = np.flatnonzero(segments == k)
            contexts, labels = [], []
            for x, y in itertools.islice(self._iterators[k], len(idx)):
                contexts.append(x)
                labels.append(y)
            if len(contexts) < len(idx):
                raise RuntimeError(f"{type(self).__name__}: River's generator ran out of contexts "
                                   f"after {len(contexts)} of the {len(idx)} asked for")
            if len(idx) == len(segments):
                xs = contexts
            else:
                for i, x in zip(idx.tolist(), contexts, strict=True):
                    xs[i] = x
            generated[idx] = labels
        return xs, generated

    def draw(self, segments):
        xs, generated = self.take(segments, np.int8)
        f = self.features(xs)
        labels = np.stack([self.label(p, f) for p in self.concepts]).astype(np.int8)
        # Our concept function must agree with River's on the concepts River itself draws.
        rows = self.row(segments)
        river = np.stack([self.river_label(p, f) for p in self.concepts]).astype(np.int8)
        mine = river[rows, np.arange(len(segments))]
        if not np.array_equal(mine, generated):
            bad = int(np.flatnonzero(mine != generated)[0])
            raise RuntimeError(
                f"{type(self).__name__}: the concept function disagrees with River's generator "
                f"on context {xs[bad]} (River says {generated[bad]}, we say {mine[bad]}); "
                "has River changed this generator?"
            )
        return xs, labels


FOCUS = "none (a box of contexts, feature -> [low, high]; {} lifts it)"


@SOURCES.register("sea")
class SEA(RiverGenerator):
    """SEA: three features in [0, 10]; positive when x0 + x1 > threshold.

    Params: ``variant`` (0..3: thresholds 8, 9, 7, 9.5), ``threshold`` (any number; it
    overrides the variant's, so a shift's size can be set continuously, e.g. 8 -> 8.5),
    ``focus`` (a box of contexts).
    """

    river_class = synth.SEA
    thresholds = {0: 8.0, 1: 9.0, 2: 7.0, 3: 9.5}
    shiftable = ("variant", "threshold", "focus")
    params = {"variant": "0 (0..3: x0 + x1 > 8, 9, 7, 9.5)",
              "threshold": "none (any number; overrides variant)", "focus": FOCUS}

    def river_params(self, params):
        unknown = set(params) - {"variant", "threshold"}
        if unknown:
            raise ValueError(f"no param {sorted(unknown)[0]!r}; it takes variant, threshold, focus")
        threshold = params.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise ValueError(f"threshold must be a number, got {threshold!r}")
        return {"variant": params.get("variant", 0)}

    def label(self, params, f):
        threshold = params.get("threshold")
        if threshold is None:
            threshold = self.thresholds[params.get("variant", 0)]
        return f[:, 0] + f[:, 1] > threshold

    def river_label(self, params, f):
        return f[:, 0] + f[:, 1] > self.thresholds[params.get("variant", 0)]


@SOURCES.register("stagger")
class STAGGER(RiverGenerator):
    """STAGGER: size, colour and shape in {0, 1, 2}; three boolean concepts.

    Params: ``classification_function`` (0..2), ``balance_classes``.
    """

    river_class = synth.STAGGER
    shiftable = ("classification_function", "balance_classes", "focus")
    params = {"classification_function": "0 (0..2)", "balance_classes": "false (true/false)", "focus": FOCUS}

    def label(self, params, f):
        size, color, shape = f[:, 0], f[:, 1], f[:, 2]
        return [
            (size == 0) & (color == 0),
            (color == 2) | (shape == 0),
            (size == 1) | (size == 2),
        ][params.get("classification_function", 0)]


@SOURCES.register("sine")
class Sine(RiverGenerator):
    """Sine: two features in [0, 1] labelled by a sine boundary (four concepts).

    Params: ``classification_function`` (0..3), ``balance_classes``, ``has_noise``.
    """

    river_class = synth.Sine
    shiftable = ("classification_function", "balance_classes", "focus")
    params = {"classification_function": "0 (0..3)", "balance_classes": "false (true/false)",
              "has_noise": "false (true/false: adds two irrelevant features)", "focus": FOCUS}

    def label(self, params, f):
        a, b = f[:, 0], f[:, 1]
        return [
            a < np.sin(b),
            a >= np.sin(b),
            a < 0.5 + 0.3 * np.sin(3 * np.pi * b),
            a >= 0.5 + 0.3 * np.sin(3 * np.pi * b),
        ][params.get("classification_function", 0)]


@SOURCES.register("agrawal")
class Agrawal(RiverGenerator):
    """Agrawal: nine loan-application features; ten concepts (no perturbation).

    Params: ``classification_function`` (0..9), ``balance_classes``. The concept is
    River's own function, called on each context, so it is exact by construction.
    """

    river_class = synth.Agrawal
    shiftable = ("classification_function", "balance_classes", "focus")
    params = {"classification_function": "0 (0..9)", "balance_classes": "false (true/false)", "focus": FOCUS}

    def __init__(self, concepts, seed):
        super().__init__(concepts, seed)
        probe = synth.Agrawal()
        self._functions = probe._classification_functions

    def river_params(self, params):
        if params.get("perturbation", 0.0):
            raise ValueError("agrawal: perturbation moves contexts after labelling; not supported")
        return params

    def features(self, xs):
        return xs

    def label(self, params, xs):
        function = self._functions[params.get("classification_function", 0)]
        return np.fromiter((function(*x.values()) for x in xs), dtype=np.int8, count=len(xs))


class _TrackedHyperplane(synth.Hyperplane):
    """River's Hyperplane, remembering the weights that labelled the sample just drawn.

    River draws a sample, labels it, then moves the weights, then yields; this hook keeps
    a copy of the weights from before the move.
    """

    def _generate_drift(self):
        self.labelled_by = np.array(self._weights)
        super()._generate_drift()


@SOURCES.register("hyperplane")
class Hyperplane(RiverGenerator):
    """Rotating hyperplane (incremental drift): positive when sum w_i x_i >= sum w_i / 2.

    The weights move a little at every decision (``mag_change``), so the drift is built
    in and shifts are not used. Concept row 0 is the hyperplane as it was at the first
    decision (what a stale overseer keeps using); row 1 is the moving one, which labels
    every decision. Params: ``n_features``, ``n_drift_features``, ``mag_change``, ``sigma``.
    """

    river_class = _TrackedHyperplane
    shiftable = ()
    params = {"n_features": "10 (features)", "n_drift_features": "2 (features that drift)",
              "mag_change": "0.0 (drift per decision)", "sigma": "0.1 (chance the drift reverses)",
              "focus": FOCUS}

    @classmethod
    def n_concepts(cls, segments):
        return 2  # the hyperplane at the first decision, and the moving one

    def __init__(self, concepts, seed):
        if len(concepts) > 1:
            raise ValueError("hyperplane drifts by itself (params.mag_change); it takes no shifts")
        params = concepts[0]
        features, drifting = params.get("n_features", 10), params.get("n_drift_features", 2)
        if isinstance(features, int) and isinstance(drifting, int) and drifting > features:
            raise ValueError(f"n_drift_features ({drifting}) must be at most n_features ({features})")
        super().__init__(concepts, seed)
        self._initial = None

    def river_params(self, params):
        return {**params, "noise_percentage": 0.0}

    @property
    def n_rows(self):
        return 2

    def row(self, segments):
        return np.ones_like(segments)

    def draw(self, segments):
        dataset, samples = self._datasets[0], self._iterators[0]
        xs, labels = [], np.empty((2, len(segments)), dtype=np.int8)
        for i, (x, y) in enumerate(itertools.islice(samples, len(segments))):
            weights = dataset.labelled_by
            if self._initial is None:
                self._initial = weights
            f = np.fromiter(x.values(), dtype=float)
            labels[0, i] = f @ self._initial >= self._initial.sum() * 0.5
            labels[1, i] = f @ weights >= weights.sum() * 0.5
            if labels[1, i] != y:
                raise RuntimeError("hyperplane: the tracked weights disagree with River's label")
            xs.append(x)
        return xs, labels


@SOURCES.register("friedman")
class Friedman(RiverGenerator):
    """Friedman #1 regression: ten features in [0, 1],
    f(x) = 10 sin(pi x_a x_b) + 20 (x_c - 1/2)^2 + 10 x_d + 5 x_e.

    A regression source: the action is a prediction and the harm its absolute error,
    clipped at B. Params: ``roles``, the five features [a, b, c, d, e] (default
    [0, 1, 2, 3, 4]); a shift of the roles is a concept shift, as in River's FriedmanDrift.
    ``label_noise`` is the standard deviation of the Gaussian noise. River's own noise
    (sd 1) is discarded; its values are checked against the default concept to within 6 sd.
    """

    river_class = synth.Friedman
    task = "regression"
    shiftable = ("roles", "focus")
    params = {"roles": "[0, 1, 2, 3, 4] (five different features among 0..9: a, b, c, d, e)",
              "focus": FOCUS}

    def river_params(self, params):
        roles = params.get("roles", [0, 1, 2, 3, 4])
        if sorted(roles) != sorted(set(roles)) or len(roles) != 5 or not all(0 <= r < 10 for r in roles):
            raise ValueError(f"roles must be five different features among 0..9, got {roles}")
        return {}

    def label(self, params, f):
        a, b, c, d, e = params.get("roles", [0, 1, 2, 3, 4])
        return (10 * np.sin(np.pi * f[:, a] * f[:, b]) + 20 * (f[:, c] - 0.5) ** 2
                + 10 * f[:, d] + 5 * f[:, e])

    def draw(self, segments):
        xs, generated = self.take(segments, float)
        f = self.features(xs)
        residual = generated - self.label({}, f)
        if np.abs(residual).max() > 6.0:
            raise RuntimeError("friedman: the concept function disagrees with River's generator "
                               "by more than its noise; has River changed this generator?")
        return xs, np.stack([self.label(p, f) for p in self.concepts])


@SOURCES.register("phishing")
class Phishing(Source):
    """River's bundled Phishing data set (1,250 web pages), replayed in shuffled epochs.

    There is no oracle: the labels are data. A shift can inject a concept change with
    ``flip_labels: true`` (every label reversed from then on). Choose a comparator other
    than ``oracle`` for scenarios on this source.
    """

    has_oracle = False
    shiftable = ("flip_labels",)
    params = {"flip_labels": "false (true: every label reversed)"}

    def __init__(self, concepts, seed):
        from river import datasets

        super().__init__(concepts, seed)
        for p in concepts:
            unknown = set(p) - {"flip_labels"}
            if unknown:
                raise ValueError(f"phishing takes only 'flip_labels', not {sorted(unknown)}")
        data = list(datasets.Phishing())
        self._x = [x for x, _ in data]
        self._y = np.array([y for _, y in data], dtype=np.int8)
        self._rng = np.random.default_rng(seed)
        self._order = iter(())

    def _next_index(self) -> int:
        index = next(self._order, None)
        if index is None:
            self._order = iter(self._rng.permutation(len(self._x)).tolist())
            index = next(self._order)
        return index

    def draw(self, segments):
        idx = np.array([self._next_index() for _ in range(len(segments))], dtype=np.int64)
        base = self._y[idx]
        labels = np.stack([base ^ int(bool(p.get("flip_labels", False))) for p in self.concepts])
        return [dict(self._x[i]) for i in idx], labels.astype(np.int8)


class Stream:
    """A source under a shift schedule with label noise, produced in blocks.

    Parameters
    ----------
    source
        A registered source id or ``module:attribute`` naming a :class:`Source` subclass.
    params
        The source's params before the first shift.
    shifts
        :class:`Shift` objects, sorted and not overlapping.
    label_noise
        Probability that the observed truth is the other class (symmetric noise).
    horizon
        Number of decisions.
    seed
        This run-seed's :class:`numpy.random.SeedSequence`.
    """

    def __init__(self, source, params, shifts, label_noise, horizon, seed):
        self.shifts = list(shifts)
        self.label_noise = float(label_noise)
        self.horizon = int(horizon)
        source_seed, schedule_seed, noise_seed = seed.spawn(3)
        # A fourth child, for rules that draw at random (spawning it changes none of the others).
        self.entropy = int(seed.spawn(1)[0].generate_state(1)[0])
        self.source = SOURCES.get(source)(concept_params(params, self.shifts), source_seed)
        self._schedule_rng = np.random.default_rng(schedule_seed)
        self._noise_rng = np.random.default_rng(noise_seed)

    def mixture(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each step: the segment before the shift in progress, and the weight of the next.

        >>> import numpy as np
        >>> s = Stream("sea", {}, [Shift(at=4, width=4, params={"variant": 1})], 0, 10,
        ...            np.random.SeedSequence(0))
        >>> segment, weight = s.mixture(np.arange(10))
        >>> segment.tolist(), weight.tolist()
        ([0, 0, 0, 0, 0, 0, 0, 1, 1, 1], [0.0, 0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 0.0, 0.0, 0.0])
        """
        segment = np.zeros(len(steps), dtype=np.int64)
        weight = np.zeros(len(steps))
        for k, shift in enumerate(self.shifts):
            ramp = (steps - shift.at + 1) / shift.width
            inside = (ramp > 0) & (ramp < 1 + 1 / shift.width)
            after = steps >= shift.at + shift.width
            weight[inside] = np.minimum(ramp[inside], 1.0)
            segment[inside] = k
            segment[after] = k + 1
            weight[after] = 0.0
        # A finished ramp (weight 1) means the next segment is in force.
        done = weight >= 1.0
        segment[done] += 1
        weight[done] = 0.0
        return segment, weight

    def blocks(self, size: int = 4096) -> Iterator[Block]:
        """Yield the stream's decisions in blocks of at most ``size``."""
        noise = self.label_noise
        for start in range(0, self.horizon, size):
            steps = np.arange(start, min(start + size, self.horizon))
            base, weight = self.mixture(steps)
            segment = base + (self._schedule_rng.random(len(steps)) < weight)
            xs, labels = self.source.draw(segment)
            row = self.source.row(segment)
            if self.source.task == "regression":
                # label_noise is the standard deviation of Gaussian noise on the clean value.
                gauss = self._noise_rng.normal(0.0, noise, len(steps))
                y = labels[row, np.arange(len(steps))] + gauss
                yield Block(start, xs, y, segment, row, labels, np.zeros(len(steps), bool), None, gauss,
                            self.entropy)
                continue
            exact = self.source.proba(xs, self.source.row(base))
            if exact is not None:
                # A source of several classes knows P(y | x) itself; its labels carry no noise.
                if weight.any():
                    following = np.minimum(base + 1, len(self.source.concepts) - 1)
                    exact = ((1 - weight)[:, None] * exact
                             + weight[:, None] * self.source.proba(xs, self.source.row(following)))
                y = labels[row, np.arange(len(steps))]
                yield Block(start, xs, y, segment, row, labels, np.zeros(len(steps), bool), exact,
                            entropy=self.entropy, concept_proba=functools.partial(self._exact, xs))
                continue
            flip = self._noise_rng.random(len(steps)) < noise
            y = labels[row, np.arange(len(steps))] ^ flip
            p = None
            if self.source.has_oracle:
                # P(y = 1 | x, step): mix the two segments' clean labels, then the noise.
                clean = labels[self.source.row(base), np.arange(len(steps))]
                following = np.minimum(base + 1, len(self.source.concepts) - 1)
                nxt = labels[self.source.row(following), np.arange(len(steps))]
                p_clean = (1 - weight) * clean + weight * nxt
                p1 = p_clean * (1 - noise) + (1 - p_clean) * noise
                p = np.column_stack([1 - p1, p1])
            concept_proba = functools.partial(self._binary, labels) if self.source.has_oracle else None
            yield Block(start, xs, y.astype(np.int8), segment, row, labels, flip, p, entropy=self.entropy,
                        concept_proba=concept_proba)

    def _exact(self, xs, k: int) -> np.ndarray:
        return self.source.proba(xs, np.full(len(xs), k))

    def _binary(self, labels, k: int) -> np.ndarray:
        if not 0 <= k < labels.shape[0]:
            raise ValueError(f"concept {k} does not exist; this stream has {labels.shape[0]} concept(s)")
        p1 = labels[k] * (1 - self.label_noise) + (1 - labels[k]) * self.label_noise
        return np.column_stack([1 - p1, p1])
