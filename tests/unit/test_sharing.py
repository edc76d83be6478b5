"""Shared read attachments: one per image volume per host, many readers.

Several readers in this one test process stand for several glance-api
workers: each is started as another "process" of the fake process table
(``become``), so its journal record has its own owner, and killing that
process is what a SIGKILL of the worker does to the record.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import logging
import os
import pathlib
import threading
from typing import Any

import pytest
from glance_store import exceptions as gs_exc
from glance_store import location as gs_location

from glance_store_cinder import errors
from glance_store_cinder import journal as jr
from glance_store_cinder.attachment import READ_WRITE
from glance_store_cinder.store import Store
from glance_store_cinder.transfer.reader import VolumeReader
from glance_store_cinder.transfer.releaser import SHARED as RELEASER
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all
from tests.unit.test_unprivileged import unprivileged_nfs
from tests.unit.test_unprivileged import unprivileged_nfs_store

# librbd hands over a handle, not a path: see test_a_handle_is_not_shared.
SHARED_FAMILIES = pytest.mark.parametrize("protocol", ["local", "nfs",
                                                       "scaleio"])

WORKERS = (5001, 5002, 5003)
LINGER = 5.0


@dataclasses.dataclass
class Shared:
    """An image stored in its own volume, and the readers it may have."""

    env: Env
    store: Store
    location: gs_location.Location
    data: bytes
    vid: str

    def reader(self, pid: int, **kwargs: Any) -> VolumeReader:
        """A download started by worker ``pid``."""
        self.env.processes.become(pid)
        reader, _ = self.store.get(self.location, **kwargs)
        return reader

    def read_through(self, store: Store) -> bytes:
        return read_all(store, self.location)

    def attachments(self) -> int:
        """How many attachments Cinder has for the volume."""
        return len(self.env.cloud.volume(self.vid).attachments)

    def assert_clean(self) -> None:
        self.env.assert_clean(keep=[self.vid])


def stored(env: Env, store: Store, size: int = 5 * CHUNK + 7) -> Shared:
    data = pattern(size)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    return Shared(env, store, env.location(store, uri), data,
                  uri.rsplit("/", 1)[1])


def made_by_cinder(env: Env, store: Store, data: bytes,
                   project: str | None = None, **volume: Any) -> Shared:
    """An image volume Cinder made itself (a clone, an upload, ...)."""
    vid = env.cloud.create_volume_directly(
        project or env.service_project, 1, data=data,
        metadata={"image_size": str(len(data))}, **volume)
    return Shared(env, store, env.location(store, "cinder://fast/%s" % vid),
                  data, vid)


@pytest.fixture
def image(env: Env) -> Shared:
    return stored(env, env.store())


@pytest.fixture
def lingering(env: Env) -> Shared:
    """An image read once through a store that lets its share linger."""
    image = stored(env, env.store(cinder_read_attachment_linger=LINGER))
    assert image.read_through(image.store) == image.data
    assert image.attachments() == 1
    return image


def two_readers(image: Shared) -> tuple[VolumeReader, VolumeReader]:
    """Two workers' downloads of ``image``, the first one chunk in."""
    first = image.reader(WORKERS[0])
    second = image.reader(WORKERS[1])
    next(first)
    return first, second


def attachment_creates(env: Env) -> list[Any]:
    return [r for r in env.cloud.requests
            if r.method == "POST" and r.path.endswith("/attachments")]


def records(store: Store, kind: str) -> list[jr.Record]:
    return store.runtime.journal.records(kind)


def get_store_as(env: Env, pid: int, **options: Any) -> Store:
    env.processes.become(pid)
    return env.store(cinder_recover_at_start=False, **options)


@SHARED_FAMILIES
def test_readers_of_one_host_share_one_attachment(
        env: Env, image: Shared) -> None:
    env.cloud.requests.clear()
    readers = [image.reader(pid) for pid in WORKERS]
    assert len(attachment_creates(env)) == 1
    assert image.attachments() == 1
    [share] = records(image.store, jr.ATTACHMENT)
    assert share.owner is None and share.get("shared")
    assert {r.owner.pid for r in records(image.store, jr.READER)
            if r.owner} == set(WORKERS)
    # every reader reads concurrently, in its own order
    got = [bytearray() for _ in readers]
    for _ in range(3):
        for i, reader in enumerate(readers):
            got[i] += next(reader)
    for i, reader in enumerate(readers):
        got[i] += b"".join(reader) if i != 1 else b""
    assert got[0] == image.data and got[2] == image.data
    # the one still reading keeps the attachment for itself
    assert image.attachments() == 1
    got[1] += b"".join(readers[1])
    assert got[1] == image.data
    assert image.attachments() == 0
    assert image.store.runtime.journal.records() == []
    image.assert_clean()


