"""The fakes answer what the real clients send, the way OpenStack does.

Everything here goes through the real python-cinderclient and keystoneauth1
on a requests.Session with the fake's adapter mounted.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any

import pytest
import requests
from cinderclient import api_versions
from cinderclient import exceptions as cinder_exc
from cinderclient.v3 import client as cinder_client
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from keystoneauth1.identity import v3
from os_brick import exception as brick_exc

from tests.unit.fakes import FakeCloud
from tests.unit.fakes import FakeConnectorFactory
from tests.unit.fakes import fake_connector_properties

MIB = 1024 * 1024
PASSWORD = "s3cret"


@pytest.fixture
def cloud(tmp_path: pathlib.Path) -> FakeCloud:
    c = FakeCloud(gib=MIB, backing_dir=tmp_path / "volumes")
    c.add_user("glance", PASSWORD, "service", roles=("member", "service"))
    return c


def password_session(cloud: FakeCloud, user: str = "glance",
                     project: str = "service") -> ks_session.Session:
    http = requests.Session()
    http.mount("http://", cloud.adapter)
    auth = v3.Password(auth_url="http://keystone.test/v3", username=user,
                       password=PASSWORD, user_domain_name="Default",
                       project_name=project, project_domain_name="Default")
    return ks_session.Session(auth=auth, session=http)


def client(session: ks_session.Session, version: str = "3.54",
           **kwargs: Any) -> Any:
    return cinder_client.Client(
        session=session, api_version=api_versions.APIVersion(version),
        **kwargs)


def token_client(cloud: FakeCloud, token: str, project_id: str,
                 version: str = "3.54") -> Any:
    endpoint = cloud.cinder_endpoint(project_id)
    auth = token_endpoint.Token(endpoint, token)
    session = ks_session.Session(auth=auth, session=cloud.http_session())
    return client(session, version, auth=auth)


def wait_status(c: Any, volume_id: str, wanted: str, polls: int = 5) -> Any:
    for _ in range(polls):
        vol = c.volumes.get(volume_id)
        if vol.status == wanted:
            return vol
    raise AssertionError("volume %s never became %s" % (volume_id, wanted))


CONNECTOR = fake_connector_properties("sudo", "192.0.2.10", False, False,
                                      host="glance-host-1")


# -- the whole life of a volume ---------------------------------------------
def test_volume_lifecycle_through_cinderclient(cloud: FakeCloud) -> None:
    c = client(password_session(cloud))
    project = cloud.project_id("service")

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

    # attach: create (reserve), update (connector), connect, complete
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


def test_catalog_service_types_and_interfaces(cloud: FakeCloud) -> None:
    session = password_session(cloud)
    for service_type in ("volumev3", "block-storage", "volume"):
        for interface in ("publicURL", "internal", "admin"):
            c = client(session, service_type=service_type,
                       endpoint_type=interface)
            assert c.volume_types.default().name == "glance-fast"
    assert session.get_endpoint(service_type="volumev3",
                                interface="public") == (
        cloud.cinder_endpoint(cloud.project_id("service")))
    assert len(cloud.auth_log) == 1  # one token for all of it


def test_application_credential_and_bad_password(cloud: FakeCloud) -> None:
    cred_id, secret = cloud.add_app_credential("glance", "service")
    auth = v3.ApplicationCredential(
        auth_url="http://keystone.test/v3",
        application_credential_id=cred_id,
        application_credential_secret=secret)
    c = client(ks_session.Session(auth=auth, session=cloud.http_session()))
    vol = c.volumes.create(1)
    assert cloud.volume(vol.id).project_id == cloud.project_id("service")
    assert cloud.auth_log == [(cred_id, cloud.project_id("service"))]

    auth = v3.ApplicationCredential(
        auth_url="http://keystone.test/v3",
        application_credential_id=cred_id,
        application_credential_secret="wrong")
    bad = ks_session.Session(auth=auth, session=cloud.http_session())
    with pytest.raises(ks_exc.Unauthorized):
        bad.get_token()

    http = cloud.http_session()
    wrong = v3.Password(auth_url="http://keystone.test/v3",
                        username="glance", password="nope",
                        user_domain_name="Default", project_name="service",
                        project_domain_name="Default")
    with pytest.raises(ks_exc.Unauthorized):
        ks_session.Session(auth=wrong, session=http).get_token()


def test_reauthentication_after_token_expiry(cloud: FakeCloud) -> None:
    c = client(password_session(cloud))
    c.volume_types.list()
    assert cloud.revoke_tokens() == 1
    # keystonemiddleware says 401, keystoneauth re-authenticates once
    assert len(c.volume_types.list()) == 2
    assert len(cloud.auth_log) == 2
    assert [r.status for r in cloud.requests] == [200, 401, 200]


def test_requester_tokens_and_project_isolation(cloud: FakeCloud) -> None:
    _, project_a = cloud.add_user("alice", PASSWORD, "project-a")
    _, project_b = cloud.add_user("bob", PASSWORD, "project-b")
    alice = token_client(cloud, cloud.issue_token("alice"), project_a)
    bob = token_client(cloud, cloud.issue_token("bob"), project_b)

    vol = alice.volumes.create(1, name="private")
    cloud.settle()
    assert alice.volumes.get(vol.id).status == "available"
    with pytest.raises(cinder_exc.NotFound):
        bob.volumes.get(vol.id)
    with pytest.raises(cinder_exc.NotFound):
        bob.volumes.delete(vol.id)
    assert bob.volumes.list(search_opts={"name": "private"}) == []
    assert [v.id for v in alice.volumes.list(
        search_opts={"name": "private"})] == [vol.id]
    # bob's token on alice's endpoint: what Cinder says
    crossed = token_client(cloud, cloud.issue_token("bob"), project_a)
    with pytest.raises(cinder_exc.BadRequest, match="Malformed request url"):
        crossed.volumes.get(vol.id)
    # a token that is not (any more) valid: keystonemiddleware's 401
    stale = token_client(cloud, "gAAAAAB-not-a-token", project_a)
    with pytest.raises(cinder_exc.Unauthorized):
        stale.volumes.get(vol.id)
    assert cloud.auth_log == []  # requester tokens never authenticate


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
    with pytest.raises(cinder_exc.BadRequest, match="Invalid filters"):
        c.volumes.list(search_opts={"nonsense": "1"})

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
    listed = c.attachments.list(search_opts={"volume_id": shared.id})
    assert sorted(a.id for a in listed) == sorted([a1["id"], a2["id"]])
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
    assert c.attachments.show(att["id"]).connection_info == info

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


def test_encrypted_readonly_and_listing(cloud: FakeCloud) -> None:
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

    for n in range(3):
        c.volumes.create(1, name="page-%d" % n)
    cloud.settle()
    page = c.volumes.list(limit=2)
    assert [v.name for v in page] == ["page-2", "page-1"]  # newest first
    assert len(c.volumes.list()) == 5
    assert [v.name for v in c.volumes.list(
        search_opts={"metadata": {"missing": "x"}})] == []
    assert [v.id for v in c.volumes.list(detailed=False,
                                         search_opts={"name": "frozen"})] == [
        frozen]

    # since 3.67 the project id may be left out of the URL
    session = password_session(cloud)
    resp = session.get("http://cinder.test/v3/volumes/%s" % frozen,
                       microversion="3.67",
                       microversion_service_type="volumev3")
    assert resp.json()["volume"]["id"] == frozen
    assert cloud.requests[-1].path == "/volumes/%s" % frozen
    cloud.assert_clean(keep=[v.id for v in cloud.volumes])
