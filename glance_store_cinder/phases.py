"""Where an add or a get spends its time: phase timings at DEBUG.

One line per operation on the ``glance_store_cinder.phases`` logger, e.g.
``add of image <id>: journal 0.004 create 0.120 wait 0.305 attach 0.210
transfer 3.002 fsync 1.204 detach 0.101 metadata 0.052 journal 0.004
total 4.994 s``.  The seconds
are also on the record as ``gsc_phases`` (a dict), so a benchmark can
collect them from a logging handler without parsing the text.

Phases are marks, not nested blocks: :func:`mark` ends the phase that is
running and starts the named one, so the code deep in the write path
(the ``fsync`` of the target, a re-``attach`` after an offline extend)
marks its phase without the caller threading a timer through.  A phase
seen twice adds up.  The recorder of the running operation lives in a
context variable: marks outside an operation, or in another thread, do
nothing.  Only names and seconds are logged: nothing secret.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable
from collections.abc import Iterator

LOG = logging.getLogger(__name__)

Clock = Callable[[], float]


class Phases:
    """The phase timings of one operation."""

    def __init__(self, operation: str, subject: str,
                 clock: Clock = time.monotonic) -> None:
        self.operation = operation
        self.subject = subject
        self.seconds: dict[str, float] = {}
        self._clock = clock
        self._started = clock()
        self._current: str | None = None
        self._since = self._started

    def mark(self, name: str | None) -> None:
        """End the running phase; start ``name`` (None: start none)."""
        now = self._clock()
        if self._current is not None:
            self.seconds[self._current] = self.seconds.get(
                self._current, 0.0) + (now - self._since)
        self._current, self._since = name, now

    def add(self, name: str, seconds: float) -> None:
        """Time spent in ``name`` measured by the caller (e.g. the reads
        of a get, interleaved with the consumer's own work)."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def finish(self, outcome: str = "") -> dict[str, float]:
        """End the running phase and log the line; the seconds."""
        self.mark(None)
        result = dict(self.seconds, total=self._clock() - self._started)
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug("%s of %s%s: %s s", self.operation, self.subject,
                      " (%s)" % outcome if outcome else "",
                      " ".join("%s %.3f" % kv for kv in result.items()),
                      extra={"gsc_phases": result,
                             "gsc_operation": self.operation})
        return result


_RUNNING: contextvars.ContextVar[Phases | None] = contextvars.ContextVar(
    "glance_store_cinder_phases", default=None)


def mark(name: str) -> None:
    """Start phase ``name`` of the running operation, if there is one."""
    phases = _RUNNING.get()
    if phases is not None:
        phases.mark(name)


@contextlib.contextmanager
def recording(operation: str, subject: str,
              clock: Clock = time.monotonic) -> Iterator[Phases]:
    """Time the phases marked while the block runs; log them at its end,
    also when it fails (with the error's type)."""
    phases = Phases(operation, subject, clock)
    token = _RUNNING.set(phases)
    outcome = ""
    try:
        yield phases
    except BaseException as exc:
        outcome = "failed: %s" % type(exc).__name__
        raise
    finally:
        _RUNNING.reset(token)
        phases.finish(outcome)
