"""Readers of one image on two glance-api hosts, without multiattach.

Host A is the stack's glance-api; host B is ``tools/openstack-aio/
second-host``: the same glance-api in its own UTS and mount namespaces
(hostname ``gsc-aio-b``, its own mount table, lock path and journal, port
9293), with ``cinder_state_transition_timeout`` shortened to 20 s so that
its bound is seen here.  Cinder lets one host attach a volume that is not
multiattach; each host shares its own attachment among its readers, and
the hosts take turns: a reader on the host that waits gets its bytes once
the other host's readers are done, or, after the bound, a retryable 503
naming the holding host, never a 500.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from testing_support.stack import AIO_DIR
from tests.functional.test_glance_api import Cleanup
from tests.functional.test_glance_api import Content
from tests.functional.test_glance_api import Glance
from tests.functional.test_glance_api import MiB
from tests.functional.test_glance_api import upload
from tests.functional.test_shared_reads import AttachmentWatch
from tests.functional.test_shared_reads import Download
from tests.functional.test_shared_reads import OpenDownload
from tests.functional.test_shared_reads import volume_of

SECOND_HOST = (pathlib.Path(__file__).resolve().parents[2] / "tools"
               / "openstack-aio" / "second-host")
PER_HOST = 4
SIZE = 32 * MiB
PACE = 16 * MiB          # about 2 s per download
# Host A's download, held open, keeps its attachment: larger than the
# sockets can buffer (OpenDownload).
HELD_SIZE = 128 * MiB


@pytest.fixture(scope="module")
def host_b(aio: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Host B, started for this module and stopped after it."""
    subprocess.run([str(SECOND_HOST), "start"], check=True, timeout=300)
    try:
        yield json.loads((AIO_DIR / "run" / "second-host.json").read_text())
    finally:
        subprocess.run([str(SECOND_HOST), "stop"], check=True, timeout=300)


@pytest.fixture(scope="module")
def glance_b(host_b: dict[str, Any], admin_session: Any) -> Glance:
    return Glance(admin_session, host_b["url"])


def journal_of(directory: str) -> list[str]:
    path = pathlib.Path(directory)
    return sorted(p.name for p in path.glob("*.json")) if path.exists() \
        else []


def mounts_of(pid: int, base: str) -> list[str]:
    """Mount points under ``base`` in the mount namespace of ``pid``."""
    with open("/proc/%d/mounts" % pid) as f:
        return [line.split()[1] for line in f
                if line.split()[1].startswith(base.rstrip("/") + "/")]


def assert_nothing_left(host_b: dict[str, Any],
                        watch: AttachmentWatch) -> None:
    assert watch.settled() == ()
    assert journal_of(host_b["journal"]) == []
    assert mounts_of(int(host_b["pid"]), host_b["mount_base"]) == []
    assert journal_of(str(AIO_DIR / "locks" / "glance" / "journal")) == []


def turns(watch: AttachmentWatch) -> list[str]:
    """The hosts that held the volume, in order (one entry per turn)."""
    order: list[str] = []
    for sample in watch.seen:
        assert len(sample) <= 1, "two attachments at once: %s" % (sample,)
        for _, host in sample:
            if not order or order[-1] != host:
                order.append(host)
    return order


@dataclasses.dataclass
class TwoHosts:
    """Both hosts' glance-api, and what a test needs around them."""

    glance: Glance          # host A
    glance_b: Glance
    host_b: dict[str, Any]
    glance_service: Glance
    cinder: Any
    cleanup: Cleanup
    store: str              # of the family under test

    def watched_image(self, size: int
                      ) -> tuple[Content, dict[str, Any], AttachmentWatch]:
        """A new image of the store and a watch on its attachments."""
        content = Content(size)
        image = upload(self.glance, self.cleanup, content, store=self.store)
        return content, image, AttachmentWatch(
            self.cinder, volume_of(self.glance_service, image["id"]))


@pytest.fixture
def two_hosts(glance: Glance, glance_b: Glance, host_b: dict[str, Any],
              glance_service: Glance, cinder: Any, cleanup: Cleanup,
              family_store: str) -> TwoHosts:
    return TwoHosts(glance, glance_b, host_b, glance_service, cinder,
                    cleanup, family_store)


def test_readers_on_two_hosts_take_turns(two_hosts: TwoHosts) -> None:
    glance, glance_b, host_b = \
        two_hosts.glance, two_hosts.glance_b, two_hosts.host_b
    content, image, watch = two_hosts.watched_image(SIZE)
    on_a = [Download(glance, image["id"], content, PACE)
            for _ in range(PER_HOST)]
    on_b = [Download(glance_b, image["id"], content, PACE)
            for _ in range(PER_HOST)]
    threads = [threading.Thread(target=d.run) for d in on_a + on_b]
    watch.thread.start()
    t0 = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
    finally:
        watch.stop.set()
        watch.thread.join(30)

    expected = (image["checksum"], image["os_hash_value"])
    assert [(d.status, d.error) for d in on_a + on_b] == \
        [(200, None)] * (2 * PER_HOST)
    assert [d.digests for d in on_a + on_b] == [expected] * (2 * PER_HOST)
    order = turns(watch)
    assert sorted(order) == sorted([socket.gethostname(),
                                    host_b["hostname"]]), order
    # the host that came second read only after the first one's readers
    first, second = (on_a, on_b) if order[0] == socket.gethostname() \
        else (on_b, on_a)
    first_done = max(d.ended for d in first if d.ended is not None)
    assert all(d.first_byte is not None and d.first_byte > first_done - 1
               for d in second)
    assert_nothing_left(host_b, watch)
    for name, group in (("A", on_a), ("B", on_b)):
        print("\n%s host %s: first bytes %s s, ends %s s" % (
            two_hosts.store, name,
            " ".join("%.1f" % (d.first_byte - t0) for d in group
                     if d.first_byte is not None),
            " ".join("%.1f" % (d.ended - t0) for d in group
                     if d.ended is not None)))


def test_a_reader_on_the_other_host_gives_up_after_the_bound(
        two_hosts: TwoHosts) -> None:
    glance, glance_b, host_b = \
        two_hosts.glance, two_hosts.glance_b, two_hosts.host_b
    content, image, watch = two_hosts.watched_image(HELD_SIZE)
    held = OpenDownload(glance, image["id"], content)
    try:
        t0 = time.monotonic()
        resp = glance_b.session.get(
            glance_b.url + "/v2/images/%s/file" % image["id"], timeout=120,
            raise_exc=False)
        waited = time.monotonic() - t0
        status, body = resp.status_code, resp.text[:2000]
    finally:
        digests = held.finish()
    bound = float(host_b["state_transition_timeout"])
    # not before the bound, and a retryable answer, never a 500
    assert status == 503, body
    assert bound - 1 <= waited <= bound + 15, waited
    log = pathlib.Path(host_b["log"]).read_text(errors="replace")
    assert "is attached to host(s) %s" % socket.gethostname() in log
    assert "is attached to host(s) %s" % socket.gethostname() in body
    assert digests == (image["checksum"], image["os_hash_value"])
    # once host A is done, host B reads it
    after = Download(glance_b, image["id"], content, 64 * MiB)
    after.run()
    assert (after.status, after.error) == (200, None)
    assert_nothing_left(host_b, watch)
    print("\n%s: host B answered %d after %.1f s (bound %.0f s)"
          % (two_hosts.store, status, waited, bound))
