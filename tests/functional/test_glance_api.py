"""glance-api end to end: images kept by this driver, through Glance's v2 API.

The glance-api of tools/openstack-aio/up runs this driver as its stores
``fast``, ``slow`` (NFS backend) and ``block`` (loop-device backend):
``enabled_backends = fast:volume,slow:volume,block:volume``.  These
tests never call the driver: they speak HTTP to Glance (a keystoneauth1
session) and to Cinder (python-cinderclient), and look at what is left in
Cinder, in the NFS export (the volume files) and in the services' logs.

Users: images are created by ``admin`` (project ``admin``); locations are
read and registered by the service user ``glance`` (role ``service``), as
Cinder and Nova do.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import hashlib
import json
import os
import pathlib
import re
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import pytest
from keystoneauth1 import exceptions as ks_exc

from glance_store_cinder.store import Store
from testing_support import imagedata
from tests.functional import data
from tests.functional.waits import volume_status
from tests.functional.waits import wait_until
from tests.functional.waits import wait_volume_gone

MiB = 1024 * 1024
GiB = 1024 * MiB
BLOCK = data.BLOCK
TIMEOUT = 600          # seconds, for any one wait on Glance or Cinder
_ZEROS = bytes(BLOCK)


# -- image contents ------------------------------------------------------
class Content:
    """What an image or a volume holds: ``data_len`` bytes of
    testing_support.imagedata, then zeros up to ``size``."""

    def __init__(self, size: int, data_len: int | None = None) -> None:
        self.size = size
        self.data_len = size if data_len is None else data_len

    def piece(self, pos: int, limit: int) -> bytes:
        """Bytes from ``pos``, at most ``limit``, within one block."""
        n = min(limit, BLOCK - pos % BLOCK, self.size - pos)
        if pos >= self.data_len:
            return _ZEROS[:n]
        return data.expected_bytes(pos, min(n, self.data_len - pos))

    def pieces(self, pos: int = 0) -> Iterator[bytes]:
        while pos < self.size:
            piece = self.piece(pos, BLOCK)
            pos += len(piece)
            yield piece

    @functools.cached_property
    def digests(self) -> tuple[str, str]:
        md5 = hashlib.md5()
        sha512 = hashlib.sha512()
        for piece in self.pieces():
            md5.update(piece)
            sha512.update(piece)
        return md5.hexdigest(), sha512.hexdigest()

    def verify(self, chunks: Iterable[bytes], what: str) -> tuple[str, str]:
        """Compare a stream with this content; return its md5 and sha512."""
        md5 = hashlib.md5()
        sha512 = hashlib.sha512()
        pos = 0
        for chunk in chunks:
            view = memoryview(chunk)
            off = 0
            while off < len(view):
                assert pos < self.size, "%s: longer than %d bytes" % (
                    what, self.size)
                expected = self.piece(pos, len(view) - off)
                got = view[off:off + len(expected)]
                if got != expected:
                    zeros = bytes(got) == _ZEROS[:len(got)]
                    pytest.fail("%s: bytes differ in [%d, %d)%s" % (
                        what, pos, pos + len(expected),
                        " (zeros where data was written)" if zeros else ""))
                off += len(expected)
                pos += len(expected)
            md5.update(chunk)
            sha512.update(chunk)
        assert pos == self.size, "%s: %d bytes, expected %d" % (
            what, pos, self.size)
        return md5.hexdigest(), sha512.hexdigest()


class KnownLengthBody:
    """A request body that requests sends with a Content-Length."""

    def __init__(self, content: Content) -> None:
        self.content = content
        self.pos = 0

    def __len__(self) -> int:
        return self.content.size - self.pos

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.content.size:
            return b""
        piece = self.content.piece(self.pos, BLOCK if n < 0 else n)
        self.pos += len(piece)
        return piece


def chunked_body(content: Content) -> Iterator[bytes]:
    """A generator: requests sends it with Transfer-Encoding: chunked."""
    yield from content.pieces()


# -- Glance over HTTP ----------------------------------------------------
# gunicorn may close a kept-alive connection just as a request is sent on
# it (seen once: "closed without a response"); reads are safe to resend.
GET_RETRIES = 2


class Glance:
    """The few v2 calls these tests make, over a keystoneauth1 session."""

    def __init__(self, session: Any, url: str) -> None:
        self.session = session
        self.url = url.rstrip("/")

    def _u(self, path: str) -> str:
        return self.url + path

    def create(self, **props: Any) -> dict[str, Any]:
        body = {"name": "gsc-e2e-%s" % uuid.uuid4().hex[:8],
                "disk_format": "raw", "container_format": "bare"}
        body.update(props)
        return self.session.post(self._u("/v2/images"), json=body).json()

    def upload(self, image_id: str, body: Any,
               store: str | None = None) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        if store:
            headers["X-Image-Meta-Store"] = store
        resp = self.session.put(self._u("/v2/images/%s/file" % image_id),
                                data=body, headers=headers)
        assert resp.status_code == 204, resp.text

    def show(self, image_id: str) -> dict[str, Any]:
        return self.session.get(self._u("/v2/images/%s" % image_id),
                                connect_retries=GET_RETRIES).json()

    @contextlib.contextmanager
    def download(self, image_id: str, timeout: float = TIMEOUT
                 ) -> Iterator[Any]:
        resp = self.session.get(self._u("/v2/images/%s/file" % image_id),
                                stream=True, timeout=timeout,
                                connect_retries=GET_RETRIES)
        try:
            yield resp
        finally:
            resp.close()

    def delete(self, image_id: str) -> None:
        try:
            self.session.delete(self._u("/v2/images/%s" % image_id))
        except ks_exc.NotFound:
            pass

    def exists(self, image_id: str) -> bool:
        resp = self.session.get(self._u("/v2/images/%s" % image_id),
                                raise_exc=False)
        if resp.status_code == 404:
            return False
        assert resp.status_code == 200, resp.status_code
        return True

    def locations(self, image_id: str) -> list[dict[str, Any]]:
        """``GET /v2/images/{id}/locations``: service role only."""
        return self.session.get(
            self._u("/v2/images/%s/locations" % image_id),
            connect_retries=GET_RETRIES).json()

    def add_location(self, image_id: str, url: str) -> None:
        """The service-only location API Cinder uses (queued images)."""
        resp = self.session.post(
            self._u("/v2/images/%s/locations" % image_id), json={"url": url})
        assert resp.status_code == 202, resp.text

    def tasks(self, image_id: str) -> list[dict[str, Any]]:
        """``GET /v2/images/{id}/tasks``: the image's import tasks."""
        tasks = self.session.get(
            self._u("/v2/images/%s/tasks" % image_id),
            connect_retries=GET_RETRIES).json()["tasks"]
        return list(tasks)

    def wait_location_import(self, image_id: str) -> dict[str, Any]:
        """The image once Glance's location import of it is over.

        Its digests show before that: the task saves the image again after
        them (dropping ``os_glance_hash_op_host``, which the API never
        shows), from the copy it hashed, so a caller that changes the image
        row on seeing them can be undone by that save.  The import's last
        step marks its task ``success``."""
        def over(tasks: list[dict[str, Any]]) -> bool:
            imports = [t for t in tasks if t["type"] == "location_import"]
            assert all(t["status"] != "failure" for t in imports), imports
            return bool(imports) and all(t["status"] == "success"
                                         for t in imports)
        wait_until(lambda: self.tasks(image_id), TIMEOUT,
                   "location import of %s" % image_id, interval=0.3,
                   done=over)
        image = self.show(image_id)
        assert image["status"] == "active" and image["os_hash_value"], image
        return image

    def import_image(self, image_id: str, method: str,
                     stores: list[str]) -> None:
        resp = self.session.post(
            self._u("/v2/images/%s/import" % image_id),
            json={"method": {"name": method}, "stores": stores})
        assert resp.status_code == 202, resp.text

    def delete_from_store(self, store: str, image_id: str) -> None:
        resp = self.session.delete(
            self._u("/v2/stores/%s/%s" % (store, image_id)))
        assert resp.status_code == 204, resp.text

    def wait(self, image_id: str, done: Callable[[dict[str, Any]], bool],
             what: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        def show() -> dict[str, Any]:
            image = self.show(image_id)
            assert image["status"] not in ("killed", "deleted"), image
            assert not image.get("os_glance_failed_import"), image
            return image
        return wait_until(show, timeout, what, interval=0.3, done=done)


def stores_of(image: dict[str, Any]) -> set[str]:
    return set(filter(None, (image.get("stores") or "").split(",")))


def volume_ids(locations: list[dict[str, Any]]) -> dict[str, str]:
    """{store: volume id} of ``cinder://<store>/<volume id>`` locations."""
    out = {}
    for loc in locations:
        match = re.fullmatch(r"cinder://([^/]+)/([0-9a-f-]{36})", loc["url"])
        assert match, "not a store location: %s" % loc
        assert loc["metadata"].get("store") == match.group(1), loc
        out[match.group(1)] = match.group(2)
    return out


# -- Cinder helpers ------------------------------------------------------
def wait_volume(cinder: Any, volume_id: str, status: str = "available",
                timeout: float = TIMEOUT) -> Any:
    def get() -> Any:
        volume = cinder.volumes.get(volume_id)
        assert "error" not in volume.status, (volume_id, volume.status)
        return volume
    return wait_until(get, timeout, "volume %s to be %s" % (volume_id,
                                                             status),
                      interval=0.3, done=lambda v: v.status == status)


def delete_volume(cinder: Any, volume_id: str) -> None:
    """Delete once Cinder is done with it; wait until it is gone."""
    status = wait_until(
        lambda: volume_status(cinder, volume_id), TIMEOUT,
        "volume %s to settle" % volume_id, interval=0.5,
        done=lambda s: s in ("gone", "deleting", "available", "error",
                             "error_extending", "error_restoring"))
    if status not in ("gone", "deleting"):
        cinder.volumes.delete(volume_id)
    wait_volume_gone(cinder, volume_id)


class VolumeFiles:
    """Volume files of Cinder's NFS driver, under the export, and of the
    block backend's loop driver (``<volumes_dir>/volume-<id>/disk``)."""

    def __init__(self, export_dir: str, tmp: pathlib.Path,
                 block_dir: str) -> None:
        self.export = pathlib.Path(export_dir)
        self.tmp = tmp
        self.block = pathlib.Path(block_dir)

    def path(self, volume_id: str) -> pathlib.Path:
        disk = self.block / ("volume-%s" % volume_id) / "disk"
        if disk.exists():
            return disk
        base = self.export / ("volume-%s" % volume_id)
        info = self.export / ("volume-%s.info" % volume_id)
        if info.exists():   # snapshots: the active file is an overlay
            return self.export / json.loads(info.read_text())["active"]
        return base

    def write(self, volume_id: str, content: Content) -> None:
        path = self.path(volume_id)
        assert qemu_format(path) == "raw"
        with open(path, "r+b") as f:
            for piece in content.pieces():
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())

    @contextlib.contextmanager
    def raw(self, volume_id: str) -> Iterator[pathlib.Path]:
        """The volume's bytes as a raw file (converted if it is qcow2)."""
        path = self.path(volume_id)
        if qemu_format(path) == "raw":
            yield path
            return
        out = self.tmp / ("volume-%s.raw" % volume_id)
        subprocess.run(["qemu-img", "convert", "-U", "-O", "raw",
                        str(path), str(out)], check=True)
        try:
            yield out
        finally:
            out.unlink()

    def verify(self, volume_id: str, content: Content) -> None:
        with self.raw(volume_id) as path, open(path, "rb") as f:
            content.verify(iter(lambda: f.read(BLOCK), b""),
                           "volume %s" % volume_id)


