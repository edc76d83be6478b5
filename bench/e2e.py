"""End to end through glance-api: what a user of Glance sees (issue 11).

A mixin of the worker.  The contender is a glance-api, not a store in
the worker's process: ``ours`` is the stack's glance-api (this driver,
store ``fast``), ``in-tree`` a second glance-api on the same stack with
glance_store's in-tree ``cinder`` driver (testing_support.second_api,
started and stopped by the orchestrator: bench/second.py), its store
``fast`` of the same volume type, Cinder, service user and mount point
base.  The worker is the client (bench/glance_http.py):

* ``e2e_upload``: an image created (untimed), the page cache dropped,
  then timed: ``PUT /v2/images/<id>/file`` of the ``known`` slice with a
  Content-Length, until the image is ``active``.  Checked: size,
  ``checksum`` (md5) and ``os_hash_value`` (sha512) against the digests
  computed beforehand, the store, and the volume's backing file against
  the image (as the store rows check it).
* ``e2e_download``: ``e2e_reads`` times, the page cache dropped, then timed:
  ``GET /v2/images/<id>/file`` until the last byte, every piece compared
  with the image as it arrives (included in the time: both pay it) and
  the response's Content-MD5 against the image's md5; then the image is
  deleted and its volume waited for until it is gone.

CPU seconds of every timed call include the glance-api's (``api_*``: its
gunicorn master and everything below it) besides the worker's (the
client) and the machine's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import pathlib
import time
from typing import Any

from bench import cleanup
from bench.common import drop_caches
from bench.contender import Failed
from bench.contender import Timed
from bench.cpu import Meter
from bench.data import Expected
from bench.data import first_difference
from bench.glance_http import GlanceError
from bench.glance_http import GlanceHttp
from bench.worker_parts import WorkerParts
from glance_store_cinder.errors import StateTimeout
from glance_store_cinder.polling import Poller

LOG = logging.getLogger("bench.worker")

E2E_WORKLOADS = ("e2e_upload", "e2e_download")
IMAGE = "known"
WARM_UP = "small-0"
WARM_UPS = 1          # untimed uploads and downloads per process
ACTIVE_TIMEOUT = 120.0


class GlanceApiImages(WorkerParts):
    """The end-to-end workloads (mixed into ``bench.worker.Worker``)."""

    _glance: GlanceHttp | None = None
    _e2e_images: dict[str, str]     # image id -> its volume id ("" unknown)
    _e2e_kept: str = ""             # the uploaded image, for the downloads

    # -- helpers --------------------------------------------------------
    @property
    def api(self) -> dict[str, Any]:
        """``url``, ``pid_file``, ``store`` of this contender's glance-api.
        """
        api: dict[str, Any] = self.spec["glance_api"]
        return api

    @property
    def glance(self) -> GlanceHttp:
        if self._glance is None:
            self._glance = GlanceHttp(self.spec["env"], self.api["url"])
            self._e2e_images = {}
        return self._glance

    def _meter(self) -> Meter:
        """The devices under the export, and the glance-api's tree."""
        pid = int(pathlib.Path(self.api["pid_file"]).read_text().strip())
        return Meter(self.devices, tree=pid)

    def _volume_of(self, image_id: str) -> str:
        name = "image-" + image_id
        found = [v.id for v in cleanup.named(self.admin, [name])
                 if v.name == name]
        if len(found) != 1:
            raise Failed("%d volumes named %s" % (len(found), name))
        return str(found[0])

    def _wait_active(self, image_id: str) -> dict[str, Any]:
        try:
            image: dict[str, Any] = Poller(
                timeout=ACTIVE_TIMEOUT, first_interval=0.02, growth=1.5,
                max_interval=0.5).wait(
                lambda: self.glance.show(image_id),
                lambda i: i["status"] in ("active", "killed", "deleted"),
                "image %s active" % image_id)
        except StateTimeout as exc:
            raise Failed(str(exc)) from exc
        if image["status"] != "active":
            raise Failed("image %s is %s" % (image_id, image["status"]))
        return image

    # -- upload and download ----------------------------------------------
    def e2e_upload(self, slice_name: str) -> tuple[str, Timed, dict[str,
                                                                   Any]]:
        """An image of the slice uploaded and checked: its id, the timed
        part, the facts for the sample."""
        s = self.data.slices[slice_name]
        image_id = self.new_image_id()
        t0 = time.perf_counter()
        self.glance.create(image_id, "gsc-bench-" + slice_name)
        self._e2e_images[image_id] = ""
        facts: dict[str, Any] = {"create_s": time.perf_counter() - t0,
                                 "cache_dropped": drop_caches()}
        meter = self._meter()
        with meter.measure():
            start = time.perf_counter()
            self.glance.upload(image_id, self.data.path(s.file), s.offset,
                               s.length, self.api["store"])
            facts["put_s"] = time.perf_counter() - start
            image = self._wait_active(image_id)
            seconds = time.perf_counter() - start
        self._check_image(slice_name, image)
        vid = self._e2e_images[image_id] = self._volume_of(image_id)
        facts.update(self.check_volume(
            slice_name, "cinder://%s/%s" % (self.api["store"], vid)))
        return image_id, Timed(seconds, meter.seconds, io=meter.io), facts

    def _check_image(self, slice_name: str, image: dict[str, Any]) -> None:
        s, want = self.data.slices[slice_name], self.data.digests[slice_name]
        got = {"size": image.get("size"), "checksum": image.get("checksum"),
               "os_hash_algo": image.get("os_hash_algo"),
               "os_hash_value": image.get("os_hash_value"),
               "stores": image.get("stores")}
        expected = {"size": s.length, "checksum": want["md5"],
                    "os_hash_algo": "sha512", "os_hash_value": want["sha512"],
                    "stores": self.api["store"]}
        wrong = {k: got[k] for k in got if got[k] != expected[k]}
        if wrong:
            raise Failed("image %s: %s differ from the image's" % (
                image["id"], ", ".join(sorted(wrong))))

    def e2e_download(self, image_id: str, slice_name: str
                     ) -> tuple[Timed, dict[str, Any]]:
        s = self.data.slices[slice_name]
        facts: dict[str, Any] = {"cache_dropped": drop_caches()}
        meter = self._meter()
        pos, compare = 0, 0.0
        with Expected(self.data.path(s.file), s.offset, s.length) as exp, \
                meter.measure():
            start = time.perf_counter()
            with self.glance.download(image_id) as (resp, pieces):
                md5 = resp.getheader("Content-MD5") or ""
                for piece in pieces:
                    c0 = time.perf_counter()
                    if not exp.matches(pos, piece):
                        raise Failed("download: " + first_difference(
                            exp, pos, piece))
                    pos += len(piece)
                    compare += time.perf_counter() - c0
            seconds = time.perf_counter() - start
        if pos != s.length:
            raise Failed("download returned %d bytes, the image has %d"
                         % (pos, s.length))
        if _md5_hex(md5) != self.data.digests[slice_name]["md5"]:
            raise Failed("download: Content-MD5 %r is not the image's md5"
                         % md5)
        facts["compare_s"] = compare
        return Timed(seconds, meter.seconds, io=meter.io), facts

    def e2e_delete(self, image_id: str) -> None:
        """The image deleted through glance-api, its volume gone."""
        vid = self._e2e_images.pop(image_id, "")
        self.glance.delete(image_id)
        if vid and cleanup.wait_gone(self.admin, [vid]):
            raise Failed("volume %s of image %s is still there after the "
                         "image was deleted" % (vid, image_id))

    # -- workloads ------------------------------------------------------
    def e2e_warm_up(self) -> None:
        """Untimed: a long-running glance-api has its connections, token
        and privsep daemons already; so has this client."""
        for _ in range(WARM_UPS):
            image_id, _, _ = self.e2e_upload(WARM_UP)
            try:
                self.e2e_download(image_id, WARM_UP)
            finally:
                self.e2e_delete(image_id)

    def w_e2e_upload(self) -> None:
        nbytes = self.data.slices[IMAGE].length
        try:
            image_id, timed, facts = self.e2e_upload(IMAGE)
        except (Failed, GlanceError) as exc:
            self.record("e2e_upload", None, nbytes, str(exc), exc)
            self.e2e_sweep()
            return
        self.record("e2e_upload", timed, nbytes, **facts)
        if "e2e_download" in self.spec["workloads"]:
            self._e2e_kept = image_id
        else:
            self.e2e_delete(image_id)

    def w_e2e_download(self) -> None:
        nbytes = self.data.slices[IMAGE].length
        image_id, self._e2e_kept = self._e2e_kept, ""
        try:
            # The timed upload failed (or did not run): one untimed.
            image_id = image_id or self.e2e_upload(IMAGE)[0]
            for _ in range(self.profile.e2e_reads):
                timed, facts = self.e2e_download(image_id, IMAGE)
                self.record("e2e_download", timed, nbytes, **facts)
            self.e2e_delete(image_id)
        except (Failed, GlanceError) as exc:
            self.record("e2e_download", None, nbytes, str(exc), exc)
        finally:
            self.e2e_sweep()

    def e2e_sweep(self) -> None:
        """Delete every image this process made that is still there."""
        if self._glance is None:
            return
        for image_id in list(self._e2e_images):
            with contextlib.suppress(Exception):
                self.e2e_delete(image_id)
            self._e2e_images.pop(image_id, None)


def _md5_hex(header: str) -> str:
    """Content-MD5 is base64 of the digest (RFC 1864); glance-api sends
    the hex digest there: either way, the hex digest."""
    if len(header) == 32:
        return header.lower()
    try:
        return base64.b64decode(header, validate=True).hex()
    except (binascii.Error, ValueError):
        return header
