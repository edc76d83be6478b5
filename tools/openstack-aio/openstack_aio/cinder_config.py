"""cinder.conf and the NFS shares files (one backend per share)."""

from __future__ import annotations

import os

from openstack_aio.block import block_backend_section
from openstack_aio.configs import keystone_authtoken
from openstack_aio.configs import sqlite_url
from openstack_aio.configs import transport_url
from openstack_aio.credentials import Secrets
from openstack_aio.paths import SHARE
from openstack_aio.paths import SMALL_SHARE
from openstack_aio.paths import TMPFS_SHARE
from openstack_aio.paths import P
from openstack_aio.settings import AUTH_URL
from openstack_aio.settings import BACKEND
from openstack_aio.settings import BACKENDS
from openstack_aio.settings import BLOCK_BACKEND
from openstack_aio.settings import CINDER_HOST
from openstack_aio.settings import DEBUG
from openstack_aio.settings import GLANCE_URL
from openstack_aio.settings import HOST
from openstack_aio.settings import PORTS
from openstack_aio.settings import SMALL_BACKEND
from openstack_aio.settings import TMPFS_BACKEND
from openstack_aio.util import Sections
from openstack_aio.util import ini
from openstack_aio.util import write_if_changed


def cinder_conf_path() -> str:
    return P.conf("cinder", "cinder.conf")


def cinder_policy_path() -> str:
    """Found by Cinder in its config directory (oslo.policy's default
    ``policy_file = policy.yaml``); empty unless a fault test overrides a
    rule (``service policy cinder-api``)."""
    return P.conf("cinder", "policy.yaml")


def cinder_venv_etc(*parts: str) -> str:
    return os.path.join(P.venv, "cinder", "etc", "cinder", *parts)


def cinder_defaults(sec: Secrets) -> dict[str, object]:
    return {
        "debug": DEBUG,
        "log_dir": P.log,
        "use_stderr": False,
        "state_path": P.service_state("cinder"),
        "host": CINDER_HOST,
        "my_ip": HOST,
        "transport_url": transport_url(sec),
        "auth_strategy": "keystone",
        "osapi_volume_listen": HOST,
        "osapi_volume_listen_port": PORTS["cinder"],
        "osapi_volume_workers": 1,
        "api_paste_config": cinder_venv_etc("api-paste.ini"),
        "resource_query_filters_file": cinder_venv_etc(
            "resource_filters.json"),
        "rootwrap_config": cinder_venv_etc("rootwrap.conf"),
        "enabled_backends": ",".join(BACKENDS),
        "report_interval": 5,
        "service_down_time": 60,
        "periodic_interval": 30,
        "graceful_shutdown_timeout": 10,
        "scheduler_default_filters":
            "AvailabilityZoneFilter,CapacityFilter,CapabilitiesFilter",
        # Phase 2: Glance.  Present from the start so that adding
        # glance-api later needs no restart of the cinder services.
        "glance_api_servers": GLANCE_URL,
        "allowed_direct_url_schemes": "cinder",
    }


def nfs_backend(name: str, shares_config: str) -> dict[str, object]:
    return {
        "volume_driver": "cinder.volume.drivers.nfs.NfsDriver",
        "volume_backend_name": name,
        "nfs_shares_config": shares_config,
        "nfs_mount_point_base": P.cinder_mnt,
        "nfs_sparsed_volumes": True,
        "nfs_snapshot_support": True,
        "nas_secure_file_operations": False,
        "nas_secure_file_permissions": False,
        "image_upload_use_cinder_backend": True,
        "max_over_subscription_ratio": 20.0,
        "reserved_percentage": 0,
    }


def cinder_sections(sec: Secrets) -> Sections:
    privsep = "%s --config-file %s" % (P.vbin("cinder", "privsep-helper"),
                                       cinder_conf_path())
    return {
        "DEFAULT": cinder_defaults(sec),
        "database": {"connection": sqlite_url("cinder")},
        "keystone_authtoken": keystone_authtoken("cinder", sec["cinder"]),
        "oslo_concurrency": {"lock_path": os.path.join(P.locks, "cinder")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "coordination": {
            "backend_url": "file://" + P.service_state("coordination"),
        },
        "os_brick": {"lock_path": P.brick_locks},
        "cinder_sys_admin": {"helper_command": privsep},
        "privsep_osbrick": {"helper_command": privsep},
        # Service user that reads image locations from Glance (needs the
        # "service" role for Glance's service-only locations API).
        "glance": {
            "auth_type": "password",
            "auth_url": AUTH_URL,
            "username": "cinder",
            "password": sec["cinder"],
            "project_name": "service",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        BACKEND: nfs_backend(BACKEND, P.conf("cinder", "nfs_shares")),
        BLOCK_BACKEND: block_backend_section(),
        SMALL_BACKEND: nfs_backend(SMALL_BACKEND,
                                   P.conf("cinder", "nfs_shares_small")),
        TMPFS_BACKEND: nfs_backend(TMPFS_BACKEND,
                                   P.conf("cinder", "nfs_shares_tmpfs")),
    }


def write_cinder_conf(sec: Secrets) -> bool:
    changed = write_if_changed(P.conf("cinder", "nfs_shares"), SHARE + "\n")
    changed |= write_if_changed(P.conf("cinder", "nfs_shares_small"),
                                SMALL_SHARE + "\n")
    changed |= write_if_changed(P.conf("cinder", "nfs_shares_tmpfs"),
                                TMPFS_SHARE + "\n")
    changed |= write_if_changed(cinder_conf_path(), ini(cinder_sections(sec)),
                                0o640)
    # No restart for it: cinder-api re-reads its policy file on change.
    write_if_changed(cinder_policy_path(), "{}\n")
    return changed