def qemu_format(path: pathlib.Path) -> str:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json",
                          str(path)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["format"]


class LogTail:
    """What a service logs from now on."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = os.path.getsize(path)

    def read(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")


def assert_cloned(cinder_log: str, glance_log: str, volume_id: str,
                  image_id: str, image_volume_id: str) -> None:
    """cinder-volume cloned ``image_volume_id``: no download from Glance."""
    started = re.search(
        r"\[\S* ?(req-[0-9a-f-]+) [^\]]*\] Using glance cinder optimization "
        r"to clone the requested volume %s from image %s"
        % (volume_id, image_id), cinder_log)
    assert started, "cinder-volume did not try the clone path for %s" % (
        volume_id)
    request = [line for line in cinder_log.splitlines()
               if started.group(1) in line]
    text = "\n".join(request)
    assert ("Will clone a volume from the image volume %s."
            % image_volume_id) in text, text[-3000:]
    # The NFS driver's line, or the block backend's loop driver's.
    assert re.search(r"Clon(ing|ed) volume %s to volume %s"
                     % (image_volume_id, volume_id), text), text[-3000:]
    assert "Failed to clone image volume" not in text
    assert "Downloaded image %s" % image_id not in cinder_log
    assert "GET /v2/images/%s/file" % image_id not in glance_log


def stored_extends(glance_log: str, image_id: str) -> int:
    """The driver's ``Stored image ... (N bytes, K extends)`` line."""
    match = re.search(r"Stored image %s in volume \S+ \((\d+) bytes, "
                      r"(\d+) extends\)" % image_id, glance_log)
    assert match, "no 'Stored image %s' line in glance-api's log" % image_id
    return int(match.group(2))


