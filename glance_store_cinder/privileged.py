"""Every command this store runs as root, and the checks made before it.

An unprivileged glance-api reaches root through ``sudo glance-rootwrap``,
which only runs command lines matching ``etc/rootwrap.d/
glance_store_cinder.filters``.  The argv builders below are the only
command lines the store sends there; each names the filter that admits it,
and a unit test runs them through oslo.rootwrap's matcher against the
shipped file, so the two cannot drift apart.

Paths are resolved here (``os.path.realpath``) and checked again against
the same shapes the filters accept before anything runs, so a symlink in a
path Cinder or os-brick handed over never reaches root: the resolved path
is what is passed.  os-brick's own root work (mounting, iSCSI logins) goes
through its privsep daemon, not through these commands.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable
from typing import Any

from glance_store import exceptions as gs_exc
from oslo_concurrency import processutils

from glance_store_cinder.connectors.base import DeviceRules

LOG = logging.getLogger(__name__)

# Kernel names of the block devices os-brick's connectors produce, once
# resolved (by-path/by-id links and /dev/mapper names resolve to these).
DEVICE_NAME = (r"(sd[a-z]+|vd[a-z]+|xvd[a-z]+|dm-[0-9]+|nvme[0-9]+n[0-9]+"
               r"|rbd[0-9]+|scini[a-z]+|nbd[0-9]+)")
# os-brick names a share's mount point by the md5 of the export.
MOUNT_POINT_NAME = r"[0-9a-f]{32}"
# A volume file on a share: one path component, not "." or "..".
VOLUME_FILE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
UID = r"(0|[1-9][0-9]*)"

Execute = Callable[..., Any]


def umount_argv(mount_point: str) -> list[str]:
    """Filter ``glance_store_cinder_umount``."""
    return ["umount", mount_point]


def chown_argv(uid: int, path: str) -> list[str]:
    """Filters ``glance_store_cinder_chown_device`` and ``_chown_file``.

    ``-h``: should the last component be a symlink after all, the link
    changes owner, never what it points to.
    """
    return ["chown", "-h", str(uid), path]


def _full(pattern: str, text: str) -> bool:
    # fullmatch, unlike rootwrap's "$", refuses a trailing newline.
    return re.fullmatch(pattern, text) is not None


class RootCommands:
    """Runs the store's root-only commands through the root helper."""

    def __init__(self, root_helper: str, mount_point_base: str,
                 execute: Execute = processutils.execute,
                 uid: int | None = None,
                 devices: DeviceRules | None = None) -> None:
        self._root_helper = root_helper
        self._base = os.path.realpath(mount_point_base)
        self._execute = execute
        self.uid = os.geteuid() if uid is None else uid
        self._devices = devices or DeviceRules()
        self._device_root = self._devices.root

    @property
    def needed(self) -> bool:
        """Whether this process must borrow files (it is not root)."""
        return self.uid != 0

    def _run(self, argv: list[str], attempts: int = 1) -> None:
        self._execute(*argv, run_as_root=True, root_helper=self._root_helper,
                      attempts=attempts, delay_on_retry=attempts > 1)

    # -- what the filters admit, checked before asking -----------------
    def share_mount_point(self, path: str) -> str:
        """``path`` resolved, if it is a share's mount point; else raise."""
        real = os.path.realpath(path)
        parent, name = os.path.split(real)
        if parent != self._base or not _full(MOUNT_POINT_NAME, name):
            raise gs_exc.BackendException(
                "%s is not a share mount point under "
                "cinder_mount_point_base %s; not unmounting it"
                % (path, self._base))
        return real

    def borrowable(self, path: str) -> str:
        """``path`` resolved, if the chown filters admit it; else raise.

        A block device named like a volume's device directly under /dev,
        or a regular file directly in a share's mount point.
        """
        real = os.path.realpath(path)
        parent, name = os.path.split(real)
        grandparent, share = os.path.split(parent)
        if parent == self._device_root and _full(DEVICE_NAME, name):
            accepts = self._devices.accepts
        elif (grandparent == self._base and _full(MOUNT_POINT_NAME, share)
                and _full(VOLUME_FILE_NAME, name)):
            accepts = stat.S_ISREG
        else:
            accepts = None
        try:
            if accepts is not None and accepts(os.stat(real).st_mode):
                return real
        except OSError:
            pass
        raise gs_exc.BackendException(
            "%s (resolved: %s) is neither an existing volume device under "
            "%s nor a volume file in a share under cinder_mount_point_base "
            "%s; the rootwrap filters would refuse to hand it over"
            % (path, real, self._device_root, self._base))

    # -- the commands ---------------------------------------------------
    def unmount(self, mount_point: str, attempts: int = 3) -> None:
        self._run(umount_argv(self.share_mount_point(mount_point)),
                  attempts=attempts)

    def chown(self, uid: int, path: str) -> None:
        if uid < 0:
            raise gs_exc.BackendException("bad owner %d for %s"
                                          % (uid, path))
        self._run(chown_argv(uid, self.borrowable(path)))
