"""Drive loop_volume_driver.LoopDeviceDriver without a stack (as root).

Run it with the cinder venv's python (it imports Cinder), from anywhere:

    $GSC_AIO_DIR/venv/cinder/bin/python check_loop_driver.py

Volumes live in a temporary directory; every loop device the driver binds
is checked and, whatever happens, detached before the script ends.  Prints
one JSON line of figures and exits 0 when every check passed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import loop_volume_driver as lvd  # noqa: E402
from cinder import exception  # noqa: E402
from cinder.volume import configuration  # noqa: E402
from cinder.volume import driver as base_driver  # noqa: E402
from oslo_config import cfg  # noqa: E402

GiB = 1024 ** 3
MiB = 1024 ** 2
CONNECTOR = {"host": "check", "initiator": None}


@dataclasses.dataclass
class FakeVolume:
    size: int
    id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))


@dataclasses.dataclass
class FakeSnapshot:
    volume_id: str
    volume_size: int
    id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))


def make_driver(root: str) -> lvd.LoopDeviceDriver:
    cfg.CONF([], project="cinder")
    conf = configuration.Configuration(base_driver.volume_opts,
                                       config_group="check")
    conf.append_config_values(lvd.loop_opts)
    cfg.CONF.set_override("gsc_loop_volumes_dir", root, group="check")
    cfg.CONF.set_override("volume_backend_name", "check", group="check")
    drv = lvd.LoopDeviceDriver(configuration=conf)
    drv.do_setup(None)
    drv.check_for_setup_error()
    return drv


def device_size(path: str) -> int:
    with open(path, "rb") as device:
        return device.seek(0, os.SEEK_END)


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def write_at(path: str, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_at(path: str, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def devices_under(root: str) -> list[str]:
    """Loop devices whose backing file is under ``root``."""
    out = []
    for name in os.listdir(lvd.SYS_BLOCK):
        try:
            with open(os.path.join(lvd.SYS_BLOCK, name, "loop",
                                   "backing_file")) as f:
                if f.read().strip().startswith(root + "/"):
                    out.append("/dev/" + name)
        except OSError:
            continue
    return sorted(out)


def bound_total() -> int:
    """Bound loop devices on the host (the stack's own included)."""
    return sum(os.path.exists(os.path.join(lvd.SYS_BLOCK, n, "loop"))
               for n in os.listdir(lvd.SYS_BLOCK))


def connections(drv: lvd.LoopDeviceDriver, root: str,
                figures: dict[str, Any]) -> None:
    vol = FakeVolume(size=1)
    drv.create_volume(vol)
    disk = drv.local_path(vol)
    assert os.path.getsize(disk) == GiB and allocated(disk) == 0

    first = drv.initialize_connection(vol, CONNECTOR)
    second = drv.initialize_connection(vol, CONNECTOR)
    assert first["driver_volume_type"] == "local", first
    device = first["data"]["device_path"]
    assert second["data"]["device_path"] == device, (first, second)
    (loop,) = devices_under(root)
    assert device == lvd.lun_node(loop), (device, loop)
    assert os.stat(device).st_rdev == os.stat(loop).st_rdev
    assert device_size(device) == GiB
    marker = os.urandom(MiB)
    write_at(device, GiB - MiB, marker)

    start = time.monotonic()
    drv.extend_volume(vol, 3)
    figures["extend_attached_s"] = round(time.monotonic() - start, 3)
    assert device_size(device) == 3 * GiB, device_size(device)
    write_at(device, 3 * GiB - MiB, marker)
    assert read_at(disk, GiB - MiB, MiB) == marker
    assert read_at(disk, 3 * GiB - MiB, MiB) == marker

    assert drv.terminate_connection(vol, CONNECTOR) is True
    assert devices_under(root) == [loop], "detached under a user"
    assert drv.terminate_connection(vol, CONNECTOR) is False
    assert devices_under(root) == []
    assert not os.path.exists(device), "LUN node %s left" % device
    # A terminate with nothing bound (a retry) is harmless.
    assert drv.terminate_connection(vol, CONNECTOR) is False

    # After an outside detach (down, reboot) the count starts afresh.
    drv.initialize_connection(vol, CONNECTOR)
    drv.initialize_connection(vol, CONNECTOR)
    subprocess.run(["losetup", "--detach"] + devices_under(root),
                   check=True)
    drv.initialize_connection(vol, CONNECTOR)
    assert drv.terminate_connection(vol, CONNECTOR) is False
    assert devices_under(root) == []

    # A forced detach (no connector) goes whatever the count.
    drv.initialize_connection(vol, CONNECTOR)
    drv.initialize_connection(vol, CONNECTOR)
    assert drv.terminate_connection(vol, None, force=True) is False
    assert devices_under(root) == []

    clones(drv, vol, marker, figures)
    drv.initialize_connection(vol, CONNECTOR)
    drv.delete_volume(vol)  # detaches too
    assert devices_under(root) == []
    assert not os.path.exists(os.path.dirname(disk))
    drv.delete_volume(vol)  # already gone: fine


def clones(drv: lvd.LoopDeviceDriver, vol: FakeVolume, marker: bytes,
           figures: dict[str, Any]) -> None:
    disk = drv.local_path(vol)
    clone = FakeVolume(size=4)
    start = time.monotonic()
    drv.create_cloned_volume(clone, vol)
    figures["clone_3gib_s"] = round(time.monotonic() - start, 3)
    copy = drv.local_path(clone)
    assert os.path.getsize(copy) == 4 * GiB
    assert allocated(copy) <= allocated(disk) + MiB, \
        (allocated(copy), allocated(disk))
    figures["clone_allocated_mib"] = allocated(copy) // MiB
    assert read_at(copy, 3 * GiB - MiB, MiB) == marker

    snap = FakeSnapshot(volume_id=vol.id, volume_size=3)
    drv.create_snapshot(snap)
    write_at(disk, GiB - MiB, b"\0" * MiB)  # the snapshot must not change
    from_snap = FakeVolume(size=3)
    drv.create_volume_from_snapshot(from_snap, snap)
    assert read_at(drv.local_path(from_snap), GiB - MiB, MiB) == marker
    drv.delete_snapshot(snap)

    too_small = FakeVolume(size=1)
    try:
        drv.create_cloned_volume(too_small, vol)
    except exception.InvalidInput:
        pass
    else:
        raise AssertionError("clone into a smaller volume accepted")
    assert not os.path.exists(os.path.dirname(drv.local_path(too_small)))

    stats = drv.get_volume_stats(refresh=True)
    pool = stats["pools"][0]
    figures["stats"] = {k: pool[k] for k in (
        "total_capacity_gb", "free_capacity_gb", "provisioned_capacity_gb",
        "total_volumes")}
    assert pool["provisioned_capacity_gb"] == 3 + 4 + 3, pool
    assert pool["total_volumes"] == 3, pool
    assert 0 < pool["free_capacity_gb"] <= pool["total_capacity_gb"]
    assert pool["thin_provisioning_support"] and pool["multiattach"]
    for v in (clone, from_snap):
        drv.delete_volume(v)


def bad_input(drv: lvd.LoopDeviceDriver) -> None:
    try:
        drv.create_volume(FakeVolume(size=1, id="../escape"))
    except exception.InvalidInput:
        return
    raise AssertionError("a volume id that is no UUID was accepted")


def main() -> int:
    if os.geteuid() != 0:
        print("run as root (loop devices)", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="gsc-loop-check-",
                            dir=os.environ.get("GSC_LOOP_CHECK_DIR",
                                               "/var/tmp"))
    figures: dict[str, Any] = {"host_loop_devices_before": bound_total()}
    try:
        drv = make_driver(root)
        bad_input(drv)
        connections(drv, root, figures)
    finally:
        left = devices_under(root)
        figures["left_behind"] = left
        figures["host_loop_devices_after"] = bound_total()
        if left:
            subprocess.run(["losetup", "--detach"] + left, check=False)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures))
    assert not left, "loop devices left behind: %s" % left
    return 0


if __name__ == "__main__":
    sys.exit(main())
