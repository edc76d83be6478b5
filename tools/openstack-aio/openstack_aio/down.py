"""down: stop what up recorded, unmount, detach; keeps the state."""

from __future__ import annotations

import contextlib
import os
import shutil
import time

from openstack_aio.block import detach_block_devices
from openstack_aio.export import EXPORTS
from openstack_aio.export import is_mounted
from openstack_aio.export import loops_of
from openstack_aio.export import mounts_under
from openstack_aio.paths import P
from openstack_aio.processes import Service
from openstack_aio.second_host import stop as stop_second_host
from openstack_aio.services import STOP_ORDER
from openstack_aio.services import services
from openstack_aio.settings import HELPER_MARK
from openstack_aio.settings import MOUNT_HELPER
from openstack_aio.settings import AioError
from openstack_aio.settings import say
from openstack_aio.unprivileged import remove_privileges
from openstack_aio.util import mkdirs
from openstack_aio.util import run


def umount(path: str, log: str) -> None:
    out = run(["umount", path], log=log, check=False)
    if out.returncode != 0:
        say("umount %s failed (%s): lazy unmount" % (
            path, out.stderr.strip()))
        run(["umount", "-l", path], log=log, check=False)


def stop_group(svc: dict[str, Service], group: tuple[str, ...]) -> None:
    """Signal a group of services together, then wait for each."""
    t1 = time.monotonic()
    pids = {n: svc[n].signal_stop() for n in group}
    for n in group:
        svc[n].wait_stopped(pids[n])
    if any(pids.values()):
        say("phase stop-%s %.2fs" % ("+".join(
            n for n in group if pids[n]), time.monotonic() - t1))


def detach_image(img: str, mount_point: str, log: str) -> None:
    while is_mounted(mount_point):
        umount(mount_point, log)
    for dev in loops_of(img) if os.path.exists(img) else []:
        run(["losetup", "-d", dev], log=log, check=False)


def remove_mount_helper() -> None:
    if not os.path.exists(MOUNT_HELPER):
        return
    with open(MOUNT_HELPER, errors="replace") as f:
        ours = HELPER_MARK in f.read()
    if ours:
        os.unlink(MOUNT_HELPER)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(MOUNT_HELPER))


def unmount_all(log: str) -> None:
    """Share mounts first (deepest first), then the export itself."""
    t1 = time.monotonic()
    exports = {e.mount_point for e in EXPORTS.values()} | {
        e.tmpfs for e in EXPORTS.values() if e.tmpfs}
    for mp in sorted(set(mounts_under(P.state)), key=len, reverse=True):
        if mp not in exports:
            umount(mp, log)
    for export in EXPORTS.values():
        detach_image(export.image, export.mount_point, log)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(P.run, export.loop_record))
        if export.tmpfs and is_mounted(export.tmpfs):
            # Its image goes with it: the next up makes a new one.
            umount(export.tmpfs, log)
    stuck = detach_block_devices(log)
    if stuck:
        say("block backend loop devices still bound: %s" % stuck)
    remove_mount_helper()
    remove_privileges()
    say("phase unmount %.2fs" % (time.monotonic() - t1))


def cmd_down(purge: bool) -> None:
    t0 = time.monotonic()
    if not os.path.isdir(P.state):
        say("nothing at %s" % P.state)
        say("down total %.2fs" % (time.monotonic() - t0))
        return
    mkdirs(P.log, P.run)
    log = P.logfile("down.log")
    stop_second_host()
    svc = services()
    for group in STOP_ORDER:
        stop_group(svc, group)
    unmount_all(log)
    left = mounts_under(P.state)
    if purge:
        if left:
            raise AioError("not purging %s: still mounted: %s" % (
                P.state, left))
        shutil.rmtree(P.state)
        say("removed %s" % P.state)
    say("down total %.2fs" % (time.monotonic() - t0))
    if left:
        raise AioError("still mounted: %s" % left)
