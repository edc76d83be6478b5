"""A reader drops what it has read from the page cache, a window behind
itself; writers keep theirs."""

from __future__ import annotations

import os
import pathlib

from glance_store_cinder.transfer.device import FdDevice
from glance_store_cinder.transfer.drop_behind import DropBehind
from tests.unit.transfer.test_writeback import Advice

DROP = os.POSIX_FADV_DONTNEED
W = 1000


def test_what_lies_a_window_behind_the_reader_is_dropped() -> None:
    advice = Advice()
    dropper = DropBehind(7, window=W, advise=advice)
    for k in range(10):
        dropper.read(k * 400, 400)    # 4000 bytes in uneven pieces
    # nothing until two windows are read; then, a window or more at a
    # time, all but the last window read
    assert advice.calls == [(0, 1000, DROP), (1000, 1200, DROP)]
    covered: set[int] = set()
    for offset, length, _ in advice.calls:
        covered.update(range(offset, offset + length))
    assert covered == set(range(2200))


def test_a_ranged_read_drops_only_from_its_start() -> None:
    advice = Advice()
    dropper = DropBehind(7, window=W, advise=advice)
    for k in range(5):
        dropper.read(5000 + k * W, W)
    assert advice.calls == [(5000 + k * W, W, DROP) for k in range(4)]


def test_refused_advice_is_ignored() -> None:
    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        raise OSError(22, "not supported")

    dropper = DropBehind(7, window=W, advise=refuse)
    for k in range(4):
        dropper.read(k * W, W)


def test_the_device_reports_each_read_and_returns_every_byte(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "volume"
    data = b"".join(bytes([k + 1]) * W for k in range(4))
    path.write_bytes(data)
    advice = Advice()
    device = FdDevice(str(path), writable=False,
                      dropper=lambda fd: DropBehind(fd, W, advice))
    try:
        got = [device.read_at(k * W, W) for k in range(4)]
        assert device.read_at(4 * W, W) == b""
    finally:
        device.close()
    assert b"".join(got) == data
    assert [c[:2] for c in advice.calls] == [(0, W), (W, W), (2 * W, W)]


def test_writers_do_not_drop_behind(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "volume"
    path.write_bytes(bytes(W))
    made: list[int] = []

    def dropper(fd: int) -> DropBehind:
        made.append(fd)
        return DropBehind(fd)

    FdDevice(str(path), writable=True, dropper=dropper).close()
    assert made == []

