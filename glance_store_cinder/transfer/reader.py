"""The read path: an iterator over an attached volume that detaches.

The volume stays attached while the iterator lives.  It is detached when
the data is exhausted, when the iterator fails, when the caller closes it,
and, if the caller just drops it (a client that went away), by the
store's :class:`Releaser` thread once it is garbage collected: never in
the thread that happened to drop it.
"""

from __future__ import annotations

import contextlib
import sys
import time
import weakref
from collections.abc import Iterator
from typing import Protocol

from glance_store_cinder.phases import Phases
from glance_store_cinder.transfer.releaser import Releaser


class ReadableDevice(Protocol):
    """What the reader needs of an opened volume (a DeviceIO has it)."""

    def read_at(self, offset: int, size: int) -> bytes: ...


class VolumeReader:
    """Yields ``length`` bytes from ``start``, in chunks."""

    def __init__(self, resources: contextlib.ExitStack, device: ReadableDevice,
                 start: int, length: int, chunk_size: int,
                 releaser: Releaser, phases: Phases | None = None) -> None:
        self._device = device
        # The get's timings so far (attach); reads add up here and the
        # line is logged once the volume is released.
        self._phases = phases
        self._position = start
        self._end = start + length
        self._chunk_size = chunk_size
        releaser.ensure_started()
        self._resources = resources
        # The finalizer must not refer to self; it only hands over.
        self._abandoned = weakref.finalize(self, releaser.submit, resources)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if not self.closed and self._position < self._end:
            size = min(self._chunk_size, self._end - self._position)
            try:
                began = time.monotonic()
                chunk = self._device.read_at(self._position, size)
                if self._phases is not None:
                    self._phases.add("read", time.monotonic() - began)
            except BaseException:
                self._release(*sys.exc_info())
                raise
            if chunk:
                self._position += len(chunk)
                return chunk
        self.close()
        raise StopIteration

    @property
    def closed(self) -> bool:
        return not self._abandoned.alive

    def _release(self, *exc_info: object) -> None:
        # detach() is atomic: exactly one of close, a read error and the
        # finalizer gets the stack.
        if self._abandoned.detach() is not None:
            # With the error that ended the read, so that a failing
            # detach is logged and that error is what the caller sees.
            phases = self._phases
            if phases is None:
                self._resources.__exit__(*exc_info)  # type: ignore[arg-type]
                return
            phases.mark("detach")
            try:
                self._resources.__exit__(*exc_info)  # type: ignore[arg-type]
            finally:
                phases.finish("" if exc_info[0] is None else "failed: %s"
                              % getattr(exc_info[0], "__name__", "?"))

    def close(self) -> None:
        """Detach now; idempotent."""
        self._release(None, None, None)

    def __enter__(self) -> VolumeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
