"""The driver's own phase timings, collected in the worker process.

This driver logs one DEBUG record per add and get on the
``glance_store_cinder.phases`` logger with the seconds per phase on the
record (``gsc_phases``); the in-tree driver logs none.  The worker runs
the store in its own process, so a handler there picks the records up,
per thread (the concurrent rows run one add per thread), and each timed
call takes those of its own thread into its sample.
"""

from __future__ import annotations

import logging
import threading

LOGGER = "glance_store_cinder.phases"


class PhaseCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._by_thread: dict[int, list[dict[str, float]]] = {}
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        seconds = record.__dict__.get("gsc_phases")
        if isinstance(seconds, dict):
            with self._lock:
                self._by_thread.setdefault(record.thread or 0, []).append(
                    {k: float(v) for k, v in seconds.items()})

    def take(self) -> list[dict[str, float]]:
        """The records of the calling thread since its last ``take``."""
        with self._lock:
            return self._by_thread.pop(threading.get_ident(), [])


def install() -> PhaseCollector:
    """Collect the phase records of this process (DEBUG on that logger
    only; the rest of the driver logs at the worker's level)."""
    collector = PhaseCollector()
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(collector)
    return collector