@SHARED_FAMILIES
def test_every_reader_gets_exactly_its_bytes(image: Shared) -> None:
    data = image.data
    ranges = [(0, None), (CHUNK + 3, None), (7, CHUNK * 2 + 1),
              (len(data) - 1, None)]
    readers = [(image.reader(6000 + i, offset=offset, chunk_size=size),
                offset, size)
               for i, (offset, size) in enumerate(ranges)]
    assert image.attachments() == 1
    for reader, offset, size in reversed(readers):
        end = len(data) if size is None else offset + size
        assert b"".join(reader) == data[offset:end]
    image.assert_clean()


@SHARED_FAMILIES
def test_early_close_releases_only_that_readers_share(
        image: Shared) -> None:
    closed, other = two_readers(image)
    closed.close()
    assert image.attachments() == 1
    assert len(records(image.store, jr.READER)) == 1
    assert b"".join(other) == image.data
    image.assert_clean()


@SHARED_FAMILIES
def test_garbage_collection_releases_only_that_readers_share(
        image: Shared) -> None:
    dropped, kept = two_readers(image)
    del dropped
    gc.collect()
    assert RELEASER.flush(30)
    assert image.attachments() == 1
    assert b"".join(kept) == image.data
    image.assert_clean()


@SHARED_FAMILIES
def test_killed_reader_is_dropped_and_the_others_keep_reading(
        env: Env, image: Shared) -> None:
    killed, alive = two_readers(image)
    env.processes.kill(WORKERS[0])
    env.processes.become(WORKERS[2])
    restarted = env.store()  # the killed worker's replacement recovers
    assert [r.owner.pid for r in records(restarted, jr.READER)
            if r.owner] == [WORKERS[1]]
    assert image.attachments() == 1
    assert restarted.runtime.recovery.plan() == []
    assert b"".join(alive) == image.data
    image.assert_clean()
    killed.close()  # what the dead worker would have done: harmless
    image.assert_clean()


@SHARED_FAMILIES
def test_share_whose_readers_all_died_is_released_by_recovery(
        env: Env, image: Shared) -> None:
    abandoned = [image.reader(pid) for pid in WORKERS[:2]]
    for pid in WORKERS[:2]:
        env.processes.kill(pid)
    env.processes.become(WORKERS[2])
    restarted = env.store(cinder_recover_at_start=False)
    steps = restarted.runtime.recovery.plan()
    assert [s.record.kind for s in steps] == ["reader", "reader",
                                              "connection", "attachment"]
    outcome = restarted.runtime.recovery.apply()
    assert len(outcome.done) == 4 and not outcome.failed
    image.assert_clean()
    assert image.read_through(restarted) == image.data
    for reader in abandoned:
        reader.close()
    image.assert_clean()


@SHARED_FAMILIES
def test_reader_killed_while_attaching_leaves_nothing_after_recovery(
        env: Env, image: Shared) -> None:
    vid = image.vid
    # the first reader died after Cinder's attachment create
    env.processes.become(WORKERS[0])
    journal = image.store.runtime.journal
    share = journal.begin(jr.ATTACHMENT, owned=False, volume_id=vid,
                          mode="ro", shared=True)
    journal.begin(jr.READER, share, volume_id=vid)
    volumes = image.store.runtime.service_volumes()
    journal.update(share, attachment_id=volumes.attachments.create(
        vid, "ro"))
    env.processes.kill(WORKERS[0])
    # the next reader is not stuck behind it: the dead share is released
    # before it attaches (one create, no 400 to wait out)
    restarted = get_store_as(env, WORKERS[1])
    env.cloud.requests.clear()
    assert image.read_through(restarted) == image.data
    assert len(attachment_creates(env)) == 1
    image.assert_clean()


@SHARED_FAMILIES
def test_write_attach_ends_a_share_without_live_readers(
        lingering: Shared) -> None:
    runtime = lingering.store.runtime
    volumes = runtime.service_volumes()
    with runtime.attacher.attach(volumes, volumes.get(lingering.vid),
                                 READ_WRITE):
        # the share went first; this attachment is the writer's alone
        assert lingering.attachments() == 1
        [own] = records(lingering.store, jr.ATTACHMENT)
        assert own.owner is not None and not own.get("shared")
    lingering.assert_clean()


@SHARED_FAMILIES
def test_write_attach_waits_for_live_readers_then_gives_up(
        env: Env, image: Shared) -> None:
    reader = image.reader(WORKERS[0])
    runtime = image.store.runtime
    volumes = runtime.service_volumes()
    sleeps = len(env.time.sleeps)
    with pytest.raises(gs_exc.InUseByStore, match="still read"):
        with runtime.attacher.attach(volumes, volumes.get(image.vid),
                                     READ_WRITE):
            pass
    assert 0 < round(sum(env.time.sleeps[sleeps:]), 3) <= 30
    # closed: nobody joins it any more, and its last reader detaches
    with pytest.raises(errors.VolumeHeld, match="held on this host"):
        image.store.get(image.location)
    assert b"".join(reader) == image.data
    image.assert_clean()
    assert image.read_through(image.store) == image.data
    image.assert_clean()


