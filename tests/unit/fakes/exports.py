"""How a FakeCloud volume shows up on this host, per os-brick protocol.

* LOCAL: the backing file's path (``device_path`` in the connection).
* NFS: the file on the share; connecting mounts the share (the backing
  directory stands for the mount point), which the store must unmount.
* RBD without local attach: os-brick opens the image with librbd and
  returns a file object; disconnecting closes it.
* SCALEIO: a device node that first shows size 0 and only after a poll
  or two the volume's size, as the kernel catches up; disconnecting
  removes it.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any
from typing import Protocol

from os_brick.initiator import linuxrbd

from tests.unit.fakes.cinder.model import FakeVolume
from tests.unit.fakes.cloud import FakeCloud


class ShareMounts(Protocol):
    """Where the fake records a share mounted on connect."""

    def mount(self, mount_point: str) -> None: ...


class FileRbdImage:
    """What librbd's Image offers os-brick's wrapper, over a backing file."""

    def __init__(self, path: pathlib.Path, writable: bool) -> None:
        self.name = str(path)
        self._fd: int | None = os.open(
            path, os.O_RDWR if writable else os.O_RDONLY)

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError("image %s is closed" % self.name)
        return self._fd

    def size(self) -> int:
        return os.fstat(self._open_fd()).st_size

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._open_fd(), length, offset)

    def write(self, data: bytes, offset: int) -> None:
        os.pwrite(self._open_fd(), data, offset)

    def require_not_closed(self) -> None:
        self._open_fd()

    def flush(self) -> None:
        os.fsync(self._open_fd())

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class FileRbdVolume:
    """os-brick's RBDImageMetadata: the image and how it was reached."""

    def __init__(self, image: FileRbdImage) -> None:
        self.image = image
        self.user = "glance"
        self.pool = "volumes"
        self.conf = ""


class RbdHandle(linuxrbd.RBDVolumeIOWrapper):
    """The file object os-brick's RBD connector hands back."""

    @property
    def name(self) -> str:
        return self.rbd_image.name


class Export:
    """The LOCAL case; the other protocols change what differs."""

    required: tuple[str, ...] = ("device_path",)

    def __init__(self, cloud: FakeCloud, host: HostState) -> None:
        self.cloud = cloud
        self.host = host

    def where(self, props: dict[str, Any]) -> str:
        return str(props["device_path"])

    def find(self, props: dict[str, Any]) -> FakeVolume | None:
        return self.cloud.volume_by_backing_path(str(props["device_path"]))

    def attach(self, vol: FakeVolume, props: dict[str, Any],
               options: dict[str, Any]) -> dict[str, Any]:
        return {"type": "local", "path": str(vol.backing_path)}

    def detach(self, vol: FakeVolume, device_info: dict[str, Any] | None
               ) -> None:
        """Nothing to undo for a local path."""


class NfsExport(Export):
    required = ("export", "name")

    def where(self, props: dict[str, Any]) -> str:
        return "%s/%s" % (props["export"], props["name"])

    def find(self, props: dict[str, Any]) -> FakeVolume | None:
        return self.cloud.volume_by_backend_name(str(props["name"]))

    def attach(self, vol: FakeVolume, props: dict[str, Any],
               options: dict[str, Any]) -> dict[str, Any]:
        # Where os-brick's NFS connector shows the volume file: the
        # share's mount point (the md5 of the export under the mount point
        # base it was given) joined with Cinder's name, unchecked, as
        # os-brick does; the "mount" is a hard link to the backing file.
        base = str(options["conn"]["mount_point_base"])
        mount_point = os.path.join(base, hashlib.md5(
            str(props["export"]).encode(), usedforsecurity=False).hexdigest())
        os.makedirs(mount_point, exist_ok=True)
        if self.host.mounts is not None:
            self.host.mounts.mount(mount_point)
        path = os.path.join(mount_point, str(props["name"]))
        if not os.path.lexists(path):
            os.link(vol.backing_path, path)
        return {"path": path}


class RbdExport(Export):
    required = ("name",)

    def where(self, props: dict[str, Any]) -> str:
        return str(props["name"])

    def find(self, props: dict[str, Any]) -> FakeVolume | None:
        return self.cloud.volume_by_backend_name(
            str(props["name"]).rsplit("/", 1)[-1])

    def attach(self, vol: FakeVolume, props: dict[str, Any],
               options: dict[str, Any]) -> dict[str, Any]:
        image = FileRbdImage(vol.backing_path,
                             writable=props.get("access_mode") != "ro")
        handle = RbdHandle(FileRbdVolume(image))
        self.host.handles.add(handle)
        self.host.handles_opened += 1
        return {"path": handle}

    def detach(self, vol: FakeVolume, device_info: dict[str, Any] | None
               ) -> None:
        handle = (device_info or {}).get("path")
        if isinstance(handle, RbdHandle):
            handle.close()
            self.host.handles.discard(handle)


class ScaleIOExport(Export):
    required = ("scaleIO_volname",)

    def where(self, props: dict[str, Any]) -> str:
        return str(props["scaleIO_volname"])

    def find(self, props: dict[str, Any]) -> FakeVolume | None:
        return self.cloud.volume_by_backend_name(
            str(props["scaleIO_volname"]))

    def _node(self, props: dict[str, Any]) -> pathlib.Path:
        return self.host.device_dir / ("emc-vol-%s"
                                       % props["scaleIO_volname"])

    def attach(self, vol: FakeVolume, props: dict[str, Any],
               options: dict[str, Any]) -> dict[str, Any]:
        node = self._node(props)
        self.host.device_dir.mkdir(parents=True, exist_ok=True)
        node.write_bytes(b"")  # there, but the kernel says 0 bytes
        self.host.growing[node] = (vol.backing_path,
                                   self.host.polls_until_sized)
        return {"type": "block", "scaleIO_volname": props["scaleIO_volname"],
                "path": str(node)}

    def detach(self, vol: FakeVolume, device_info: dict[str, Any] | None
               ) -> None:
        node = pathlib.Path(str((device_info or {}).get("path", "")))
        self.host.growing.pop(node, None)
        if node.parent == self.host.device_dir:
            node.unlink(missing_ok=True)


class HostState:
    """What connecting left on this host: mounts, handles, device nodes."""

    def __init__(self, device_dir: pathlib.Path,
                 mounts: ShareMounts | None) -> None:
        self.device_dir = device_dir
        self.mounts = mounts
        self.handles: set[RbdHandle] = set()
        self.handles_opened = 0
        self.growing: dict[pathlib.Path, tuple[pathlib.Path, int]] = {}
        self.polls_until_sized = 1
        """Ticks of the clock before a new device node shows its size."""

    def tick(self) -> None:
        """Time passes: device nodes get closer to their real size."""
        for node, (target, polls) in list(self.growing.items()):
            if polls > 1:
                self.growing[node] = (target, polls - 1)
                continue
            del self.growing[node]
            node.unlink(missing_ok=True)
            node.symlink_to(target)

    def leftovers(self) -> list[str]:
        problems = ["open rbd handle on %s" % h.name for h in self.handles
                    if not h.closed]
        if self.device_dir.is_dir():
            problems += ["device node %s" % node
                         for node in sorted(self.device_dir.iterdir())]
        return problems


EXPORTS: dict[str, type[Export]] = {
    "LOCAL": Export, "NFS": NfsExport, "RBD": RbdExport,
    "SCALEIO": ScaleIOExport}
