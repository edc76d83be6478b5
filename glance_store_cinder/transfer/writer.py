"""The write path: image chunks onto the volume, hashed on the side."""

from __future__ import annotations

import dataclasses
import functools
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


@functools.lru_cache(maxsize=8)
def _zeros(size: int) -> bytes:
    return bytes(size)


def is_all_zero(chunk: bytes) -> bool:
    # A comparison stops at the first non-zero byte (memcmp); chunk sizes
    # repeat, so the zero block is allocated once per size.
    return chunk == _zeros(len(chunk))


def write_image(source: Any, target: WriteTarget, *, expected_size: int,
                hashing_algo: str, verifier: Any, chunk_size: int,
                skip_zeros: bool = False, keep_head: bool = False
                ) -> WriteResult:
    """Copy ``source`` onto ``target``; return size and digests.

    :param expected_size: the size Glance announced; 0 when unknown.
    :param skip_zeros: leave all-zero chunks unwritten (the target is known
        to read back zeros where nothing was written).
    :raises Invalid: when the data is longer or shorter than announced.
    :raises StorageFull, StorageWriteDenied: for ENOSPC/EFBIG and EACCES.
    """
    hashes = OverlappedHashes(("md5", hashing_algo))
    head = bytearray()
    offset = 0
    try:
        for chunk in iter_chunks(source, chunk_size):
            if expected_size and offset + len(chunk) > expected_size:
                raise gs_exc.Invalid(
                    message="Image data is larger than the announced size "
                    "of %d bytes" % expected_size)
            hashes.update(chunk)
            if verifier is not None:
                verifier.update(chunk)
            if keep_head and len(head) < HEAD_BYTES:
                head += chunk[:HEAD_BYTES - len(head)]
            _place(target, offset, chunk, skip_zeros)
            offset += len(chunk)
        if expected_size and offset != expected_size:
            raise gs_exc.Invalid(
                message="Image data has %d bytes, %d were announced"
                % (offset, expected_size))
        try:
            target.sync()
        except OSError as exc:
            raise storage_error(exc, "Flushing image data") from exc
        digests = hashes.finish()
    except BaseException:
        hashes.abort()
        raise
    return WriteResult(size=offset, checksum=digests["md5"],
                       multihash=digests[hashing_algo], head=bytes(head))


def _place(target: WriteTarget, offset: int, chunk: bytes,
           skip_zeros: bool) -> None:
    """Grow the target for ``chunk`` if needed, then write it there."""
    end = offset + len(chunk)
    if end > target.capacity:
        try:
            # Growing flushes what was written before it (a direct write
            # still in flight may only fail now) and may reattach.
            target.grow(offset, end)
        except OSError as exc:
            raise storage_error(
                exc, "Growing the volume for offset %d" % offset) from exc
    if skip_zeros and is_all_zero(chunk):
        return
    try:
        target.write_at(offset, chunk)
    except OSError as exc:
        raise storage_error(
            exc, "Writing image data at offset %d" % offset) from exc
