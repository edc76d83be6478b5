"""The write path: image chunks onto the volume, hashed on the side.

Every chunk goes through an :class:`ImageIntake` (size check, digests,
verifier, head) before it is placed; the intake and the placing are apart
so that the first chunks can be taken in while the volume is still being
made (:mod:`glance_store_cinder.transfer.read_ahead`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any
from typing import Protocol

from glance_store import exceptions as gs_exc

from glance_store_cinder.transfer.device import storage_error
from glance_store_cinder.transfer.hashing import OverlappedHashes

# Bytes kept from the start of the image for format detection; enough for
# every format oslo.utils' inspector knows (ISO descriptors sit at 32 KiB).
HEAD_BYTES = 1024 * 1024


class WriteTarget(Protocol):
    """Where the bytes go: an attached volume that can grow."""

    @property
    def capacity(self) -> int: ...

    def write_at(self, offset: int, data: bytes) -> None: ...

    def grow(self, written: int, needed: int) -> None: ...

    def sync(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class WriteResult:
    size: int
    checksum: str
    multihash: str
    head: bytes


def iter_chunks(source: Any, chunk_size: int) -> Iterator[bytes]:
    """Chunks of a file-like object (``read``) or of an iterable."""
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            data = read(chunk_size)
            if not data:
                return
            yield data
    else:
        for data in source:
            if data:
                yield data


class ImageIntake:
    """What every chunk of one image goes through, in order, once.

    Starts the hashing threads: :meth:`finish` or :meth:`abort` ends them.
    Used by one thread at a time (the read-ahead hands over by ending).
    """

    def __init__(self, *, expected_size: int, hashing_algo: str,
                 verifier: Any, keep_head: bool = False) -> None:
        """:param expected_size: the size Glance announced; 0 if unknown."""
        self.expected_size = expected_size
        self._algorithm = hashing_algo
        self._verifier = verifier
        self._keep_head = keep_head
        self._head = bytearray()
        self.size = 0
        self._hashes = OverlappedHashes(("md5", hashing_algo))

    def take(self, chunk: bytes) -> None:
        """:raises Invalid: when the data outgrows the announced size."""
        expected = self.expected_size
        if expected and self.size + len(chunk) > expected:
            raise gs_exc.Invalid(
                message="Image data is larger than the announced size "
                "of %d bytes" % expected)
        self._hashes.update(chunk)
        if self._verifier is not None:
            self._verifier.update(chunk)
        if self._keep_head and len(self._head) < HEAD_BYTES:
            self._head += chunk[:HEAD_BYTES - len(self._head)]
        self.size += len(chunk)

    def taking(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks``, each taken in before it is passed on."""
        for chunk in chunks:
            self.take(chunk)
            yield chunk

    def check_complete(self) -> None:
        """:raises Invalid: when the data is shorter than announced."""
        if self.expected_size and self.size != self.expected_size:
            raise gs_exc.Invalid(
                message="Image data has %d bytes, %d were announced"
                % (self.size, self.expected_size))

    def finish(self) -> WriteResult:
        """The size and digests; :raises Invalid: as check_complete."""
        self.check_complete()
        digests = self._hashes.finish()
        return WriteResult(size=self.size, checksum=digests["md5"],
                           multihash=digests[self._algorithm],
                           head=bytes(self._head))

    def abort(self) -> None:
        """Stop the hashing threads; safe after :meth:`finish` too."""
        self._hashes.abort()


@functools.lru_cache(maxsize=8)
def _zeros(size: int) -> bytes:
    return bytes(size)


def is_all_zero(chunk: bytes) -> bool:
    # A comparison stops at the first non-zero byte (memcmp); chunk sizes
    # repeat, so the zero block is allocated once per size.
    return chunk == _zeros(len(chunk))


def place_image(chunks: Iterable[bytes], target: WriteTarget,
                intake: ImageIntake, skip_zeros: bool = False
                ) -> WriteResult:
    """Write ``chunks`` (already taken in by ``intake``) onto ``target``.

    :param skip_zeros: leave all-zero chunks unwritten (the target is known
        to read back zeros where nothing was written).
    :raises Invalid: when the data is longer or shorter than announced.
    :raises StorageFull, StorageWriteDenied: for ENOSPC/EFBIG and EACCES.
    """
    offset = 0
    for chunk in chunks:
        _place(target, offset, chunk, skip_zeros)
        offset += len(chunk)
    # Before the flush: a short upload is refused without waiting for it.
    intake.check_complete()
    try:
        target.sync()
    except OSError as exc:
        raise storage_error(exc, "Flushing image data") from exc
    return intake.finish()


def _place(target: WriteTarget, offset: int, chunk: bytes,
           skip_zeros: bool) -> None:
    """Grow the target for ``chunk`` if needed, then write it there."""
    end = offset + len(chunk)
    if end > target.capacity:
        target.grow(offset, end)
    if skip_zeros and is_all_zero(chunk):
        return
    try:
        target.write_at(offset, chunk)
    except OSError as exc:
        raise storage_error(
            exc, "Writing image data at offset %d" % offset) from exc
