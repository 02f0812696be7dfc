"""The one protocol every learner kind speaks to the engine.

The simulation knows nothing of pools, imitators or River models: it drives every arm
through these hooks, in this order, and routes its labels (directly, delayed, or through
an overseer; see :mod:`lowstakes.simulation`). A new learner kind subclasses
:class:`Policy`, overrides what it needs, and touches no simulation code.

Per block of decisions: ``begin_block`` (the block's contexts and, for bookkeeping only,
its labels), then per decision ``act`` (and ``wants_label`` for a policy that chooses its
own queries), ``learn`` when a label arrives (or ``forget`` when it never will); when
every label is learned as soon as its decision is taken, the engine hands the policy the
whole block at once (``take_block``, by default ``act`` then ``learn`` per decision), and
when they come back through an overseer whose answers are worked out for the whole block
(:class:`lowstakes.events.FifoDesk`), the block with its labels between the decisions
(``take_queued``);
``end_block`` once the block's decisions are taken, and ``settle`` once none of its labels
is still on its way. At the end, ``finish``. Policies are built by
:func:`lowstakes.policies.build_policy`.
"""

from __future__ import annotations

__all__ = ["Policy"]


class Policy:
    """The hooks with their defaults (a policy that needs no block bookkeeping)."""

    #: The top action probability at the last decision (for uncertainty queries).
    confidence: float = 1.0
    #: Whether the policy decides itself which decisions it asks about (``wants_label``).
    chooses_queries: bool = False

    def begin_block(self, block, feedback, truth, stakes) -> None:
        """A block of decisions starts. ``feedback``, ``truth`` and ``stakes`` are the
        block's labels per decision: for records and comparators, never for acting."""

    def act(self, t: int, x: dict):
        """The action for decision ``t`` with context ``x``."""
        raise NotImplementedError

    def wants_label(self, t: int) -> bool:
        """Whether decision ``t``'s label is asked for (policies that choose their queries)."""
        return True

    def learn(self, t: int, x: dict, label) -> None:
        """Decision ``t``'s label has arrived."""
        raise NotImplementedError

    def take_block(self, steps: list, xs: list, labels: list, out: list) -> None:
        """Decisions ``steps`` (contexts ``xs``) in turn, each label learned as soon as its
        decision is taken (no delay, no route): :meth:`act`, its action appended to ``out``,
        then :meth:`learn`. A policy may write this loop out for speed; it must do exactly
        what this does."""
        act, learn, append = self.act, self.learn, out.append
        for t, x, label in zip(steps, xs, labels, strict=True):
            append(act(t, x))
            learn(t, x, label)

    def take_queued(self, steps: list, xs: list, out: list, learned: list, before: list) -> None:
        """Decisions ``steps`` (contexts ``xs``) in turn, with labels arriving between them
        (through an overseer): ``learned`` are the labels ``(t, x, label)`` in the order
        they arrive, and ``before[i]`` how many of them arrive before decision i. Those
        arriving after the last decision come with the next block. :meth:`learn` each, and
        :meth:`act`, its action appended to ``out``. A policy may write this loop out for
        speed; it must do exactly what this does."""
        act, learn, append = self.act, self.learn, out.append
        done = 0
        for t, x, due in zip(steps, xs, before, strict=True):
            while done < due:
                learn(*learned[done])
                done += 1
            append(act(t, x))

    def forget(self, t: int) -> None:
        """Decision ``t``'s label will never arrive (not asked for, or dropped)."""

    def settle(self, actions, records: dict | None, answered) -> None:
        """A block is settled: ``actions`` (its actions, changeable in place), this policy's
        ``records`` from :meth:`end_block`, and ``answered`` (per decision: did its label
        arrive). A policy that acted on an answer it never got corrects its actions here."""

    def end_block(self, start: int, stop: int) -> dict | None:
        """Decisions ``start`` to ``stop - 1`` are taken: per-decision records of the
        block (arrays of its length) or None."""
        return None

    def finish(self) -> dict:
        """What the policy reports at the end: a dict whose ``kind`` says what it is
        (``model``, ``linear``, ``pool``, ``imitation``)."""
        return {"kind": "model", "no_guarantee": None}
