"""Releasing what garbage collection found abandoned, in one known thread.

A reader that a client drops without closing still holds an attachment.
Its finalizer runs in whatever thread drops the last reference, possibly
one that holds a share or volume lock, or is inside a Cinder call: doing
the detach there (Cinder calls, external locks) can deadlock or stall that
thread.  The finalizer only hands the reader's undo stack to this thread
(``SimpleQueue.put`` is reentrant, safe in finalizers), which detaches.

The thread is started by the code that creates readers, never by a
finalizer; it is restarted after a fork (gunicorn workers); it stops at
interpreter exit after at most ``SHUTDOWN_SECONDS``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import weakref

LOG = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 30.0
_STOP = object()

_live: weakref.WeakSet[Releaser] = weakref.WeakSet()


class Releaser:
    """One thread releasing the resources handed to :meth:`submit`."""

    def __init__(self, name: str = "glance-store-cinder-releaser") -> None:
        self._name = name
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        _live.add(self)

    def ensure_started(self) -> None:
        """Start the thread if needed (not from a finalizer)."""
        with self._start_lock:
            if (self._thread is not None and self._thread.is_alive()
                    and self._pid == os.getpid()):
                return
            if self._pid != os.getpid():
                # Forked: the parent's thread and queue are not ours.
                self._queue = queue.SimpleQueue()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run,
                                            name=self._name, daemon=True)
            self._thread.start()

    def submit(self, resources: contextlib.ExitStack) -> None:
        """Hand over an undo stack; safe to call from a finalizer."""
        self._queue.put(resources)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif isinstance(item, contextlib.ExitStack):
                try:
                    item.close()
                except Exception:
                    LOG.exception("Releasing an abandoned reader failed; "
                                  "its journal records stay for recovery")

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far is released."""
        self.ensure_started()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def stop(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive() or \
                self._pid != os.getpid():
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            LOG.warning("Abandoned readers were still being released at "
                        "exit; recovery at the next start finishes them")


# The one releaser of the process, shared by every store.
SHARED = Releaser()


@atexit.register
def _stop_all() -> None:
    for releaser in list(_live):
        releaser.stop()
