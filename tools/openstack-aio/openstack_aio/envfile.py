"""env.json: everything tests need to reach the stack."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from openstack_aio.block import block_env
from openstack_aio.cinder_config import cinder_conf_path
from openstack_aio.configs import transport_url
from openstack_aio.control import ACTIONS
from openstack_aio.credentials import Secrets
from openstack_aio.glance_config import GLANCE_STORES
from openstack_aio.glance_config import glance_conf_path
from openstack_aio.keystone_resources import KeystoneInfo
from openstack_aio.paths import MOUNT_BASES
from openstack_aio.paths import SHARE
from openstack_aio.paths import SMALL_SHARE
from openstack_aio.paths import TMPFS_SHARE
from openstack_aio.paths import P
from openstack_aio.processes import pidfile
from openstack_aio.services import glance_gunicorn_pidfile
from openstack_aio.services import services
from openstack_aio.settings import AUTH_URL
from openstack_aio.settings import BACKEND
from openstack_aio.settings import CINDER_HOST
from openstack_aio.settings import CINDER_TEMPLATE
from openstack_aio.settings import CINDER_URL
from openstack_aio.settings import EXPORT_SIZE
from openstack_aio.settings import GLANCE_URL
from openstack_aio.settings import GLANCE_USER
from openstack_aio.settings import HERE
from openstack_aio.settings import KEYSTONE_URL
from openstack_aio.settings import MOUNT_HELPER
from openstack_aio.settings import PINS
from openstack_aio.settings import QUOTA_GIGABYTES
from openstack_aio.settings import QUOTA_VOLUMES
from openstack_aio.settings import REGION
from openstack_aio.settings import REPO
from openstack_aio.settings import SMALL_BACKEND
from openstack_aio.settings import SMALL_EXPORT_SIZE
from openstack_aio.settings import STATE
from openstack_aio.settings import TMPFS_BACKEND
from openstack_aio.settings import TMPFS_EXPORT_SIZE
from openstack_aio.settings import TMPFS_SIZE
from openstack_aio.settings import VOLUME_TYPES
from openstack_aio.settings import say
from openstack_aio.unprivileged import rootwrap_bin
from openstack_aio.unprivileged import rootwrap_conf
from openstack_aio.unprivileged import sudoers_line
from openstack_aio.util import TIMINGS
from openstack_aio.util import http
from openstack_aio.util import write_if_changed

Env = dict[str, Any]
DEFAULT_DOMAINS = {"user_domain_name": "Default",
                   "project_domain_name": "Default"}


def glance_store_report(token: str) -> dict[str, Any]:
    """What the glance-api log and /v2/info/stores say about the stores."""
    glog = P.logfile("glance-api.log")
    loaded = False
    with contextlib.suppress(OSError), open(glog, errors="replace") as f:
        for line in f:
            if "Attempting to import store volume" in line:
                loaded = True
    status, _, body = http("GET", GLANCE_URL + "/v2/info/stores", token=token)
    ids = [s["id"] for s in body.get("stores", [])] \
        if status == 200 and isinstance(body, dict) else []
    say("glance-api: volume driver import %s; stores %s" % (
        "logged" if loaded else "NOT logged", ids or "(none)"))
    return {"driver_import_logged": loaded, "stores": ids}


def identity_env(sec: Secrets, ks: KeystoneInfo) -> Env:
    ac = ks.app_cred
    return {
        "admin": {"username": "admin", "password": sec["admin"],
                  "project_name": "admin",
                  "project_id": ks.admin_project_id, **DEFAULT_DOMAINS},
        "service_user": {
            "username": "glance", "password": sec["glance"],
            "user_id": ks.users["glance"]["id"],
            "project_name": "service", "project_id": ks.service_project_id,
            **DEFAULT_DOMAINS},
        "cinder_service_user": {
            "username": "cinder", "password": sec["cinder"],
            "project_name": "service", **DEFAULT_DOMAINS},
        "app_credential": {
            "id": ac["id"], "secret": ac["secret"], "name": ac["name"],
            "user": "glance", "project_id": ac["project_id"]},
        "demo": ks.demos,
    }


def _export_env(share: str, export: tuple[str, str, str], backend: str,
                pools: list[str], loopdev: str, volume_type: str) -> Env:
    """What every NFS export of the stack records: where it lives, its
    size, the loop device under it, its Cinder backend and volume type."""
    export_dir, export_image, export_size = export
    return {"share": share, "export_dir": export_dir,
            "export_image": export_image, "export_size": export_size,
            "loop_device": loopdev, "backend": backend, "pools": pools,
            "volume_type": volume_type}


def tmpfs_share_env(pools: list[str], loopdev: str) -> Env:
    """The RAM-backed share (bench --export tmpfs)."""
    return {
        **_export_env(TMPFS_SHARE,
                      (P.tmpfs_dir, P.tmpfs_img, TMPFS_EXPORT_SIZE),
                      TMPFS_BACKEND, pools, loopdev, VOLUME_TYPES["tmpfs"]),
        "tmpfs_size": TMPFS_SIZE,
        "cinder_mount_point_base": P.cinder_mnt,
    }


def small_share_env(pools: list[str], loopdev: str) -> Env:
    """The small share that fills up (the fault tests' ENOSPC)."""
    return {
        **_export_env(SMALL_SHARE,
                      (P.small_dir, P.small_img, SMALL_EXPORT_SIZE),
                      SMALL_BACKEND, pools, loopdev, VOLUME_TYPES["small"]),
        "glance_store": "small",
    }


def cinder_env(pools: dict[str, list[str]], loopdevs: dict[str, str],
               client_conf: str) -> Env:
    privsep_cmd = "%s --config-file %s" % (P.vbin("cinder", "privsep-helper"),
                                           client_conf)
    return {
        "cinder": {
            "url": CINDER_URL,
            "endpoint_template": CINDER_TEMPLATE,
            "catalog_info": "volumev3::publicURL",
            "max_microversion": "3.71",
            "host": CINDER_HOST,
            "backend": BACKEND,
            "pools": pools[BACKEND],
            "conf": cinder_conf_path(),
            "venv": os.path.join(P.venv, "cinder"),
            "cli": P.vbin("cinder", "cinder"),
        },
        "volume_types": dict(VOLUME_TYPES),
        "quota": {"volumes": QUOTA_VOLUMES, "gigabytes": QUOTA_GIGABYTES},
        "nfs": {
            "share": SHARE,
            "export_dir": P.export_dir,
            "export_image": P.export_img,
            "export_size": EXPORT_SIZE,
            "loop_device": loopdevs["main"],
            "mount_helper": MOUNT_HELPER,
            "cinder_mount_point_base": P.cinder_mnt,
            "small": small_share_env(pools[SMALL_BACKEND], loopdevs["small"]),
            "tmpfs": tmpfs_share_env(pools[TMPFS_BACKEND], loopdevs["tmpfs"]),
        },
        "os_brick": {
            "lock_path": P.brick_locks,
            "privsep_helper_command": privsep_cmd,
            "client_config_file": client_conf,
        },
        "block": block_env(),
        "cinder_mount_point_base": P.client_mnt,
        "mount_point_bases": list(MOUNT_BASES),
    }


def glance_env(glance: bool, stores: dict[str, Any] | None) -> Env:
    return {
        "enabled": glance,
        "url": GLANCE_URL,
        "api_conf": glance_conf_path(),
        "config_dir": P.conf("glance"),
        "venv": os.path.join(P.venv, "glance"),
        "python": P.vbin("glance", "python"),
        "backends": {store: VOLUME_TYPES[store] for store in GLANCE_STORES},
        "default_backend": "fast",
        "mount_point_base": P.glance_mnt,
        "stores": stores,
        "user": GLANCE_USER,
        "pid_file": pidfile("glance-api"),
        "gunicorn_pid_file": glance_gunicorn_pidfile(),
        "rootwrap_config": rootwrap_conf(),
        "rootwrap": rootwrap_bin(),
        "sudoers_line": sudoers_line().strip(),
    }


def logs_env() -> Env:
    names = ("keystone", "cinder-api", "cinder-scheduler", "cinder-volume",
             "glance-api")
    logs: Env = {"dir": P.log}
    logs.update({n: P.logfile(n + ".log") for n in names})
    logs["rabbitmq"] = P.logfile("rabbitmq")
    return logs


def write_env(sec: Secrets, ks: KeystoneInfo, loopdevs: dict[str, str],
              pools: dict[str, list[str]], glance: bool,
              stores: dict[str, Any] | None, client_conf: str) -> None:
    env: Env = {
        "state_dir": STATE,
        "repo": REPO,
        "region": REGION,
        "keystone": {"url": KEYSTONE_URL, "auth_url": AUTH_URL},
        "auth_url": AUTH_URL,
    }
    env.update(identity_env(sec, ks))
    env.update(cinder_env(pools, loopdevs, client_conf))
    env["glance"] = glance_env(glance, stores)
    env["rabbitmq"] = {"transport_url": transport_url(sec)}
    env["logs"] = logs_env()
    env["commands"] = {
        "service": os.path.join(HERE, "service"),
        "service_actions": list(ACTIONS),
        "services": list(services()),
    }
    env["versions"] = {k: [p for p in v if "==" in p]
                       for k, v in PINS.items()}
    env["timings"] = dict(TIMINGS)
    write_if_changed(P.env_json, json.dumps(env, indent=2) + "\n", 0o600)
