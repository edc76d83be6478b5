"""The NFS exports: sparse ext4 images on loop devices (direct I/O to
their image), mounted with discard, served by the mount.nfs stand-in (a
large one for the stores, a small one that fills up, and one whose image
is in RAM)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from openstack_aio.paths import MOUNT_BASES
from openstack_aio.paths import P
from openstack_aio.settings import EXPORT_SIZE
from openstack_aio.settings import HELPER_MARK
from openstack_aio.settings import HERE
from openstack_aio.settings import MOUNT_HELPER
from openstack_aio.settings import SMALL_EXPORT_SIZE
from openstack_aio.settings import TMPFS_EXPORT_SIZE
from openstack_aio.settings import TMPFS_SIZE
from openstack_aio.settings import AioError
from openstack_aio.util import mkdirs
from openstack_aio.util import run
from openstack_aio.util import write_if_changed


def mountinfo() -> list[tuple[str, str]]:
    """List of (mount point, source) from /proc/self/mountinfo."""
    result = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            mp = parts[4].encode().decode("unicode_escape")
            result.append((mp, parts[sep + 2]))
    return result


def is_mounted(path: str) -> bool:
    return any(mp == path for mp, _ in mountinfo())


def mounts_under(top: str) -> list[str]:
    prefix = top.rstrip("/") + "/"
    return [mp for mp, _ in mountinfo() if mp.startswith(prefix)]


def loops_of(img: str) -> list[str]:
    out = subprocess.run(["losetup", "-j", img, "-O", "NAME", "-n"],
                         capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def make_image(img: str, size: str, label: str, log: str) -> None:
    run(["truncate", "-s", size, img + ".new"], log=log)
    run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E",
         "nodiscard,lazy_itable_init=1", "-L", label, img + ".new"], log=log)
    os.replace(img + ".new", img)


def mount_image(img: str, mount_point: str, log: str) -> str:
    """Mount ``img`` at ``mount_point`` (reusing what is left); its loop."""
    loops = loops_of(img)
    if is_mounted(mount_point):
        src = [s for mp, s in mountinfo() if mp == mount_point][-1]
        if src not in loops:
            raise AioError("%s is mounted from %s, not from %s" % (
                mount_point, src, img))
        dev = src
    else:
        if loops:
            dev = loops[0]
        else:
            dev = run(["losetup", "-f", "--show", img],
                      log=log).stdout.strip()
        # A previous machine session may have died with the fs mounted.
        fsck = run(["e2fsck", "-p", dev], log=log, check=False)
        if fsck.returncode not in (0, 1):
            raise AioError("e2fsck of %s failed" % img, [log])
        run(["mount", "-t", "ext4", "-o", "discard", dev, mount_point],
            log=log)
    for extra in loops_of(img):
        if extra != dev:
            run(["losetup", "-d", extra], log=log, check=False)
    # A NAS caches on its own side: with buffered I/O the loop device
    # would keep every byte written to the export a second time in this
    # host's page cache and copy it there, CPU and memory that an NFS
    # client does not spend.  (Set here for a new device and for one an
    # earlier `up` left alike.)
    run(["losetup", "--direct-io=on", dev], log=log)
    os.chmod(mount_point, 0o755)
    return dev


@dataclass(frozen=True)
class Export:
    """One "NFS export": an ext4 image on a loop device, mounted."""

    image: str
    mount_point: str
    loop_record: str        # file under run/ naming its loop device
    size: str
    label: str
    # The tmpfs the image lives on, mounted first (None: the disk).
    tmpfs: str | None = None


EXPORTS = {
    "main": Export(P.export_img, P.export_dir, "loopdev", EXPORT_SIZE,
                   "gsc-aio"),
    "small": Export(P.small_img, P.small_dir, "loopdev-small",
                    SMALL_EXPORT_SIZE, "gsc-aio-small"),
    "tmpfs": Export(P.tmpfs_img, P.tmpfs_dir, "loopdev-tmpfs",
                    TMPFS_EXPORT_SIZE, "gsc-aio-tmpfs", tmpfs=P.ram),
}


def ensure_tmpfs(path: str, log: str) -> None:
    """A tmpfs of ``TMPFS_SIZE`` at ``path`` (what is there is kept)."""
    mkdirs(path)
    if not is_mounted(path):
        run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % TMPFS_SIZE,
             "gsc-aio-ram", path], log=log)


def ensure_exports() -> dict[str, str]:
    """Every export mounted; the loop device of each."""
    mkdirs(*MOUNT_BASES, P.brick_locks)
    log = P.logfile("export.log")
    devices = {}
    for key, export in EXPORTS.items():
        mkdirs(export.mount_point)
        if export.tmpfs:
            ensure_tmpfs(export.tmpfs, log)
        if not os.path.exists(export.image):
            make_image(export.image, export.size, export.label, log)
        dev = mount_image(export.image, export.mount_point, log)
        write_if_changed(os.path.join(P.run, export.loop_record), dev + "\n")
        devices[key] = dev
    return devices


def ensure_mount_helper() -> None:
    with open(os.path.join(HERE, "mount.nfs.in")) as f:
        text = f.read()
    text = text.replace("@EXPORT_DIRS@", ":".join(
        e.mount_point for e in EXPORTS.values()))
    text = text.replace("@LOCK_FILE@", os.path.join(P.locks, "mount.nfs.lock"))
    mkdirs(P.locks)
    write_if_changed(P.helper_src, text, 0o755)
    if os.path.lexists(MOUNT_HELPER):
        with open(MOUNT_HELPER, errors="replace") as f:
            current = f.read()
        if HELPER_MARK not in current:
            raise AioError("%s exists and is not ours; remove it" %
                           MOUNT_HELPER)
        if current == text:
            return
    mkdirs(os.path.dirname(MOUNT_HELPER))
    write_if_changed(MOUNT_HELPER, text, 0o755)
