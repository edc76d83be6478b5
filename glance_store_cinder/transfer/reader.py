"""The read path: an iterator over an attached volume that detaches.

The volume stays attached while the iterator lives.  It is detached when
the data is exhausted, when the iterator fails, when the caller closes it,
and, if the caller just drops it (a client that went away), when it is
garbage collected.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Protocol


class ReadableDevice(Protocol):
    """What the reader needs of an opened volume (a DeviceIO has it)."""

    def read_at(self, offset: int, size: int) -> bytes: ...


class VolumeReader:
    """Yields ``length`` bytes from ``start``, in chunks."""

    def __init__(self, resources: contextlib.ExitStack,
                 device: ReadableDevice,
                 start: int, length: int, chunk_size: int) -> None:
        self._device = device
        self._position = start
        self._end = start + length
        self._chunk_size = chunk_size
        self._release = weakref.finalize(self, resources.close)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._release.alive and self._position < self._end:
            size = min(self._chunk_size, self._end - self._position)
            try:
                chunk = self._device.read_at(self._position, size)
            except BaseException:
                self.close()
                raise
            if chunk:
                self._position += len(chunk)
                return chunk
        self.close()
        raise StopIteration

    @property
    def closed(self) -> bool:
        return not self._release.alive

    def close(self) -> None:
        """Detach now; idempotent."""
        self._release()

    def __enter__(self) -> VolumeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
