"""Reading the next chunk of a volume while the caller uses this one.

A get is a loop of two halves: read a chunk from the device, hand it to
glance-api, which sends it to the client.  Done in one thread, the device
is idle while the chunk is sent and the network waits while the device
reads; the kernel's own readahead covers only a few hundred KiB of a
4 MiB chunk.  :class:`Prefetcher` keeps one read in flight in a worker
thread: when the caller asks for the chunk that follows the last one, it
is (being) read already.  Memory stays bounded: at most the chunk the
caller holds plus one read ahead, per reader.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Protocol


class ReadableDevice(Protocol):
    """What the prefetcher reads from (a DeviceIO has it)."""

    def read_at(self, offset: int, size: int) -> bytes: ...


class _Read:
    """One read ahead in its own short-lived thread: no thread stays idle
    behind a reader its caller dropped."""

    def __init__(self, device: ReadableDevice, offset: int, size: int,
                 name: str) -> None:
        self.offset, self.size = offset, size
        self._data = b""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run,
                                        args=(device,), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, device: ReadableDevice) -> None:
        try:
            self._data = device.read_at(self.offset, self.size)
        except BaseException as exc:   # handed to the caller in result()
            self._error = exc

    def result(self) -> bytes:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._data


class Prefetcher:
    """A ReadableDevice that reads one chunk ahead of its caller.

    Reads stay within ``end`` (the image's last byte, not the volume's).
    A read that is not the one foreseen (another offset or size) waits for
    the one in flight, drops it and reads directly.  An error of a read
    ahead is raised when the caller asks for that chunk, in its thread.
    :meth:`close` waits for the read in flight: the device must not be
    closed under it (its file descriptor number could be reused).
    """

    def __init__(self, device: ReadableDevice, end: int,
                 name: str = "read-ahead") -> None:
        self._device = device
        self._end = end
        self._name = name
        self._lock = threading.Lock()
        self._pending: _Read | None = None
        self._closed = False

    def read_at(self, offset: int, size: int) -> bytes:
        with self._lock:
            if self._closed:
                raise ValueError("read-ahead of a closed reader")
            pending, self._pending = self._pending, None
        if pending is not None and (pending.offset, pending.size) == (
                offset, size):
            data = pending.result()
        else:
            if pending is not None:
                _wait_quietly(pending)
            data = self._device.read_at(offset, size)
        following = offset + len(data)
        if data and following < self._end:
            self._ahead(following, min(size, self._end - following))
        return data

    def _ahead(self, offset: int, size: int) -> None:
        with self._lock:
            if not self._closed:
                self._pending = _Read(self._device, offset, size,
                                      self._name)

    def close(self) -> None:
        """Wait for the read in flight; idempotent."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, None
        if pending is not None:
            _wait_quietly(pending)


def _wait_quietly(read: _Read) -> None:
    """Wait for a read nobody will use; its error is not the caller's."""
    with contextlib.suppress(Exception):
        read.result()
