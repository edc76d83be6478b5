"""Waiting for Cinder to finish a state transition.

Every wait in the store goes through :class:`Poller`: it looks every
``STEADY_INTERVAL`` for the first ``STEADY_FOR`` seconds (a volume is
usually created, extended or detached within them, and every look that
comes late adds its lateness to the caller's request: with a growing
interval, a volume ready after 0.36 s was seen at 0.48 s), then the
interval grows to a cap so that long operations do not hammer the API.
The clock and the sleep are injected: tests pass fakes and never sleep.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import TypeVar

from glance_store_cinder import errors

T = TypeVar("T")

# The store's waits look at most about 20 times in their first second.
STEADY_INTERVAL = 0.05
STEADY_FOR = 1.0


@dataclasses.dataclass(frozen=True)
class Clock:
    """Time as the store sees it."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclasses.dataclass(frozen=True)
class Poller:
    """Polls until a predicate holds, with a bounded, growing interval."""

    timeout: float
    clock: Clock = dataclasses.field(default_factory=Clock)
    first_interval: float = 0.02
    growth: float = 1.3
    max_interval: float = 1.0
    # A flat start (the store's waits: STEADY_INTERVAL for STEADY_FOR);
    # none by default.
    steady_interval: float = 0.0
    steady_for: float = 0.0

    def intervals(self) -> IntervalIterator:
        """Growing from ``first_interval``: the pauses between retries."""
        return IntervalIterator(self.first_interval, self.growth,
                                self.max_interval)

    def wait_intervals(self) -> Iterator[float]:
        """The pauses of :meth:`wait`: flat, then growing to the cap."""
        if self.steady_for <= 0 or self.steady_interval <= 0:
            yield from self.intervals()
            return
        steady = self.steady_interval
        waited = 0.0
        while waited < self.steady_for:
            yield min(steady, self.max_interval)
            waited += steady
        yield from IntervalIterator(min(steady * self.growth,
                                        self.max_interval),
                                    self.growth, self.max_interval)

    def wait(self, fetch: Callable[[], T], done: Callable[[T], bool],
             what: str, failed: Callable[[T], str | None] | None = None
             ) -> T:
        """Call ``fetch`` until ``done(result)``; return that result.

        :param failed: returns a reason when the state can no longer turn
            into the one awaited (an ``error`` status): the wait stops at
            once with :class:`errors.VolumeInErrorState`.
        :raises errors.StateTimeout: when ``timeout`` seconds pass first.
        """
        deadline = self.clock.monotonic() + self.timeout
        intervals = self.wait_intervals()
        while True:
            result = fetch()
            if done(result):
                return result
            if failed is not None:
                reason = failed(result)
                if reason:
                    raise errors.VolumeInErrorState(
                        "%s: %s" % (what, reason))
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise errors.StateTimeout(
                    "Timed out after %.1fs waiting for %s"
                    % (self.timeout, what))
            self.clock.sleep(min(next(intervals), remaining))


class IntervalIterator:
    """first, first*growth, ... capped at max_interval."""

    def __init__(self, first: float, growth: float, cap: float) -> None:
        self._next = first
        self._growth = growth
        self._cap = cap

    def __iter__(self) -> IntervalIterator:
        return self

    def __next__(self) -> float:
        current = self._next
        self._next = min(self._next * self._growth, self._cap)
        return current
