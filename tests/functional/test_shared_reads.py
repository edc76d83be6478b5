"""A boot storm through glance-api: many paced downloads of one image.

Every download of the image on this host shares one read-only attachment
of its volume (glance_store_cinder/sharing.py), across glance-api's
gunicorn workers.  The stack runs 4 (``GSC_AIO_GLANCE_WORKERS``), so that
the downloads land in several workers.

The downloads are paced by the client (as a compute node streaming to its
disk is), so that each one holds the attachment for seconds and they all
overlap: with one attachment per reader they would run one after another.
Each test runs for both device families (``family_store``: a file on the
NFS share, a loop device of the block backend).  Two hosts:
test_two_hosts.py.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from tests.functional.test_glance_api import BLOCK
from tests.functional.test_glance_api import Cleanup
from tests.functional.test_glance_api import Content
from tests.functional.test_glance_api import Glance
from tests.functional.test_glance_api import MiB
from tests.functional.test_glance_api import upload

READERS = 16
SIZE = 64 * MiB
PACE = 16 * MiB        # bytes per second per reader: about 4 s each
SETTLE = 60            # seconds for the last detach to show in Cinder


class Download:
    """One paced download, timed, its bytes checked against the image."""

    def __init__(self, client: Glance, image_id: str,
                 content: Content, pace: float = PACE,
                 timeout: float = 300) -> None:
        self.glance = client
        self.timeout = timeout
        self.image_id = image_id
        self.content = content
        self.pace = pace
        self.started: float | None = None
        self.status: int | None = None
        self.first_byte: float | None = None
        self.ended: float | None = None
        self.digests: tuple[str, str] | None = None
        self.error: BaseException | None = None

    def _paced(self, resp: Any) -> Any:
        start = time.monotonic()
        got = 0
        for chunk in resp.iter_content(BLOCK):
            if self.first_byte is None:
                self.first_byte = time.monotonic()
            got += len(chunk)
            yield chunk
            ahead = start + got / self.pace - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def run(self) -> None:
        self.started = time.monotonic()
        try:
            with self.glance.download(self.image_id,
                                      timeout=self.timeout) as resp:
                self.status = resp.status_code
                assert resp.status_code == 200, resp.text
                self.digests = self.content.verify(
                    self._paced(resp), "download of %s" % self.image_id)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.ended = time.monotonic()


class OpenDownload:
    """A glance-api download held open after its first chunk.

    It holds its read attachment for as long as the image is larger than
    what the sockets between it and glance-api's driver can buffer
    (``net.ipv4.tcp_rmem`` and ``tcp_wmem``: up to 32 and 4 MiB on this
    machine's kernel)."""

    def __init__(self, glance: Glance, image_id: str,
                 content: Content) -> None:
        self.content = content
        with contextlib.ExitStack() as stack:
            resp = stack.enter_context(glance.download(image_id))
            assert resp.status_code == 200, resp.text
            self.chunks = resp.iter_content(BLOCK)
            self.first = next(self.chunks)
            self._close = stack.pop_all()

    def finish(self) -> tuple[str, str]:
        def everything() -> Iterator[bytes]:
            yield self.first
            yield from self.chunks
        with self._close:
            return self.content.verify(everything(), "glance-api download")


class AttachmentWatch:
    """Polls the volume's attachments in Cinder while the storm runs."""

    def __init__(self, volumes_api: Any, volume_id: str) -> None:
        self.cinder = volumes_api
        self.volume_id = volume_id
        self.seen: list[tuple[tuple[str, str], ...]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def current(self) -> tuple[tuple[str, str], ...]:
        """(attachment id, host) of each of the volume's attachments."""
        volume = self.cinder.volumes.get(self.volume_id)
        return tuple(sorted((a["attachment_id"], a.get("host_name") or "")
                            for a in volume.attachments))

    def _run(self) -> None:
        while not self.stop.is_set():
            self.seen.append(self.current())
            self.stop.wait(0.2)

    def settled(self) -> tuple[tuple[str, str], ...]:
        """The attachments once the last detach had time to show."""
        deadline = time.monotonic() + SETTLE
        while self.current() and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.current()


def volume_of(service: Glance, image_id: str) -> str:
    [url] = [loc["url"] for loc in service.locations(image_id)
             if loc["url"].startswith("cinder://")]
    return str(url.rsplit("/", 1)[1])


class Storm:
    """``READERS`` paced downloads of one new image of a store."""

    def __init__(self, glance: Glance, glance_service: Glance,
                 cleanup: Cleanup, store: str, size: int = SIZE) -> None:
        self.content = Content(size)
        self.image = upload(glance, cleanup, self.content, store=store)
        self.volume_id = volume_of(glance_service, self.image["id"])
        self.expected = (self.image["checksum"], self.image["os_hash_value"])
        self.downloads = [Download(glance, self.image["id"], self.content)
                          for _ in range(READERS)]
        self.threads = [threading.Thread(target=d.run)
                        for d in self.downloads]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(600)

    def timeline(self) -> str:
        """Each download's first byte and end, in seconds from the start."""
        t0 = min(d.started for d in self.downloads if d.started is not None)

        def at(moment: float | None) -> str:
            return "-" if moment is None else "%.2f" % (moment - t0)
        return "first bytes and ends (s): " + ", ".join(
            "%s..%s" % (at(d.first_byte), at(d.ended))
            for d in self.downloads)


def test_sixteen_paced_downloads_share_one_attachment(
        glance: Glance, glance_service: Glance,  # noqa: F811
        cinder: Any, cleanup: Cleanup, family_store: str) -> None:  # noqa: F811
    storm = Storm(glance, glance_service, cleanup, family_store)
    downloads = storm.downloads
    watch = AttachmentWatch(cinder, storm.volume_id)
    watch.thread.start()
    try:
        storm.start()
        storm.join()
    finally:
        watch.stop.set()
        watch.thread.join(30)

    errors = [d.error for d in downloads if d.error is not None]
    assert errors == []
    assert [d.digests for d in downloads] == [storm.expected] * READERS
    # all overlapped: every download had its first byte before the first
    # one ended
    first_end = min(d.ended for d in downloads if d.ended is not None)
    assert all(d.first_byte is not None and d.first_byte < first_end
               for d in downloads), storm.timeline()
    # one attachment for the whole storm, the same throughout
    during = {ids for ids in watch.seen if ids}
    assert len(during) == 1 and all(len(ids) == 1 for ids in during), \
        during
    assert watch.settled() == ()
    spans = sorted(d.ended - d.first_byte for d in downloads
                   if d.ended is not None and d.first_byte is not None)
    print("\n%s: %d downloads of %d MiB at %d MiB/s: %.1f .. %.1f s"
          % (family_store, READERS, SIZE // MiB, PACE // MiB, spans[0],
             spans[-1]))
    print("glance-api workers: %d" % len(glance_workers()))


def glance_workers() -> list[int]:
    """glance-api's gunicorn workers on this machine (by process title)."""
    pids = []
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
        except OSError:
            continue
        if text.startswith(b"gunicorn: worker [glance.wsgi.api"):
            pids.append(int(cmdline.parent.name))
    return sorted(pids)


def test_a_worker_killed_during_the_storm_spares_the_others(
        glance: Glance, glance_service: Glance,  # noqa: F811
        cinder: Any, cleanup: Cleanup, family_store: str) -> None:  # noqa: F811
    workers = glance_workers()
    assert len(workers) >= 2, (
        "run the stack with several workers (GSC_AIO_GLANCE_WORKERS=4, the "
        "default)"
        " (found %d glance-api worker(s))" % len(workers))
    storm = Storm(glance, glance_service, cleanup, family_store)
    downloads = storm.downloads
    storm.start()
    deadline = time.monotonic() + 60
    while (any(d.first_byte is None for d in downloads)
           and time.monotonic() < deadline):
        time.sleep(0.1)
    os.kill(workers[0], signal.SIGKILL)
    storm.join()
    # a download the killed worker served is cut short; every other one
    # is whole and exact (verify() fails on any wrong byte)
    whole = [d for d in downloads if d.error is None]
    assert whole and all(d.digests == storm.expected for d in whole)
    assert all("bytes differ" not in str(d.error) for d in downloads)
    # the image stays usable: a download started right away is whole, and
    # does not first wait out cinder_state_transition_timeout (300 s) for
    # a read attachment the killed worker held (the read timeout is far
    # below it)
    after = Download(glance, storm.image["id"], storm.content,
                     pace=float("inf"), timeout=90)
    after.run()
    assert after.error is None, after.error
    assert after.digests == storm.expected
    # gunicorn restarts the worker; its start recovers the dead readers,
    # and the last live reader (or that recovery) detaches
    assert AttachmentWatch(cinder, storm.volume_id).settled() == ()
    print("\n%s: %d of %d downloads whole after a worker was killed"
          % (family_store, len(whole), READERS))
