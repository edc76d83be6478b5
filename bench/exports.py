"""Which export the NFS rows use: the disk-backed one or the tmpfs one.

``disk`` (the default) is the stack's main export, an ext4 image on a
loop device over the machine's disk.  ``tmpfs`` is the stack's
RAM-backed share (backend ``nfs-tmpfs``, volume type ``glance-tmpfs``;
tools/openstack-aio sets it up and tears it down): there the driver and
the CPU, not the virtual disk, are the limit.  The limits, both
contenders and the checks all see the chosen export through the same
``env`` keys, so nothing else needs to know.
"""

from __future__ import annotations

import copy
from typing import Any

MODES = ("disk", "tmpfs")
# Rows that do not use the NFS export: the same in both modes, so run
# once, in the disk mode.  The end-to-end rows go through the stack's
# glance-api, whose store ``fast`` is on the disk-backed export.
DISK_ONLY = ("block_add_known", "block_get", "e2e_upload", "e2e_download")
E2E = ("e2e_upload", "e2e_download")
# Rows whose question does not depend on the export (how a shared read
# attachment holds up under many readers; how an add scales with the
# image's size; whether an unknown-size add above 1 GiB keeps its bytes;
# whether a sparse image lands thin): by default answered once, in the
# disk mode, which keeps both modes together within the run-time target
# (bench/README.md).
DISK_BY_DEFAULT = ("hot_paced_4", "hot_paced_16", "hot_unpaced",
                   "hot_back_to_back", "curve_known", "curve_unknown",
                   "add_unknown_large", "sparse_dense", "sparse_thin")


def select(env: dict[str, Any], mode: str) -> dict[str, Any]:
    """``env`` with the chosen export as ``nfs`` and its volume type as
    ``fast``."""
    if mode == "disk":
        return env
    ram = env.get("nfs", {}).get("tmpfs")
    if not ram:
        raise RuntimeError(
            "the stack has no tmpfs export (env.json nfs.tmpfs): run "
            "tools/openstack-aio/up from this checkout")
    out = copy.deepcopy(env)
    for key in ("share", "export_dir", "export_image", "export_size",
                "loop_device"):
        out["nfs"][key] = ram[key]
    out["volume_types"]["fast"] = ram["volume_type"]
    out["export_mode"] = mode
    return out


def stem(profile: str, mode: str) -> str:
    """``latest``/``quick`` for the disk, ``latest-tmpfs``/... else."""
    base = "quick" if profile == "quick" else "latest"
    return base if mode == "disk" else "%s-%s" % (base, mode)
