"""Where everything lives under the state directory."""

from __future__ import annotations

import os

from openstack_aio.settings import HOST
from openstack_aio.settings import STATE


class P:
    state = STATE
    venv = os.path.join(STATE, "venv")
    etc = os.path.join(STATE, "etc")
    db = os.path.join(STATE, "db")
    log = os.path.join(STATE, "log")
    run = os.path.join(STATE, "run")
    locks = os.path.join(STATE, "locks")
    brick_locks = os.path.join(STATE, "locks", "os-brick")
    export_img = os.path.join(STATE, "export.img")
    export_dir = os.path.join(STATE, "export")
    small_img = os.path.join(STATE, "export-small.img")
    small_dir = os.path.join(STATE, "export-small")
    ram = os.path.join(STATE, "ram")  # a tmpfs
    tmpfs_img = os.path.join(STATE, "ram", "export-tmpfs.img")
    tmpfs_dir = os.path.join(STATE, "export-tmpfs")
    cinder_mnt = os.path.join(STATE, "cinder-mnt")
    glance_mnt = os.path.join(STATE, "glance-mnt")
    client_mnt = os.path.join(STATE, "client-mnt")
    rabbit = os.path.join(STATE, "rabbitmq")
    secrets = os.path.join(STATE, "secrets.json")
    env_json = os.path.join(STATE, "env.json")
    helper_src = os.path.join(STATE, "bin", "mount.nfs")

    @staticmethod
    def vbin(venv: str, prog: str) -> str:
        return os.path.join(STATE, "venv", venv, "bin", prog)

    @staticmethod
    def conf(*parts: str) -> str:
        return os.path.join(STATE, "etc", *parts)

    @staticmethod
    def service_state(name: str) -> str:
        return os.path.join(STATE, "state", name)

    @staticmethod
    def logfile(name: str) -> str:
        return os.path.join(STATE, "log", name)


MOUNT_BASES = (P.cinder_mnt, P.glance_mnt, P.client_mnt)
SHARE = "%s:%s" % (HOST, P.export_dir)
SMALL_SHARE = "%s:%s" % (HOST, P.small_dir)
TMPFS_SHARE = "%s:%s" % (HOST, P.tmpfs_dir)
