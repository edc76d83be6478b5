"""Writeback during the upload, so that the final fsync is short.

Left alone, the kernel keeps a whole image dirty in the page cache (1 GiB
is far below the dirty thresholds of a host with a few GiB of RAM) and the
upload's final fsync writes all of it while nothing else happens: on the
test tier's NFS export that fsync was 40 % of a 1 GiB add.  The pacer
starts the writeback of each window of bytes as soon as it is written
(``POSIX_FADV_DONTNEED`` starts writeback of a range's dirty pages and
drops its clean ones on Linux) and asks again for the window before, by
then written back, so its pages leave the page cache instead of evicting
glance-api's working set.  It never waits for the disk itself: a device
slower than the upload pushes back through the kernel's dirty throttling,
as before.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

# Large enough that the advice costs nothing next to the writes (one call
# per 32 MiB), small enough that the data still to flush at the end is a
# fraction of a second of disk time.
WINDOW = 32 * 1024 * 1024

Advise = Callable[[int, int, int, int], None]


def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
    os.posix_fadvise(fd, offset, length, advice)


class WritebackPacer:
    """Told of every write; starts writeback window by window."""

    def __init__(self, fd: int, window: int = WINDOW,
                 advise: Advise = fadvise) -> None:
        self._fd = fd
        self._window = window
        self._advise = advise
        # [_dropped, _started): writeback asked for, pages maybe still
        # dirty; [_started, _high): written since, not yet asked for.
        self._dropped = 0
        self._started = 0
        self._high = 0

    def wrote(self, offset: int, length: int) -> None:
        if offset < self._started:
            # A rewrite of bytes already handed to writeback: the kernel
            # writes them back in its own time, the fsync waits for them.
            return
        self._high = max(self._high, offset + length)
        if self._high - self._started < self._window:
            return
        # One call for both: the older window's pages are written back by
        # now and get dropped, the newer one's writeback starts.
        self._call(self._dropped, self._high - self._dropped)
        self._dropped, self._started = self._started, self._high

    def _call(self, offset: int, length: int) -> None:
        with contextlib.suppress(OSError):
            # Only advice: a filesystem that ignores it changes nothing.
            self._advise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)

    def flushed(self) -> None:
        """After fsync: everything written is clean; drop it all."""
        if self._high:
            self._call(self._dropped, self._high - self._dropped)
            self._dropped = self._started = self._high
