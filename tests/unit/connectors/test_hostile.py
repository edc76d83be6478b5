"""What Cinder returns is checked before a byte is written or read.

A Cinder (or a share) pointing the volume at a file of this host must not
get the image written over it: each family refuses, names the volume and
the path, and undoes the attachment.  The canary is a host file outside
every allowed place; its bytes must not change.
"""

import contextlib
import io
import os
import pathlib
import stat
from typing import Any

import pytest
from glance_store import exceptions as gs_exc
from os_brick.initiator import connector as brick_connector

from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors import family_for
from glance_store_cinder.connectors.base import BrickConnector
from glance_store_cinder.connectors.base import ConnectorFactory
from glance_store_cinder.connectors.base import DeviceRules
from glance_store_cinder.journal import Journal
from glance_store_cinder.owners import Owners
from glance_store_cinder.polling import Poller
from glance_store_cinder.store import Store
from tests.unit.connectors.test_nfs import share_mount_point
from tests.unit.fakes.processes import FakeProcessTable
from tests.unit.harness import Env
from tests.unit.harness import FakeMounts
from tests.unit.harness import FakeTime
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern

CANARY_BYTES = b"host file, not an image volume\n"


@pytest.fixture
def canary(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "canary"
    path.write_bytes(CANARY_BYTES)
    return path


def brick_factory(protocol: str, root_helper: str, *args: Any,
                  **kwargs: Any) -> BrickConnector:
    """os-brick's real factory: its LocalConnector uses device_path as is."""
    return brick_connector.InitiatorConnector.factory(
        protocol, root_helper, *args, **kwargs)


def add_refused(env: Env, store: Store, match: str) -> None:
    data = pattern(3000)
    with pytest.raises(gs_exc.BackendException, match=match):
        store.add(new_image_id(), io.BytesIO(data), len(data), "sha512")


# -- block devices (os-brick's real LocalConnector) ---------------------------
@pytest.mark.parametrize("where", ["outside", "symlink", "dotdot", "dir"])
def test_block_device_path_elsewhere_is_refused(
        local_env: Env, canary: pathlib.Path, where: str) -> None:
    env = local_env
    backing = env.cloud.backing_dir
    if where == "outside":
        path = str(canary)
    elif where == "symlink":
        (backing / "looks-like-a-volume").symlink_to(canary)
        path = str(backing / "looks-like-a-volume")
    elif where == "dotdot":
        path = "%s/../canary" % backing
    else:
        path = str(backing)
    env.cloud.override_connection_info(device_path=path)
    store = env.store(collaborators=env.collaborators(
        connector_factory=brick_factory))
    add_refused(env, store, "Volume [0-9a-f-]{36}: .*%s" % path)
    assert canary.read_bytes() == CANARY_BYTES
    env.cloud.assert_clean()  # volume and attachment gone


def test_block_device_must_be_a_block_device_under_dev(
        tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    family = family_for("iscsi", _context(tmp_path, production_rules=True))
    for path, why in ((str(canary), "not under /dev"),
                      ("/dev/null", "not a block device"),
                      ("/dev/shm/../../etc/passwd", "not under /dev"),
                      ("/dev/no-such-device", "No such file")):
        with pytest.raises(gs_exc.BackendException, match=why):
            family.device_from("vol-1", {"path": path}, 1)


# -- NFS ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../canary", "sub/volume-x", "..", "",
                                  "/etc/passwd", "volume-..-x"])
def test_nfs_file_name_with_a_path_is_refused_before_mounting(
        nfs_env: Env, canary: pathlib.Path, name: str) -> None:
    env = nfs_env
    env.cloud.override_connection_info(name=name)
    add_refused(env, env.store(), "not a plain file name")
    assert canary.read_bytes() == CANARY_BYTES
    assert [c.operation for c in env.factory.calls] == []  # never mounted
    env.cloud.assert_clean()


def test_nfs_volume_file_that_is_a_symlink_out_is_refused(
        nfs_env: Env, canary: pathlib.Path) -> None:
    env = nfs_env
    store = env.store()
    vid = env.cloud.create_volume_directly(env.service_project, 1,
                                           metadata={"image_size": "10"})
    mount_point = share_mount_point(env)
    os.makedirs(mount_point)
    # someone with write access to the share planted a link
    os.symlink(canary, os.path.join(mount_point, "volume-%s" % vid))
    location = env.location(store, "cinder://fast/%s" % vid)
    with pytest.raises(gs_exc.BackendException,
                       match="Volume %s: .*resolves to %s" % (vid, canary)):
        store.get(location)
    assert canary.read_bytes() == CANARY_BYTES
    env.assert_clean(keep=[vid])
    assert env.mounts.unmounted == [mount_point]  # its own, not /


def test_nfs_file_outside_the_mount_base_is_refused(
        tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    family = family_for("nfs", _context(tmp_path))
    with pytest.raises(gs_exc.BackendException,
                       match="not in a share mounted under"):
        family.device_from("vol-1", {"path": str(canary)}, 1)


# -- RBD and PowerFlex (family level: no fake Cinder backend for them) ------
class StubConnector:
    """os-brick returning what a hostile connection makes it return."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.disconnected = 0

    def connect_volume(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"path": self.result}

    def disconnect_volume(self, props: dict[str, Any], info: dict[str, Any],
                          force: bool = False,
                          ignore_errors: bool = False) -> None:
        self.disconnected += 1

    def extend_volume(self, props: dict[str, Any]) -> int:
        return 0


@pytest.mark.parametrize("handle", [
    io.BytesIO(bytes(64)), "canary", b"/dev/rbd0", 7,
], ids=["other-file-object", "path-outside", "bytes", "int"])
def test_rbd_handle_must_be_the_one_os_brick_made(
        tmp_path: pathlib.Path, canary: pathlib.Path, handle: object) -> None:
    if handle == "canary":
        handle = str(canary)
    stub = StubConnector(handle)
    family = family_for("rbd", _context(tmp_path / "dev",
                                        lambda *a, **k: stub))
    with pytest.raises(gs_exc.BackendException, match="vol-1"):
        with family.connected("vol-1", {}, 64):
            pytest.fail("a hostile handle was used")
    assert stub.disconnected == 1
    assert canary.read_bytes() == CANARY_BYTES


def test_powerflex_device_elsewhere_is_refused_before_it_is_opened(
        tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    stub = StubConnector(str(canary))
    time = FakeTime()
    family = family_for("scaleio", _context(tmp_path / "dev",
                                            lambda *a, **k: stub, time))
    with pytest.raises(gs_exc.BackendException, match="not under"):
        with family.connected("vol-1", {}, 64):
            pytest.fail("a hostile device was used")
    assert stub.disconnected == 1
    assert time.sleeps == []  # its size was never polled
    assert canary.read_bytes() == CANARY_BYTES


def _context(root: pathlib.Path, factory: ConnectorFactory | None = None,
             time: FakeTime | None = None, production_rules: bool = False
             ) -> FamilyContext:
    """Devices are regular files under ``root``, or real ones in /dev."""
    time = time or FakeTime()
    rules = (DeviceRules() if production_rules
             else DeviceRules(root=str(root), accepts=stat.S_ISREG))
    return FamilyContext(
        connector_factory=factory or brick_factory,
        root_helper="sudo", use_multipath=False,
        mount_point_base=str(root / "mnt"),
        lock=lambda name: contextlib.nullcontext(),
        journal=Journal(str(root / "journal"), "fast",
                        Owners(FakeProcessTable(), lambda: "host-1")),
        mounts=FakeMounts(),
        poller=Poller(5, clock=time.clock()), devices=rules)
