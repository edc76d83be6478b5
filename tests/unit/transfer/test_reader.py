import contextlib
import gc

from glance_store_cinder.transfer.reader import VolumeReader


class Device:
    def __init__(self, data):
        self.data = data
        self.reads = []

    def read_at(self, offset, size):
        self.reads.append((offset, size))
        return self.data[offset:offset + size]


def make(data, start, length, chunk):
    released = []
    stack = contextlib.ExitStack()
    stack.callback(released.append, True)
    return VolumeReader(stack, Device(data), start, length, chunk), released


def test_reads_range_in_chunks_and_releases_when_exhausted():
    data = bytes(range(256)) * 4
    reader, released = make(data, 10, 100, 32)
    out = list(reader)
    assert b"".join(out) == data[10:110]
    assert [len(c) for c in out] == [32, 32, 32, 4]
    assert released == [True]


def test_close_after_one_chunk_releases_once():
    reader, released = make(b"x" * 100, 0, 100, 10)
    next(reader)
    reader.close()
    reader.close()
    assert released == [True]
    assert list(reader) == []


def test_abandoned_reader_releases_on_collection():
    reader, released = make(b"x" * 100, 0, 100, 10)
    next(reader)
    del reader
    gc.collect()
    assert released == [True]


def test_read_error_releases_and_propagates():
    released = []
    stack = contextlib.ExitStack()
    stack.callback(released.append, True)

    class Broken:
        def read_at(self, offset, size):
            raise OSError(5, "EIO")

    reader = VolumeReader(stack, Broken(), 0, 10, 5)
    try:
        next(reader)
    except OSError:
        pass
    else:
        raise AssertionError("no error")
    assert released == [True]


def test_short_device_stops_instead_of_spinning():
    reader, released = make(b"abc", 0, 10, 4)
    assert b"".join(reader) == b"abc"
    assert released == [True]
