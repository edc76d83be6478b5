"""Waiting for Cinder to finish a state transition.

Every wait in the store goes through :class:`Poller`: the first look comes
after tens of milliseconds (a small volume is usually ready in well under a
second), then the interval grows to a cap so that long operations do not
hammer the API.  The clock and the sleep are injected: tests pass fakes and
never sleep.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TypeVar

from glance_store_cinder import errors

T = TypeVar("T")


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

    def intervals(self) -> IntervalIterator:
        return IntervalIterator(self.first_interval, self.growth,
                                self.max_interval)

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
        intervals = self.intervals()
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
