"""NFS (and other file-share) volumes: a raw file on a shared mount.

os-brick mounts the share on connect but never unmounts it: the share is
shared by every volume on it, and by every glance-api worker on the host.
This family keeps a reference count per share in files under the lock
directory, updated under an external lock, so the last user on the host
unmounts and no worker unmounts under another.  Holders are recorded with
their pid, so a worker that died does not pin the mount forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from glance_store_cinder.connectors.base import ConnectedDevice
from glance_store_cinder.connectors.base import DeviceFamily
from glance_store_cinder.connectors.base import UnsupportedVolume
from glance_store_cinder.connectors.base import refused


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ShareReferences:
    """Who on this host uses a share.  Callers hold the share's lock."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _load(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                holders = json.load(f)
        except FileNotFoundError:
            return []
        return [h for h in holders if _pid_alive(int(h.split(":")[0]))]

    def _save(self, holders: list[str]) -> None:
        if not holders:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        tmp = "%s.%d.tmp" % (self.path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(holders, f)
        os.replace(tmp, self.path)

    def add(self, holder: str) -> None:
        holders = self._load()
        holders.append(holder)
        self._save(holders)

    def remove(self, holder: str) -> int:
        """Drop ``holder``; return how many holders remain."""
        holders = [h for h in self._load() if h != holder]
        self._save(holders)
        return len(holders)

    def count(self) -> int:
        return len(self._load())


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
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            raise refused(volume_id, path, real, str(exc)) from exc
        if not stat.S_ISREG(mode):
            raise refused(volume_id, path, real, "it is not a regular file")
        return ConnectedDevice(path=real)

    def refresh_size(self, data: dict[str, Any]) -> None:
        # A file on a share: its new size is visible as soon as Cinder
        # has grown it; there is no device to rescan.
        return None

    def connector_kwargs(self) -> dict[str, Any]:
        return {"conn": {"mount_point_base": self.context.mount_point_base}}

    def _share_key(self, data: dict[str, Any]) -> str:
        share = str(data.get("export", ""))
        return hashlib.sha256(share.encode()).hexdigest()[:20]

    def references(self, data: dict[str, Any]) -> ShareReferences:
        os.makedirs(self.context.refs_dir, exist_ok=True)
        return ShareReferences(os.path.join(
            self.context.refs_dir, "nfs-%s.json" % self._share_key(data)))

    @contextlib.contextmanager
    def connected(self, volume_id: str, data: dict[str, Any],
                  expected_size: int,
                  keep_connected: Callable[[], bool] | None = None
                  ) -> Iterator[ConnectedDevice]:
        # The share's reference count decides about unmounting, for
        # multiattach volumes too: keep_connected is not needed here.
        lock_name = "share-%s" % self._share_key(data)
        holder = "%d:%s" % (os.getpid(), uuid.uuid4().hex)
        refs = self.references(data)
        mount_point = self.mount_point(data)
        with self.context.lock(lock_name):
            info = self.connect(volume_id, data)
            refs.add(holder)
        try:
            device = self.device_from(volume_id, info, expected_size)
            if os.path.dirname(str(device.path)) != mount_point:
                raise refused(volume_id, str(info.get("path")),
                              str(device.path),
                              "it is not in the share's mount point %s"
                              % mount_point)
            yield device
        finally:
            with self.context.lock(lock_name):
                try:
                    # Pairs the connect (a no-op for os-brick's NFS
                    # connector today, but its contract all the same).
                    self.disconnect(volume_id, data, info)
                finally:
                    if refs.remove(holder) == 0:
                        self.context.mounts.unmount(mount_point)
