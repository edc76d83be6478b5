"""Driving a fault through glance-api: start an upload, inject the fault
when some bytes are sent, observe what glance-api answers and what is left.

Every fault is made with the stack's own command (tools/openstack-aio/
service): a service stopped and started again, a glance-api worker
SIGKILLed, an option of glance-api.conf or a rule of Cinder's policy file
changed for a while.  Each change is undone in a ``finally``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from keystoneauth1 import exceptions as ks_exc

from tests.functional.conftest import glance_api_journal
from tests.functional.test_glance_api import Content
from tests.functional.test_glance_api import Glance
from tests.functional.test_glance_api import KnownLengthBody
from tests.functional.test_glance_api import LogTail
from tests.functional.waits import wait_until

REPO = pathlib.Path(__file__).resolve().parents[2]
SERVICE = REPO / "tools" / "openstack-aio" / "service"
# glance-api restarts and service starts, each at most (the stack's own
# readiness waits are bounded by GSC_AIO_TIMEOUT, 180 s by default).
SERVICE_TIMEOUT = 300


def service(action: str, name: str, *items: str) -> None:
    subprocess.run([str(SERVICE), action, name, *items], check=True,
                   timeout=SERVICE_TIMEOUT)


# -- faults ----------------------------------------------------------------
class Outage:
    """A service stopped at :meth:`begin` and started again ``lasting``
    seconds later by a timer thread, whatever the request does meanwhile;
    :meth:`end` (in a ``finally``) waits for that start, or starts the
    service itself if the timer could not."""

    def __init__(self, name: str, lasting: float = 0.0) -> None:
        self.name = name
        self.lasting = lasting
        self._timer: threading.Thread | None = None
        self._back = threading.Event()

    def begin(self) -> None:
        service("stop", self.name)
        self._timer = threading.Thread(target=self._start_later,
                                       daemon=True)
        self._timer.start()

    def _start_later(self) -> None:
        time.sleep(self.lasting)
        service("start", self.name)
        self._back.set()

    def end(self) -> None:
        if self._timer is None:
            return
        self._timer.join(self.lasting + SERVICE_TIMEOUT)
        self._timer = None
        if not self._back.is_set():
            service("start", self.name)


@contextlib.contextmanager
def glance_options(options: dict[str, str]) -> Iterator[None]:
    """glance-api restarted with ``{"section.option": value}``; restarted
    with the stack's own configuration afterwards, even on failure."""
    try:
        service("set", "glance-api",
                *("%s=%s" % kv for kv in sorted(options.items())))
        yield
    finally:
        service("reset", "glance-api")


@contextlib.contextmanager
def cinder_policy(rules: dict[str, str]) -> Iterator[None]:
    """Cinder's policy file holds ``rules``; its defaults again afterwards
    (cinder-api reads the file when it changes)."""
    try:
        service("policy", "cinder-api",
                *("%s=%s" % kv for kv in sorted(rules.items())))
        yield
    finally:
        service("policy", "cinder-api")


