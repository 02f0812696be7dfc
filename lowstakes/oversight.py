"""Oversight: feedback is produced by an overseer with limited capacity, on request.

An arm asks for a label according to its *query policy* (all, a random fraction, a rate
cap, uncertainty, or its own rule for the consensus imitator). With an overseer, every
request waits in a :class:`simpy.Resource` queue for one of ``capacity`` labellers, is
served for a service time, and then the arm learns; with ``patience``, a request not
taken up in time is dropped and the arm never learns from that decision.

No SimPy process is created per decision: a request is a resource request whose
callbacks start the service (a timeout) and, when it ends, release the labeller and
deliver the label. Each arm has its own overseer; the service time of a decision is the
same for every arm (common random numbers).

Examples
--------
>>> import simpy
>>> env = simpy.Environment()
>>> answers = []
>>> overseer = Overseer(env, capacity=1, patience=None,
...                     answer=lambda t, wait: answers.append((t, env.now, wait)))
>>> for t in range(3):
...     overseer.ask(t, service=2.0)
>>> env.run()
>>> answers
[(0, 2.0, 0), (1, 4.0, 2.0), (2, 6.0, 4.0)]
>>> overseer.busy_time, overseer.dropped
(6.0, 0)
"""

from __future__ import annotations

import simpy

from lowstakes.registry import Registry, check_params

__all__ = ["Overseer", "QUERIES", "build_query"]

QUERIES = Registry("query policy")


class Overseer:
    """A labeller pool: ``capacity`` labels at once, FIFO queue, optional patience."""

    def __init__(self, env: simpy.Environment, capacity: int, patience: float | None, answer,
                 drop=None):
        self.env = env
        #: Called as ``answer(key, wait)`` when a label is made (``wait``: how long its
        #: request queued), ``drop(key)`` when a request's patience runs out first.
        self.answer, self.drop = answer, drop
        self.capacity = capacity
        self.resource = simpy.Resource(env, capacity=capacity)
        #: The requests waiting for a labeller (not yet granted), first come first.
        self.queue = self.resource.queue
        self.patience = patience
        self.busy_time = 0.0  # labelling time of finished labels
        self.dropped = 0
        self._serving: dict[int, float] = {}

    def busy_until_now(self) -> float:
        """Labelling time so far, counting labels still being made."""
        return self.busy_time + sum(self.env.now - start for start in self._serving.values())

    @property
    def queue_length(self) -> int:
        return len(self.queue)

    def ask(self, key, service: float) -> None:
        """Request a label now, for ``service`` time units once a labeller takes it up;
        ``key`` (what the label is for) is handed back to ``answer`` or ``drop``."""
        asked = self.env.now
        request = self.resource.request()

        def start(_event):
            self._serving[id(request)] = self.env.now
            done = self.env.timeout(service)
            done.callbacks.append(finish)

        def finish(_event):
            started = self._serving.pop(id(request))
            self.busy_time += self.env.now - started
            self.resource.release(request)
            self.answer(key, started - asked)

        request.callbacks.append(start)
        if self.patience is not None and not request.triggered:
            def give_up(_event):
                if not request.triggered:
                    request.cancel()
                    self.dropped += 1
                    if self.drop is not None:
                        self.drop(key)

            self.env.timeout(self.patience).callbacks.append(give_up)


class Query:
    """Whether an arm asks for the label of a decision. ``u`` is a uniform draw shared by
    all arms for that decision; ``confidence`` the arm's top probability."""

    def wants(self, now: float, confidence: float, u: float) -> bool:
        raise NotImplementedError


@QUERIES.register("all")
class All(Query):
    """Ask for every label."""

    def wants(self, now, confidence, u):
        return True


@QUERIES.register("fraction")
class Fraction(Query):
    """Ask for a random fraction ``rate`` of the labels."""

    def __init__(self, rate: float):
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        self.rate = rate

    def wants(self, now, confidence, u):
        return u < self.rate


@QUERIES.register("rate_cap")
class RateCap(Query):
    """At most ``per_time`` labels per time unit on average, in bursts of up to ``burst``
    (a token bucket)."""

    def __init__(self, per_time: float, burst: float = 1.0):
        if per_time <= 0 or burst < 1:
            raise ValueError(f"need per_time > 0 and burst >= 1, got {per_time}, {burst}")
        self.per_time, self.burst = per_time, burst
        self._tokens, self._last = burst, 0.0

    def wants(self, now, confidence, u):
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_time)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@QUERIES.register("uncertainty")
class Uncertainty(Query):
    """Ask when the learner's top class probability is below ``threshold``."""

    def __init__(self, threshold: float = 0.8):
        if not 0.5 <= threshold <= 1:
            raise ValueError(f"threshold must be in [0.5, 1], got {threshold}")
        self.threshold = threshold

    def wants(self, now, confidence, u):
        return confidence < self.threshold


def build_query(spec: dict | None) -> Query:
    """A query policy from ``{policy: name, ...params}`` (default: all)."""
    spec = dict(spec or {"policy": "all"})
    cls = QUERIES.get(spec.pop("policy", "all"))
    check_params(cls, spec)
    return cls(**spec)
