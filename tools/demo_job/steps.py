"""The demo's steps 2 to 7, each printing what it did and checking it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from demo_job.cloud import TIMEOUT
from demo_job.cloud import cinder_client
from demo_job.cloud import log_offset
from demo_job.cloud import log_since
from demo_job.cloud import make_disk_image
from demo_job.cloud import sha512_of_file
from demo_job.cloud import volume_file
from demo_job.cloud import volume_status
from demo_job.cloud import wait_for
from demo_job.cloud import wait_volume
from demo_job.output import MiB
from demo_job.output import Progress
from demo_job.output import UploadFile
from demo_job.output import check
from demo_job.output import say
from demo_job.output import step
from testing_support import stack


class Demo:
    def __init__(self, env: dict[str, Any], size: int, tmp: str) -> None:
        self.env = env
        self.size = size
        self.tmp = tmp
        self.glance_url = env["glance"]["url"]
        user = env["demo"][0]
        self.user = user
        self.session = stack.session(env, user)
        self.service = stack.session(env, env["service_user"])
        self.cinder = cinder_client(self.session)
        self.service_cinder = cinder_client(self.service)
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
