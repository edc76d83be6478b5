"""The stack of tools/openstack-aio as its users see it: its env file.

``up`` writes ``$GSC_AIO_DIR/env.json``: endpoints, users and passwords,
volume types, paths.  The functional tests, the benchmark and the demo read
it here, and log in and configure stores from it the same way.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from keystoneauth1 import identity
from keystoneauth1 import session as ks_session

AIO_DIR = pathlib.Path(os.environ.get("GSC_AIO_DIR")
                       or "/var/lib/glance-store-cinder-aio")
ENV_FILE = AIO_DIR / "env.json"


class StackNotUp(Exception):
    """There is no env file: the stack was never started here."""


def read_env() -> dict[str, Any]:
    try:
        text = ENV_FILE.read_text()
    except FileNotFoundError:
        raise StackNotUp("%s not found: start the environment with "
                         "tools/openstack-aio/up" % ENV_FILE) from None
    env: dict[str, Any] = json.loads(text)
    return env


def session(env: Mapping[str, Any], user: Mapping[str, str]
            ) -> ks_session.Session:
    """A Keystone session of ``user`` (one of the env file's users) in its
    project."""
    return ks_session.Session(auth=identity.V3Password(
        auth_url=env["keystone"]["auth_url"], username=user["username"],
        password=user["password"], project_name=user["project_name"],
        user_domain_name="Default", project_domain_name="Default"))


def service_user_options(env: Mapping[str, Any]) -> str:
    """glance-api.conf lines of a store that reaches Cinder as the glance
    service user, through the catalog."""
    svc = env["service_user"]
    return f"""\
cinder_store_auth_address = {env["keystone"]["auth_url"]}
cinder_store_user_name = {svc["username"]}
cinder_store_password = {svc["password"]}
cinder_store_project_name = {svc["project_name"]}
cinder_store_user_domain_name = {svc["user_domain_name"]}
cinder_store_project_domain_name = {svc["project_domain_name"]}
cinder_catalog_info = volumev3::publicURL
"""