# -- linger ----------------------------------------------------------------
@SHARED_FAMILIES
def test_linger_keeps_the_attachment_for_back_to_back_reads(
        env: Env, lingering: Shared) -> None:
    env.cloud.requests.clear()
    for _ in range(2):
        assert lingering.read_through(lingering.store) == lingering.data
    assert attachment_creates(env) == []
    assert lingering.attachments() == 1
    [share] = records(lingering.store, jr.ATTACHMENT)
    assert share.get("linger_until") == env.time.now + LINGER
    # time passes; the alarm ends it with no request coming
    assert env.ring_alarms() == 0
    env.time.now += LINGER
    assert env.ring_alarms() >= 1
    lingering.assert_clean()


@SHARED_FAMILIES
def test_a_reader_joining_a_lingering_share_cancels_the_linger(
        env: Env, lingering: Shared) -> None:
    reader = lingering.reader(WORKERS[0])
    env.time.now += 2 * LINGER
    env.ring_alarms()
    # the alarm rang, but a live reader holds the share
    assert lingering.attachments() == 1
    assert b"".join(reader) == lingering.data
    assert lingering.attachments() == 1  # lingers again
    env.time.now += LINGER
    env.ring_alarms()
    lingering.assert_clean()


@SHARED_FAMILIES
def test_recovery_releases_an_expired_linger_only(
        env: Env, lingering: Shared) -> None:
    env.processes.kill(env.processes.pid)
    restarted = get_store_as(env, WORKERS[0])
    assert restarted.runtime.recovery.plan() == []  # still lingering
    env.time.now += LINGER
    steps = restarted.runtime.recovery.plan()
    assert [s.record.kind for s in steps] == ["connection", "attachment"]
    assert all("linger has ended" in s.reason for s in steps)
    restarted.runtime.recovery.apply()
    lingering.assert_clean()


@SHARED_FAMILIES
def test_a_linger_whose_worker_died_is_ended_by_the_next_ones_alarm(
        env: Env, lingering: Shared) -> None:
    env.processes.kill(env.processes.pid)
    env.processes.become(WORKERS[0])
    env.alarms.clear()  # the dead worker's alarm died with it
    env.store()  # the next worker's start sets its alarm
    assert lingering.attachments() == 1
    env.time.now += LINGER
    assert env.ring_alarms() == 1
    lingering.assert_clean()


@SHARED_FAMILIES
def test_linger_of_an_earlier_boot_has_ended(
        env: Env, lingering: Shared) -> None:
    env.processes.reboot()
    env.store()  # recovery at start
    lingering.assert_clean()


@SHARED_FAMILIES
def test_delete_ends_the_linger_first(env: Env, lingering: Shared) -> None:
    sleeps = len(env.time.sleeps)
    lingering.store.delete(lingering.location)
    # no wait for the linger: the volume was free at once
    assert sum(env.time.sleeps[sleeps:]) < 1
    env.cloud.settle()
    assert lingering.vid in env.cloud.deleted_volume_ids
    env.assert_clean()


@SHARED_FAMILIES
def test_nothing_lingers_without_service_credentials(env: Env) -> None:
    store = env.store(
        cinder_read_attachment_linger=LINGER,
        cinder_store_auth_address=None, cinder_store_user_name=None,
        cinder_store_password=None, cinder_store_project_name=None,
        cinder_endpoint_template="http://cinder.test/v3/%(project_id)s")
    context = env.user_context("alice", "alice-project")
    image = made_by_cinder(env, store, pattern(100),
                           project=context.project_id)
    reader, _ = store.get(image.location, context=context)
    assert b"".join(reader) == image.data
    image.assert_clean()


@SHARED_FAMILIES
def test_linger_must_stay_below_the_transition_timeout(env: Env) -> None:
    with pytest.raises(gs_exc.BadStoreConfiguration,
                       match="cinder_read_attachment_linger"):
        env.store(cinder_read_attachment_linger=30)


# -- other hosts -------------------------------------------------------------
@SHARED_FAMILIES
def test_a_volume_held_by_another_host_ends_in_a_retryable_error(
        env: Env, image: Shared,
        caplog: pytest.LogCaptureFixture) -> None:
    client, other = env.foreign_attachment(image.vid, host="glance-host-2")
    caplog.set_level(logging.INFO)
    sleeps = len(env.time.sleeps)
    with pytest.raises(errors.VolumeHeld, match="glance-host-2") as raised:
        image.store.get(image.location)
    # Glance answers RemoteServiceUnavailable with 503, never a 500
    assert isinstance(raised.value, gs_exc.RemoteServiceUnavailable)
    assert 0 < round(sum(env.time.sleeps[sleeps:]), 3) <= 30
    assert any("busy" in r.getMessage() for r in caplog.records)
    env.cloud.requests.clear()
    client.attachments.delete(other)
    image.assert_clean()


