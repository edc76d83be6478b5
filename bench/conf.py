"""glance-api.conf-style files for the two contenders.

Both get the same options in their store group (same Cinder, user, volume
type, timeouts); only the driver type differs: ``volume`` (this driver)
or ``cinder`` (glance_store's in-tree driver).  This driver also gets a
second store, ``thin``, identical but with ``cinder_thin_provisioning``.
Each contender has its own mount point base and lock directory.
"""

from __future__ import annotations

import os
from typing import Any

from bench.common import INTREE
from bench.common import OURS
from testing_support.stack import service_user_options

STORE = "bench"
THIN_STORE = "thin"
# Both contenders: the same options on the loop-device backend, whose
# volumes are real block devices (tools/openstack-aio/loop_volume_driver).
BLOCK_STORE = "block"
# Ours again, with a read attachment linger (bench/hot.py's back-to-back
# gets).
LINGER_STORE = "linger"
LINGER_S = 5
# The workloads that use a store besides STORE: a process warms up STORE
# and only those of the others its workloads use.
OTHER_STORE_WORKLOADS = {
    THIN_STORE: ("sparse_thin",),
    BLOCK_STORE: ("block_add_known", "block_get"),
    LINGER_STORE: ("hot_back_to_back",),
}


def stores_used(workloads: list[str], configured: list[str]) -> list[str]:
    """Of the ``configured`` stores, STORE and those ``workloads`` use."""
    used = {STORE} | {s for s, ws in OTHER_STORE_WORKLOADS.items()
                      if set(ws) & set(workloads)}
    return [s for s in configured if s in used]


def store_options(env: dict[str, Any], mount_base: str,
                  volume_type: str = "fast") -> str:
    type_id = env["volume_types"][volume_type]
    return f"""\
{service_user_options(env)}cinder_volume_type = {type_id}
cinder_mount_point_base = {mount_base}
cinder_state_transition_timeout = 300
"""


def parse_options(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` items: options for every store of this driver."""
    from glance_store_cinder.options import store_options

    known = {opt.name for opt in store_options()}
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name.startswith("cinder_") or not value \
                or any(c in item for c in "\n[]"):
            raise ValueError("%r is not NAME=VALUE with a cinder_* name"
                             % item)
        if name not in known:
            # oslo.config would ignore it: the run would measure the
            # defaults under a name that says otherwise.
            raise ValueError("%s is not an option of this driver" % name)
        options[name] = value
    return options


def conf_text(env: dict[str, Any], contender: str, workdir: str,
              ours_options: dict[str, str] | None = None) -> str:
    """``ours_options``: set in every store of this driver (the in-tree
    driver's stores do not have them)."""
    mount_base = os.path.join(workdir, "mnt")
    extra = "".join("%s = %s\n" % kv for kv in (ours_options or {}).items()
                    if contender == OURS)
    common = store_options(env, mount_base) + extra
    block = store_options(env, mount_base, "block") + extra
    if contender == OURS:
        backends = "%s:volume, %s:volume, %s:volume, %s:volume" % (
            STORE, THIN_STORE, BLOCK_STORE, LINGER_STORE)
        groups = (f"[{STORE}]\n{common}\n"
                  f"[{THIN_STORE}]\n{common}"
                  "cinder_thin_provisioning = true\n\n"
                  f"[{BLOCK_STORE}]\n{block}\n"
                  f"[{LINGER_STORE}]\n{common}"
                  f"cinder_read_attachment_linger = {LINGER_S}\n")
    elif contender == INTREE:
        backends = "%s:cinder, %s:cinder" % (STORE, BLOCK_STORE)
        groups = f"[{STORE}]\n{common}\n[{BLOCK_STORE}]\n{block}"
    else:
        raise ValueError(contender)
    return f"""\
[DEFAULT]
enabled_backends = {backends}

[glance_store]
default_backend = {STORE}

{groups}
[oslo_concurrency]
lock_path = {os.path.join(workdir, "locks")}

[os_brick]
lock_path = {env["os_brick"]["lock_path"]}

[privsep_osbrick]
helper_command = {env["os_brick"]["privsep_helper_command"]}
"""
