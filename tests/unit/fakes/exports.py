"""How a FakeCloud volume shows up on this host, per os-brick protocol.

* LOCAL: the backing file's path (``device_path`` in the connection).
* NFS: the file on the share where os-brick puts it (the md5 of the export
  under the connector's mount point base; the "mount" is a hard link to
  the backing file); connecting mounts the share, the store must unmount
  it.
* RBD without local attach: os-brick opens the image with librbd and
  returns its file object (``RBDVolumeIOWrapper``, here over a
  :class:`FakeRbdImage` of the backing file); disconnecting closes it.
* SCALEIO: a device node (a symlink under ``device_dir``, as
  ``/dev/disk/by-id/emc-vol-*`` is) to the kernel's device (a file beside
  the backing files) that first shows size 0 and only after time passes
  the volume's size (then it is a hard link to the backing file), as the
  kernel catches up; disconnecting removes both.
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


class FakeRbdImage:
    """What librbd's Image offers RBDVolumeIOWrapper, over a file."""

    def __init__(self, path: str | os.PathLike[str], writable: bool) -> None:
        self.name = os.path.basename(path)
        self._fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
        self.closed = False

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def write(self, data: bytes, offset: int) -> None:
        os.pwrite(self._fd, data, offset)  # EBADF when opened read-only

    def require_not_closed(self) -> None:
        """Never closed behind the wrapper's back here."""

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._fd)


class FakeRbdVolume:
    """What RBDVolumeIOWrapper wraps: os-brick's RBDImageMetadata."""

    def __init__(self, image: FakeRbdImage) -> None:
        self.image = image
        self.user = "cinder"
        self.pool = "volumes"
        self.conf = "/etc/ceph/ceph.conf"


def rbd_handle(path: str | os.PathLike[str], writable: bool
               ) -> linuxrbd.RBDVolumeIOWrapper:
    """The file object os-brick's RBD connector returns for an image."""
    return linuxrbd.RBDVolumeIOWrapper(
        FakeRbdVolume(FakeRbdImage(path, writable)))


class Export:
    """The LOCAL case; the other protocols change what differs."""

    required: tuple[str, ...] = ("device_path",)

    def __init__(self, cloud: FakeCloud, host: HostState,
                 connector_kwargs: dict[str, Any]) -> None:
        self.cloud = cloud
        self.host = host
        self.connector_kwargs = connector_kwargs

    def where(self, props: dict[str, Any]) -> str:
        return str(props["device_path"])

    def find(self, props: dict[str, Any]) -> FakeVolume | None:
        return self.cloud.volume_by_backing_path(str(props["device_path"]))

    def attach(self, vol: FakeVolume, props: dict[str, Any]
               ) -> dict[str, Any]:
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

    def attach(self, vol: FakeVolume, props: dict[str, Any]
               ) -> dict[str, Any]:
        base = str(self.connector_kwargs["conn"]["mount_point_base"])
        mount_point = os.path.join(base, hashlib.md5(
            str(props["export"]).encode(), usedforsecurity=False).hexdigest())
        os.makedirs(mount_point, exist_ok=True)
        if self.host.mounts is not None:
            self.host.mounts.mount(mount_point)
        # Joined unchecked, as os-brick does.
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

    def attach(self, vol: FakeVolume, props: dict[str, Any]
               ) -> dict[str, Any]:
        handle = rbd_handle(vol.backing_path,
                            writable=props.get("access_mode") != "ro")
        self.host.handles.add(handle)
        self.host.handles_opened += 1
        return {"path": handle}

    def detach(self, vol: FakeVolume, device_info: dict[str, Any] | None
               ) -> None:
        handle = (device_info or {}).get("path")
        if isinstance(handle, linuxrbd.RBDVolumeIOWrapper):
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

    def attach(self, vol: FakeVolume, props: dict[str, Any]
               ) -> dict[str, Any]:
        node = self._node(props)
        kernel = vol.backing_path.with_name("scini-%s" % vol.id)
        kernel.write_bytes(b"")  # there, but the kernel says 0 bytes
        self.host.device_dir.mkdir(parents=True, exist_ok=True)
        node.unlink(missing_ok=True)
        node.symlink_to(kernel)
        self.host.devices[node] = kernel
        self.host.growing[kernel] = (vol.backing_path,
                                     self.host.polls_until_sized)
        return {"type": "block", "scaleIO_volname": props["scaleIO_volname"],
                "path": str(node)}

    def detach(self, vol: FakeVolume, device_info: dict[str, Any] | None
               ) -> None:
        node = pathlib.Path(str((device_info or {}).get("path", "")))
        kernel = self.host.devices.pop(node, None)
        if kernel is not None:
            self.host.growing.pop(kernel, None)
            kernel.unlink(missing_ok=True)
            node.unlink(missing_ok=True)


class HostState:
    """What connecting left on this host: mounts, handles, device nodes."""

    def __init__(self, device_dir: pathlib.Path,
                 mounts: ShareMounts | None) -> None:
        self.device_dir = device_dir
        self.mounts = mounts
        self.handles: set[linuxrbd.RBDVolumeIOWrapper] = set()
        self.handles_opened = 0
        self.devices: dict[pathlib.Path, pathlib.Path] = {}
        """Device node -> the kernel's device it links to."""
        self.growing: dict[pathlib.Path, tuple[pathlib.Path, int]] = {}
        self.polls_until_sized = 1
        """Ticks of the clock before a new device node shows its size."""

    def tick(self) -> None:
        """Time passes: devices get closer to showing their real size."""
        for kernel, (target, polls) in list(self.growing.items()):
            if polls > 1:
                self.growing[kernel] = (target, polls - 1)
                continue
            del self.growing[kernel]
            kernel.unlink(missing_ok=True)
            os.link(target, kernel)

    def leftovers(self) -> list[str]:
        problems = ["open rbd handle on %s" % h.rbd_image.name
                    for h in self.handles if not h.closed]
        if self.device_dir.is_dir():
            problems += ["device node %s" % node
                         for node in sorted(self.device_dir.iterdir())]
        problems += ["kernel device %s" % kernel
                     for kernel in self.devices.values() if kernel.exists()]
        return problems


EXPORTS: dict[str, type[Export]] = {
    "LOCAL": Export, "NFS": NfsExport, "RBD": RbdExport,
    "SCALEIO": ScaleIOExport}
