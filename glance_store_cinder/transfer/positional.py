"""Whole positional reads and writes on a file descriptor.

``pwrite`` and ``pread`` may move fewer bytes than asked (a signal, a
network filesystem, the end of a device); every device of the store goes
through these two so that none stops at a short transfer.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

Pwrite = Callable[[int, memoryview, int], int]


def write_fully(fd: int, view: memoryview, offset: int, what: str,
                pwrite: Pwrite = os.pwrite) -> None:
    """Write all of ``view`` at ``offset``; ``what`` names the target in
    the error of a write that moves nothing."""
    while view:
        written = pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.EIO, "short write on %s" % what)
        view = view[written:]
        offset += written


def read_fully(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``: fewer only at the end."""
    data = os.pread(fd, size, offset)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.pread(fd, size - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)
