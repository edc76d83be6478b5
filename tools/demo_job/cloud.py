"""The demo's dealings with the stack: Cinder clients, waits, logs, the
disk image it uploads and the volume files it reads."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from cinderclient import api_versions
from cinderclient import exceptions as cinder_exc
from cinderclient.v3 import client as cinder_v3
from keystoneauth1 import session as ks_session

from demo_job.output import DemoError
from demo_job.output import MiB
from demo_job.output import check
from glance_store_cinder.errors import StateTimeout
from glance_store_cinder.polling import Poller
from testing_support.imagedata import disk_image

TIMEOUT = 600
T = TypeVar("T")


def cinder_client(session: ks_session.Session) -> Any:
    return cinder_v3.Client(session=session, service_type="volumev3",
                            api_version=api_versions.APIVersion("3.60"))


def make_disk_image(path: str, size: int) -> tuple[str, str]:
    """A raw disk: MBR with one Linux partition from sector 2048 to the
    end, random data in it.  Returns (md5, sha512)."""
    md5 = hashlib.md5()
    sha512 = hashlib.sha512()
    with open(path, "wb") as f:
        for piece in disk_image(size, b"glance_store_cinder demo disk",
                                step=4 * MiB):
            f.write(piece)
            md5.update(piece)
            sha512.update(piece)
        f.flush()
        os.fsync(f.fileno())
    check(os.path.getsize(path) == size, "image file has the wrong size")
    return md5.hexdigest(), sha512.hexdigest()


def wait_for(get: Callable[[], T], done: Callable[[T], bool],
             what: str, timeout: float = TIMEOUT) -> T:
    seen: list[T] = []

    def look() -> T:
        seen[:] = [get()]
        return seen[0]

    poller = Poller(timeout=timeout, first_interval=0.3, growth=1.0)
    try:
        return poller.wait(look, done, what)
    except StateTimeout:
        raise DemoError("timed out waiting for %s (last: %s)"
                        % (what, seen[-1])) from None


def volume_status(cinder: Any, volume_id: str) -> str:
    try:
        return str(cinder.volumes.get(volume_id).status)
    except cinder_exc.NotFound:
        return "gone"


def wait_volume(cinder: Any, volume_id: str, wanted: str) -> str:
    def done(status: str) -> bool:
        if status.startswith("error"):
            raise DemoError("volume %s went to %s" % (volume_id, status))
        return status == wanted
    return wait_for(lambda: volume_status(cinder, volume_id), done,
                    "volume %s to be %s" % (volume_id, wanted))


def log_offset(path: str) -> int:
    return os.path.getsize(path)


def log_since(path: str, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def volume_file(export_dir: str, volume_id: str, tmp: str
                ) -> tuple[str, bool]:
    """The raw bytes of an NFS volume: its file, or a raw copy of it when
    Cinder left it as a qcow2 overlay.  Returns (path, is_a_copy)."""
    path = os.path.join(export_dir, "volume-%s" % volume_id)
    info = path + ".info"
    if os.path.exists(info):
        with open(info) as f:
            path = os.path.join(export_dir, json.load(f)["active"])
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path],
                         check=True, capture_output=True, text=True).stdout
    if json.loads(out)["format"] == "raw":
        return path, False
    raw = os.path.join(tmp, "clone.raw")
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", path, raw],
                   check=True)
    return raw, True


def sha512_of_file(path: str, length: int) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        left = length
        while left:
            chunk = f.read(min(4 * MiB, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()
