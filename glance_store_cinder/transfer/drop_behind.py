"""A get drops the pages it has read from the page cache as it goes.

Without a read linger, the share of a volume is released when its last
reader leaves: the share's mount or block device goes, and its pages
with it, so the cache a get fills has no use past the get.  Filling it
costs more than it seems: each page of a 1 GiB read is a page the kernel
must find free, and on a host that hands free memory back to its
hypervisor (virtio-balloon free page reporting, as on the project's test
machine) a fresh page is faulted in from the host; there the first cold
read of an image took twice as long as one that reused the pages a read
had just freed (``python -m bench.first_read --pause 15`` against
``--drop-behind``, README's Performance section).  Dropped every window,
the pages go back to the allocator and the readahead ahead of the get
takes them again, and a get of a large image does not evict glance-api's
working set.  One window behind the reader is kept: a second reader of
the same share a little behind this one still finds it cached.
"""

from __future__ import annotations

import contextlib
import os

from glance_store_cinder.transfer.writeback import WINDOW
from glance_store_cinder.transfer.writeback import Advise
from glance_store_cinder.transfer.writeback import fadvise


class DropBehind:
    """Told of every read; drops what lies a window behind it."""

    def __init__(self, fd: int, window: int = WINDOW,
                 advise: Advise = fadvise) -> None:
        self._fd = fd
        self._window = window
        self._advise = advise
        # [first read's offset, _dropped) is dropped: a ranged get starts
        # past 0, and what lies before it is not this reader's.
        self._dropped: int | None = None

    def read(self, offset: int, length: int) -> None:
        if self._dropped is None:
            self._dropped = offset
        keep_from = offset + length - self._window
        if keep_from - self._dropped < self._window:
            return
        with contextlib.suppress(OSError):
            # Only advice: a filesystem that ignores it changes nothing.
            self._advise(self._fd, self._dropped, keep_from - self._dropped,
                         os.POSIX_FADV_DONTNEED)
        self._dropped = keep_from
