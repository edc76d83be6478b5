"""Whole positional transfers: short ones are continued, none is lost."""

from __future__ import annotations

import errno
import os
import pathlib

import pytest

from glance_store_cinder.transfer.positional import read_fully
from glance_store_cinder.transfer.positional import write_fully


def test_short_writes_are_continued_until_every_byte_is_written(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(20))
    calls = []

    def one_byte_at_a_time(fd: int, view: memoryview, offset: int) -> int:
        calls.append(offset)
        return os.pwrite(fd, view[:1], offset)

    fd = os.open(path, os.O_RDWR)
    try:
        write_fully(fd, memoryview(b"abcde"), 10, "f", one_byte_at_a_time)
        assert read_fully(fd, 100, 8) == b"\0\0abcde" + bytes(5)
    finally:
        os.close(fd)
    assert calls == [10, 11, 12, 13, 14]


def test_a_write_that_moves_nothing_is_an_error() -> None:
    with pytest.raises(OSError) as raised:
        write_fully(7, memoryview(b"x"), 0, "the volume",
                    lambda fd, view, offset: 0)
    assert raised.value.errno == errno.EIO
    assert "the volume" in str(raised.value)
