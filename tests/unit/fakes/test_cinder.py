"""The fake Cinder answers what cinderclient sends, the way Cinder does."""

from __future__ import annotations

import os
from typing import Any

import pytest
from cinderclient import exceptions as cinder_exc
from keystoneauth1 import exceptions as ks_exc

from tests.unit.fakes.clients import CONNECTOR
from tests.unit.fakes.clients import MIB
from tests.unit.fakes.clients import PASSWORD
from tests.unit.fakes.clients import client
from tests.unit.fakes.clients import password_session
from tests.unit.fakes.clients import wait_status
from tests.unit.fakes.cloud import FakeCloud
from tests.unit.fakes.connector import FakeConnectorFactory


def _create(c: Any, cloud: FakeCloud, project: str) -> Any:
    vol = c.volumes.create(2, name="image-1", volume_type="glance-slow",
                           metadata={"image_id": "abc"})
    assert vol.status == "creating"
    assert vol.request_ids[0].startswith("req-")
    assert c.volumes.get(vol.id).status == "creating"  # one poll
    vol = wait_status(c, vol.id, "available")
    assert vol.size == 2 and vol.volume_type == "glance-slow"
    assert vol.bootable == "false" and vol.multiattach is False
    assert vol.metadata == {"image_id": "abc"}
    assert getattr(vol, "os-vol-tenant-attr:tenant_id") == project
    backing = cloud.volume(vol.id).backing_path
    assert os.path.getsize(backing) == 2 * MIB
    assert os.stat(backing).st_blocks == 0  # sparse
    return vol


def _attach_write_extend_detach(c: Any, cloud: FakeCloud, vol: Any) -> None:
    """create (reserve), update (connector), connect, complete; extend."""
    backing = cloud.volume(vol.id).backing_path
    att = c.attachments.create(vol.id, None, mode="rw")
    assert att["status"] == "reserved" and att["connection_info"] == {}
    assert c.volumes.get(vol.id).status == "reserved"
    updated = c.attachments.update(att["id"], dict(CONNECTOR))
    info = updated.connection_info
    assert info["driver_volume_type"] == "local"
    assert info["device_path"] == str(backing)
    assert info["access_mode"] == "rw" and info["encrypted"] is False
    assert info["attachment_id"] == att["id"]
    assert "data" not in info  # the attachment API flattens it
    assert c.volumes.get(vol.id).status == "attaching"

    factory = FakeConnectorFactory(cloud)
    conn = factory("LOCAL", "sudo", use_multipath=False,
                   device_scan_attempts=3)
    device = conn.connect_volume(info)
    assert device == {"type": "local", "path": str(backing)}
    with open(device["path"], "r+b") as f:
        f.write(b"image bytes")
    c.attachments.complete(att["id"])
    vol = c.volumes.get(vol.id)
    assert vol.status == "in-use"
    [shown] = vol.attachments
    assert shown["attachment_id"] == att["id"]
    assert shown["host_name"] == "glance-host-1"  # service role sees it
    assert cloud.volume(vol.id).access_mode == "rw"

    # delete refused while attached
    with pytest.raises(cinder_exc.BadRequest) as err:
        c.volumes.delete(vol.id)
    assert err.value.code == 400

    # online extend (3.42+): extending for a poll, then in-use and bigger
    c.volumes.extend(vol.id, 3)
    assert c.volumes.get(vol.id).status == "extending"
    vol = wait_status(c, vol.id, "in-use")
    assert vol.size == 3
    assert conn.extend_volume(info) == 3 * MIB

    conn.disconnect_volume(info, device, force=True)
    left = c.attachments.delete(att["id"])
    assert left[1] == {"attachments": []}
    assert c.volumes.get(vol.id).status == "available"
    factory.assert_clean()


