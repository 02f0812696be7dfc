"""A worked example of extending lowstakes from your own code (see docs/extending.md)."""

import numpy as np

from lowstakes import Feedback, Source
from lowstakes.pools import Rule


class Stripes(Source):
    """Two features in [0, 1]; positive when x lies in a vertical stripe [low, high)."""

    shiftable = ("low", "high")

    def __init__(self, concepts, seed):
        super().__init__(concepts, seed)
        self.rng = np.random.default_rng(seed)

    def draw(self, segments):
        points = self.rng.random((len(segments), 2))
        xs = [{"a": a, "b": b} for a, b in points]
        labels = np.stack([(points[:, 0] >= c.get("low", 0.2)) & (points[:, 0] < c.get("high", 0.6))
                           for c in self.concepts])
        return xs, labels.astype(np.int8)


class LazyOverseer(Feedback):
    """A proxy: the overseer never reports a positive when feature ``b`` is above ``cutoff``."""

    def __init__(self, cutoff: float = 0.8):
        self.cutoff = cutoff

    def feedback(self, block, rng):
        lazy = np.array([x["b"] > self.cutoff for x in block.x])
        return np.where(lazy, 0, block.y).astype(np.int8)


class LeftHalf(Rule):
    """An expert rule: positive on the left half of the square."""

    def predict(self, block):
        return np.array([float(x["a"] < 0.5) for x in block.x])
