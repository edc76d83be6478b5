"""status: exit 0 when every wanted service is healthy."""

from __future__ import annotations

import contextlib
import json
import os

from openstack_aio.block import block_loop_devices
from openstack_aio.cinder_resources import cinder_services_up
from openstack_aio.credentials import load_secrets
from openstack_aio.export import EXPORTS
from openstack_aio.export import is_mounted
from openstack_aio.export import mounts_under
from openstack_aio.paths import P
from openstack_aio.processes import Service
from openstack_aio.services import services
from openstack_aio.settings import MOUNT_HELPER
from openstack_aio.settings import say


def glance_wanted() -> bool:
    try:
        with open(P.env_json) as f:
            return bool(json.load(f)["glance"]["enabled"])
    except (OSError, ValueError, KeyError):
        return True


def cinder_daemons_up(svc: dict[str, Service]) -> dict[str, bool]:
    """What Cinder itself says of its scheduler and volume service."""
    if svc["cinder-api"].healthy() and svc["keystone"].healthy():
        with contextlib.suppress(Exception):
            return cinder_services_up(load_secrets())
    return {}


def report_services(svc: dict[str, Service], wanted: list[str]) -> bool:
    ok = True
    cinder_up = cinder_daemons_up(svc)
    for name, s in svc.items():
        pid = s.pid()
        if name in cinder_up:
            healthy = pid is not None and cinder_up[name]
        else:
            healthy = s.healthy()
        state = ("healthy" if healthy else "UNHEALTHY") if pid else "stopped"
        if name in wanted and not healthy:
            ok = False
        print("%-17s %-9s pid=%s" % (name, state, pid or "-"))
    return ok


def cmd_status() -> int:
    if not os.path.isdir(P.state):
        say("nothing at %s" % P.state)
        return 1
    svc = services()
    glance = glance_wanted()
    wanted = [n for n in svc if glance or n != "glance-api"]
    ok = report_services(svc, wanted)
    exp = True
    for key, export in EXPORTS.items():
        mounted = is_mounted(export.mount_point)
        exp = exp and mounted
        print("%-17s %s" % ("export" if key == "main" else "export " + key,
                            "mounted at %s" % export.mount_point if mounted
                            else "NOT mounted"))
    helper = os.path.exists(MOUNT_HELPER)
    print("%-17s %s" % ("mount.nfs helper", MOUNT_HELPER if helper
                        else "NOT installed"))
    exports = {e.mount_point for e in EXPORTS.values()}
    shares = [mp for mp in mounts_under(P.state) if mp not in exports]
    print("%-17s %d" % ("share mounts", len(shares)))
    print("%-17s %d" % ("block loop devs", len(block_loop_devices())))
    ok = ok and exp and helper
    print("all healthy" if ok else "NOT all healthy")
    return 0 if ok else 1