def _extend_flag_delete(c: Any, cloud: FakeCloud, vol: Any) -> None:
    backing = cloud.volume(vol.id).backing_path
    # offline extend
    c.volumes.extend(vol.id, 4)
    vol = wait_status(c, vol.id, "available")
    assert vol.size == 4 and os.path.getsize(backing) == 4 * MIB
    with open(backing, "rb") as f:
        assert f.read(11) == b"image bytes"

    # metadata merge, bootable, readonly
    # (cinderclient wraps the returned metadata dict in a Volume)
    merged = c.volumes.set_metadata(vol.id, {"checksum": "00"})
    assert merged.to_dict() == {"image_id": "abc", "checksum": "00"}
    c.volumes.set_bootable(vol.id, True)
    c.volumes.update_readonly_flag(vol.id, True)
    assert cloud.volume(vol.id).bootable and cloud.volume(vol.id).readonly

    # delete: deleting for a poll, then gone
    c.volumes.delete(vol.id)
    assert c.volumes.get(vol.id).status == "deleting"
    with pytest.raises(cinder_exc.NotFound) as err:
        c.volumes.get(vol.id)
    assert err.value.code == 404
    assert err.value.request_id.startswith("req-")
    assert not backing.exists()
    cloud.assert_clean()


def test_volume_lifecycle_through_cinderclient(cloud: FakeCloud) -> None:
    c = client(password_session(cloud))
    project = cloud.project_id("service")
    vol = _create(c, cloud, project)
    _attach_write_extend_detach(c, cloud, vol)
    _extend_flag_delete(c, cloud, vol)
    assert cloud.auth_log == [("glance", project)]
    assert {r.microversion for r in cloud.requests} == {"3.54"}
    assert {r.project_id for r in cloud.requests} == {project}
    actions = [r.action for r in cloud.requests if r.action]
    assert actions == ["os-complete", "os-extend", "os-extend",
                       "os-set_bootable", "os-update_readonly_flag"]


def test_microversion_is_echoed_and_checked(cloud: FakeCloud) -> None:
    session = password_session(cloud)
    url = cloud.cinder_endpoint(cloud.project_id("service")) + "/types"
    resp = session.get(url, raise_exc=False)
    assert resp.status_code == 200
    assert resp.headers["OpenStack-API-Version"] == "volume 3.0"
    assert resp.headers["Vary"] == "OpenStack-API-Version"
    assert resp.headers["x-compute-request-id"] == resp.headers[
        "x-openstack-request-id"]
    resp = session.get(url, raise_exc=False, microversion="3.60",
                       microversion_service_type="volumev3")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.60"
    resp = session.get(url, raise_exc=False, microversion="3.72",
                       microversion_service_type="volumev3")
    assert resp.status_code == 406
    assert "computeFault" in resp.json()

    with pytest.raises(cinder_exc.NotAcceptable):
        client(session, "3.72").volume_types.list()


def test_versioned_features(cloud: FakeCloud) -> None:
    session = password_session(cloud)
    old = client(session, "3.27")
    vol = old.volumes.create(1)
    cloud.settle()
    att = old.attachments.create(vol.id, dict(CONNECTOR))
    assert att["connection_info"]["driver_volume_type"] == "local"
    # os-complete is 3.44: Cinder answers 404 below that
    url = "%s/attachments/%s/action" % (
        cloud.cinder_endpoint(cloud.project_id("service")), att["id"])
    resp = session.post(url, json={"os-complete": None}, raise_exc=False,
                        microversion="3.43",
                        microversion_service_type="volumev3")
    assert resp.status_code == 404
    session.post(url, json={"os-complete": None}, microversion="3.44",
                 microversion_service_type="volumev3")
    assert old.volumes.get(vol.id).status == "in-use"
    # extending an in-use volume needs 3.42
    with pytest.raises(cinder_exc.BadRequest):
        old.volumes.extend(vol.id, 2)
    # attachments at 3.0 do not exist; mode needs 3.54
    url = cloud.cinder_endpoint(cloud.project_id("service")) + "/attachments"
    body = {"attachment": {"volume_uuid": vol.id, "connector": None,
                           "mode": "ro"}}
    resp = session.post(url, json=body, raise_exc=False)
    assert resp.status_code == 404
    resp = session.post(url, json=body, raise_exc=False, microversion="3.53",
                        microversion_service_type="volumev3")
    assert resp.status_code == 400 and "mode" in resp.text
    old.attachments.delete(att["id"])
    cloud.assert_clean(keep=[vol.id])