def glance_db(env: dict[str, Any]) -> str:
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(env["glance"]["api_conf"])
    url = conf.get("database", "connection")
    assert url.startswith("sqlite:///"), url
    return url[len("sqlite:///"):].split("?")[0]


def db_locations(env: dict[str, Any], image_id: str) -> list[tuple[str, Any]]:
    with contextlib.closing(sqlite3.connect(glance_db(env),
                                            timeout=60)) as db:
        rows = db.execute(
            "SELECT value, meta_data FROM image_locations WHERE image_id = ?"
            " AND deleted = 0 ORDER BY id", (image_id,)).fetchall()
    return [(value, json.loads(meta or "{}")) for value, meta in rows]


def make_legacy_location(env: dict[str, Any], image_id: str,
                         volume_id: str) -> None:
    """Turn the image's location row into one a single-store Glance wrote:
    ``cinder://<volume id>`` with no store (what an upgrade leaves)."""
    with contextlib.closing(sqlite3.connect(glance_db(env), timeout=60,
                                            isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        changed = db.execute(
            "UPDATE image_locations SET value = ?, meta_data = ? "
            "WHERE image_id = ? AND deleted = 0",
            ("cinder://%s" % volume_id, "{}", image_id)).rowcount
        db.execute("COMMIT")
    assert changed == 1


# -- fixtures (admin_session, glance, glance_service, cinder and cleanup
# are in conftest: the fault-matrix tests share them) ----------------------
@pytest.fixture
def files(aio: dict[str, Any], tmp_path: pathlib.Path) -> VolumeFiles:
    return VolumeFiles(aio["nfs"]["export_dir"], tmp_path,
                       aio["block"]["volumes_dir"])


class Cleanup:
    """Deletes, last registered first, what a test created."""

    def __init__(self, glance: Glance, glance_service: Glance,
                 cinder: Any) -> None:
        self.glance = glance
        self.glance_service = glance_service
        self.cinder = cinder
        self.stack = contextlib.ExitStack()

    def image(self, image_id: str) -> str:
        self.stack.callback(self._delete_image, image_id)
        return image_id

    def volume(self, volume_id: str) -> str:
        self.stack.callback(delete_volume, self.cinder, volume_id)
        return volume_id

    def _delete_image(self, image_id: str) -> None:
        try:
            backing = self._backing(image_id)
        except ks_exc.NotFound:
            return
        self.glance.delete(image_id)
        for volume_id in backing:
            wait_volume_gone(self.cinder, volume_id)

    def _backing(self, image_id: str) -> list[str]:
        return [loc["url"].rsplit("/", 1)[1] for loc in
                self.glance_service.locations(image_id)
                if loc["url"].startswith("cinder://")]


def upload(glance: Glance, cleanup: Cleanup, content: Content,
           store: str | None = None, chunked: bool = False
           ) -> dict[str, Any]:
    image = glance.create()
    cleanup.image(image["id"])
    body = chunked_body(content) if chunked else KnownLengthBody(content)
    glance.upload(image["id"], body, store=store)
    return glance.show(image["id"])


def assert_image_matches(image: dict[str, Any], content: Content) -> None:
    md5, sha512 = content.digests
    assert image["status"] == "active", image
    assert image["size"] == content.size
    assert image["checksum"] == md5
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == sha512


def assert_download(glance: Glance, image: dict[str, Any],
                    content: Content) -> None:
    with glance.download(image["id"]) as resp:
        assert int(resp.headers["Content-Length"]) == content.size
        assert resp.headers.get("Content-MD5") == image["checksum"]
        md5, sha512 = content.verify(resp.iter_content(BLOCK),
                                     "image %s" % image["id"])
    assert (md5, sha512) == (image["checksum"], image["os_hash_value"])


def create_volume_from_image(cinder: Any, cleanup: Cleanup, image_id: str,
                             size_gib: int, volume_type: str | None = None
                             ) -> Any:
    volume = cinder.volumes.create(size_gib, imageRef=image_id,
                                   name="gsc-e2e-from-%s" % image_id[:8],
                                   volume_type=volume_type)
    cleanup.volume(volume.id)
    return wait_volume(cinder, volume.id)


def new_volume(cinder: Any, cleanup: Cleanup, size_gib: int,
               **kwargs: Any) -> Any:
    volume = cinder.volumes.create(
        size_gib, name="gsc-e2e-%s" % uuid.uuid4().hex[:8], **kwargs)
    cleanup.volume(volume.id)
    return wait_volume(cinder, volume.id)


# -- the tests -----------------------------------------------------------
@pytest.mark.parametrize("size", [100 * MiB, GiB], ids=["100MiB", "1GiB"])
def test_upload_download_delete(aio: dict[str, Any], glance: Glance,
                                glance_service: Glance, admin_cinder: Any,
                                cleanup: Cleanup, size: int) -> None:
    content = Content(size)
    image = upload(glance, cleanup, content)
    assert_image_matches(image, content)
    assert stores_of(image) == {"fast"}

    volume_id = volume_ids(glance_service.locations(image["id"]))["fast"]
    volume = admin_cinder.volumes.get(volume_id)
    assert volume.name == "image-%s" % image["id"]
    assert volume.volume_type == aio["volume_types"]["fast"]
    assert volume.status == "available"
    assert volume.size == -(-size // GiB)
    assert volume.metadata["glance_image_id"] == image["id"]
    assert volume.metadata["image_size"] == str(size)
    assert volume.metadata["image_owner"] == aio["admin"]["project_id"]
    assert not volume.attachments

    assert_download(glance, image, content)

    glance.delete(image["id"])
    assert not glance.exists(image["id"])
    wait_volume_gone(admin_cinder, volume_id)


def test_upload_into_the_non_default_store(
        aio: dict[str, Any], glance: Glance, glance_service: Glance,
        admin_cinder: Any, cleanup: Cleanup) -> None:
    content = Content(16 * MiB)
    image = upload(glance, cleanup, content, store="slow")
    assert_image_matches(image, content)
    assert stores_of(image) == {"slow"}
    volume_id = volume_ids(glance_service.locations(image["id"]))["slow"]
    volume = admin_cinder.volumes.get(volume_id)
    assert volume.volume_type == aio["volume_types"]["slow"]
    assert volume.name == "image-%s" % image["id"]
    assert_download(glance, image, content)


def test_chunked_upload_of_unknown_size(
        aio: dict[str, Any], glance: Glance, glance_service: Glance,
        admin_cinder: Any, cleanup: Cleanup) -> None:
    """No Content-Length: Glance hands the driver size 0; past 1 GiB."""
    content = Content(int(1.1 * GiB))
    log = LogTail(aio["logs"]["glance-api"])
    image = upload(glance, cleanup, content, chunked=True)
    assert_image_matches(image, content)
    assert stored_extends(log.read(), image["id"]) >= 1
    volume_id = volume_ids(glance_service.locations(image["id"]))["fast"]
    volume = admin_cinder.volumes.get(volume_id)
    assert volume.metadata["image_size"] == str(content.size)
    assert volume.size * GiB >= content.size
    assert volume.size * GiB - content.size <= max(content.size // 4, GiB)
    assert_download(glance, image, content)


def test_copy_image_from_fast_to_slow(aio: dict[str, Any], glance: Glance,
                                      glance_service: Glance,
                                      admin_cinder: Any, files: VolumeFiles,
                                      cleanup: Cleanup) -> None:
    content = Content(64 * MiB)
    image = upload(glance, cleanup, content)
    glance.import_image(image["id"], "copy-image", ["slow"])
    image = glance.wait(
        image["id"], lambda i: stores_of(i) == {"fast", "slow"}
        and not i.get("os_glance_importing_to_stores"), "copy-image")
    assert_image_matches(image, content)

    volumes = volume_ids(glance_service.locations(image["id"]))
    assert set(volumes) == {"fast", "slow"}
    for store, volume_id in volumes.items():
        volume = admin_cinder.volumes.get(volume_id)
        assert volume.volume_type == aio["volume_types"][store]
        assert volume.name == "image-%s" % image["id"]
        assert volume.metadata["image_size"] == str(content.size)
        files.verify(volume_id, Content(volume.size * GiB, content.size))

    # Served from the first location (fast) ...
    assert_download(glance, image, content)
    # ... and, once fast's copy is deleted, from slow.
    glance.delete_from_store("fast", image["id"])
    wait_volume_gone(admin_cinder, volumes["fast"])
    assert volume_ids(glance_service.locations(image["id"])) == {
        "slow": volumes["slow"]}
    image = glance.show(image["id"])
    assert stores_of(image) == {"slow"}
    assert_download(glance, image, content)


def test_concurrent_downloads_of_one_image(
        glance: Glance, cleanup: Cleanup) -> None:
    """Two readers of one image share its volume's attachment."""
    content = Content(256 * MiB)
    image = upload(glance, cleanup, content)
    results: dict[int, Any] = {}

    def download(n: int) -> None:
        try:
            with glance.download(image["id"], timeout=120) as resp:
                results[n] = content.verify(resp.iter_content(BLOCK),
                                            "download %d" % n)
        except BaseException as exc:   # reported below
            results[n] = exc

    threads = [threading.Thread(target=download, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = (image["checksum"], image["os_hash_value"])
    assert results == {1: expected, 2: expected}


@pytest.mark.parametrize("store", ["fast", "slow"])
def test_legacy_location_is_rewritten_on_first_read(aio: dict[str, Any],
                                                    glance: Glance,
                                                    glance_service: Glance,
                                                    admin_cinder: Any,
                                                    files: VolumeFiles,
                                                    cleanup: Cleanup,
                                                    store: Store) -> None:
    """``cinder://<volume id>`` from a single-store Glance: on first read
    Glance asks each store (is_image_associated_with_store: the volume
    type) and rewrites it to ``<url_prefix>/<volume id>``."""
    content = Content(48 * MiB)
    volume = admin_cinder.volumes.create(
        1, name="gsc-e2e-legacy-%s" % uuid.uuid4().hex[:8],
        volume_type=aio["volume_types"][store])
    cleanup.volume(volume.id)
    wait_volume(admin_cinder, volume.id)
    files.write(volume.id, content)
    image = glance.create()
    cleanup.image(image["id"])
    admin_cinder.volumes.set_metadata(volume.id, {
        "glance_image_id": image["id"], "image_size": str(content.size),
        "image_owner": aio["admin"]["project_id"]})

    # Added through the location API, it is associated at once ...
    glance_service.add_location(image["id"], "cinder://%s" % volume.id)
    image = glance_service.wait_location_import(image["id"])
    assert_image_matches(image, content)
    expected = ("cinder://%s/%s" % (store, volume.id), {"store": store})
    assert db_locations(aio, image["id"]) == [expected]

    # ... a row an upgrade left behind is rewritten on the first read.
    make_legacy_location(aio, image["id"], volume.id)
    assert db_locations(aio, image["id"]) == [
        ("cinder://%s" % volume.id, {})]
    image = glance.show(image["id"])
    assert stores_of(image) == {store}
    assert db_locations(aio, image["id"]) == [expected]
    assert volume_ids(glance_service.locations(image["id"])) == {
        store: volume.id}
    assert_download(glance, image, content)


def test_volume_created_from_image_is_a_clone(
        aio: dict[str, Any], glance: Glance, glance_service: Glance,
        cinder: Any, files: VolumeFiles, cleanup: Cleanup,
        family_store: str) -> None:
    """``cinder create --image-id``: cinder-volume clones the image volume
    (allowed_direct_url_schemes = cinder), Glance serves no bytes; on the
    block backend the loop driver copies the file sparsely."""
    content = Content(100 * MiB)
    image = upload(glance, cleanup, content, store=family_store)
    image_volume_id = volume_ids(
        glance_service.locations(image["id"]))[family_store]
    cinder_log = LogTail(aio["logs"]["cinder-volume"])
    glance_log = LogTail(aio["logs"]["glance-api"])

    volume = create_volume_from_image(
        cinder, cleanup, image["id"], 1,
        volume_type=aio["glance"]["backends"][family_store])
    assert_cloned(cinder_log.read(), glance_log.read(), volume.id,
                  image["id"], image_volume_id)
    assert volume.bootable == "true"
    assert volume.volume_image_metadata["image_id"] == image["id"]
    files.verify(volume.id, Content(GiB, content.size))


def test_upload_to_image_streams_an_unknown_size(aio: dict[str, Any],
                                                 glance: Glance,
                                                 glance_service: Glance,
                                                 cinder: Any,
                                                 admin_cinder: Any,
                                                 files: VolumeFiles,
                                                 cleanup: Cleanup) -> None:
    """``cinder upload-to-image`` of a 2 GiB volume: Cinder's NFS driver
    cannot clone an uploading volume, so Cinder streams the volume file to
    Glance with no size (the in-tree driver returns the first GiB as
    zeros there)."""
    content = Content(2 * GiB)
    source = new_volume(cinder, cleanup, 2)
    files.write(source.id, content)
    glance_log = LogTail(aio["logs"]["glance-api"])
    before = {v.id for v in admin_cinder.volumes.list(
        search_opts={"all_tenants": 1})}

    _, body = source.upload_to_image(
        False, "gsc-e2e-upload-%s" % source.id[:8], "bare", "raw")
    image_id = body["os-volume_upload_image"]["image_id"]
    cleanup.image(image_id)
    image = glance.wait(image_id, lambda i: i["status"] == "active",
                        "upload-to-image")
    wait_volume(cinder, source.id)
    # Volumes of Cinder's failed optimized upload, if it left any.
    for v in admin_cinder.volumes.list(search_opts={"all_tenants": 1}):
        if v.id not in before and v.name == "image-%s" % image_id and (
                v.metadata.get("glance_image_id") != image_id):
            cleanup.volume(v.id)

    assert_image_matches(image, content)
    assert stores_of(image) == {"fast"}
    assert stored_extends(glance_log.read(), image_id) >= 1
    volume_id = volume_ids(glance_service.locations(image_id))["fast"]
    volume = admin_cinder.volumes.get(volume_id)
    assert volume.metadata["image_size"] == str(content.size)
    assert volume.size * GiB - content.size <= max(content.size // 4, GiB)
    assert_download(glance, image, content)


def test_location_registered_by_cinder_is_hashed_and_cloned(
        aio: dict[str, Any], glance: Glance, glance_service: Glance,
        cinder: Any, files: VolumeFiles, cleanup: Cleanup) -> None:
    """What Cinder's optimized upload does: clone the volume, tag it with
    image_owner, register ``cinder://fast/<clone>`` as the service user.
    Glance reads it through this driver to hash it; a volume created from
    that image is a clone again."""
    content = Content(GiB)
    source = new_volume(cinder, cleanup, 1,
                        volume_type=aio["volume_types"]["fast"])
    files.write(source.id, content)
    clone = new_volume(cinder, cleanup, 1, source_volid=source.id,
                       volume_type=aio["volume_types"]["fast"])
    cinder.volumes.set_metadata(
        clone.id, {"image_owner": aio["admin"]["project_id"]})
    files.verify(clone.id, content)

    image = glance.create()
    cleanup.image(image["id"])
    glance_service.add_location(image["id"], "cinder://fast/%s" % clone.id)
    image = glance_service.wait_location_import(image["id"])
    # The image is the whole volume: Cinder records no image_size.
    assert_image_matches(image, content)
    assert stores_of(image) == {"fast"}
    assert volume_ids(glance_service.locations(image["id"])) == {
        "fast": clone.id}

    cinder_log = LogTail(aio["logs"]["cinder-volume"])
    glance_log = LogTail(aio["logs"]["glance-api"])
    volume = create_volume_from_image(cinder, cleanup, image["id"], 1)
    assert_cloned(cinder_log.read(), glance_log.read(), volume.id,
                  image["id"], clone.id)
    files.verify(volume.id, content)


@pytest.mark.parametrize("disk", ["mbr", "no_partition_table"])
def test_raw_image_volumes_are_bootable_in_fast(
        aio: dict[str, Any], glance: Glance, glance_service: Glance,
        admin_cinder: Any, cleanup: Cleanup, disk: str) -> None:
    """tools/openstack-aio sets ``cinder_bootable_volume_formats = raw`` in
    fast only.  A raw disk image, with the partition table every bootable
    raw disk has (oslo.utils' inspector names it 'gpt', Glance accepts it
    as raw) or without, gets a bootable volume in fast, never in slow."""
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(aio["glance"]["api_conf"])
    assert conf.get("fast", "cinder_bootable_volume_formats") == "raw"
    assert not conf.has_option("slow", "cinder_bootable_volume_formats")
    size = 8 * MiB
    body = (b"".join(imagedata.disk_image(size)) if disk == "mbr"
            else data.expected_bytes(0, size))
    bootable = {}
    for store in ("fast", "slow"):
        image = glance.create()
        cleanup.image(image["id"])
        glance.upload(image["id"], body, store=store)
        image = glance.show(image["id"])
        assert image["status"] == "active"
        assert image["os_hash_value"] == hashlib.sha512(body).hexdigest()
        volume_id = volume_ids(glance_service.locations(image["id"]))[store]
        bootable[store] = admin_cinder.volumes.get(volume_id).bootable
    assert bootable == {"fast": "true", "slow": "false"}


def test_stores_detail_is_a_known_limitation(aio: dict[str, Any],
                                             glance: Glance) -> None:
    """Glance's stores/detail knows only built-in type names: HTTP 500 for
    ``volume`` (README, Known limitation).  stores (no detail) works."""
    stores = glance.session.get(glance.url + "/v2/info/stores").json()
    assert stores == {"stores": [{"id": "fast", "default": "true"},
                                 {"id": "slow"}, {"id": "block"},
                                 {"id": "small"}, {"id": "tenant"},
                                 {"id": "tokenonly"}, {"id": "multi"}]}
    log = LogTail(aio["logs"]["glance-api"])
    resp = glance.session.get(glance.url + "/v2/info/stores/detail",
                              raise_exc=False)
    assert resp.status_code == 500
    text = log.read()
    assert "in get_stores_detail" in text
    assert "TypeError: 'NoneType' object is not callable" in text
