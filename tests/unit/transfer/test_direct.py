"""Direct writes: aligned blocks past the page cache, the edges buffered,
every byte where it belongs, nothing left running after close."""

from __future__ import annotations

import errno
import logging
import os
import pathlib
import random
import threading

import pytest

from glance_store_cinder.transfer import direct
from glance_store_cinder.transfer.device import FdDevice
from glance_store_cinder.transfer.device import open_path
from glance_store_cinder.transfer.direct import DirectFdDevice

SIZE = 3 * direct.BUFFER_SIZE + 12345


def presized(tmp_path: pathlib.Path, size: int = SIZE) -> str:
    path = str(tmp_path / "volume")
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def direct_device(path: str) -> DirectFdDevice:
    fd = direct.open_direct(path)
    assert fd is not None, "this filesystem refuses O_DIRECT"
    return DirectFdDevice(path, fd)


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "direct-writer"]


def test_a_writable_path_is_opened_direct_unless_asked_not_to(
        tmp_path: pathlib.Path) -> None:
    path = presized(tmp_path)
    with_direct = open_path(path, writable=True, direct=True)
    without = open_path(path, writable=True, direct=False)
    reader = open_path(path, writable=False, direct=True)
    try:
        assert isinstance(with_direct, DirectFdDevice)
        assert isinstance(without, FdDevice)
        assert isinstance(reader, FdDevice)
    finally:
        for device in (with_direct, without, reader):
            device.close()


@pytest.mark.parametrize("chunk", [4096, 65536 + 1, 1000003,
                                   direct.BUFFER_SIZE])
def test_chunks_of_any_size_land_byte_for_byte(
        tmp_path: pathlib.Path, chunk: int) -> None:
    path = presized(tmp_path)
    data = random.Random(chunk).randbytes(SIZE)
    device = direct_device(path)
    try:
        for offset in range(0, SIZE, chunk):
            device.write_at(offset, data[offset:offset + chunk])
        device.sync()
    finally:
        device.close()
    with open(path, "rb") as f:
        assert f.read() == data


def test_skipped_ranges_at_unaligned_edges_stay_as_they_were(
        tmp_path: pathlib.Path) -> None:
    # Writes with holes between them, none on a block boundary: the ends
    # of each run and the starts of the next go through the buffered
    # descriptor, the blocks between them direct.
    path = presized(tmp_path)
    with open(path, "r+b") as f:
        f.write(b"\x5a" * SIZE)
    runs = [(0, 10000), (10001, 4096 * 3), (70000, 5_000_000),
            (5_080_000, 17), (5_080_018, 4_000_000)]
    expected = bytearray(b"\x5a" * SIZE)
    device = direct_device(path)
    try:
        for number, (offset, length) in enumerate(runs):
            piece = bytes([number + 1]) * length
            device.write_at(offset, piece)
            expected[offset:offset + length] = piece
        device.sync()
    finally:
        device.close()
    with open(path, "rb") as f:
        assert f.read() == bytes(expected)


def test_a_failed_direct_write_is_reported_with_its_errno_and_offset(
        tmp_path: pathlib.Path) -> None:
    # The direct descriptor handed over is read-only: the writer thread's
    # pwrite fails with EBADF, and the caller hears of it.
    path = presized(tmp_path)
    read_only = os.open(path, os.O_RDONLY | os.O_DIRECT)
    device = DirectFdDevice(path, read_only)
    try:
        with pytest.raises(OSError) as raised:
            for offset in range(0, SIZE, direct.BUFFER_SIZE):
                device.write_at(offset, bytes(direct.BUFFER_SIZE))
            device.sync()
        assert raised.value.errno == errno.EBADF
        assert "direct write at offset 0" in str(raised.value)
    finally:
        device.close()
    assert writer_threads() == []


def test_close_without_sync_stops_the_writer_and_closes_both_fds(
        tmp_path: pathlib.Path) -> None:
    path = presized(tmp_path)
    before = set(os.listdir("/proc/self/fd"))
    device = direct_device(path)
    device.write_at(0, bytes(direct.BUFFER_SIZE + 100))
    assert len(writer_threads()) == 1
    device.close()
    device.close()  # twice is harmless
    assert writer_threads() == []
    assert set(os.listdir("/proc/self/fd")) <= before
    with pytest.raises(ValueError):
        device.write_at(0, b"x")


def test_reads_see_what_was_written_before_them(
        tmp_path: pathlib.Path) -> None:
    path = presized(tmp_path)
    data = random.Random(7).randbytes(direct.BUFFER_SIZE + 5000)
    device = direct_device(path)
    try:
        device.write_at(0, data)
        assert device.read_at(0, len(data)) == data
    finally:
        device.close()


def test_close_releases_both_descriptors_when_one_fails(
        tmp_path: pathlib.Path) -> None:
    # The buffered descriptor is closed behind the device's back: closing
    # it again fails, and the direct one is still released.
    path = presized(tmp_path)
    before = set(os.listdir("/proc/self/fd"))
    device = direct_device(path)
    os.close(device.fd)
    with pytest.raises(OSError) as raised:
        device.close()
    assert raised.value.errno == errno.EBADF
    assert set(os.listdir("/proc/self/fd")) <= before
    assert writer_threads() == []


class RefusingDirectWrites:
    """A pwrite for which the direct descriptor refuses writes with
    EINVAL, from its ``after``-th write on."""

    def __init__(self, direct_fd: int, after: int = 0) -> None:
        self.direct_fd = direct_fd
        self.after = after
        self.direct_writes = 0

    def __call__(self, fd: int, data: memoryview, offset: int) -> int:
        if fd == self.direct_fd:
            if self.direct_writes >= self.after:
                raise OSError(errno.EINVAL, "Invalid argument")
            self.direct_writes += 1
        return os.pwrite(fd, data, offset)


def test_refused_first_direct_write_sends_the_rest_buffered(
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    path = presized(tmp_path)
    data = random.Random(3).randbytes(SIZE)
    fd = direct.open_direct(path)
    assert fd is not None
    device = DirectFdDevice(path, fd, pwrite=RefusingDirectWrites(fd))
    with caplog.at_level(logging.WARNING):
        try:
            device.write_at(0, data)
            device.sync()
        finally:
            device.close()
    with open(path, "rb") as f:
        assert f.read() == data
    assert "refuses direct writes" in caplog.text


def test_a_direct_write_refused_after_others_is_an_error(
        tmp_path: pathlib.Path) -> None:
    # Direct writes that worked and then fail are not the path refusing
    # O_DIRECT: the upload fails rather than guess.
    path = presized(tmp_path)
    fd = direct.open_direct(path)
    assert fd is not None
    device = DirectFdDevice(path, fd, pwrite=RefusingDirectWrites(fd, 1))
    try:
        with pytest.raises(OSError) as raised:
            device.write_at(0, bytes(SIZE))
            device.sync()
        assert raised.value.errno == errno.EINVAL
        assert "offset %d" % direct.BUFFER_SIZE in str(raised.value)
    finally:
        device.close()
