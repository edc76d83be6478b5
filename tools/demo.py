"""The README's main job, after tools/openstack-aio/up (see tools/demo).

As user ``demo-a`` (project demo-a, role member): upload a generated raw
disk image through glance-api into the store ``fast`` (this driver), show
the Cinder volume that holds it (as the glance service user: the volume
lives in the service project), download it back and verify it, create a
volume from it through Cinder and check that cinder-volume cloned the image
volume instead of downloading the image, then delete everything.

Runs with the glance venv's python (keystoneauth1, python-cinderclient);
everything else comes from ``$GSC_AIO_DIR/env.json``.  Exit status 0 only
when every step passed and everything created was deleted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from cinderclient import api_versions
from cinderclient import exceptions as cinder_exc
from cinderclient.v3 import client as cinder_v3
from keystoneauth1 import identity
from keystoneauth1 import session as ks_session

MiB = 1024 * 1024
STATE = os.environ.get("GSC_AIO_DIR") or "/var/lib/glance-store-cinder-aio"
TIMEOUT = 600
STEPS = 7


class DemoError(Exception):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


def step(n: int, text: str) -> None:
    say("\n== %d/%d %s" % (n, STEPS, text))


def check(ok: Any, message: str) -> None:
    if not ok:
        raise DemoError(message)


class Progress:
    """A progress bar on a terminal; a line per quarter otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.shown = -1.0
        self.quarter = 0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty:
            if now - self.shown >= 0.1 or self.done >= self.total:
                self.shown = now
                sys.stdout.write("\r   " + self._line(now))
                sys.stdout.flush()
        else:
            while (self.quarter < 4 and self.total
                   and self.done * 4 >= (self.quarter + 1) * self.total):
                self.quarter += 1
                say("   " + self._line(now))

    def _line(self, now: float) -> str:
        frac = self.done / self.total if self.total else 1.0
        width = 30
        fill = int(frac * width)
        rate = self.done / MiB / max(now - self.start, 1e-6)
        return "%-8s [%s%s] %3d%% %4d/%d MiB %6.1f MiB/s" % (
            self.label, "#" * fill, "." * (width - fill), frac * 100,
            self.done // MiB, self.total // MiB, rate)

    def finish(self) -> float:
        elapsed = time.monotonic() - self.start
        if self.tty:
            sys.stdout.write("\r   " + self._line(time.monotonic()) + "\n")
            sys.stdout.flush()
        return elapsed


class UploadFile:
    """The image file as a request body with a length (Content-Length)."""

    def __init__(self, path: str, progress: Progress) -> None:
        self.f = open(path, "rb")
        self.left = os.path.getsize(path)
        self.progress = progress

    def __len__(self) -> int:
        return self.left

    def read(self, n: int = -1) -> bytes:
        chunk = self.f.read(n if n and n > 0 else MiB)
        self.left -= len(chunk)
        self.progress.add(len(chunk))
        return chunk

    def close(self) -> None:
        self.f.close()


def make_disk_image(path: str, size: int) -> tuple[str, str]:
    """A raw disk: MBR with one Linux partition from sector 2048 to the
    end, random data in it.  Returns (md5, sha512)."""
    sectors = size // 512
    mbr = bytearray(512)
    mbr[0:len(b"glance_store_cinder demo disk")] = \
        b"glance_store_cinder demo disk"
    entry = bytearray(16)
    entry[0] = 0x00                          # not active
    entry[1:4] = b"\xfe\xff\xff"             # CHS start: use LBA
    entry[4] = 0x83                          # Linux
    entry[5:8] = b"\xfe\xff\xff"             # CHS end: use LBA
    entry[8:12] = (2048).to_bytes(4, "little")
    entry[12:16] = (sectors - 2048).to_bytes(4, "little")
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    md5 = hashlib.md5()
    sha512 = hashlib.sha512()
    with open(path, "wb") as f:
        data = bytes(mbr) + bytes(2048 * 512 - 512)
        written = 0
        while True:
            f.write(data)
            md5.update(data)
            sha512.update(data)
            written += len(data)
            if written >= size:
                break
            data = os.urandom(min(4 * MiB, size - written))
        f.flush()
        os.fsync(f.fileno())
    check(os.path.getsize(path) == size, "image file has the wrong size")
    return md5.hexdigest(), sha512.hexdigest()


def keystone(env: dict[str, Any], user: dict[str, str]
             ) -> ks_session.Session:
    return ks_session.Session(auth=identity.V3Password(
        auth_url=env["auth_url"], username=user["username"],
        password=user["password"], project_name=user["project_name"],
        user_domain_name="Default", project_domain_name="Default"))


def wait_for(get: Callable[[], Any], done: Callable[[Any], bool],
             what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise DemoError("timed out waiting for %s (last: %s)"
                            % (what, value))
        time.sleep(0.3)


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
    return str(wait_for(lambda: volume_status(cinder, volume_id), done,
                        "volume %s to be %s" % (volume_id, wanted)))


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


class Demo:
    def __init__(self, env: dict[str, Any], size: int, tmp: str) -> None:
        self.env = env
        self.size = size
        self.tmp = tmp
        self.glance_url = env["glance"]["url"]
        user = env["demo"][0]
        self.user = user
        self.session = keystone(env, user)
        self.service = keystone(env, env["service_user"])
        version = api_versions.APIVersion("3.60")
        self.cinder = cinder_v3.Client(session=self.session,
                                       service_type="volumev3",
                                       api_version=version)
        self.service_cinder = cinder_v3.Client(session=self.service,
                                               service_type="volumev3",
                                               api_version=version)
        self.timings: list[tuple[str, float]] = []
        self.image_id: str | None = None
        self.image_volume_id: str | None = None
        self.volume_id: str | None = None
        self.facts: dict[str, Any] = {}

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.monotonic()
        result = fn()
        self.timings.append((name, time.monotonic() - start))
        return result

    # -- steps ----------------------------------------------------------
    def generate(self) -> None:
        step(2, "Generate a raw disk image: %d MiB, MBR partition table "
             "(one Linux partition), random data" % (self.size // MiB))
        self.path = os.path.join(self.tmp, "demo-disk.raw")
        self.md5, self.sha512 = self.timed(
            "generate", lambda: make_disk_image(self.path, self.size))
        with open(self.path, "rb") as f:
            head = f.read(512)
        say("   %s" % self.path)
        say("   MBR signature %s, partition 1 type 0x%02x from sector %d"
            % (head[510:512].hex(), head[450],
               int.from_bytes(head[454:458], "little")))
        say("   md5    %s" % self.md5)
        say("   sha512 %s..." % self.sha512[:64])

    def upload(self) -> None:
        step(3, "Upload it through glance-api (%s) into store 'fast', as "
             "user %s" % (self.glance_url, self.user["username"]))
        image = self.session.post(self.glance_url + "/v2/images", json={
            "name": "gsc-demo-%s" % uuid.uuid4().hex[:8],
            "disk_format": "raw", "container_format": "bare"}).json()
        self.image_id = image["id"]
        say("   image %s created (queued)" % self.image_id)
        bar = Progress("upload", self.size)
        body = UploadFile(self.path, bar)

        def put() -> None:
            try:
                self.session.put(
                    self.glance_url + "/v2/images/%s/file" % self.image_id,
                    data=body, headers={
                        "Content-Type": "application/octet-stream",
                        "X-Image-Meta-Store": "fast"})
            finally:
                body.close()
        self.timed("upload", put)
        self.facts["upload_rate"] = self.size / MiB / bar.finish()
        image = self.session.get(
            self.glance_url + "/v2/images/%s" % self.image_id).json()
        say("   status %s, size %d, stores %s" % (
            image["status"], image["size"], image.get("stores")))
        say("   checksum       %s" % image["checksum"])
        say("   os_hash_value  %s... (%s)" % (image["os_hash_value"][:48],
                                              image["os_hash_algo"]))
        check(image["status"] == "active", "image is not active")
        check(image["size"] == self.size, "image size differs")
        check(image["checksum"] == self.md5, "Glance's md5 differs")
        check(image["os_hash_value"] == self.sha512,
              "Glance's sha512 differs")
        say("   Glance's checksum and sha512 match the file")

    def show_volume(self) -> None:
        step(4, "The Cinder volume that holds it (seen by the glance "
             "service user)")
        locations = self.service.get(
            self.glance_url + "/v2/images/%s/locations" % self.image_id
        ).json()
        for loc in locations:
            say("   location %s  %s" % (loc["url"], loc["metadata"]))
        match = re.fullmatch(r"cinder://fast/([0-9a-f-]{36})",
                             locations[0]["url"]) if locations else None
        check(len(locations) == 1 and match,
              "expected one cinder://fast/<volume> location: %s"
              % locations)
        assert match is not None
        self.image_volume_id = match.group(1)
        v = self.service_cinder.volumes.get(self.image_volume_id)
        self.facts["image_volume"] = v
        rows = [("id", v.id), ("name", v.name), ("type", v.volume_type),
                ("size", "%d GiB" % v.size), ("status", v.status),
                ("bootable", v.bootable),
                ("project", "%s (service)" % getattr(
                    v, "os-vol-tenant-attr:tenant_id", "?")),
                ("metadata", json.dumps(v.metadata, sort_keys=True))]
        for key, value in rows:
            say("   %-9s %s" % (key, value))
        check(v.volume_type == self.env["volume_types"]["fast"],
              "the volume is not of the fast store's type")
        check(v.metadata.get("glance_image_id") == self.image_id,
              "the volume does not name the image")

    def download(self) -> None:
        step(5, "Download it back and verify")
        bar = Progress("download", self.size)
        md5 = hashlib.md5()
        sha512 = hashlib.sha512()

        def get() -> None:
            resp = self.session.get(
                self.glance_url + "/v2/images/%s/file" % self.image_id,
                stream=True, timeout=TIMEOUT)
            try:
                for chunk in resp.iter_content(MiB):
                    md5.update(chunk)
                    sha512.update(chunk)
                    bar.add(len(chunk))
            finally:
                resp.close()
        self.timed("download", get)
        self.facts["download_rate"] = self.size / MiB / bar.finish()
        check(bar.done == self.size, "downloaded %d bytes, expected %d"
              % (bar.done, self.size))
        check(md5.hexdigest() == self.md5, "md5 of the download differs")
        check(sha512.hexdigest() == self.sha512,
              "sha512 of the download differs")
        say("   %d bytes, md5 and sha512 equal to the generated file"
            % bar.done)

    def clone(self) -> None:
        step(6, "Create a volume from the image through Cinder (cinder "
             "create --image-id)")
        logs = self.env["logs"]
        cinder_at = log_offset(logs["cinder-volume"])
        glance_at = log_offset(logs["glance-api"])
        size_gib = -(-self.size // (1024 * MiB))

        def create() -> None:
            volume = self.cinder.volumes.create(
                size_gib, imageRef=self.image_id,
                name="gsc-demo-from-image")
            self.volume_id = volume.id
            wait_volume(self.cinder, volume.id, "available")
        self.timed("volume from image", create)
        v = self.cinder.volumes.get(self.volume_id)
        say("   volume %s: %s, %d GiB, bootable %s" % (
            v.id, v.status, v.size, v.bootable))
        cinder_log = log_since(logs["cinder-volume"], cinder_at)
        glance_log = log_since(logs["glance-api"], glance_at)
        cloned = re.search(r"Cloning volume %s to volume %s" % (
            self.image_volume_id, self.volume_id), cinder_log)
        downloaded = ("Downloaded image %s" % self.image_id in cinder_log
                      or "GET /v2/images/%s/file" % self.image_id
                      in glance_log)
        self.facts["cloned"] = bool(cloned) and not downloaded
        if cloned:
            say('   cinder-volume: "%s"' % cloned.group(0))
        say("   clone path ran: %s; image downloaded from Glance: %s" % (
            "yes" if cloned else "NO", "YES" if downloaded else "no"))
        check(cloned and not downloaded,
              "Cinder did not clone the image volume")

        assert self.volume_id is not None  # set by the upload step
        path, copy = volume_file(self.env["nfs"]["export_dir"],
                                 self.volume_id, self.tmp)
        digest = sha512_of_file(path, self.size)
        if copy:
            os.unlink(path)
        check(digest == self.sha512,
              "the new volume's first %d MiB differ from the image"
              % (self.size // MiB))
        say("   its first %d MiB (volume file in the NFS export) have the "
            "image's sha512" % (self.size // MiB))

    def cleanup(self) -> list[str]:
        """Delete what was created; return what could not be."""
        problems = []
        if self.volume_id:
            try:
                status = volume_status(self.cinder, self.volume_id)
                if status not in ("gone", "deleting"):
                    wait_for(lambda: volume_status(self.cinder,
                                                   self.volume_id or ""),
                             lambda s: s in ("available", "error", "gone"),
                             "volume %s to settle" % self.volume_id)
                    self.cinder.volumes.delete(self.volume_id)
                wait_volume(self.cinder, self.volume_id, "gone")
                say("   volume %s deleted" % self.volume_id)
            except Exception as exc:
                problems.append("volume %s: %s" % (self.volume_id, exc))
        if self.image_id:
            try:
                resp = self.session.delete(
                    self.glance_url + "/v2/images/%s" % self.image_id,
                    raise_exc=False)
                check(resp.status_code in (204, 404),
                      "HTTP %d" % resp.status_code)
                say("   image %s deleted" % self.image_id)
                if self.image_volume_id:
                    wait_volume(self.service_cinder, self.image_volume_id,
                                "gone")
                    say("   its volume %s is gone" % self.image_volume_id)
            except Exception as exc:
                problems.append("image %s: %s" % (self.image_id, exc))
        return problems


def summary(demo: Demo, up_seconds: float, total: float) -> None:
    say("\n== Summary")
    v = demo.facts.get("image_volume")
    say("   image %s (%d MiB raw) stored by glance_store_cinder in "
        "Cinder volume %s (%s, bootable %s)" % (
            demo.image_id, demo.size // MiB, demo.image_volume_id,
            getattr(v, "volume_type", "?"), getattr(v, "bootable", "?")))
    say("   read back bit-exact; volume from image cloned by Cinder: %s"
        % ("yes" if demo.facts.get("cloned") else "no"))
    rows = [("stack up", up_seconds)] + demo.timings
    for name, seconds in rows:
        extra = ""
        if name == "upload":
            extra = "  (%.0f MiB/s)" % demo.facts.get("upload_rate", 0)
        elif name == "download":
            extra = "  (%.0f MiB/s)" % demo.facts.get("download_rate", 0)
        say("   %-18s %7.2f s%s" % (name, seconds, extra))
    say("   %-18s %7.2f s" % ("total", total))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--started", type=float, default=time.time(),
                        help="epoch seconds when tools/demo started")
    parser.add_argument("--up-seconds", type=float, default=0.0)
    args = parser.parse_args()
    check(args.size_mib >= 2, "--size-mib must be at least 2")
    with open(os.path.join(STATE, "env.json")) as f:
        env = json.load(f)
    check(env["glance"]["enabled"], "glance-api is not part of the stack")
    tmp = tempfile.mkdtemp(prefix="demo-", dir=STATE)
    demo = Demo(env, args.size_mib * MiB, tmp)
    failure = None
    try:
        demo.generate()
        demo.upload()
        demo.show_volume()
        demo.download()
        demo.clone()
    except Exception as exc:
        failure = exc
        say("\ndemo: FAILED: %s: %s" % (type(exc).__name__, exc))
    step(7, "Clean up: delete the volume, the image (and so its volume)")
    start = time.monotonic()
    problems = demo.cleanup()
    demo.timings.append(("clean up", time.monotonic() - start))
    shutil.rmtree(tmp, ignore_errors=True)
    for p in problems:
        say("demo: clean-up FAILED: %s" % p)
    if failure is None and not problems:
        summary(demo, args.up_seconds, time.time() - args.started)
    say("\nThe stack keeps running. Stop it with:  tools/openstack-aio/down"
        "\n(state kept in %s; 'tools/openstack-aio/down --purge' deletes "
        "it)" % STATE)
    return 1 if failure is not None or problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DemoError as exc:
        sys.exit("demo: %s" % exc)
