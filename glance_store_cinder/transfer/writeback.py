"""Starting writeback while the image streams in.

Written data waits in the page cache for the fsync before detach, which
then writes all of it at the device's speed: receiving and flushing happen
one after the other.  Asking the kernel to start writing each window as
soon as it is complete (``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which
does not wait) overlaps the two.  Waiting for the window before last keeps
the dirty memory one upload can pin to about two windows.

This is an optimisation only: where the call is missing or refused (not
Linux, a filesystem without support), writing goes on without it, and the
final fsync still reports any I/O error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

LOG = logging.getLogger(__name__)

WAIT_BEFORE = 1
WRITE = 2
WAIT_AFTER = 4

WINDOW = 64 * 1024 * 1024

SyncRange = Callable[[int, int, int, int], None]


def _libc_sync_file_range() -> SyncRange | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                         ctypes.c_uint)
    function.restype = ctypes.c_int

    # ctypes releases the GIL for the call: hashing threads keep running.
    def sync_range(fd: int, offset: int, length: int, flags: int) -> None:
        if function(fd, offset, length, flags) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    return sync_range


_SYNC_RANGE = _libc_sync_file_range()


class Writeback:
    """Tracks what was written to ``fd`` and pushes it to the device."""

    def __init__(self, fd: int, window: int = WINDOW,
                 sync_range: SyncRange | None = _SYNC_RANGE) -> None:
        self._fd = fd
        self._window = window
        self._sync_range = sync_range
        self._started = 0    # writeback started below this offset
        self._waited = 0     # written out below this offset
        self._end = 0

    def wrote(self, offset: int, length: int) -> None:
        self._end = max(self._end, offset + length)
        if self._sync_range is None or \
                self._end - self._started < self._window:
            return
        try:
            if self._started - self._waited >= self._window:
                self._sync_range(self._fd, self._waited,
                                 self._started - self._waited,
                                 WAIT_BEFORE | WRITE | WAIT_AFTER)
                self._waited = self._started
            self._sync_range(self._fd, self._started,
                             self._end - self._started, WRITE)
            self._started = self._end
        except OSError as exc:
            LOG.debug("sync_file_range unavailable here (%s); the final "
                      "fsync flushes everything", exc)
            self._sync_range = None