@SHARED_FAMILIES
def test_readers_queued_behind_the_first_do_not_wait_once_more(
        env: Env, image: Shared) -> None:
    # the first reader of this host waits out another host's hold under
    # the volume's lock; a reader that waited for that lock as long gives
    # up then, instead of waiting for the other host all over again
    store, location = image.store, image.location
    client, other = env.foreign_attachment(image.vid, host="glance-host-2")
    first = threading.get_ident()
    second_has_a_deadline = threading.Event()
    outcome: list[BaseException] = []

    def second_reader() -> None:
        try:
            store.get(location)
        except BaseException as exc:  # asserted below
            outcome.append(exc)

    def clock_read() -> None:
        if threading.get_ident() != first:
            second_has_a_deadline.set()

    second = threading.Thread(target=second_reader)

    def first_sleep() -> None:
        env.time.on_sleep = None
        second.start()
        assert second_has_a_deadline.wait(30)

    env.time.on_monotonic = clock_read
    env.time.on_sleep = first_sleep
    started = env.time.now
    try:
        with pytest.raises(errors.VolumeHeld, match="glance-host-2"):
            store.get(location)
    finally:
        second.join(30)
        env.time.on_monotonic = None
    [error] = outcome
    assert isinstance(error, errors.VolumeHeld)
    assert "glance-host-2" in str(error)
    # both gave up within about one cinder_state_transition_timeout (30)
    assert env.time.now - started < 31
    client.attachments.delete(other)
    image.assert_clean()


@SHARED_FAMILIES
def test_multiattach_hosts_each_have_one_shared_attachment(
        env: Env) -> None:
    env.cloud.add_volume_type("glance-shared", multiattach=True)
    image = made_by_cinder(env, env.store(), pattern(3 * CHUNK),
                           volume_type="glance-shared")
    client, other = env.foreign_attachment(image.vid, host="glance-host-2")
    readers = [image.reader(pid) for pid in WORKERS]
    assert image.attachments() == 2
    for reader in readers:
        assert b"".join(reader) == image.data
    assert list(env.cloud.volume(image.vid).attachments) == [other]
    client.attachments.delete(other)
    image.assert_clean()


@pytest.mark.parametrize("protocol", ["rbd"])
def test_a_handle_is_not_shared(image: Shared) -> None:
    # librbd's handle lives in the process that opened it: the next
    # reader waits (bounded) for that reader instead of joining it
    reader = image.reader(WORKERS[0])
    with pytest.raises(errors.VolumeHeld):
        image.reader(WORKERS[1])
    assert b"".join(reader) == image.data
    assert image.read_through(image.store) == image.data
    image.assert_clean()


@unprivileged_nfs
def test_unprivileged_readers_take_the_volume_over_once_per_share(
        env: Env, tmp_path: pathlib.Path) -> None:
    # one reader giving the file back while another opens it would fail
    # the other: the share takes it over and gives it back, not readers
    store, mount_point, helper = unprivileged_nfs_store(env, tmp_path)
    image = stored(env, store)
    helper.argvs.clear()
    readers = [image.reader(pid) for pid in WORKERS]
    for reader in readers:
        assert b"".join(reader) == image.data
    volume_file = os.path.join(mount_point, "volume-%s" % image.vid)
    owner = str(os.stat(volume_file).st_uid)
    assert helper.argvs == [["chown", "-h", "1000", volume_file],
                            ["chown", "-h", owner, volume_file],
                            ["umount", mount_point]]



def chown_refused(env: Env, tmp_path: pathlib.Path
                  ) -> tuple[Store, str, Any, Shared]:
    """An unprivileged NFS store (its mount point, its root helper, which
    refuses the takeover's chown) and an image volume Cinder made."""
    store, mount_point, helper = unprivileged_nfs_store(env, tmp_path)
    image = made_by_cinder(env, store, pattern(100))
    helper.refused.add("chown")
    return store, mount_point, helper, image

@unprivileged_nfs
def test_a_volume_that_cannot_be_taken_over_is_released_at_once(
        env: Env, tmp_path: pathlib.Path) -> None:
    store, mount_point, helper, image = chown_refused(env, tmp_path)
    with pytest.raises(Exception, match="chown refused"):
        store.get(image.location)
    assert store.runtime.journal.records() == []
    assert helper.argvs[-1] == ["umount", mount_point]
    image.assert_clean()

