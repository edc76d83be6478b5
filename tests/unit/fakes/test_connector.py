"""The fake os-brick connectors attach what the fake Cinder exported."""

from __future__ import annotations

import hashlib
import os
import pathlib

import pytest
import requests
from os_brick import exception as brick_exc

from tests.unit.fakes.clients import CONNECTOR
from tests.unit.fakes.clients import MIB
from tests.unit.fakes.clients import PASSWORD
from tests.unit.fakes.clients import client
from tests.unit.fakes.clients import password_session
from tests.unit.fakes.cloud import FakeCloud
from tests.unit.fakes.connector import FakeConnectorFactory
from tests.unit.fakes.connector import fake_connector_properties


def test_nfs_volumes_and_the_connector(tmp_path: pathlib.Path) -> None:
    cloud = FakeCloud(gib=MIB, backing_dir=tmp_path, protocol="nfs",
                      status_polls_before_ready=0)
    _, project = cloud.add_user("glance", PASSWORD, "service",
                                roles=("member", "service"))
    vid = cloud.create_volume_directly(project, 1, data=b"qcow", fmt="qcow2",
                                       metadata={"k": "v"})
    c = client(password_session(cloud))
    assert c.volumes.get(vid).status == "available"
    att = c.attachments.create(vid, dict(CONNECTOR), mode="rw")
    info = att["connection_info"]
    assert info["driver_volume_type"] == "nfs"
    assert info["export"] == "127.0.0.1:/fake/export"
    assert info["name"] == "volume-%s" % vid
    assert info["format"] == "qcow2" and info["options"] is None
    assert cloud.attachment(att["id"]).connection_info == info

    factory = FakeConnectorFactory(cloud)
    base = str(tmp_path / "mnt")
    conn = factory("nfs", "sudo", use_multipath=True,
                   conn={"mount_point_base": base})
    assert factory.requests[0].use_multipath is True
    assert factory.requests[0].kwargs == {"conn": {"mount_point_base":
                                                   base}}
    factory.fail_on("connect", OSError("mount failed"))
    with pytest.raises(OSError, match="mount failed"):
        conn.connect_volume(info)
    device = conn.connect_volume(info)
    # os-brick's place for it: <base>/<md5 of the export>/<name>
    assert device == {"path": "%s/%s/volume-%s" % (
        base, hashlib.md5(info["export"].encode()).hexdigest(), vid)}
    backing = str(cloud.volume(vid).backing_path)
    assert os.path.samefile(device["path"], backing)
    assert conn.get_volume_paths(info) == [backing]
    assert conn.check_valid_device(backing) is True
    with open(device["path"], "rb") as f:
        assert f.read(4) == b"qcow"
    with pytest.raises(AssertionError, match=vid):
        factory.assert_clean()
    factory.fail_on("disconnect")
    with pytest.raises(OSError):
        conn.disconnect_volume(info, device)
    assert factory.open_volume_ids() == [vid]
    factory.fail_on("disconnect")
    conn.disconnect_volume(info, device, force=True, ignore_errors=True)
    factory.assert_clean()
    assert [(call.operation, call.error is not None)
            for call in factory.calls] == [
        ("connect", True), ("connect", False), ("get_volume_paths", False),
        ("check_valid_device", False), ("disconnect", True),
        ("disconnect", True)]

    c.attachments.delete(att["id"])
    with pytest.raises(brick_exc.VolumeDeviceNotFound):
        conn.connect_volume(info)  # not exported any more
    with pytest.raises(brick_exc.InvalidConnectorProtocol):
        factory("ISCSI", "sudo")
    cloud.assert_clean(keep=[vid])


def test_connector_properties_and_version_documents(
        cloud: FakeCloud) -> None:
    props = fake_connector_properties("sudo", "192.0.2.1", True, False)
    assert props["ip"] == "192.0.2.1" and props["multipath"] is True
    assert props["do_local_attach"] is False and props["host"]
    http = cloud.http_session()
    root = http.get("http://cinder.test/")
    assert root.status_code == 300
    assert root.json()["versions"][0]["version"] == "3.71"
    assert http.get("http://cinder.test/v3/").json()["versions"][0][
        "min_version"] == "3.0"
    assert http.get("http://keystone.test/v3").json()["version"]["id"]
    with pytest.raises(requests.ConnectionError):
        http.get("http://glance.test/v2/images")
    assert cloud.requests == []  # version documents are not API calls


@pytest.mark.parametrize("protocol", ["rbd", "scaleio"])
def test_file_object_and_growing_device_exports(tmp_path: pathlib.Path,
                                                protocol: str) -> None:
    cloud = FakeCloud(gib=MIB, backing_dir=tmp_path / "volumes",
                      protocol=protocol, status_polls_before_ready=0)
    _, project = cloud.add_user("glance", PASSWORD, "service",
                                roles=("member", "service"))
    vid = cloud.create_volume_directly(project, 1, data=b"rbd or sio")
    c = client(password_session(cloud))
    info = c.attachments.create(vid, dict(CONNECTOR),
                                mode="ro")["connection_info"]
    assert info["driver_volume_type"] == protocol
    factory = FakeConnectorFactory(cloud, device_dir=tmp_path / "dev")
    conn = factory(protocol, "sudo")
    device = conn.connect_volume(info)
    if protocol == "rbd":
        handle = device["path"]  # librbd's file object, read-only here
        assert handle.read(10) == b"rbd or sio"
        with pytest.raises(OSError):
            handle.write(b"x")
    else:
        node = device["path"]
        assert os.path.getsize(node) == 0  # the kernel has not caught up
        factory.time_passes()
        assert os.path.getsize(node) == MIB
    with pytest.raises(AssertionError, match=vid):
        factory.assert_clean()
    conn.disconnect_volume(info, device)
    factory.assert_clean()
    if protocol == "rbd":
        assert handle.closed
    else:
        assert not os.path.lexists(node)
    c.attachments.delete(info["attachment_id"])
    cloud.assert_clean(keep=[vid])