def test_failure_injection_and_typed_errors(cloud: FakeCloud) -> None:
    c = client(password_session(cloud))
    vol = c.volumes.create(1)
    cloud.settle()

    cloud.fail_next("GET", r"/volumes/%s$" % vol.id, 404)
    with pytest.raises(cinder_exc.NotFound) as err:
        c.volumes.get(vol.id)
    assert err.value.code == 404 and err.value.request_id.startswith("req-")
    assert c.volumes.get(vol.id).status == "available"  # only once

    cloud.fail_next("POST", r"/action$", 400, times=2)
    for _ in range(2):
        with pytest.raises(cinder_exc.BadRequest):
            c.volumes.extend(vol.id, 2)
    assert cloud.volume(vol.id).size == 1  # no state change

    cloud.fail_next("*", r"/volumes$", 503)
    with pytest.raises(cinder_exc.ClientException) as err:
        c.volumes.create(1)
    assert err.value.code == 503
    assert len(cloud.volumes) == 1

    project = cloud.project_id("service")
    cloud.set_quota(project, gigabytes=3)
    with pytest.raises(cinder_exc.OverLimit) as err:
        c.volumes.create(3)
    assert err.value.code == 413 and "gigabytes" in str(err.value)
    with pytest.raises(cinder_exc.OverLimit):
        c.volumes.extend(vol.id, 4)
    cloud.set_quota(project, volumes=1)
    with pytest.raises(cinder_exc.OverLimit, match="volumes"):
        c.volumes.create(1)

    with pytest.raises(cinder_exc.NotFound, match="glance-nope"):
        c.volumes.create(1, volume_type="glance-nope")

    cloud.fail_next("POST", r"/auth/tokens$", 503)
    cloud.revoke_tokens()
    with pytest.raises(ks_exc.ServiceUnavailable):
        c.volumes.get(vol.id)


def test_stall_keeps_a_transitional_status(cloud: FakeCloud) -> None:
    c = client(password_session(cloud))
    vol = c.volumes.create(1)
    cloud.stall(vol.id, "creating", 3)
    assert [c.volumes.get(vol.id).status for _ in range(5)] == [
        "creating"] * 4 + ["available"]
    cloud.stall(vol.id, "error_extending", 1, then="error")
    assert [c.volumes.get(vol.id).status for _ in range(3)] == [
        "error_extending", "error", "error"]
    c.volumes.delete(vol.id)  # error volumes can be deleted
    cloud.stall(vol.id, "deleting", 2)
    assert [c.volumes.get(vol.id).status for _ in range(3)] == [
        "deleting"] * 3
    with pytest.raises(cinder_exc.NotFound):
        c.volumes.get(vol.id)
    assert cloud.deleted_volume_ids == [vol.id]


