"""A Cinder volume driver handing out loop devices (test tier only).

Installed by tools/openstack-aio/up into the cinder venv as
``gsc_aio_loop_driver`` and loaded as ``volume_driver =
gsc_aio_loop_driver.LoopDeviceDriver`` for the ``block`` backend.  It stands
in for a SAN: each volume is a sparse file ``<dir>/volume-<id>/disk``, and a
connection binds that file to a loop device on this host, answered as
``driver_volume_type: local`` so that os-brick's local connector hands the
device node to the caller as it would hand out an iSCSI or FC LUN.

Every connection of a volume shares one loop device.  A holder count next to
the file (``connections``) says how many connections use it; the last
``terminate_connection`` detaches the device.  The count only means something
while a loop device is bound to the file: when none is (after a reboot, or
after ``down`` detached everything), it starts again from zero.

Root commands (``losetup``) run through the driver's ``_execute`` with
``run_as_root``, as every Cinder driver does; the stack runs cinder-volume as
root, where oslo.concurrency runs them directly (no rootwrap filter for
losetup is provided).  Copies use ``cp --sparse=always`` in a subprocess so
that cinder-volume's eventlet hub keeps running during a multi-GiB clone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Callable
from typing import Any
from typing import Protocol

from cinder import exception
from cinder.volume import driver
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3
SYS_BLOCK = "/sys/block"

loop_opts = [
    cfg.StrOpt("gsc_loop_volumes_dir",
               help="Directory holding one sub-directory per volume and "
                    "snapshot (sparse files). Its filesystem's size and free "
                    "space are the backend's capacity."),
    cfg.BoolOpt("gsc_loop_direct_io", default=True,
                help="Bind loop devices with --direct-io=on, so the host "
                     "caches a volume's data once (in the device's page "
                     "cache), as with a LUN, and not a second time in the "
                     "backing file's."),
]


class Attachment(Protocol):
    connector: dict[str, Any] | None


class Volume(Protocol):
    id: str
    size: int


class Snapshot(Protocol):
    id: str
    volume_id: str
    volume_size: int


Execute = Callable[..., tuple[str, str]]


def checked_id(value: str, what: str) -> str:
    """A Cinder UUID; anything else would name a path outside the dir."""
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError) as exc:
        raise exception.InvalidInput(
            reason="%s id %r is not a UUID" % (what, value)) from exc


def loop_devices_of(path: str) -> list[str]:
    """The loop devices bound to ``path``, from sysfs (no root needed)."""
    target = os.path.realpath(path)
    found = []
    for name in sorted(os.listdir(SYS_BLOCK)):
        backing = os.path.join(SYS_BLOCK, name, "loop", "backing_file")
        try:
            with open(backing, encoding="utf-8") as f:
                bound = f.read().strip()
        except OSError:
            continue
        if bound == target:
            found.append("/dev/" + name)
    return found


# SAN LUNs appear as /dev/sdX: a loop device is handed out as a second node
# of that name, which the shipped rootwrap filters let an unprivileged
# glance-api take over (they refuse loop devices: those back host files).
LUN_NODE_PREFIX = "/dev/sdgsc"


def lun_node(loop_device: str) -> str:
    """The SCSI-disk-like name of ``/dev/loopN`` (N in base 26, a-z)."""
    number = int(loop_device[len("/dev/loop"):])
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters = chr(ord("a") + digit) + letters
        if number == 0:
            return LUN_NODE_PREFIX + letters


def make_lun_node(loop_device: str) -> str:
    """A block device node for ``loop_device`` under its LUN name."""
    node = lun_node(loop_device)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(node)
    os.mknod(node, stat.S_IFBLK | 0o600, os.stat(loop_device).st_rdev)
    return node


class HolderCount:
    """How many connections share a volume's loop device."""

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> int:
        try:
            with open(self.path, encoding="utf-8") as f:
                value = json.load(f)
        except FileNotFoundError:
            return 0
        return value if isinstance(value, int) and value > 0 else 0

    def write(self, value: int) -> None:
        if value <= 0:
            self.clear()
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class LoopDeviceDriver(driver.VolumeDriver):
    """Sparse files on the stack's disk, attached as loop devices."""

    VERSION = "1.0.0"
    PROTOCOL = "local"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(loop_opts)
        self.backend_name = (
            self.configuration.safe_get("volume_backend_name") or "loop")
        self.root = ""

    @staticmethod
    def get_driver_options() -> list[cfg.Opt]:
        return list(loop_opts)

    # -- paths ---------------------------------------------------------
    def _volume_dir(self, volume_id: str) -> str:
        return os.path.join(self.root,
                            "volume-%s" % checked_id(volume_id, "volume"))

    def _snapshot_dir(self, snapshot_id: str) -> str:
        return os.path.join(self.root,
                            "snapshot-%s" % checked_id(snapshot_id,
                                                       "snapshot"))

    def _disk(self, volume_id: str) -> str:
        return os.path.join(self._volume_dir(volume_id), "disk")

    def _holders(self, volume_id: str) -> HolderCount:
        return HolderCount(os.path.join(self._volume_dir(volume_id),
                                        "connections"))

    def local_path(self, volume: Volume) -> str:
        return self._disk(volume.id)

    # -- setup ---------------------------------------------------------
    def do_setup(self, context: Any) -> None:
        root = self.configuration.gsc_loop_volumes_dir
        if not root or not os.path.isabs(root):
            raise exception.InvalidConfigurationValue(
                option="gsc_loop_volumes_dir", value=root)
        os.makedirs(root, exist_ok=True)
        self.root = os.path.realpath(root)

    def check_for_setup_error(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise exception.VolumeBackendAPIException(
                data="gsc_loop_volumes_dir %s is not writable" % self.root)
        if not os.path.exists("/dev/loop-control"):
            raise exception.VolumeBackendAPIException(
                data="/dev/loop-control missing: no loop devices here")
        self._execute("losetup", "--version")

    # -- volumes -------------------------------------------------------
    def _new_disk(self, directory: str, size_gib: int,
                  fill: Callable[[str], None] | None = None) -> None:
        """Create ``directory/disk`` of ``size_gib``; nothing left on error.

        Opening with truncation zeroes whatever an earlier failed attempt
        left, so no data of another volume can show through.
        """
        os.makedirs(directory, exist_ok=True)
        disk = os.path.join(directory, "disk")
        try:
            if fill is None:
                with open(disk, "wb"):
                    pass
            else:
                fill(disk)
            if os.path.getsize(disk) > size_gib * GiB:
                raise exception.InvalidInput(
                    reason="source larger than %d GiB" % size_gib)
            os.truncate(disk, size_gib * GiB)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    def _copy_from(self, source: str) -> Callable[[str], None]:
        def fill(disk: str) -> None:
            self._execute("cp", "--sparse=always", "--reflink=never",
                          source, disk)
        return fill

    def create_volume(self, volume: Volume) -> None:
        self._new_disk(self._volume_dir(volume.id), volume.size)

    def create_cloned_volume(self, volume: Volume, src_vref: Volume) -> None:
        self._new_disk(self._volume_dir(volume.id), volume.size,
                       self._copy_from(self._disk(src_vref.id)))
        LOG.info("Cloned volume %s to volume %s (sparse copy, %d GiB)",
                 src_vref.id, volume.id, volume.size)

    def create_snapshot(self, snapshot: Snapshot) -> None:
        self._new_disk(self._snapshot_dir(snapshot.id), snapshot.volume_size,
                       self._copy_from(self._disk(snapshot.volume_id)))

    def create_volume_from_snapshot(self, volume: Volume,
                                    snapshot: Snapshot) -> None:
        source = os.path.join(self._snapshot_dir(snapshot.id), "disk")
        self._new_disk(self._volume_dir(volume.id), volume.size,
                       self._copy_from(source))

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        shutil.rmtree(self._snapshot_dir(snapshot.id), ignore_errors=True)

    def delete_volume(self, volume: Volume) -> None:
        with lockutils.lock("gsc-loop-%s" % volume.id):
            self._detach_all(volume.id)
            shutil.rmtree(self._volume_dir(volume.id), ignore_errors=True)

    def extend_volume(self, volume: Volume, new_size: int) -> None:
        disk = self._disk(volume.id)
        with lockutils.lock("gsc-loop-%s" % volume.id):
            if os.path.getsize(disk) > new_size * GiB:
                raise exception.InvalidInput(
                    reason="volume %s is larger than %d GiB"
                    % (volume.id, new_size))
            os.truncate(disk, new_size * GiB)
            # A bound device keeps its old size until told to re-read it.
            devices = loop_devices_of(disk)
            for device in devices:
                self._execute("losetup", "--set-capacity", device,
                              run_as_root=True)
        # The functional tests count these lines (online extends).
        LOG.info("Extended volume %s to %d GiB %s", volume.id, new_size,
                 "while attached as %s" % devices[0] if devices
                 else "(detached)")

    # -- connections ---------------------------------------------------
    def _attach(self, disk: str) -> str:
        dio = "on" if self.configuration.gsc_loop_direct_io else "off"
        out, _err = self._execute("losetup", "--find", "--show",
                                  "--direct-io=%s" % dio, disk,
                                  run_as_root=True)
        device = out.strip()
        if not device.startswith("/dev/loop"):
            raise exception.VolumeBackendAPIException(
                data="losetup answered %r for %s" % (device, disk))
        return device

    def _detach_all(self, volume_id: str) -> None:
        for device in loop_devices_of(self._disk(volume_id)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lun_node(device))
            # A device still open elsewhere is detached when last closed.
            self._execute("losetup", "--detach", device, run_as_root=True)
        self._holders(volume_id).clear()

    def initialize_connection(self, volume: Volume, connector: Any,
                              **kwargs: Any) -> dict[str, Any]:
        disk = self._disk(volume.id)
        if not os.path.exists(disk):
            raise exception.VolumeBackendAPIException(
                data="volume %s has no backing file %s" % (volume.id, disk))
        holders = self._holders(volume.id)
        with lockutils.lock("gsc-loop-%s" % volume.id):
            devices = loop_devices_of(disk)
            if devices:
                device, count = devices[0], holders.read()
            else:
                device, count = self._attach(disk), 0
            holders.write(count + 1)
            node = make_lun_node(device)
        LOG.info("Connected volume %s as %s (%s, %d connection(s))",
                 volume.id, node, device, count + 1)
        return {"driver_volume_type": self.PROTOCOL,
                "data": {"device_path": node}}

    def terminate_connection(self, volume: Volume, connector: Any,
                             **kwargs: Any) -> bool:
        """Drop one connection; True when others still use the device.

        Without a connector (a forced detach of every attachment) the
        device goes regardless of the count.
        """
        disk = self._disk(volume.id)
        holders = self._holders(volume.id)
        with lockutils.lock("gsc-loop-%s" % volume.id):
            remaining = holders.read() - 1
            if connector and remaining > 0 and loop_devices_of(disk):
                holders.write(remaining)
                return True
            self._detach_all(volume.id)
            return False

    def validate_connector(self, connector: Any) -> None:
        return None

    def ensure_export(self, context: Any, volume: Volume) -> None:
        return None

    def create_export(self, context: Any, volume: Volume,
                      connector: Any) -> None:
        return None

    def remove_export(self, context: Any, volume: Volume) -> None:
        return None

    # -- stats ---------------------------------------------------------
    def _provisioned(self) -> tuple[int, int]:
        """(bytes promised to volumes and snapshots, number of volumes)."""
        total = volumes = 0
        for name in os.listdir(self.root):
            try:
                total += os.path.getsize(os.path.join(self.root, name,
                                                      "disk"))
            except OSError:
                continue
            volumes += name.startswith("volume-")
        return total, volumes

    def _update_volume_stats(self) -> None:
        fs = os.statvfs(self.root)
        provisioned, volumes = self._provisioned()
        pool = {
            "pool_name": self.backend_name,
            "total_capacity_gb": round(fs.f_blocks * fs.f_frsize / GiB, 2),
            "free_capacity_gb": round(fs.f_bavail * fs.f_frsize / GiB, 2),
            "provisioned_capacity_gb": round(provisioned / GiB, 2),
            "reserved_percentage": self.configuration.reserved_percentage,
            "max_over_subscription_ratio":
                self.configuration.max_over_subscription_ratio,
            "thin_provisioning_support": True,
            "thick_provisioning_support": False,
            "total_volumes": volumes,
            "multiattach": True,
            "online_extend_support": True,
            "QoS_support": False,
            "backend_state": "up",
            "location_info": "LoopDeviceDriver:%s" % self.root,
        }
        self._stats = {
            "volume_backend_name": self.backend_name,
            "vendor_name": "glance_store_cinder test tier",
            "driver_version": self.VERSION,
            "storage_protocol": self.PROTOCOL,
            "sparse_copy_volume": True,
            "pools": [pool],
        }
