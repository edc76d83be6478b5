"""glance-api.conf and its paste file."""

from __future__ import annotations

import os

from openstack_aio.configs import keystone_authtoken
from openstack_aio.configs import sqlite_url
from openstack_aio.configs import transport_url
from openstack_aio.credentials import Secrets
from openstack_aio.paths import P
from openstack_aio.settings import AUTH_URL
from openstack_aio.settings import DEBUG
from openstack_aio.settings import GLANCE_URL
from openstack_aio.settings import REGION
from openstack_aio.settings import VOLUME_TYPES
from openstack_aio.unprivileged import rootwrap_conf
from openstack_aio.unprivileged import write_rootwrap
from openstack_aio.util import Sections
from openstack_aio.util import ini
from openstack_aio.util import mkdirs
from openstack_aio.util import write_if_changed

# glance-api's stores; each is also the key of its type in VOLUME_TYPES.
GLANCE_STORES = ("fast", "slow", "block", "small", "tenant", "tokenonly",
                 "multi")


def glance_conf_path() -> str:
    return P.conf("glance", "glance-api.conf")


def glance_venv_etc(*parts: str) -> str:
    return os.path.join(P.venv, "glance", "etc", "glance", *parts)


def write_paste(paste: str) -> bool:
    with open(glance_venv_etc("glance-api-paste.ini")) as f:
        paste_text = f.read()
    health_disable = os.path.join(P.service_state("glance"),
                                  "healthcheck_disable")
    paste_text = paste_text.replace("/etc/glance/healthcheck_disable",
                                    health_disable)
    return write_if_changed(paste, paste_text)


def token_store_section(vtype: str, rootwrap: str) -> dict[str, object]:
    """A store without service credentials: every call with the token of
    the request, the endpoint from the request's service catalog."""
    return {
        "cinder_volume_type": vtype,
        "cinder_catalog_info": "volumev3::publicURL",
        "cinder_os_region_name": REGION,
        "cinder_mount_point_base": P.glance_mnt,
        "rootwrap_config": rootwrap,
    }


def store_section(sec: Secrets, vtype: str,
                  rootwrap: str) -> dict[str, object]:
    """A store with the glance service user (admin in Cinder)."""
    return dict(token_store_section(vtype, rootwrap), **{
        "cinder_store_auth_address": AUTH_URL,
        "cinder_store_user_name": "glance",
        "cinder_store_password": sec["glance"],
        "cinder_store_project_name": "service",
        "cinder_store_user_domain_name": "Default",
        "cinder_store_project_domain_name": "Default",
    })


def multitenant_sections(sec: Secrets, rootwrap: str) -> Sections:
    """Images in their owners' projects (tests/functional/test_multitenant).

    ``tenant`` has the service user too, so that another project's read of
    a shared or public image (Cinder hides the owner's volume from its
    token) and deletes without a project go on with it; ``tokenonly`` has
    none (the in-tree driver's mode without ``cinder_store_*``), so such a
    read fails there.
    """
    vtype = VOLUME_TYPES["tenant"]
    return {
        "tenant": dict(store_section(sec, vtype, rootwrap),
                       cinder_store_multitenant=True),
        "tokenonly": dict(token_store_section(vtype, rootwrap),
                          cinder_store_multitenant=True),
    }


def glance_sections(sec: Secrets, paste: str, rootwrap: str) -> Sections:
    staging = os.path.join(P.service_state("glance"), "staging")
    tasks = os.path.join(P.service_state("glance"), "tasks")
    mkdirs(staging, tasks)
    return {
        "DEFAULT": {
            "debug": DEBUG,
            "log_file": P.logfile("glance-api.log"),
            "use_stderr": False,
            "enabled_backends": ",".join(
                "%s:volume" % store for store in GLANCE_STORES),
            "enabled_import_methods":
                "[glance-direct,web-download,copy-image]",
            "worker_self_reference_url": GLANCE_URL,
            "public_endpoint": GLANCE_URL,
            "transport_url": transport_url(sec),
        },
        "database": {"connection": sqlite_url("glance")},
        "keystone_authtoken": keystone_authtoken("glance", sec["glance"]),
        "paste_deploy": {"flavor": "keystone", "config_file": paste},
        "oslo_messaging_notifications": {"driver": "noop"},
        "glance_store": {"default_backend": "fast"},
        "os_glance_staging_store": {"filesystem_store_datadir": staging},
        "os_glance_tasks_store": {"filesystem_store_datadir": tasks},
        # Image volumes of raw images (MBR or not) are marked bootable in
        # fast (the driver's cinder_bootable_volume_formats); slow keeps
        # the default (never).
        "fast": dict(store_section(sec, VOLUME_TYPES["fast"], rootwrap),
                     cinder_bootable_volume_formats="raw"),
        "slow": store_section(sec, VOLUME_TYPES["slow"], rootwrap),
        # A loop device of the block backend: grows while attached.
        "block": dict(store_section(sec, VOLUME_TYPES["block"], rootwrap),
                      cinder_do_extend_attached=True),
        # On the small share: a write there hits ENOSPC for real.
        "small": store_section(sec, VOLUME_TYPES["small"], rootwrap),
        **multitenant_sections(sec, rootwrap),
        # Multiattach volumes of the block backend: each host reading an
        # image has its own attachment, at the same time.
        "multi": dict(store_section(sec, VOLUME_TYPES["multi"], rootwrap),
                      cinder_do_extend_attached=True),
        "oslo_concurrency": {"lock_path": os.path.join(P.locks, "glance")},
        "os_brick": {"lock_path": P.brick_locks},
        # No [privsep_osbrick] helper_command: the driver starts privsep
        # through "sudo glance-rootwrap <rootwrap_config>" by itself.
    }


def write_glance_conf(sec: Secrets) -> bool:
    paste = P.conf("glance", "glance-api-paste.ini")
    rootwrap = rootwrap_conf()
    changed = write_paste(paste)
    changed |= write_rootwrap()
    changed |= write_if_changed(glance_conf_path(),
                                ini(glance_sections(sec, paste, rootwrap)),
                                0o640)
    return changed
