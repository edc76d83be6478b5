"""Something to call when a deadline passes, with no request to do it.

A lingering shared read attachment must end when its linger runs out
even if no request of that volume comes.  :class:`AlarmThread` is one
daemon thread per store that sleeps until the earliest deadline set with
:meth:`~AlarmThread.at`, calls the store back, and exits when no deadline
is left (so an idle store keeps no thread).  It is started again after a
fork: a gunicorn worker does not inherit its parent's threads.

The alarm is a collaborator: unit tests pass one that they ring by hand
after moving their clock, so nothing sleeps for real.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Protocol

LOG = logging.getLogger(__name__)


class Alarm(Protocol):
    def at(self, deadline: float) -> None:
        """Ring once the monotonic clock has passed ``deadline``."""


AlarmFactory = Callable[[Callable[[], None], Callable[[], float]], Alarm]
"""Makes an alarm from what it rings and the monotonic clock."""


class AlarmThread:
    """Rings ``ring`` in its own thread at each deadline."""

    def __init__(self, ring: Callable[[], None],
                 monotonic: Callable[[], float],
                 name: str = "glance-store-cinder-linger") -> None:
        self._ring = ring
        self._monotonic = monotonic
        self._name = name
        self._deadlines: list[float] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def at(self, deadline: float) -> None:
        with self._wake:
            self._deadlines.append(deadline)
            self._wake.notify()
            if (self._thread is None or not self._thread.is_alive()
                    or self._pid != os.getpid()):
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _next_due(self) -> bool:
        """Wait for the earliest deadline; False when none is left."""
        with self._wake:
            while self._deadlines:
                wait = min(self._deadlines) - self._monotonic()
                if wait <= 0:
                    now = self._monotonic()
                    self._deadlines = [d for d in self._deadlines
                                       if d > now]
                    return True
                self._wake.wait(wait)
            self._thread = None
            return False

    def _run(self) -> None:
        while self._next_due():
            try:
                self._ring()
            except Exception:
                LOG.exception("Ending lingering read attachments failed; "
                              "the next reader or recovery ends them")


def thread_alarm(ring: Callable[[], None],
                 monotonic: Callable[[], float]) -> Alarm:
    return AlarmThread(ring, monotonic)