def test_multiattach_and_busy_volumes(cloud: FakeCloud) -> None:
    cloud.add_volume_type("glance-shared", multiattach=True)
    _, project = cloud.add_user("plain", PASSWORD, "service")
    c = client(password_session(cloud))
    shared = c.volumes.create(1, volume_type="glance-shared")
    single = c.volumes.create(1)
    cloud.settle()
    assert c.volumes.get(shared.id).multiattach is True

    first = c.attachments.create(single.id, None, mode="ro")
    with pytest.raises(cinder_exc.BadRequest,
                       match="current status is reserved"):
        c.attachments.create(single.id, None, mode="ro")
    c.attachments.delete(first["id"])

    a1 = c.attachments.create(shared.id, dict(CONNECTOR, host="h1"),
                              mode="ro")
    c.attachments.complete(a1["id"])
    a2 = c.attachments.create(shared.id, None, mode="ro")
    with pytest.raises(cinder_exc.BadRequest):  # reserved blocks a third
        c.attachments.create(shared.id, None, mode="ro")
    c.attachments.update(a2["id"], dict(CONNECTOR, host="h2"))
    c.attachments.complete(a2["id"])
    hosts = sorted(a["host_name"] for a in
                   c.volumes.get(shared.id).attachments)
    assert hosts == ["h1", "h2"]
    assert {cloud.attachment(a["id"]).attach_status
            for a in (a1, a2)} == {"attached"}
    assert cloud.volume(shared.id).access_mode == "ro"
    # without admin or service role Cinder hides the host
    plain = client(password_session(cloud, user="plain"))
    assert [a["host_name"] for a in
            plain.volumes.get(shared.id).attachments] == [None, None]

    with pytest.raises(AssertionError, match="attachment"):
        cloud.assert_clean(keep=[shared.id, single.id])
    _, rest = c.attachments.delete(a1["id"])
    assert [a["id"] for a in rest["attachments"]] == [a2["id"]]
    assert c.volumes.get(shared.id).status == "in-use"
    c.attachments.delete(a2["id"])
    assert c.volumes.get(shared.id).status == "available"
    with pytest.raises(AssertionError, match="volume"):
        cloud.assert_clean()
    cloud.assert_clean(keep=[shared.id, single.id])
    assert project == cloud.project_id("service")


def test_encrypted_and_readonly_volumes(cloud: FakeCloud) -> None:
    project = cloud.project_id("service")
    secret = cloud.create_volume_directly(project, 1, encrypted=True)
    frozen = cloud.create_volume_directly(project, 1, name="frozen")
    c = client(password_session(cloud), "3.64")
    vol = c.volumes.get(secret)
    assert vol.encrypted is True and vol.encryption_key_id
    att = c.attachments.create(secret, dict(CONNECTOR), mode="rw")
    assert att["connection_info"]["encrypted"] is True
    c.attachments.delete(att["id"])

    c.volumes.update_readonly_flag(frozen, True)
    att = c.attachments.create(frozen, dict(CONNECTOR), mode="rw")
    assert att["attach_mode"] == "ro"  # Cinder forces read-only volumes
    assert att["connection_info"]["access_mode"] == "ro"
    c.attachments.delete(att["id"])

    # what the driver does not call is not modelled: Cinder's 404
    with pytest.raises(cinder_exc.NotFound):
        c.volumes.list(detailed=False)
    cloud.assert_clean(keep=[secret, frozen])


def test_volume_detail_list_filters_and_pages(cloud: FakeCloud) -> None:
    project = cloud.project_id("service")
    other = cloud.add_user("alice", "pw", "alice-project")[1]
    ids = [cloud.create_volume_directly(project, 1, name="image-%d" % n,
                                        metadata={"n": str(n)})
           for n in range(3)]
    cloud.create_volume_directly(project, 1, name="backup")
    cloud.create_volume_directly(other, 1, name="image-9")
    c = client(password_session(cloud), "3.54")
    found = c.volumes.list(search_opts={"name~": "image-"}, limit=2)
    assert [v.id for v in found] == ids[::-1][:2]
    every = c.volumes.list(search_opts={"name~": "image-"})
    assert sorted(v.id for v in every) == sorted(ids)
    paged = [r for r in cloud.requests if r.path == "/volumes/detail"]
    assert paged[-1].query == {"name~": "image-"}
    [one] = c.volumes.list(search_opts={"metadata": {"n": "1"}})
    assert one.id == ids[1]
    # all_tenants is honoured for admins only
    assert len(c.volumes.list(search_opts={"all_tenants": 1})) == 4
    with pytest.raises(cinder_exc.BadRequest):
        c.volumes.list(search_opts={"host": "x"})
    cloud.assert_clean(keep=[v.id for v in cloud.volumes])
