"""The real clients on a fake cloud, for the fakes' own tests."""

from __future__ import annotations

from typing import Any

import requests
from cinderclient import api_versions
from cinderclient.v3 import client as cinder_client
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from keystoneauth1.identity import v3

from tests.unit.fakes.cloud import FakeCloud
from tests.unit.fakes.connector import fake_connector_properties

MIB = 1024 * 1024
PASSWORD = "s3cret"
CONNECTOR = fake_connector_properties("sudo", "192.0.2.10", False, False,
                                      host="glance-host-1")


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
