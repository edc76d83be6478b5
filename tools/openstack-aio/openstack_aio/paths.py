"""Where everything lives under the state directory."""

from __future__ import annotations

import os

from openstack_aio.settings import HOST
from openstack_aio.settings import STATE


def _in_state(*names: str) -> list[str]:
    return [os.path.join(STATE, name) for name in names]


class P:
    state = STATE
    venv, etc, db, log, run, locks, rabbit = _in_state(
        "venv", "etc", "db", "log", "run", "locks", "rabbitmq")
    brick_locks = os.path.join(locks, "os-brick")
    export_img, export_dir, small_img, small_dir = _in_state(
        "export.img", "export", "export-small.img", "export-small")
    cinder_mnt, glance_mnt, client_mnt = _in_state(
        "cinder-mnt", "glance-mnt", "client-mnt")
    secrets, env_json = _in_state("secrets.json", "env.json")
    helper_src = os.path.join(STATE, "bin", "mount.nfs")

    @staticmethod
    def vbin(venv: str, prog: str) -> str:
        return os.path.join(STATE, "venv", venv, "bin", prog)

    @staticmethod
    def conf(*parts: str) -> str:
        return os.path.join(STATE, "etc", *parts)

    @staticmethod
    def service_state(name: str) -> str:
        """Where service ``name`` keeps what it writes at run time."""
        return os.path.join(STATE, "state", name)

    @staticmethod
    def logfile(name: str) -> str:
        return os.path.join(STATE, "log", name)


MOUNT_BASES = (P.cinder_mnt, P.glance_mnt, P.client_mnt)
SHARE = "%s:%s" % (HOST, P.export_dir)
SMALL_SHARE = "%s:%s" % (HOST, P.small_dir)
