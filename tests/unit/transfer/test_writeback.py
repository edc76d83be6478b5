"""Writeback paced during the upload: each window handed to the kernel
as soon as it is written, the window before dropped from the cache."""

from __future__ import annotations

import os
import pathlib

from glance_store_cinder.transfer.device import FdDevice
from glance_store_cinder.transfer.writeback import WritebackPacer

DROP = os.POSIX_FADV_DONTNEED
W = 1000


class Advice:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, fd: int, offset: int, length: int,
                 advice: int) -> None:
        self.calls.append((offset, length, advice))


def test_each_window_is_started_and_the_one_before_dropped() -> None:
    advice = Advice()
    pacer = WritebackPacer(7, window=W, advise=advice)
    for k in range(10):
        pacer.wrote(k * 400, 400)     # 4000 bytes in uneven windows
    assert advice.calls == [(0, 1200, DROP),      # first window: 0..1200
                            (0, 2400, DROP),      # drops 0..1200
                            (1200, 2400, DROP)]   # drops 1200..2400
    pacer.flushed()
    assert advice.calls[-1] == (2400, 1600, DROP)
    # every byte written was handed over, the last ones after the fsync
    covered: set[int] = set()
    for offset, length, _ in advice.calls:
        covered.update(range(offset, offset + length))
    assert covered == set(range(4000))


def test_a_rewrite_of_advised_bytes_changes_nothing() -> None:
    advice = Advice()
    pacer = WritebackPacer(7, window=W, advise=advice)
    pacer.wrote(0, W)
    pacer.wrote(0, 10)
    assert advice.calls == [(0, W, DROP)]


def test_refused_advice_is_ignored() -> None:
    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        raise OSError(22, "not supported")

    pacer = WritebackPacer(7, window=W, advise=refuse)
    pacer.wrote(0, 3 * W)
    pacer.flushed()


def test_the_device_paces_its_writes_and_keeps_every_byte(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "volume"
    path.write_bytes(bytes(4 * W))
    advice = Advice()
    device = FdDevice(str(path), writable=True,
                      pacer=lambda fd: WritebackPacer(fd, W, advice))
    try:
        for k in range(4):
            device.write_at(k * W, bytes([k + 1]) * W)
        device.sync()
    finally:
        device.close()
    # four windows started (each dropping the one before), then the
    # last one dropped after the fsync
    assert [c[:2] for c in advice.calls] == [
        (0, W), (0, 2 * W), (W, 2 * W), (2 * W, 2 * W), (3 * W, W)]
    assert path.read_bytes() == b"".join(bytes([k + 1]) * W
                                         for k in range(4))


def test_readers_are_not_paced(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "volume"
    path.write_bytes(bytes(W))
    made: list[int] = []

    def pacer(fd: int) -> WritebackPacer:
        made.append(fd)
        return WritebackPacer(fd)

    FdDevice(str(path), writable=False, pacer=pacer).close()
    assert made == []
