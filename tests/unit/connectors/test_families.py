"""Connector families: which one handles an export, and what each adds."""

import contextlib
import os
import stat

import pytest
from glance_store import exceptions as gs_exc
from os_brick.initiator import linuxrbd

from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors import family_for
from glance_store_cinder.connectors.base import DeviceRules
from glance_store_cinder.connectors.block import BlockFamily
from glance_store_cinder.connectors.nfs import NfsFamily
from glance_store_cinder.connectors.rbd import RbdFamily
from glance_store_cinder.connectors.scaleio import ScaleIOFamily
from glance_store_cinder.polling import Poller
from glance_store_cinder.transfer.device import open_device
from tests.unit.harness import FakeMounts
from tests.unit.harness import FakeTime


class RecordingFactory:
    def __init__(self):
        self.requests = []

    def __call__(self, protocol, root_helper, *args, **kwargs):
        self.requests.append((protocol, root_helper, kwargs))
        return object()


def context(tmp_path, time=None, factory=None):
    time = time or FakeTime()
    return FamilyContext(
        connector_factory=factory or RecordingFactory(),
        root_helper="sudo glance-rootwrap /etc/glance/rootwrap.conf",
        use_multipath=True, mount_point_base=str(tmp_path / "mnt"),
        lock=lambda name: contextlib.nullcontext(),
        refs_dir=str(tmp_path / "refs"), mounts=FakeMounts(),
        poller=Poller(5, clock=time.clock()),
        devices=DeviceRules(root=str(tmp_path), accepts=stat.S_ISREG))


class FakeRbdImage:
    """What librbd's Image offers RBDVolumeIOWrapper, over bytes."""

    name = "volume-1"

    def __init__(self, size):
        self.data = bytearray(size)

    def size(self):
        return len(self.data)

    def read(self, offset, length):
        return bytes(self.data[offset:offset + length])

    def write(self, data, offset):
        self.data[offset:offset + len(data)] = data

    def require_not_closed(self):
        pass

    def flush(self):
        pass


class FakeRbdVolume:
    def __init__(self, size):
        self.image = FakeRbdImage(size)


@pytest.mark.parametrize("protocol,family", [
    ("nfs", NfsFamily), ("NFS", NfsFamily), ("rbd", RbdFamily),
    ("scaleio", ScaleIOFamily), ("iscsi", BlockFamily),
    ("fibre_channel", BlockFamily), ("local", BlockFamily),
    ("nvmeof", BlockFamily),
])
def test_family_for_protocol(tmp_path, protocol, family):
    assert type(family_for(protocol, context(tmp_path))) is family


def test_connector_built_once_with_the_store_settings(tmp_path):
    factory = RecordingFactory()
    family = family_for("nfs", context(tmp_path, factory=factory))
    assert family.connector is family.connector
    [(protocol, root_helper, kwargs)] = factory.requests
    assert protocol == "nfs"
    assert root_helper == "sudo glance-rootwrap /etc/glance/rootwrap.conf"
    assert kwargs["use_multipath"] is True
    assert kwargs["conn"] == {"mount_point_base": str(tmp_path / "mnt")}


def test_unknown_protocol_is_a_backend_error_on_connect(tmp_path):
    def factory(protocol, *args, **kwargs):
        raise ValueError("Invalid InitiatorConnector protocol %s" % protocol)

    family = family_for("weird", context(tmp_path, factory=factory))
    with pytest.raises(gs_exc.BackendException, match="weird"):
        with family.connected("vol-1", {}, 1):
            pass


def test_block_device_without_a_path_is_a_backend_error(tmp_path):
    family = family_for("iscsi", context(tmp_path))
    with pytest.raises(gs_exc.BackendException, match="no device path"):
        family.device_from("vol-1", {"type": "block"}, 1)


def test_rbd_without_local_attach_is_a_file_object(tmp_path):
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


def test_rbd_with_local_attach_is_a_path(tmp_path):
    path = tmp_path / "rbd0"
    path.write_bytes(b"x")
    device = family_for("rbd", context(tmp_path)).device_from(
        "vol-1", {"path": str(path)}, 1)
    assert device.path == str(path) and device.file_object is None


def test_scaleio_waits_for_the_device_to_show_its_size(tmp_path):
    time = FakeTime()
    path = tmp_path / "scinia"
    path.write_bytes(b"")

    def kernel_catches_up():
        with open(path, "ab") as f:
            f.write(bytes(100))

    time.on_sleep = kernel_catches_up
    family = family_for("scaleio", context(tmp_path, time=time))
    device = family.device_from("vol-1", {"path": str(path)}, 250)
    assert device.path == str(path)
    assert os.path.getsize(path) >= 250
    assert len(time.sleeps) == 3


def test_scaleio_device_that_stays_small_times_out(tmp_path):
    path = tmp_path / "scinia"
    path.write_bytes(bytes(10))
    family = family_for("scaleio", context(tmp_path))
    with pytest.raises(gs_exc.BackendException, match="PowerFlex"):
        family.device_from("vol-1", {"path": str(path)}, 250)
