"""Ceph RBD: a file object without local attach, a path with it."""

import pathlib

from os_brick.initiator import linuxrbd

from glance_store_cinder.connectors import family_for
from glance_store_cinder.transfer.device import open_device
from tests.unit.connectors.family_context import context


class FakeRbdImage:
    """What librbd's Image offers RBDVolumeIOWrapper, over bytes."""

    name = "volume-1"

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)

    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.data[offset:offset + length])

    def write(self, data: bytes, offset: int) -> None:
        self.data[offset:offset + len(data)] = data

    def require_not_closed(self) -> None:
        pass

    def flush(self) -> None:
        pass


class FakeRbdVolume:
    def __init__(self, size: int) -> None:
        self.image = FakeRbdImage(size)


def test_rbd_without_local_attach_is_a_file_object(
        tmp_path: pathlib.Path) -> None:
    volume = FakeRbdVolume(64)
    handle = linuxrbd.RBDVolumeIOWrapper(volume)
    family = family_for("rbd", context(tmp_path))
    device = family.device_from("vol-1", {"path": handle}, 64)
    assert device.path is None and device.file_object is handle
    dev = open_device(device, writable=True)
    dev.write_at(10, b"written")
    assert dev.read_at(8, 11) == b"\0\0written\0\0"
    assert volume.image.data[10:17] == b"written"
    dev.sync()
    dev.close()
    assert not handle.closed  # os-brick closes it on disconnect


def test_rbd_with_local_attach_is_a_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "rbd0"
    path.write_bytes(b"x")
    device = family_for("rbd", context(tmp_path)).device_from(
        "vol-1", {"path": str(path)}, 1)
    assert device.path == str(path) and device.file_object is None
