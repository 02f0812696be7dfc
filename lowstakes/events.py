"""An event calendar that processes events in exactly SimPy's order, without SimPy's objects.

SimPy is the simulation of record. A routed arm (an overseer, a query policy) costs SimPy
four events per label (the request, its grant, the end of the service, the release), each
an object with a list of callbacks; that doubled the cost of a decision. :class:`Calendar`
keeps SimPy's rule for the order of events and nothing else: an event is a tuple
``(time, priority, id, callback, value)`` in a heap, ids count up as events are scheduled,
and URGENT (0) comes before NORMAL (1) at the same time. :class:`Desk` is
``simpy.Resource`` used as lowstakes uses it (FIFO, ``capacity`` at once, requests that may
be withdrawn), scheduling the same events at the same moments (but for a release nobody
waits for, see :meth:`Desk._finish`). Together they give the numbers SimPy gives, to the
last bit: ``tests/test_fast_paths.py`` runs every bundled scenario both ways, and
hypothesis draws the ties (fixed service times, arrivals and patience on a grid) where only
the order of events decides who learns first; ``tests/test_events.py`` holds a desk to a
SimPy resource under several requests per instant.

Examples
--------
>>> calendar = Calendar()
>>> seen = []
>>> def arrivals():
...     for t in range(3):
...         calendar.schedule(2.0, NORMAL, seen.append, ("label", t))
...         yield calendar.timeout(1.0)  # the process's own timeout never enters the heap
>>> calendar.run(calendar.process(arrivals()))
>>> seen   # each label was scheduled before the arrival due at its time: it comes first
[('label', 0), ('label', 1)]
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from itertools import count

import numpy as np

__all__ = ["Calendar", "Desk", "FifoDesk", "NORMAL", "URGENT"]

URGENT, NORMAL = 0, 1  # SimPy's priorities (simpy.events.URGENT, NORMAL)


class Calendar:
    """Time and the events still to come, driven by one process: a generator that calls
    :meth:`timeout` and yields, as a ``simpy.Environment`` process yields a timeout.

    The process's own timeouts never enter the heap: :meth:`timeout` takes the id SimPy's
    Timeout would have had and processes, there and then, every event that SimPy would
    have processed before it; the process resumes when :meth:`timeout` returns.
    """

    def __init__(self):
        self.now = 0.0
        self._heap: list = []
        self._ids = count()

    def schedule(self, delay, priority, callback, value) -> None:
        """Call ``callback(value)`` at ``now + delay``."""
        heapq.heappush(self._heap, (self.now + delay, priority, next(self._ids), callback, value))

    def timeout(self, delay) -> None:
        """Advance to ``now + delay``, processing in order the events due before the
        process would resume (those at that time with a lower priority or an earlier id
        included)."""
        key = (self.now + delay, NORMAL, next(self._ids))
        heap, pop = self._heap, heapq.heappop
        while heap and heap[0] < key:  # ids are unique: the comparison stops at them
            self.now, _, _, callback, value = pop(heap)
            callback(value)
        self.now = key[0]

    def process(self, generator):
        """Start ``generator`` as SimPy does, with an URGENT event now (nothing comes before
        it, so it takes an id and runs first)."""
        next(self._ids)
        return generator

    def run(self, until) -> None:
        """Run the process to its end, then the events that SimPy processes before it
        notices the end (its finished process is a NORMAL event now); later ones never are."""
        for _ in until:
            pass
        self.end()

    def end(self) -> None:
        """Process the events SimPy processes after the last process has ended and before it
        notices the end (a NORMAL event now, with the next id): those due before it."""
        self.timeout(0.0)  # now + 0.0 is now


class Desk:
    """``simpy.Resource(capacity)`` as an overseer uses it, on a :class:`Calendar`.

    A request joins the FIFO queue and is granted at once when a place is free (the grant
    is an event now, as ``Request.succeed()`` is); a grant starts the service, whose end
    releases the place (a release event now) and delivers the label; a processed release
    grants the head of the queue. A request not yet granted when its patience runs out is
    withdrawn. The same statistics as :class:`lowstakes.oversight.Overseer`.
    """

    def __init__(self, calendar: Calendar, capacity: int, patience: float | None, answer, drop=None):
        self.calendar = calendar
        self.capacity = capacity
        self.patience = patience
        #: Called as ``answer(key, wait)`` when a label is made, ``drop(key)`` when a request
        #: gives up (as for :class:`lowstakes.oversight.Overseer`).
        self.answer, self.drop = answer, drop
        self.users = 0
        self.queue: deque[list] = deque()  # requests not granted: [key, service, asked, granted]
        self.busy_time = 0.0
        self.dropped = 0
        self._serving: dict[int, float] = {}  # id of a request being served -> its start

    @property
    def queue_length(self) -> int:
        return len(self.queue)

    def busy_until_now(self) -> float:
        return self.busy_time + sum(self.calendar.now - start for start in self._serving.values())

    def ask(self, key, service: float) -> None:
        """Request a label now, for ``service`` time units once a labeller takes it up;
        ``key`` is handed back to ``answer`` or ``drop``."""
        request = [key, service, self.calendar.now, False]
        self.queue.append(request)
        self._grant()
        if self.patience is not None and not request[3]:
            self.calendar.schedule(self.patience, NORMAL, self._give_up, request)

    # The events below are pushed onto the calendar's heap directly (as Calendar.schedule
    # does, without the call): they are most of the work of a routed decision.

    def _grant(self, _value=None) -> None:
        """``Resource._trigger_put`` (also what a processed release does): grant the head of
        the queue, if a place is free."""
        if self.queue and self.users < self.capacity:
            request = self.queue.popleft()
            request[3] = True
            self.users += 1
            calendar = self.calendar
            heapq.heappush(calendar._heap, (calendar.now, NORMAL, next(calendar._ids), self._start, request))

    def _start(self, request) -> None:
        calendar = self.calendar
        now = calendar.now
        self._serving[id(request)] = now
        heapq.heappush(calendar._heap, (now + request[1], NORMAL, next(calendar._ids), self._finish, request))

    def _finish(self, request) -> None:
        """The label is made: the place is released and the label delivered.

        SimPy's release is an event now that grants the head of the queue. With nobody
        waiting it is left out, which changes nothing that can be seen (answers, their times
        and order, waits, drops): until the release's turn every new request finds the free
        place and is granted at once, except when a second one comes at this same instant
        after another label ended too; then the later release grants it, in the same
        first-come order, before anything else at this instant can tell the difference
        (requests come only from the arrivals process, which runs before this release's turn,
        and from URGENT delayed asks; services and patience are positive).
        ``tests/test_events.py`` holds this against SimPy with several requests per instant.
        """
        calendar = self.calendar
        now = calendar.now
        started = self._serving.pop(id(request))
        self.busy_time += now - started
        self.users -= 1
        if self.queue:
            heapq.heappush(calendar._heap, (now, NORMAL, next(calendar._ids), self._grant, None))
        self.answer(request[0], started - request[2])

    def _give_up(self, request) -> None:
        if not request[3]:
            self.queue.remove(request)
            self.dropped += 1
            if self.drop is not None:
                self.drop(request[0])


class FifoDesk:
    """A :class:`Desk` with no patience, asked for a label at every decision, worked out in
    closed form a block of decisions at a time: the same answers, times, waits, queues and
    order as the desk on its calendar, to the last bit, with no event per label.

    This holds when the decisions' times strictly increase (fixed spacing) and each label is
    asked for at its decision (no feedback delay). Then the desk is a FIFO queue of
    ``capacity`` labellers (Lindley's recursion): request i starts at
    ``max(a_i, the earliest time a labeller is free)`` and is answered at ``start + service``,
    the sums the calendar computes. What SimPy's event order decides is read off the event
    chain (grant, start, finish; all but the finish at the instant they are scheduled):

    * a label answered at f is learned before decision k (at time a_k) when f < a_k, or
      when f == a_k and its service started before a_{k-1}: only then was its finish
      scheduled before decision k's timeout was (a start at a_{k-1} or later is processed
      after decision k-1, when that timeout has its id);
    * labels learned in one gap come in the order (f, request), finishes being scheduled in
      the order the requests start;
    * the queue request i meets is the number of earlier requests not granted when it asks:
      those that start at a_i or later (a grant at a_i is scheduled after decision i's
      timeout, so it comes after decision i);
    * when the decisions are over (at T), a label is learned if f < T, or f == T and its
      service started before T (:meth:`end`).

    ``tests/test_events.py`` holds this against a SimPy resource (drawn grids of arrivals
    and services, blocks cut anywhere); ``tests/test_fast_paths.py`` holds the engine
    against SimPy. With a queue that grows without end (an overseer too slow for good), each
    block costs time in proportion to the queue, as the records held for its labels cost
    memory on every path.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        #: When each labeller is free next (a heap).
        self.free = [-math.inf] * capacity
        #: The time of the latest decision (-inf before the first).
        self.last = -math.inf
        self.busy_time = 0.0
        self.dropped = 0  # no patience: nobody gives up
        # The requests not yet answered, in the order made: their keys, when they were
        # asked, started and answered.
        self.keys: list = []
        self.asked = self.start = self.finish = np.empty(0)

    def block(self, times: list[float], services: list[float], keys: list):
        """A request at each of ``times`` (strictly increasing, after every earlier decision),
        for ``services`` time units, handed back as ``keys``. Returns the queue each request
        met, and the requests answered before the last of these decisions: their keys,
        asked, start and answer times in the order answered, and ``before[i]``: how many of
        them are answered before decision i."""
        first = times[0]
        if not first > self.last or any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError("FifoDesk needs strictly increasing decision times")
        start, finish = self._serve(times, services)
        a = np.asarray(times)
        new_start, new_finish = np.asarray(start), np.asarray(finish)
        waiting = len(self.keys)
        starts = np.concatenate([self.start, new_start])
        queue = waiting + np.arange(len(times)) - np.searchsorted(starts, a, "left")
        self.keys += keys
        self.asked = np.concatenate([self.asked, a])
        self.start, self.finish = starts, np.concatenate([self.finish, new_finish])
        # Before which decision each open request is learned (len(times): not in this block).
        before = np.searchsorted(a, self.finish, "left")
        inside = before < len(a)
        previous = np.concatenate([[self.last], a[:-1]])
        at = before[inside]
        tie = np.zeros(len(before), bool)
        tie[inside] = (a[at] == self.finish[inside]) & (self.start[inside] >= previous[at])
        before += tie
        self.last = times[-1]
        return queue, self._answer(before < len(a), before, len(a))

    def end(self):
        """The decisions are over: the requests answered by then, in order (as
        :meth:`block` returns them); the others never are."""
        now = self.last
        answered = (self.finish < now) | ((self.finish == now) & (self.start < now))
        return self._answer(answered, np.zeros(len(answered), np.int64), 1)

    def busy_until_now(self) -> float:
        """:meth:`Desk.busy_until_now`: the services ended, then those under way (started,
        not ended) in the order they started."""
        now = self.last
        return self.busy_time + sum(now - s for s in self.start[self.start < now].tolist())

    def _serve(self, times, services):
        """Lindley's recursion: when each request starts and is answered."""
        start, finish = [], []
        free = self.free
        if self.capacity == 1:
            ready = free[0]
            for a, service in zip(times, services, strict=True):
                begin = a if a > ready else ready
                ready = begin + service
                start.append(begin)
                finish.append(ready)
            free[0] = ready
        else:
            replace = heapq.heapreplace
            for a, service in zip(times, services, strict=True):
                ready = free[0]
                begin = a if a > ready else ready
                end = begin + service
                replace(free, end)
                start.append(begin)
                finish.append(end)
        return start, finish

    def _answer(self, answered, before, n):
        """Take the ``answered`` requests out, in the order learned: (decision before which,
        answer time, request). Returns their keys, asked, start and answer times in that
        order, and per decision how many are learned before it."""
        index = np.flatnonzero(answered)
        order = index[np.lexsort((index, self.finish[index], before[index]))]
        keys = self.keys
        out = ([keys[i] for i in order.tolist()], self.asked[order], self.start[order],
               self.finish[order], np.searchsorted(before[order], np.arange(n), "right"))
        busy = self.busy_time
        for spent in (out[3] - out[2]).tolist():  # in the order the services end, as the desk adds
            busy += spent
        self.busy_time = busy
        keep = np.flatnonzero(~answered)
        self.keys = [keys[i] for i in keep.tolist()]
        self.asked, self.start, self.finish = self.asked[keep], self.start[keep], self.finish[keep]
        return out