# -- glance-api's journal --------------------------------------------------
class GlanceJournal:
    """The stack's glance-api's journal, read as root (files of 0600)."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.directory = glance_api_journal(env)

    def records(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            with contextlib.suppress(FileNotFoundError, ValueError):
                found.append(json.loads(path.read_text()))
        return found

    def of_image(self, image_id: str) -> list[dict[str, Any]]:
        """The image's volume record and what hangs on it (by volume id
        once it is known, by parent before)."""
        records = self.records()
        mine = {r["id"]: r for r in records
                if r["data"].get("image_id") == image_id}
        volumes = {r["data"].get("volume_id") for r in mine.values()} - {
            None}
        grew = True
        while grew:
            grew = False
            for r in records:
                if r["id"] not in mine and (
                        r["parent"] in mine
                        or r["data"].get("volume_id") in volumes):
                    mine[r["id"]] = r
                    grew = True
        return list(mine.values())

    def kinds_of_image(self, image_id: str) -> list[str]:
        return sorted(r["kind"] for r in self.of_image(image_id))

    def uploader(self, image_id: str) -> int:
        """The pid of the worker writing the image (its volume record's
        owner, once the upload writes: it has a connection)."""
        def owner() -> int | None:
            records = self.of_image(image_id)
            if not any(r["kind"] == "connection" for r in records):
                return None
            [volume] = [r for r in records if r["kind"] == "volume"]
            return int(volume["owner"]["pid"])
        pid = wait_until(owner, 120, "the upload of %s attached" % image_id)
        assert pid is not None
        return pid


def kill_uploader(journal: GlanceJournal, image_id: str) -> int:
    """SIGKILL the glance-api worker writing the image; its pid."""
    pid = journal.uploader(image_id)
    os.kill(pid, signal.SIGKILL)
    return pid


def gunicorn_workers(env: dict[str, Any]) -> list[int]:
    """The glance-api gunicorn master's live workers."""
    master = int(pathlib.Path(env["glance"]["gunicorn_pid_file"])
                 .read_text().split()[0])
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return sorted(found)


def wait_worker_replaced(env: dict[str, Any], killed: int,
                         workers: int) -> None:
    """gunicorn has started the killed worker's successor."""
    wait_until(lambda: killed not in (now := gunicorn_workers(env))
               and len(now) >= workers, 120,
               "glance-api's worker %d replaced" % killed)


# -- an upload under a fault ------------------------------------------------
class FaultingBody(KnownLengthBody):
    """A known-length body that calls ``fault`` once, when ``at`` bytes
    have been read from it (the request waits meanwhile)."""

    def __init__(self, content: Content, at: int,
                 fault: Callable[[], None]) -> None:
        super().__init__(content)
        self.at = at
        self.fault: Callable[[], None] | None = fault

    def read(self, n: int = -1) -> bytes:
        if self.fault is not None and self.pos >= self.at:
            fault, self.fault = self.fault, None
            fault()
        return super().read(n)


@dataclasses.dataclass
class Outcome:
    """What the client of glance-api saw, and what glance-api logged."""

    status: int | None
    """None: the connection was cut before an answer."""
    text: str
    log: str
    seconds: float


def upload_under_fault(glance: Glance, image_id: str, content: Content,
                       at: int, fault: Callable[[], None],
                       restore: Callable[[], None] = lambda: None,
                       store: str | None = None,
                       log_path: str | None = None) -> Outcome:
    """PUT the image's data, ``fault()`` once ``at`` bytes are sent; then
    ``restore()`` (also when the PUT fails)."""
    headers = {"Content-Type": "application/octet-stream"}
    if store:
        headers["X-Image-Meta-Store"] = store
    log = LogTail(log_path) if log_path else None
    body = FaultingBody(content, at, fault)
    t0 = time.monotonic()
    try:
        try:
            resp = glance.session.put(
                glance.url + "/v2/images/%s/file" % image_id, data=body,
                headers=headers, raise_exc=False, timeout=600)
            status, text = resp.status_code, resp.text
        except ks_exc.ConnectionError as exc:
            status, text = None, str(exc)
        seconds = time.monotonic() - t0
    finally:
        restore()
    assert body.fault is None, "the fault was never injected"
    return Outcome(status, text, log.read() if log else "", seconds)


# -- the operator's sweep -----------------------------------------------------
def run_sweep(env: dict[str, Any], store: str, *args: str
              ) -> tuple[int, dict[str, Any]]:
    """``glance-store-cinder sweep`` of one store, as glance-api's user
    with its configuration and venv; its exit code and JSON report."""
    glance = env["glance"]
    done = subprocess.run(
        ["runuser", "-u", glance["user"], "--",
         os.path.join(glance["venv"], "bin", "glance-store-cinder"),
         "sweep", "--config-file", glance["api_conf"], "--store", store,
         "--json", *args], capture_output=True, text=True, timeout=300,
        cwd="/")
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)
