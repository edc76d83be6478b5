"""Cinder resources: volume types, quotas; readiness of the services."""

from __future__ import annotations

from typing import Any

from openstack_aio.credentials import Secrets
from openstack_aio.keystone_resources import KeystoneInfo
from openstack_aio.keystone_resources import password_auth
from openstack_aio.settings import BACKEND
from openstack_aio.settings import BACKENDS
from openstack_aio.settings import CINDER_HOST
from openstack_aio.settings import CINDER_URL
from openstack_aio.settings import MULTIATTACH_TYPES
from openstack_aio.settings import QUOTA_GIGABYTES
from openstack_aio.settings import QUOTA_VOLUMES
from openstack_aio.settings import TYPE_BACKENDS
from openstack_aio.settings import VOLUME_TYPES
from openstack_aio.util import api

DEFAULT_TYPE = "__DEFAULT__"


def cinder_admin(sec: Secrets) -> tuple[str, str]:
    """An admin token and the admin project's Cinder base URL."""
    token, body = password_auth("admin", sec["admin"], "admin")
    return token, CINDER_URL + "/v3/" + body["token"]["project"]["id"]


def cinder_services_up(sec: Secrets) -> dict[str, bool]:
    token, base = cinder_admin(sec)
    svcs = api("GET", base + "/os-services", token=token)[0]["services"]
    up = {(s["binary"], s["host"]) for s in svcs
          if s["state"] == "up" and s["status"] == "enabled"}
    return {
        "cinder-scheduler": ("cinder-scheduler", CINDER_HOST) in up,
        "cinder-volume": all(
            ("cinder-volume", "%s@%s" % (CINDER_HOST, backend)) in up
            for backend in BACKENDS),
    }


def cinder_pools(sec: Secrets, backend: str) -> list[str]:
    token, base = cinder_admin(sec)
    pools = api("GET", base + "/scheduler-stats/get_pools",
                token=token)[0]["pools"]
    return [p["name"] for p in pools
            if p["name"].startswith("%s@%s#" % (CINDER_HOST, backend))]


def type_extra_specs(key: str, backend: str) -> dict[str, str]:
    """The extra specs of the type ``key``: its backend, and multiattach
    for the types that have it (the scheduler then picks a backend that
    reports multiattach, and Cinder lets several attachments exist)."""
    specs = {"volume_backend_name": backend}
    if key in MULTIATTACH_TYPES:
        specs["multiattach"] = "<is> True"
    return specs


# tests/functional/test_multitenant.py renames a type to
# "<name><RENAMED>-<pid>" for a while and back; a run killed meanwhile
# leaves it renamed, with volumes of it in use: up names it back.
RENAMED = "-renamed-"


def renamed_back(token: str, base: str, by_name: dict[str, Any],
                 name: str) -> None:
    if name in by_name:
        return
    for other, t in sorted(by_name.items()):
        if other.startswith(name + RENAMED):
            api("PUT", base + "/types/%s" % t["id"],
                {"volume_type": {"name": name}}, token=token)
            by_name[name] = dict(t, name=name)
            return


def ensure_volume_type(token: str, base: str, by_name: dict[str, Any],
                       name: str, key: str, backend: str) -> None:
    renamed_back(token, base, by_name, name)
    t = by_name.get(name)
    specs = type_extra_specs(key, backend)
    if t is None:
        api("POST", base + "/types", {"volume_type": {
            "name": name, "description": "glance-store-cinder " + key,
            "os-volume-type-access:is_public": True,
            "extra_specs": specs}}, token=token)
        return
    have = t.get("extra_specs") or {}
    if any(have.get(k) != v for k, v in specs.items()):
        api("POST", base + "/types/%s/extra_specs" % t["id"],
            {"extra_specs": specs}, token=token)


def quota_set() -> dict[str, int]:
    quota = {"volumes": QUOTA_VOLUMES, "gigabytes": QUOTA_GIGABYTES,
             "snapshots": QUOTA_VOLUMES, "per_volume_gigabytes": -1}
    for key in TYPE_BACKENDS:
        name = VOLUME_TYPES[key]
        quota["volumes_" + name] = QUOTA_VOLUMES
        quota["gigabytes_" + name] = QUOTA_GIGABYTES
        quota["snapshots_" + name] = QUOTA_VOLUMES
    return quota


def setup_cinder(sec: Secrets, ks_info: KeystoneInfo) -> None:
    token, base = cinder_admin(sec)
    types = api("GET", base + "/types?is_public=None", token=token)[0]
    by_name = {t["name"]: t for t in types["volume_types"]}
    for key, backend in TYPE_BACKENDS.items():
        ensure_volume_type(token, base, by_name, VOLUME_TYPES[key], key,
                           backend)
    # Volumes created without a type stay on the NFS backend, as before
    # the block backend existed (the capacity weigher would otherwise
    # pick whichever has more free space).
    ensure_volume_type(token, base, by_name, DEFAULT_TYPE, "default",
                       BACKEND)
    missing = by_name.get(VOLUME_TYPES["missing"])
    if missing is not None:
        api("DELETE", base + "/types/" + missing["id"], token=token)
    projects = [ks_info.service_project_id, ks_info.admin_project_id]
    projects += [d["project_id"] for d in ks_info.demos]
    for pid in projects:
        api("PUT", base + "/os-quota-sets/" + pid,
            {"quota_set": quota_set()}, token=token)
