"""Ceph RBD: a file object without local attach, a path with it."""

import pathlib

from glance_store_cinder.connectors import family_for
from glance_store_cinder.transfer.device import open_device
from tests.unit.connectors.family_context import context
from tests.unit.fakes.exports import rbd_handle


def test_rbd_without_local_attach_is_a_file_object(
        tmp_path: pathlib.Path) -> None:
    image = tmp_path / "volume-1"
    image.write_bytes(bytes(64))
    handle = rbd_handle(image, writable=True)
    family = family_for("rbd", context(tmp_path))
    device = family.device_from({"path": handle}, 64)
    assert device.path is None and device.file_object is handle
    dev = open_device(device, writable=True)
    dev.write_at(10, b"written")
    assert dev.read_at(8, 11) == b"\0\0written\0\0"
    assert image.read_bytes()[10:17] == b"written"
    dev.sync()
    dev.close()
    assert not handle.closed  # os-brick closes it on disconnect
    handle.close()


def test_rbd_with_local_attach_is_a_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "rbd0"
    path.write_bytes(b"x")
    device = family_for("rbd", context(tmp_path)).device_from(
        {"path": str(path)}, 1)
    assert device.path == str(path) and device.file_object is None
