"""The fault matrix, against the real services (issue 8): what a client of
glance-api sees, that glance-api keeps serving, and that nothing is left
behind (the leak check of conftest runs after each test: volumes,
attachments, loop devices, share mounts, journal records).

Faults are made with the stack's own commands (tools/openstack-aio/service,
driven by tests.functional.faults) and its small share (``small``: its own
ext4 image, Cinder backend and volume type), never by patching anything.
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.faults import GlanceJournal
from tests.functional.faults import Outage
from tests.functional.faults import cinder_policy
from tests.functional.faults import glance_options
from tests.functional.faults import gunicorn_workers
from tests.functional.faults import kill_uploader
from tests.functional.faults import run_sweep
from tests.functional.faults import service
from tests.functional.faults import upload_under_fault
from tests.functional.faults import wait_worker_replaced
from tests.functional.test_glance_api import BLOCK
from tests.functional.test_glance_api import Cleanup
from tests.functional.test_glance_api import Content
from tests.functional.test_glance_api import GiB
from tests.functional.test_glance_api import Glance
from tests.functional.test_glance_api import KnownLengthBody
from tests.functional.test_glance_api import LogTail
from tests.functional.test_glance_api import MiB
from tests.functional.test_glance_api import assert_download
from tests.functional.test_glance_api import assert_image_matches
from tests.functional.test_glance_api import chunked_body
from tests.functional.test_glance_api import upload
from tests.functional.waits import wait_until


# -- helpers -------------------------------------------------------------
def put_file(glance: Glance, image_id: str, body: Any,
             store: str | None = None) -> Any:
    """PUT the image data; the response, whatever its status."""
    headers = {"Content-Type": "application/octet-stream"}
    if store:
        headers["X-Image-Meta-Store"] = store
    return glance.session.put(glance.url + "/v2/images/%s/file" % image_id,
                              data=body, headers=headers, raise_exc=False)


def image_volumes(cinder: Any, image_id: str) -> list[Any]:
    return cinder.volumes.list(search_opts={
        "all_tenants": 1, "name": "image-%s" % image_id})


def assert_nothing_stored(glance: Glance, cinder: Any, image_id: str) -> None:
    """The image holds no data and its volume is gone (bounded wait)."""
    wait_until(lambda: not image_volumes(cinder, image_id), 120,
               "volume of image %s deleted" % image_id)
    image = glance.show(image_id)
    assert image["status"] == "queued", image
    assert not image.get("size"), image


def still_serving(glance: Glance, cleanup: Cleanup,
                  store: str | None = None) -> None:
    content = Content(8 * MiB + 5)
    image = upload(glance, cleanup, content, store=store)
    assert_download(glance, image, content)


@contextlib.contextmanager
def raw_request(glance: Glance, method: str, path: str,
                headers: dict[str, str]) -> Iterator[socket.socket]:
    """A socket with a request's head sent, closed abruptly at the end."""
    url = urllib.parse.urlsplit(glance.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=60)
    try:
        head = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % url.netloc,
                "X-Auth-Token: %s" % glance.session.get_token()]
        head += ["%s: %s" % kv for kv in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        yield sock
    finally:
        # RST, not FIN: the peer sees the client vanish mid-transfer.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()


# -- the matrix ----------------------------------------------------------
def test_export_full_is_413_and_leaves_nothing(
        aio: dict[str, Any], glance: Glance, cinder: Any,
        cleanup: Cleanup) -> None:
    small = aio["nfs"]["small"]
    export = pathlib.Path(small["export_dir"])
    before = sorted(p.name for p in export.iterdir())
    # Larger than the whole share: the write hits ENOSPC for real.
    content = Content(int(export_bytes(small["export_size"])) + 256 * MiB)
    image = glance.create()
    cleanup.image(image["id"])

    resp = put_file(glance, image["id"], KnownLengthBody(content),
                    store=small["glance_store"])

    assert resp.status_code == 413, (resp.status_code, resp.text)
    assert "full" in resp.text.lower(), resp.text
    assert_nothing_stored(glance, cinder, image["id"])
    assert sorted(p.name for p in export.iterdir()) == before
    # The space is back: the same share takes a new image.
    still_serving(glance, cleanup, store=small["glance_store"])


def export_bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if size[-1].upper() in units:
        return int(size[:-1]) * units[size[-1].upper()]
    return int(size)


@contextlib.contextmanager
def gigabytes_quota(cinder: Any, project_id: str, headroom_gib: int
                    ) -> Iterator[None]:
    """Lower the project's gigabytes quota to what it uses plus headroom."""
    quota = cinder.quotas.get(project_id, usage=True)
    used = quota.gigabytes["in_use"] + quota.gigabytes["reserved"]
    original = quota.gigabytes["limit"]
    cinder.quotas.update(project_id, gigabytes=used + headroom_gib)
    try:
        yield
    finally:
        cinder.quotas.update(project_id, gigabytes=original)


def test_quota_exhausted_by_unknown_size_upload_is_413(
        aio: dict[str, Any], glance: Glance, cinder: Any,
        cleanup: Cleanup) -> None:
    """The 1 GiB volume of an unknown-size upload fits, its extend not."""
    image = glance.create()
    cleanup.image(image["id"])
    content = Content(GiB + 64 * MiB)
    with gigabytes_quota(cinder, aio["service_user"]["project_id"], 1):
        resp = put_file(glance, image["id"], chunked_body(content))
    assert resp.status_code == 413, (resp.status_code, resp.text)
    assert "quota" in resp.text.lower(), resp.text
    assert "gigabytes" in resp.text.lower(), resp.text
    assert_nothing_stored(glance, cinder, image["id"])
    still_serving(glance, cleanup)


def test_cinder_api_down_before_upload_is_5xx(
        aio: dict[str, Any], glance: Glance, cinder: Any,
        cleanup: Cleanup) -> None:
    """The driver raises RemoteServiceUnavailable naming Cinder's URL;
    Glance's upload handler has no case for it and answers a generic 500
    (the cause is in glance-api's log only: a Glance limitation)."""
    image = glance.create()
    cleanup.image(image["id"])
    log = LogTail(aio["logs"]["glance-api"])
    service("stop", "cinder-api")
    try:
        resp = put_file(glance, image["id"],
                        KnownLengthBody(Content(4 * MiB)))
    finally:
        service("start", "cinder-api")
    assert resp.status_code == 500, (resp.status_code, resp.text)
    text = log.read()
    assert "RemoteServiceUnavailable: Creating volume image-%s" % (
        image["id"]) in text
    assert "Unable to establish connection to %s" % aio["cinder"]["url"] \
        in text
    assert_nothing_stored(glance, cinder, image["id"])
    still_serving(glance, cleanup)


def test_client_disconnect_mid_upload_leaves_nothing(
        glance: Glance, cinder: Any, cleanup: Cleanup) -> None:
    image = glance.create()
    cleanup.image(image["id"])
    content = Content(512 * MiB)
    with raw_request(glance, "PUT", "/v2/images/%s/file" % image["id"], {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(content.size)}) as sock:
        sent = 0
        for piece in content.pieces():
            sock.sendall(piece)
            sent += len(piece)
            if sent >= 64 * MiB:
                break
        # The driver has its volume by now: the upload is under way.
        wait_until(lambda: image_volumes(cinder, image["id"]), 120,
                   "volume of image %s created" % image["id"])
    assert_nothing_stored(glance, cinder, image["id"])
    still_serving(glance, cleanup)


def test_client_disconnect_mid_download_leaves_nothing(
        glance: Glance, cinder: Any, cleanup: Cleanup) -> None:
    content = Content(256 * MiB)
    image = upload(glance, cleanup, content)
    (volume,) = image_volumes(cinder, image["id"])
    with raw_request(glance, "GET", "/v2/images/%s/file" % image["id"],
                     {}) as sock:
        got = 0
        while got < 16 * MiB:
            data = sock.recv(BLOCK)
            assert data, "glance-api closed the download"
            got += len(data)
        assert cinder.volumes.get(volume.id).attachments
    wait_until(lambda: not cinder.volumes.get(volume.id).attachments, 120,
               "volume %s detached after the client left" % volume.id)
    assert cinder.volumes.get(volume.id).status == "available"
    # The image is still whole and readable.
    assert_download(glance, image, content)


# -- a glance-api worker SIGKILLed mid-upload --------------------------------
KILL_SIZE = GiB + 64 * MiB     # never sent whole: the worker dies first
KILL_AT = 96 * MiB


def kill_mid_upload(aio: dict[str, Any], glance: Glance, cleanup: Cleanup,
                    store: str) -> tuple[str, GlanceJournal]:
    """Upload into ``store``, SIGKILL the worker writing it; wait for
    gunicorn's replacement.  The image id and the journal."""
    journal = GlanceJournal(aio)
    image_id = cleanup.image(glance.create()["id"])
    workers = len(gunicorn_workers(aio))
    killed: list[int] = []
    out = upload_under_fault(
        glance, image_id, Content(KILL_SIZE), KILL_AT,
        lambda: killed.append(kill_uploader(journal, image_id)),
        store=store)
    # The worker died holding the request: no answer at all.
    assert out.status is None, (out.status, out.text)
    wait_worker_replaced(aio, killed[0], workers)
    return image_id, journal


def test_worker_killed_mid_upload_is_recovered_at_the_next_start(
        aio: dict[str, Any], glance: Glance, cinder: Any, cleanup: Cleanup,
        family_store: str) -> None:
    """The new worker's start (cinder_recover_at_start) disconnects,
    deletes the attachment and the volume, and drops the records.  Glance
    never learns the worker died: the image stays ``saving`` (Glance 33
    has no timeout for it; deleting the image is the way out)."""
    image_id, journal = kill_mid_upload(aio, glance, cleanup, family_store)
    wait_until(lambda: not journal.of_image(image_id)
               and not image_volumes(cinder, image_id), 120,
               "recovery of the upload of %s" % image_id)
    assert glance.show(image_id)["status"] == "saving"
    still_serving(glance, cleanup, store=family_store)


def test_sweep_finds_and_removes_what_a_killed_upload_left(
        aio: dict[str, Any], glance: Glance, cinder: Any, cleanup: Cleanup,
        family_store: str) -> None:
    """With recovery at start off, the killed upload's volume, attachment
    and connection stay; sweep (glance-api's user and config) lists
    exactly those, --apply removes them, a second run finds nothing."""
    stores = sorted(aio["glance"]["backends"])
    with glance_options({"%s.cinder_recover_at_start" % s: "false"
                         for s in stores}):
        image_id, journal = kill_mid_upload(aio, glance, cleanup,
                                            family_store)
        assert journal.kinds_of_image(image_id) == [
            "attachment", "connection", "volume"]
        (volume,) = image_volumes(cinder, image_id)
        assert volume.status == "in-use" and len(volume.attachments) == 1
        attachment_id = volume.attachments[0]["attachment_id"]

        code, report = run_sweep(aio, family_store)
        [found] = [s["found"] for s in report["stores"]]
        assert code == 1, report
        subjects = sorted(f["subject"] for f in found)
        assert all(f["source"] == "journal" for f in found), found
        assert len(found) == 3 and any(
            attachment_id in s for s in subjects) and any(
            volume.id in s and s.startswith("volume") for s in subjects), \
            found

        code, report = run_sweep(aio, family_store, "--apply")
        [done] = [s["done"] for s in report["stores"]]
        assert code == 0 and len(done) == 3, report
        assert journal.of_image(image_id) == []
        wait_until(lambda: not image_volumes(cinder, image_id), 120,
                   "volume of image %s deleted by sweep" % image_id)

        code, report = run_sweep(aio, family_store)
        assert code == 0 and report["stores"][0]["found"] == [], report
    assert glance.show(image_id)["status"] == "saving"
    still_serving(glance, cleanup, store=family_store)


# -- a service stopped mid-upload ---------------------------------------------
OUTAGE_SIZE = 256 * MiB
OUTAGE_AT = 64 * MiB


def upload_during_outage(aio: dict[str, Any], glance: Glance,
                         cleanup: Cleanup, outage: Outage,
                         store: str) -> tuple[str, Any]:
    """An upload whose service goes away once it writes; the image id and
    what glance-api answered (the service is back on return)."""
    image_id = cleanup.image(glance.create()["id"])
    journal = GlanceJournal(aio)

    def fault() -> None:
        journal.uploader(image_id)  # the driver is writing
        outage.begin()

    out = upload_under_fault(glance, image_id, Content(OUTAGE_SIZE),
                             OUTAGE_AT, fault, outage.end, store=store,
                             log_path=aio["logs"]["glance-api"])
    return image_id, out


def assert_left_then_cleaned(journal: GlanceJournal, cinder: Any,
                             image_id: str, timeout: float = 120) -> None:
    """The failed upload's volume and attachment are left, recorded as
    released; the worker's background retry removes them once Cinder takes
    the calls again."""
    records = journal.of_image(image_id)
    assert sorted(r["kind"] for r in records) == ["attachment", "volume"]
    assert all(r["released"] for r in records), records
    wait_until(lambda: not journal.of_image(image_id)
               and not image_volumes(cinder, image_id), timeout,
               "failed cleanup of image %s retried" % image_id)


def test_cinder_api_down_30s_mid_upload_is_500_then_cleaned(
        aio: dict[str, Any], glance: Glance, cinder: Any, cleanup: Cleanup,
        family_store: str) -> None:
    """The data goes on to the device; the detach at the end cannot reach
    Cinder: the driver raises RemoteServiceUnavailable naming the call and
    Cinder's URL, Glance answers a generic 500 (no mapping for it) and
    puts the image back to ``queued``.  Once cinder-api is back the worker
    retries the cleanup by itself."""
    image_id, out = upload_during_outage(
        aio, glance, cleanup, Outage("cinder-api", 30), family_store)
    assert out.status == 500, (out.status, out.text)
    assert "RemoteServiceUnavailable: Deleting attachment" in out.log
    assert "Unable to establish connection to %s" % aio["cinder"]["url"] \
        in out.log
    assert glance.show(image_id)["status"] == "queued"
    assert_left_then_cleaned(GlanceJournal(aio), cinder, image_id)
    still_serving(glance, cleanup, store=family_store)


@pytest.mark.parametrize("name,lasting", [("keystone", 15),
                                          ("rabbitmq", 20)])
def test_control_plane_down_mid_upload_is_survived(
        aio: dict[str, Any], glance: Glance, cinder: Any, cleanup: Cleanup,
        family_store: str, name: str, lasting: float) -> None:
    """Keystone: every token the upload needs is already issued and
    validated (cached by the store's session and by Cinder's and Glance's
    keystonemiddleware): the upload completes.  RabbitMQ: the detach's
    RPC in cinder-api waits until RabbitMQ is back (well within
    cinder_http_timeout), then the upload completes; when cinder-api sent
    it before cinder-volume's queue was declared again, it is lost and
    the request fails or times out, and the driver asks once more.  Both
    204, the image active and bit-exact, nothing left."""
    content = Content(OUTAGE_SIZE)
    image_id, out = upload_during_outage(
        aio, glance, cleanup, Outage(name, lasting), family_store)
    assert out.status == 204, (out.status, out.text)
    image = glance.show(image_id)
    assert_image_matches(image, content)
    assert_download(glance, image, content)


# -- cinder-volume down: the volume stays "creating" -------------------------
STUCK_TIMEOUT = 20      # cinder_state_transition_timeout for that row


def test_cinder_volume_down_is_a_bounded_wait_then_cleaned(
        aio: dict[str, Any], glance: Glance, cinder: Any,
        cleanup: Cleanup, family_store: str) -> None:
    """The scheduler still counts cinder-volume up and hands it the
    create, which waits in RabbitMQ: the volume stays ``creating``.  The
    driver waits one cinder_state_transition_timeout (lowered to 20 s for
    this row) and fails the upload with StateTimeout naming the volume
    (Glance: a generic 500, the image back to ``queued``); it cannot
    delete a ``creating`` volume, so the record stays (released, stuck)
    and the worker retries the delete in the background until
    cinder-volume is back and has settled the volume."""
    image_id = cleanup.image(glance.create()["id"])
    with glance_options({family_store + ".cinder_state_transition_timeout":
                         str(STUCK_TIMEOUT)}):
        outage = Outage("cinder-volume", STUCK_TIMEOUT + 10)
        log = LogTail(aio["logs"]["glance-api"])
        outage.begin()
        try:
            t0 = time.monotonic()
            resp = put_file(glance, image_id,
                            KnownLengthBody(Content(8 * MiB)),
                            store=family_store)
            waited = time.monotonic() - t0
        finally:
            outage.end()
        assert resp.status_code == 500, (resp.status_code, resp.text)
        # One bounded wait, not two (the cleanup does not wait again).
        assert waited < 2 * STUCK_TIMEOUT, waited
        assert ("StateTimeout: Timed out after %.1fs waiting for volume"
                % STUCK_TIMEOUT) in log.read()
        [record] = GlanceJournal(aio).of_image(image_id)
        assert record["released"] and record["data"]["stuck"], record
        wait_until(lambda: not GlanceJournal(aio).of_image(image_id)
                   and not image_volumes(cinder, image_id), 180,
                   "stuck volume of image %s deleted" % image_id)
        assert glance.show(image_id)["status"] == "queued"
        still_serving(glance, cleanup, store=family_store)


# -- an attachment DELETE refused by Cinder's policy -------------------------
def test_detach_refused_by_policy_keeps_the_download_then_cleaned(
        aio: dict[str, Any], glance: Glance, glance_service: Glance,
        cinder: Any, cleanup: Cleanup, family_store: str) -> None:
    """With ``volume:attachment_delete`` refused, a download is whole and
    bit-exact (the detach comes after the last byte), the read attachment
    stays with its records (released); once the rule is gone the worker's
    retry deletes it, and the image reads again."""
    content = Content(16 * MiB + 3)
    image = upload(glance, cleanup, content, store=family_store)
    journal = GlanceJournal(aio)
    with cinder_policy({"volume:attachment_delete": "!"}):
        assert_download(glance, image, content)
        left = wait_until(lambda: [r for r in journal.records()
                                   if r["released"]], 60,
                          "a released record of the refused detach")
        [volume_id] = [loc["url"].rsplit("/", 1)[1] for loc in
                       glance_service.locations(image["id"])]
        assert cinder.volumes.get(volume_id).attachments
        assert [(r["kind"], r["data"].get("volume_id")) for r in left] == [
            ("attachment", volume_id)], left
    wait_until(lambda: not [r for r in journal.records()
                            if r["data"].get("volume_id") == volume_id]
               and not cinder.volumes.get(volume_id).attachments, 120,
               "the refused detach of %s retried" % volume_id)
    assert_download(glance, image, content)


def test_detach_refused_by_policy_fails_the_upload_then_cleaned(
        aio: dict[str, Any], glance: Glance, cinder: Any, cleanup: Cleanup,
        family_store: str) -> None:
    """For an upload the detach is part of completing the add: refused,
    the add fails with Cinder's refusal (Forbidden, naming the attachment
    call; Glance has no mapping for the store's Forbidden: a generic
    500), the image goes back to ``queued``, the volume cannot be deleted
    while attached and both stay recorded; once the rule is gone the
    worker's retry deletes attachment and volume."""
    image_id = cleanup.image(glance.create()["id"])
    log = LogTail(aio["logs"]["glance-api"])
    with cinder_policy({"volume:attachment_delete": "!"}):
        resp = put_file(glance, image_id, KnownLengthBody(Content(8 * MiB)),
                        store=family_store)
        text = log.read()
        journal = GlanceJournal(aio)
        records = journal.of_image(image_id)
    assert resp.status_code == 500, (resp.status_code, resp.text)
    assert "Policy doesn't allow volume:attachment_delete" in text
    assert sorted(r["kind"] for r in records) == ["attachment", "volume"]
    assert all(r["released"] for r in records), records
    assert glance.show(image_id)["status"] == "queued"
    wait_until(lambda: not journal.of_image(image_id)
               and not image_volumes(cinder, image_id), 120,
               "the refused detach of image %s retried" % image_id)
    still_serving(glance, cleanup, store=family_store)
