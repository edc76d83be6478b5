"""Failed cleanups, tried again in the background until they succeed.

When an add or a read ends while Cinder cannot be reached (cinder-api
down, RabbitMQ down behind it) or refuses (a policy), its undo fails and
the journal keeps the records, marked released.  Recovery at the next
start would replay them, but a glance-api worker lives for weeks, and
nothing else touches the volume of a failed upload again: without a retry
the volume and its attachment stay until an operator runs sweep.

So when a record is released, the store's alarm is set: first
``RETRY_FIRST`` seconds later, then, while something still cannot be
undone, twice as long each time up to ``RETRY_MAX``.  The retry replays
every released record of the store (of any worker of this host: released
means nobody uses it), in the alarm's thread, never in a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from glance_store_cinder.alarm import AlarmFactory
from glance_store_cinder.recovery import Recovery

LOG = logging.getLogger(__name__)

RETRY_FIRST = 15.0
RETRY_MAX = 600.0


class CleanupRetry:
    """Replays a store's released records on its alarm until none is left.
    """

    def __init__(self, recovery: Recovery, store_name: str,
                 alarm: AlarmFactory,
                 monotonic: Callable[[], float]) -> None:
        self._recovery = recovery
        self._store_name = store_name
        self._monotonic = monotonic
        self._alarm = alarm(self.retry, monotonic)
        self._lock = threading.Lock()
        self._pending = False
        self.interval = RETRY_FIRST

    def released(self, _record: Any = None) -> None:
        """A record's undo failed: try again later (the journal's hook)."""
        with self._lock:
            if self._pending:
                return
            self._pending = True
            deadline = self._monotonic() + self.interval
        self._alarm.at(deadline)

    def retry(self) -> None:
        """The alarm's: undo the store's released records again."""
        left = True
        try:
            left = self._replay()
        finally:
            with self._lock:
                self._pending = False
                self.interval = (min(self.interval * 2, RETRY_MAX) if left
                                 else RETRY_FIRST)
            if left:
                self.released()

    def _replay(self) -> bool:
        """Replay; True when something is still left to undo."""
        try:
            steps = [s for s in self._recovery.plan() if s.record.released]
            if not steps:
                return False
            outcome = self._recovery.apply(steps)
        except Exception as exc:
            LOG.warning("Store %s: retrying failed cleanups failed: %s",
                        self._store_name, exc)
            return True
        LOG.info("Store %s: retried failed cleanups: %d undone, %d not yet "
                 "(next try in at most %d s)", self._store_name,
                 len(outcome.done), len(outcome.failed), RETRY_MAX)
        return bool(outcome.failed)
