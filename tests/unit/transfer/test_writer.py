import hashlib
import io

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.transfer import writer
from tests.unit.harness import pattern

CHUNK = 64


class MemoryTarget:
    def __init__(self, capacity: int, fail_at: int | None = None,
                 error: BaseException | None = None) -> None:
        self.buf = bytearray(capacity)
        self.writes: list[tuple[int, int]] = []
        self.grows: list[tuple[int, int]] = []
        self.synced = False
        self.fail_at = fail_at
        self.error = error

    @property
    def capacity(self) -> int:
        return len(self.buf)

    def write_at(self, offset: int, data: bytes) -> None:
        if self.fail_at is not None and offset >= self.fail_at:
            assert self.error is not None
            raise self.error
        self.buf[offset:offset + len(data)] = data
        self.writes.append((offset, len(data)))

    def grow(self, written: int, needed: int) -> None:
        self.grows.append((written, needed))
        self.buf.extend(bytes(needed - len(self.buf) + 100))

    def sync(self) -> None:
        self.synced = True


class Verifier:
    def __init__(self) -> None:
        self.seen = bytearray()

    def update(self, chunk: bytes) -> None:
        self.seen += chunk


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1,
                                  10 * CHUNK])
def test_bytes_digests_and_verifier(size: int) -> None:
    data = pattern(size)
    target = MemoryTarget(10 * CHUNK)
    verifier = Verifier()
    result = writer.write_image(io.BytesIO(data), target,
                                expected_size=size, hashing_algo="sha512",
                                verifier=verifier, chunk_size=CHUNK)
    assert result.size == size
    assert bytes(target.buf[:size]) == data
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert result.multihash == hashlib.sha512(data).hexdigest()
    assert bytes(verifier.seen) == data
    assert target.synced


def test_iterable_source() -> None:
    result = writer.write_image(iter([b"ab", b"", b"cd"]), MemoryTarget(8),
                                expected_size=0, hashing_algo="sha256",
                                verifier=None, chunk_size=CHUNK)
    assert result.size == 4


def test_more_data_than_announced_is_invalid_and_not_written_past() -> None:
    target = MemoryTarget(CHUNK * 4)
    with pytest.raises(gs_exc.Invalid, match="larger"):
        writer.write_image(io.BytesIO(b"x" * (CHUNK + 1)), target,
                           expected_size=CHUNK, hashing_algo="sha512",
                           verifier=None, chunk_size=CHUNK)
    assert all(off + n <= CHUNK for off, n in target.writes)


def test_less_data_than_announced_is_invalid() -> None:
    with pytest.raises(gs_exc.Invalid, match="announced"):
        writer.write_image(io.BytesIO(b"x" * 10), MemoryTarget(CHUNK),
                           expected_size=11, hashing_algo="sha512",
                           verifier=None, chunk_size=CHUNK)


def test_unknown_size_grows_the_target() -> None:
    target = MemoryTarget(CHUNK)
    data = pattern(5 * CHUNK)
    result = writer.write_image(io.BytesIO(data), target, expected_size=0,
                                hashing_algo="sha512", verifier=None,
                                chunk_size=CHUNK)
    assert result.size == len(data)
    assert target.grows[0] == (CHUNK, 2 * CHUNK)
    assert bytes(target.buf[:len(data)]) == data


@pytest.mark.parametrize("errno_value,expected", [
    (28, gs_exc.StorageFull),   # ENOSPC
    (27, gs_exc.StorageFull),   # EFBIG
    (13, gs_exc.StorageWriteDenied),  # EACCES
    (5, gs_exc.BackendException),  # EIO
])
def test_os_errors_are_translated(errno_value: int,
                                  expected: type[Exception]) -> None:
    target = MemoryTarget(4 * CHUNK, fail_at=CHUNK,
                          error=OSError(errno_value, "boom"))
    with pytest.raises(expected):
        writer.write_image(io.BytesIO(b"y" * 3 * CHUNK), target,
                           expected_size=0, hashing_algo="sha512",
                           verifier=None, chunk_size=CHUNK)


class FlushFailsOnGrowth(MemoryTarget):
    """Growing flushes first; the flush reports an earlier write's error
    (a direct write still in flight when the volume filled)."""

    def grow(self, written: int, needed: int) -> None:
        raise OSError(28, "No space left on device")


def test_an_error_reported_while_growing_is_translated() -> None:
    target = FlushFailsOnGrowth(CHUNK)
    with pytest.raises(gs_exc.StorageFull) as raised:
        writer.write_image(io.BytesIO(pattern(3 * CHUNK)), target,
                           expected_size=0, hashing_algo="sha512",
                           verifier=None, chunk_size=CHUNK)
    assert "Growing the volume for offset %d" % CHUNK in str(raised.value)
    assert isinstance(raised.value.__cause__, OSError)


def test_zero_chunks_are_skipped_only_when_asked() -> None:
    data = b"\0" * CHUNK + b"d" * CHUNK + b"\0" * CHUNK
    target = MemoryTarget(3 * CHUNK)
    result = writer.write_image(io.BytesIO(data), target,
                                expected_size=len(data),
                                hashing_algo="sha512", verifier=None,
                                chunk_size=CHUNK, skip_zeros=True)
    assert target.writes == [(CHUNK, CHUNK)]
    assert result.checksum == hashlib.md5(data).hexdigest()
    dense = MemoryTarget(3 * CHUNK)
    writer.write_image(io.BytesIO(data), dense, expected_size=len(data),
                       hashing_algo="sha512", verifier=None,
                       chunk_size=CHUNK)
    assert len(dense.writes) == 3


def test_head_is_kept_for_format_detection() -> None:
    data = pattern(3 * CHUNK)
    result = writer.write_image(io.BytesIO(data), MemoryTarget(3 * CHUNK),
                                expected_size=0, hashing_algo="sha512",
                                verifier=None, chunk_size=CHUNK,
                                keep_head=True)
    assert result.head == data
