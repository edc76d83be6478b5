"""NFS (and other file-share) volumes: a raw file on a shared mount.

os-brick mounts the share on connect but never unmounts it: the share is
shared by every volume on it, and by every glance-api worker on the host.
The holders of a share are the live ``connection`` records of the host's
journal for that share; connecting and disconnecting run under the share's
external lock, and the last holder out unmounts.  A holder that died is
not live (its owner is judged by pid and start time), so it never pins the
mount, and recovery replays its record.  There is no reference file to
lose or corrupt: the records are written atomically, and a damaged one is
moved aside and stops counting.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from typing import Any

from glance_store_cinder import journal as jr
from glance_store_cinder.connectors.base import ConnectedDevice
from glance_store_cinder.connectors.base import DeviceFamily
from glance_store_cinder.connectors.base import UnsupportedVolume
from glance_store_cinder.connectors.base import refused
from glance_store_cinder.connectors.base import resolved_device

LOG = logging.getLogger(__name__)


def share_of(data: dict[str, Any]) -> str:
    return str(data.get("export", ""))


def share_lock_name(share: str) -> str:
    return "share-%s" % hashlib.sha256(share.encode()).hexdigest()[:20]


class NfsFamily(DeviceFamily):

    def check(self, volume_id: str, data: dict[str, Any]) -> None:
        super().check(volume_id, data)
        fmt = data.get("format") or "raw"
        if fmt != "raw":
            raise UnsupportedVolume(
                "Volume %s is a %s file on its share; the store reads and "
                "writes raw bytes only and would corrupt it, refusing it"
                % (volume_id, fmt))
        name = data.get("name")
        # os-brick joins the name to the mount point as given.
        if (not isinstance(name, str) or not name or "/" in name
                or ".." in name or "\0" in name):
            raise UnsupportedVolume(
                "Volume %s: Cinder named its file on the share %r, which "
                "is not a plain file name; refusing it" % (volume_id, name))

    def mount_point(self, data: dict[str, Any]) -> str:
        """Where os-brick mounts the share: the md5 of the export."""
        export = str(data.get("export", "")).encode()
        return os.path.join(
            os.path.realpath(self.context.mount_point_base),
            hashlib.md5(export, usedforsecurity=False).hexdigest())

    def device_from(self, volume_id: str, info: dict[str, Any],
                    expected_size: int) -> ConnectedDevice:
        """The volume file, if it really is the share's file of that name.

        Resolved, so a symlink on the share cannot point the image bytes
        at a file of this host.
        """
        path = info.get("path")
        if not isinstance(path, str):
            raise UnsupportedVolume(
                "os-brick returned no file path for NFS volume %s"
                % volume_id)
        real = os.path.realpath(path)
        parent = os.path.dirname(real)
        if os.path.dirname(parent) != os.path.realpath(
                self.context.mount_point_base):
            raise refused(volume_id, path, real,
                          "it is not in a share mounted under "
                          "cinder_mount_point_base %s"
                          % self.context.mount_point_base)
        return resolved_device(volume_id, path, real, stat.S_ISREG,
                               "a regular file")

    def refresh_size(self, data: dict[str, Any]) -> None:
        # A file on a share: its new size is visible as soon as Cinder
        # has grown it; there is no device to rescan.
        return None

    def connector_kwargs(self) -> dict[str, Any]:
        return {"conn": {"mount_point_base": self.context.mount_point_base}}

    def open_connection(self, volume_id: str, data: dict[str, Any],
                        expected_size: int, parent: jr.Record | None = None,
                        *, owned: bool = True, shared: bool = False
                        ) -> tuple[jr.Record, ConnectedDevice,
                                   dict[str, Any]]:
        # The share's holders decide about unmounting, for multiattach
        # volumes too: a file on a share has no device to keep.
        share = share_of(data)
        journal = self.context.journal
        mount_point = self.mount_point(data)
        with self.context.lock(share_lock_name(share)):
            with jr.recorded(journal, jr.CONNECTION, parent, owned=owned,
                             volume_id=volume_id, protocol=self.protocol,
                             properties=data, share=share,
                             mount_point=mount_point) as record:
                info = self.connect(volume_id, data)
            journal.update(record, device=_path_only(info))
        try:
            device = self.device_from(volume_id, info, expected_size)
            if os.path.dirname(str(device.path)) != mount_point:
                raise refused(volume_id, str(info.get("path")),
                              str(device.path),
                              "it is not in the share's mount point %s"
                              % mount_point)
        except BaseException as exc:
            self._close_logged(record, exc, shared, info)
            raise
        return record, device, info

    def close(self, record: jr.Record, shared: bool = False,
              info: dict[str, Any] | None = None) -> None:
        share = str(record.get("share"))
        with self.context.lock(share_lock_name(share)):
            try:
                # Pairs the connect (a no-op for os-brick's NFS connector
                # today, but its contract all the same).
                self.release(record, info)
            finally:
                self.unmount_if_unheld(share,
                                       record.get("mount_point"))

    def unmount_if_unheld(self, share: str, mount_point: Any) -> bool:
        """Unmount when no live holder is left.  Caller holds the lock."""
        if not isinstance(mount_point, str) or not mount_point:
            return False
        journal = self.context.journal
        holders = [r for r in journal.all_records()
                   if r.kind == jr.CONNECTION and r.get("share") == share
                   and journal.in_use(r)]
        if holders:
            return False
        self.context.mounts.unmount(mount_point)
        return True


def _path_only(info: dict[str, Any]) -> dict[str, Any]:
    path = info.get("path")
    return {"path": path} if isinstance(path, str) else {}
