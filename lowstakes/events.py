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
from collections import deque
from itertools import count

__all__ = ["Calendar", "Desk", "NORMAL", "URGENT"]

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
