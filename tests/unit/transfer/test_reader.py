import contextlib
import gc
import logging
import threading
import types
from collections.abc import Iterator

import pytest

from glance_store_cinder.transfer.reader import ReadableDevice
from glance_store_cinder.transfer.reader import VolumeReader
from glance_store_cinder.transfer.releaser import Releaser


class Device:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, size: int) -> bytes:
        self.reads.append((offset, size))
        return self.data[offset:offset + size]


class Broken:
    def read_at(self, offset: int, size: int) -> bytes:
        raise OSError(5, "EIO")


@pytest.fixture
def releaser() -> Iterator[Releaser]:
    releaser = Releaser()
    yield releaser
    releaser.stop(timeout=10)


def make(releaser: Releaser, data: bytes, start: int, length: int,
         chunk: int, device: ReadableDevice | None = None
         ) -> tuple[VolumeReader, list[str]]:
    released: list[str] = []
    stack = contextlib.ExitStack()
    stack.callback(lambda: released.append(
        threading.current_thread().name))
    return VolumeReader(stack, device or Device(data), start, length, chunk,
                        releaser), released


def test_reads_range_in_chunks_and_releases_when_exhausted(
        releaser: Releaser) -> None:
    data = bytes(range(256)) * 4
    reader, released = make(releaser, data, 10, 100, 32)
    out = list(reader)
    assert b"".join(out) == data[10:110]
    assert [len(c) for c in out] == [32, 32, 32, 4]
    assert released == [threading.current_thread().name]


def test_close_after_one_chunk_releases_once(releaser: Releaser) -> None:
    reader, released = make(releaser, b"x" * 100, 0, 100, 10)
    next(reader)
    reader.close()
    reader.close()
    assert len(released) == 1
    assert list(reader) == []


def test_abandoned_reader_is_released_by_the_releaser_thread(
        releaser: Releaser) -> None:
    # never in the thread that drops it: that one may hold a lock the
    # detach needs, or be inside a Cinder call
    reader, released = make(releaser, b"x" * 100, 0, 100, 10)
    next(reader)
    del reader
    gc.collect()
    assert releaser.flush(timeout=10)
    assert released == ["glance-store-cinder-releaser"]


def test_read_error_releases_and_propagates(releaser: Releaser) -> None:
    reader, released = make(releaser, b"", 0, 10, 5, device=Broken())
    with pytest.raises(OSError):
        next(reader)
    assert len(released) == 1
    assert reader.closed


def test_read_error_is_kept_when_the_detach_fails_too(
        releaser: Releaser, caplog: pytest.LogCaptureFixture) -> None:
    stack = contextlib.ExitStack()

    def detach_failing(exc_type: type[BaseException] | None,
                       exc: BaseException | None,
                       tb: types.TracebackType | None) -> bool:
        if exc is None:
            raise RuntimeError("Deleting attachment failed")
        logging.getLogger("test").error("detach failed while %r", exc)
        return False

    stack.push(detach_failing)
    reader = VolumeReader(stack, Broken(), 0, 10, 5, releaser)
    with pytest.raises(OSError):
        next(reader)
    assert "detach failed while" in caplog.text


def test_short_device_stops_instead_of_spinning(releaser: Releaser) -> None:
    reader, released = make(releaser, b"abc", 0, 10, 4)
    assert b"".join(reader) == b"abc"
    assert len(released) == 1


def test_releaser_restarts_in_a_forked_child_and_stops(
        releaser: Releaser) -> None:
    releaser.ensure_started()
    releaser.stop(timeout=10)
    assert releaser.flush(timeout=10)  # started again on demand
