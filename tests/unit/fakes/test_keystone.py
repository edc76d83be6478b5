"""The fake Keystone answers keystoneauth1 the way Keystone does."""

from __future__ import annotations

import pytest
from cinderclient import exceptions as cinder_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.unit.fakes.clients import CONNECTOR
from tests.unit.fakes.clients import PASSWORD
from tests.unit.fakes.clients import client
from tests.unit.fakes.clients import password_session
from tests.unit.fakes.clients import token_client
from tests.unit.fakes.cloud import FakeCloud


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
    with pytest.raises(cinder_exc.NotFound):
        bob.attachments.create(vol.id, dict(CONNECTOR), mode="ro")
    # bob's token on alice's endpoint: what Cinder says
    crossed = token_client(cloud, cloud.issue_token("bob"), project_a)
    with pytest.raises(cinder_exc.BadRequest, match="Malformed request url"):
        crossed.volumes.get(vol.id)
    # a token that is not (any more) valid: keystonemiddleware's 401
    stale = token_client(cloud, "gAAAAAB-not-a-token", project_a)
    with pytest.raises(cinder_exc.Unauthorized):
        stale.volumes.get(vol.id)
    assert cloud.auth_log == []  # requester tokens never authenticate
