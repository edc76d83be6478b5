"""Unmounting the shares this store mounted, decided by the mount table.

Whether a share is still mounted is read from the kernel's mount table
(``/proc/self/mountinfo``), never from umount's (translated) messages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re

from glance_store import exceptions as gs_exc
from oslo_concurrency import processutils

from glance_store_cinder.privileged import RootCommands

LOG = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash as \\ooo.
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


class MountTable:
    """The mount points of this process's mount namespace."""

    def __init__(self, path: str = MOUNTINFO) -> None:
        self.path = path

    def mount_points(self) -> set[str]:
        with open(self.path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
        # Fields: id, parent id, major:minor, root, mount point, ...
        return {_unescape(fields[4]) for fields in
                (line.split(" ") for line in lines) if len(fields) > 4}

    def is_mounted(self, path: str) -> bool:
        return os.path.realpath(path) in self.mount_points()


class SystemMounts:
    """Unmounts shares with the root helper and removes the mount point."""

    def __init__(self, commands: RootCommands,
                 table: MountTable | None = None, attempts: int = 3) -> None:
        self._commands = commands
        self._table = table or MountTable()
        self._attempts = attempts

    def unmount(self, mount_point: str) -> None:
        if self._table.is_mounted(mount_point):
            try:
                self._commands.unmount(mount_point, attempts=self._attempts)
            except (processutils.ProcessExecutionError,
                    gs_exc.BackendException) as exc:
                if self._table.is_mounted(mount_point):
                    # The image data is safe; a busy share stays mounted.
                    LOG.error("Could not unmount %s: %s", mount_point, exc)
                    return
                LOG.debug("%s was unmounted by someone else", mount_point)
        with contextlib.suppress(OSError):
            os.rmdir(mount_point)
