"""The read ahead of a get: same bytes, one read in flight, none after
close."""

from __future__ import annotations

import threading

import pytest

from glance_store_cinder.transfer.prefetch import Prefetcher

WAIT = 10  # seconds: a bound for a thread that is already due, not a delay


class Device:
    """Records each read when it starts; reads of ``held`` offsets wait
    for their gate."""

    def __init__(self, data: bytes, held: tuple[int, ...] = (),
                 failing: tuple[int, ...] = ()) -> None:
        self.data = data
        self.lock = threading.Lock()
        self.reads: list[tuple[int, int]] = []
        self.started = {o: threading.Event() for o in range(len(data) + 1)}
        self.gates = {o: threading.Event() for o in held}
        self.failing = failing
        self.in_flight = 0
        self.closed = False

    def read_at(self, offset: int, size: int) -> bytes:
        with self.lock:
            assert not self.closed, "read after the device was closed"
            self.reads.append((offset, size))
            self.in_flight += 1
        self.started[offset].set()
        try:
            if offset in self.gates:
                assert self.gates[offset].wait(WAIT)
            if offset in self.failing:
                raise OSError(5, "EIO at %d" % offset)
            return self.data[offset:offset + size]
        finally:
            with self.lock:
                self.in_flight -= 1


DATA = bytes(range(256)) * 4   # 1024 bytes, every chunk different


def read_all(ahead: Prefetcher, start: int, end: int, chunk: int) -> bytes:
    out, pos = b"", start
    while pos < end:
        got = ahead.read_at(pos, min(chunk, end - pos))
        out += got
        pos += len(got)
    return out


def test_same_bytes_as_the_device_and_nothing_read_past_the_end() -> None:
    device = Device(DATA)
    ahead = Prefetcher(device, end=1000)
    assert read_all(ahead, 100, 1000, 256) == DATA[100:1000]
    ahead.close()
    assert sorted(device.reads) == [(100, 256), (356, 256), (612, 256),
                                    (868, 132)]


def test_the_next_chunk_is_read_before_the_caller_asks() -> None:
    device = Device(DATA)
    ahead = Prefetcher(device, end=len(DATA))
    assert ahead.read_at(0, 256) == DATA[:256]
    # Nobody has asked for offset 256 yet.
    assert device.started[256].wait(WAIT)
    assert ahead.read_at(256, 256) == DATA[256:512]
    ahead.close()
    assert device.reads.count((256, 256)) == 1


def test_an_error_of_a_read_ahead_reaches_the_caller_for_that_chunk() -> None:
    device = Device(DATA, failing=(256,))
    ahead = Prefetcher(device, end=len(DATA))
    assert ahead.read_at(0, 256) == DATA[:256]
    with pytest.raises(OSError, match="EIO at 256"):
        ahead.read_at(256, 256)
    ahead.close()


def test_another_read_than_foreseen_drops_the_read_ahead() -> None:
    device = Device(DATA)
    ahead = Prefetcher(device, end=len(DATA))
    ahead.read_at(0, 256)
    assert ahead.read_at(512, 100) == DATA[512:612]
    ahead.close()
    assert (512, 100) in device.reads


def test_close_waits_for_the_read_in_flight_and_reads_no_more() -> None:
    device = Device(DATA, held=(256,))
    ahead = Prefetcher(device, end=len(DATA))
    ahead.read_at(0, 256)
    assert device.started[256].wait(WAIT)
    closer = threading.Thread(target=ahead.close)
    closer.start()
    closer.join(0.05)   # still waiting for the held read
    assert closer.is_alive()
    device.gates[256].set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert device.in_flight == 0
    device.closed = True   # as the store closes it next
    with pytest.raises(ValueError, match="closed"):
        ahead.read_at(256, 256)
    ahead.close()   # idempotent


def test_a_failed_read_ahead_does_not_fail_close() -> None:
    device = Device(DATA, failing=(256,))
    ahead = Prefetcher(device, end=len(DATA))
    ahead.read_at(0, 256)
    assert device.started[256].wait(WAIT)
    ahead.close()
    assert device.in_flight == 0
