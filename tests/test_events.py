"""lowstakes.events against SimPy itself: the same asks give the same answers, in the same
order, at the same times, with the same waits, drops and busy time.

The engine asks a desk at most once per decision; here hypothesis also asks several times
at one instant and at instants where services end, give up and start, so that every rule of
SimPy's order (a release granting the head of the queue, a release that finds nobody
waiting, a withdrawn request) is exercised.
"""

from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from lowstakes.events import URGENT, Calendar, Desk, FifoDesk
from lowstakes.oversight import Overseer

GRID = st.sampled_from([0.0, 0.5, 1.0, 2.0])

asks = st.lists(  # per step: the gap before it, then (service, delay) of each ask made then
    st.tuples(GRID, st.lists(st.tuples(st.sampled_from([0.5, 1.0, 1.5, 2.0]), st.sampled_from([0, 0, 1.0])),
                             max_size=3)),
    min_size=1, max_size=25)


def _callbacks(env, seen):
    def answer(t, wait):
        seen.append(("answer", t, env.now, wait))

    def drop(t):
        seen.append(("drop", t, env.now))

    return answer, drop


def _drive(env, desk, steps, later, seen):
    """Ask ``desk`` as the steps say; a delayed ask goes through ``later`` (an URGENT event,
    as the engine's delayed routes do). Notes what happened in ``seen``, in order."""
    counter = iter(range(10**6))

    def process():
        for gap, batch in steps:
            if gap:
                yield env.timeout(gap)
            for service, delay in batch:
                t = next(counter)
                seen.append(("ask", t, env.now, desk.queue_length))
                if delay:
                    later(delay, lambda value: desk.ask(*value), (t, service))
                else:
                    desk.ask(t, service)

    return process()


@settings(max_examples=500, deadline=None)
@given(steps=asks, capacity=st.integers(1, 3), patience=st.none() | st.sampled_from([0.5, 1.0, 2.0]),
       tail=st.sampled_from([0.0, 1.0, 3.0]))
def test_a_desk_on_the_calendar_is_simpy_resource(steps, capacity, patience, tail):
    steps = [*steps, (tail, [])]  # the process ends at the last step: what is due by then is done

    env = simpy.Environment()
    want = []
    overseer = Overseer(env, capacity, patience, *_callbacks(env, want))

    def simpy_later(delay, callback, value):
        event = simpy.Event(env)
        event._ok, event._value = True, value
        event.callbacks.append(lambda e: callback(e.value))
        env.schedule(event, URGENT, delay)

    env.run(until=env.process(_drive(env, overseer, steps, simpy_later, want)))

    calendar = Calendar()
    got = []
    desk = Desk(calendar, capacity, patience, *_callbacks(calendar, got))
    process = _drive(calendar, desk, steps,
                     lambda delay, callback, value: calendar.schedule(delay, URGENT, callback, value), got)
    calendar.run(until=calendar.process(process))

    assert got == want
    assert (desk.busy_until_now(), desk.dropped) == (overseer.busy_until_now(), overseer.dropped)
    assert calendar.now == env.now


@settings(max_examples=500, deadline=None)
@given(gaps=st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=1, max_size=40),
       services=st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=40, max_size=40),
       capacity=st.integers(1, 3), cuts=st.sets(st.integers(1, 39), max_size=4))
def test_a_fifo_desk_in_closed_form_is_simpy_resource(gaps, services, capacity, cuts):
    """One ask per decision at strictly increasing times, services on the same grid (labels
    end at the very instants of decisions and of each other), the decisions cut into blocks
    anywhere: the closed form gives SimPy's answers, order, times, waits, queues, busy time."""
    times = [0.0]
    for gap in gaps[1:]:
        times.append(times[-1] + gap)
    n = len(times)

    env = simpy.Environment()
    want = []
    overseer = Overseer(env, capacity, None, *_callbacks(env, want))

    def process():
        for t in range(n):
            if t:
                yield env.timeout(times[t] - times[t - 1])
            want.append(("ask", t, env.now, overseer.queue_length))
            overseer.ask(t, services[t])

    env.run(until=env.process(process()))

    desk, got = FifoDesk(capacity), []
    bounds = [0, *sorted(c for c in cuts if c < n), n]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        queue, (keys, asked, start, finish, before) = desk.block(times[lo:hi], services[lo:hi],
                                                                 list(range(lo, hi)))
        done = 0
        for i in range(hi - lo):
            for k in range(done, before[i]):
                got.append(("answer", keys[k], finish[k], start[k] - asked[k]))
            done = before[i]
            got.append(("ask", lo + i, times[lo + i], queue[i]))
    keys, asked, start, finish, _ = desk.end()
    got += [("answer", key, f, s - a) for key, a, s, f in zip(keys, asked, start, finish, strict=True)]

    assert got == want
    assert desk.busy_until_now() == overseer.busy_until_now()


def test_a_fifo_desk_refuses_times_that_do_not_increase():
    desk = FifoDesk(1)
    desk.block([0.0, 1.0], [0.5, 0.5], [0, 1])
    for times in ([1.0, 2.0], [2.0, 2.0]):
        try:
            desk.block(times, [0.5, 0.5], [2, 3])
        except ValueError:
            continue
        raise AssertionError(f"{times} accepted")
