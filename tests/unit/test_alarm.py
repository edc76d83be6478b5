"""The linger alarm's thread: rings at deadlines, ends when none is left.

The clock is a variable the test moves; the thread is waited for through
events, never by sleeping.
"""

from __future__ import annotations

import threading

from glance_store_cinder.alarm import AlarmThread

NAME = "test-linger-alarm"


class Ringing:
    def __init__(self) -> None:
        self.count = 0
        self.rang = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.rang.set()


def alarm_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == NAME), None)


def test_rings_for_a_passed_deadline_then_its_thread_ends() -> None:
    now = [100.0]
    ringing = Ringing()
    alarm = AlarmThread(ringing, lambda: now[0], name=NAME)
    alarm.at(99.0)
    assert ringing.rang.wait(30)
    thread = alarm_thread()
    if thread is not None:
        thread.join(30)
        assert not thread.is_alive()
    assert ringing.count == 1


def test_a_later_deadline_waits_for_the_clock() -> None:
    now = [100.0]
    ringing = Ringing()
    alarm = AlarmThread(ringing, lambda: now[0], name=NAME)
    alarm.at(200.0)  # the thread starts, waiting for 200
    alarm.at(99.0)
    assert ringing.rang.wait(30)
    ringing.rang.clear()
    thread = alarm_thread()
    assert thread is not None and thread.is_alive()  # waits for 200
    now[0] = 300.0
    alarm.at(250.0)  # wakes it: both deadlines have passed
    assert ringing.rang.wait(30)
    thread.join(30)
    assert not thread.is_alive()
    assert ringing.count == 2


def test_a_failing_ring_does_not_stop_the_alarm() -> None:
    now = [100.0]
    calls: list[int] = []
    failed = threading.Event()
    rang = threading.Event()

    def ring() -> None:
        calls.append(1)
        if len(calls) == 1:
            failed.set()
            raise RuntimeError("Cinder is away")
        rang.set()

    alarm = AlarmThread(ring, lambda: now[0], name=NAME)
    alarm.at(200.0)
    alarm.at(99.0)  # rings, and the ring fails
    assert failed.wait(30)
    now[0] = 300.0
    alarm.at(250.0)
    assert rang.wait(30)
    assert len(calls) == 2
    thread = alarm_thread()
    if thread is not None:
        thread.join(30)
