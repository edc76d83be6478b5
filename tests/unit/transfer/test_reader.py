import contextlib
import gc

from glance_store_cinder.transfer.reader import VolumeReader


class Device:
    def __init__(self, data: bytes):
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, size: int) -> bytes:
        self.reads.append((offset, size))
        return self.data[offset:offset + size]


def make(data: bytes, start: int, length: int, chunk: int
         ) -> tuple[VolumeReader, list[bool]]:
    released: list[bool] = []
    stack = contextlib.ExitStack()
    stack.callback(released.append, True)
    return VolumeReader(stack, Device(data), start, length, chunk), released


def test_reads_range_in_chunks_and_releases_when_exhausted() -> None:
    data = bytes(range(256)) * 4
    reader, released = make(data, 10, 100, 32)
    out = list(reader)
    assert b"".join(out) == data[10:110]
    assert [len(c) for c in out] == [32, 32, 32, 4]
    assert released == [True]


def test_close_after_one_chunk_releases_once() -> None:
    reader, released = make(b"x" * 100, 0, 100, 10)
    next(reader)
    reader.close()
    reader.close()
    assert released == [True]
    assert list(reader) == []


def test_abandoned_reader_releases_on_collection() -> None:
    reader, released = make(b"x" * 100, 0, 100, 10)
    next(reader)
    del reader
    gc.collect()
    assert released == [True]


def test_read_error_releases_and_propagates() -> None:
    released: list[bool] = []
    stack = contextlib.ExitStack()
    stack.callback(released.append, True)

    class Broken:
        def read_at(self, offset: int, size: int) -> bytes:
            raise OSError(5, "EIO")

    reader = VolumeReader(stack, Broken(), 0, 10, 5)
    try:
        next(reader)
    except OSError:
        pass
    else:
        raise AssertionError("no error")
    assert released == [True]


def test_short_device_stops_instead_of_spinning() -> None:
    reader, released = make(b"abc", 0, 10, 4)
    assert b"".join(reader) == b"abc"
    assert released == [True]
