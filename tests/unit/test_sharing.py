"""Shared read attachments: one per image volume per host, many readers.

Several readers in this one test process stand for several glance-api
workers: each is started as another "process" of the fake process table
(``become``), so its journal record has its own owner, and killing that
process is what a SIGKILL of the worker does to the record.
"""

from __future__ import annotations

import gc
import hashlib
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
from glance_store_cinder.mounts import MountTable
from glance_store_cinder.store import Store
from glance_store_cinder.transfer.reader import VolumeReader
from glance_store_cinder.transfer.releaser import SHARED as RELEASER
from tests.unit.fakes.cloud import NFS_EXPORT
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.harness import StoredImage
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all
from tests.unit.test_unprivileged import RootHelper

# librbd hands over a handle, not a path: see test_a_handle_is_not_shared.
SHARED_FAMILIES = pytest.mark.parametrize("protocol", ["local", "nfs",
                                                       "scaleio"])

WORKERS = (5001, 5002, 5003)
LINGER = 5.0


def stored(env: Env, store: Store, size: int = 5 * CHUNK + 7
           ) -> StoredImage:
    data = pattern(size)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    return store, env.location(store, uri), data, uri.rsplit("/", 1)[1]


@pytest.fixture
def image(env: Env) -> StoredImage:
    return stored(env, env.store())


def attachment_creates(env: Env) -> list[Any]:
    return [r for r in env.cloud.requests
            if r.method == "POST" and r.path.endswith("/attachments")]


def get_as(env: Env, pid: int, store: Store,
           location: gs_location.Location, **kwargs: Any
           ) -> VolumeReader:
    """A download started by worker ``pid``."""
    env.processes.become(pid)
    reader, _ = store.get(location, **kwargs)
    return reader


def records(store: Store, kind: str) -> list[jr.Record]:
    return store.runtime.journal.records(kind)


@SHARED_FAMILIES
def test_readers_of_one_host_share_one_attachment(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    env.cloud.requests.clear()
    readers = [get_as(env, pid, store, location) for pid in WORKERS]
    assert len(attachment_creates(env)) == 1
    assert len(env.cloud.volume(vid).attachments) == 1
    [share] = records(store, jr.ATTACHMENT)
    assert share.owner is None and share.get("shared")
    assert {r.owner.pid for r in records(store, jr.READER)
            if r.owner} == set(WORKERS)
    # every reader reads concurrently, in its own order
    got = [bytearray() for _ in readers]
    for _ in range(3):
        for i, reader in enumerate(readers):
            got[i] += next(reader)
    for i, reader in enumerate(readers):
        got[i] += b"".join(reader) if i != 1 else b""
    assert got[0] == data and got[2] == data
    # the one still reading keeps the attachment for itself
    assert len(env.cloud.volume(vid).attachments) == 1
    got[1] += b"".join(readers[1])
    assert got[1] == data
    assert env.cloud.volume(vid).attachments == {}
    assert store.runtime.journal.records() == []
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_every_reader_gets_exactly_its_bytes(env: Env,
                                             image: StoredImage) -> None:
    store, location, data, vid = image
    ranges = [(0, None), (CHUNK + 3, None), (7, CHUNK * 2 + 1),
              (len(data) - 1, None)]
    readers = [(get_as(env, 6000 + i, store, location, offset=offset,
                       chunk_size=size), offset, size)
               for i, (offset, size) in enumerate(ranges)]
    assert len(env.cloud.volume(vid).attachments) == 1
    for reader, offset, size in reversed(readers):
        end = len(data) if size is None else offset + size
        assert b"".join(reader) == data[offset:end]
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_early_close_releases_only_that_readers_share(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    first = get_as(env, WORKERS[0], store, location)
    second = get_as(env, WORKERS[1], store, location)
    next(first)
    first.close()
    assert len(env.cloud.volume(vid).attachments) == 1
    assert len(records(store, jr.READER)) == 1
    assert b"".join(second) == data
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_garbage_collection_releases_only_that_readers_share(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    dropped = get_as(env, WORKERS[0], store, location)
    kept = get_as(env, WORKERS[1], store, location)
    next(dropped)
    del dropped
    gc.collect()
    assert RELEASER.flush(30)
    assert len(env.cloud.volume(vid).attachments) == 1
    assert b"".join(kept) == data
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_killed_reader_is_dropped_and_the_others_keep_reading(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    killed = get_as(env, WORKERS[0], store, location)
    alive = get_as(env, WORKERS[1], store, location)
    next(killed)
    env.processes.kill(WORKERS[0])
    env.processes.become(WORKERS[2])
    restarted = env.store()  # the killed worker's replacement recovers
    assert [r.owner.pid for r in records(restarted, jr.READER)
            if r.owner] == [WORKERS[1]]
    assert len(env.cloud.volume(vid).attachments) == 1
    assert restarted.runtime.recovery.plan() == []
    assert b"".join(alive) == data
    env.assert_clean(keep=[vid])
    killed.close()  # what the dead worker would have done: harmless
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_share_whose_readers_all_died_is_released_by_recovery(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    abandoned = [get_as(env, pid, store, location) for pid in WORKERS[:2]]
    for pid in WORKERS[:2]:
        env.processes.kill(pid)
    env.processes.become(WORKERS[2])
    restarted = env.store(cinder_recover_at_start=False)
    steps = restarted.runtime.recovery.plan()
    assert [s.record.kind for s in steps] == ["reader", "reader",
                                              "connection", "attachment"]
    outcome = restarted.runtime.recovery.apply()
    assert len(outcome.done) == 4 and not outcome.failed
    env.assert_clean(keep=[vid])
    assert read_all(restarted, location) == data
    for reader in abandoned:
        reader.close()
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_reader_killed_while_attaching_leaves_nothing_after_recovery(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    # the first reader died after Cinder's attachment create
    env.processes.become(WORKERS[0])
    journal = store.runtime.journal
    share = journal.begin(jr.ATTACHMENT, owned=False, volume_id=vid,
                          mode="ro", shared=True)
    journal.begin(jr.READER, share, volume_id=vid)
    volumes = store.runtime.service_volumes()
    journal.update(share, attachment_id=volumes.attachments.create(
        vid, "ro"))
    env.processes.kill(WORKERS[0])
    # the next reader is not stuck behind it: the dead share is released
    # before it attaches (one create, no 400 to wait out)
    restarted = get_store_as(env, WORKERS[1])
    env.cloud.requests.clear()
    assert read_all(restarted, location) == data
    assert len(attachment_creates(env)) == 1
    env.assert_clean(keep=[vid])


def get_store_as(env: Env, pid: int, **options: Any) -> Store:
    env.processes.become(pid)
    return env.store(cinder_recover_at_start=False, **options)


@SHARED_FAMILIES
def test_write_attach_ends_a_share_without_live_readers(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    lingering = env.store(cinder_read_attachment_linger=LINGER)
    assert read_all(lingering, location) == data
    assert len(env.cloud.volume(vid).attachments) == 1  # lingers
    runtime = lingering.runtime
    volumes = runtime.service_volumes()
    with runtime.attacher.attach(volumes, volumes.get(vid), READ_WRITE):
        # the share went first; this attachment is the writer's alone
        assert len(env.cloud.volume(vid).attachments) == 1
        [own] = records(lingering, jr.ATTACHMENT)
        assert own.owner is not None and not own.get("shared")
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_write_attach_waits_for_live_readers_then_gives_up(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader = get_as(env, WORKERS[0], store, location)
    runtime = store.runtime
    volumes = runtime.service_volumes()
    sleeps = len(env.time.sleeps)
    with pytest.raises(gs_exc.InUseByStore, match="still read"):
        with runtime.attacher.attach(volumes, volumes.get(vid),
                                     READ_WRITE):
            pass
    assert 0 < round(sum(env.time.sleeps[sleeps:]), 3) <= 30
    # closed: nobody joins it any more, and its last reader detaches
    with pytest.raises(errors.VolumeHeld, match="held on this host"):
        store.get(location)
    assert b"".join(reader) == data
    env.assert_clean(keep=[vid])
    assert read_all(store, location) == data
    env.assert_clean(keep=[vid])


# -- linger ----------------------------------------------------------------
@SHARED_FAMILIES
def test_linger_keeps_the_attachment_for_back_to_back_reads(
        env: Env) -> None:
    store, location, data, vid = stored(
        env, env.store(cinder_read_attachment_linger=LINGER))
    env.cloud.requests.clear()
    for _ in range(3):
        assert read_all(store, location) == data
    assert len(attachment_creates(env)) == 1
    assert len(env.cloud.volume(vid).attachments) == 1
    [share] = records(store, jr.ATTACHMENT)
    assert share.get("linger_until") == env.time.now + LINGER
    # time passes; the alarm ends it with no request coming
    assert env.ring_alarms() == 0
    env.time.now += LINGER
    assert env.ring_alarms() >= 1
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_a_reader_joining_a_lingering_share_cancels_the_linger(
        env: Env) -> None:
    store, location, data, vid = stored(
        env, env.store(cinder_read_attachment_linger=LINGER))
    assert read_all(store, location) == data
    reader = get_as(env, WORKERS[0], store, location)
    env.time.now += 2 * LINGER
    env.ring_alarms()
    # the alarm rang, but a live reader holds the share
    assert len(env.cloud.volume(vid).attachments) == 1
    assert b"".join(reader) == data
    assert len(env.cloud.volume(vid).attachments) == 1  # lingers again
    env.time.now += LINGER
    env.ring_alarms()
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_recovery_releases_an_expired_linger_only(env: Env) -> None:
    store, location, data, vid = stored(
        env, env.store(cinder_read_attachment_linger=LINGER))
    assert read_all(store, location) == data
    env.processes.kill(env.processes.pid)
    restarted = get_store_as(env, WORKERS[0])
    assert restarted.runtime.recovery.plan() == []  # still lingering
    env.time.now += LINGER
    steps = restarted.runtime.recovery.plan()
    assert [s.record.kind for s in steps] == ["connection", "attachment"]
    assert all("linger has ended" in s.reason for s in steps)
    restarted.runtime.recovery.apply()
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_a_linger_whose_worker_died_is_ended_by_the_next_ones_alarm(
        env: Env) -> None:
    store, location, data, vid = stored(
        env, env.store(cinder_read_attachment_linger=LINGER))
    assert read_all(store, location) == data
    env.processes.kill(env.processes.pid)
    env.processes.become(WORKERS[0])
    env.alarms.clear()  # the dead worker's alarm died with it
    env.store()  # the next worker's start sets its alarm
    assert len(env.cloud.volume(vid).attachments) == 1
    env.time.now += LINGER
    assert env.ring_alarms() == 1
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_linger_of_an_earlier_boot_has_ended(env: Env) -> None:
    store, location, data, vid = stored(
        env, env.store(cinder_read_attachment_linger=LINGER))
    assert read_all(store, location) == data
    env.processes.reboot()
    env.store()  # recovery at start
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_delete_ends_the_linger_first(env: Env) -> None:
    store, location, data, vid = stored(
        env, env.store(cinder_read_attachment_linger=LINGER))
    assert read_all(store, location) == data
    sleeps = len(env.time.sleeps)
    store.delete(location)
    # no wait for the linger: the volume was free at once
    assert sum(env.time.sleeps[sleeps:]) < 1
    env.cloud.settle()
    assert vid in env.cloud.deleted_volume_ids
    env.assert_clean()


@SHARED_FAMILIES
def test_nothing_lingers_without_service_credentials(env: Env) -> None:
    store = env.store(
        cinder_read_attachment_linger=LINGER,
        cinder_store_auth_address=None, cinder_store_user_name=None,
        cinder_store_password=None, cinder_store_project_name=None,
        cinder_endpoint_template="http://cinder.test/v3/%(project_id)s")
    context = env.user_context("alice", "alice-project")
    vid = env.cloud.create_volume_directly(
        context.project_id, 1, data=pattern(100),
        metadata={"image_size": "100"})
    location = env.location(store, "cinder://fast/%s" % vid)
    reader, _ = store.get(location, context=context)
    assert b"".join(reader) == pattern(100)
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_linger_must_stay_below_the_transition_timeout(env: Env) -> None:
    with pytest.raises(gs_exc.BadStoreConfiguration,
                       match="cinder_read_attachment_linger"):
        env.store(cinder_read_attachment_linger=30)


# -- other hosts -------------------------------------------------------------
@SHARED_FAMILIES
def test_a_volume_held_by_another_host_ends_in_a_retryable_error(
        env: Env, image: StoredImage,
        caplog: pytest.LogCaptureFixture) -> None:
    store, location, _, vid = image
    client, other = env.foreign_attachment(vid, host="glance-host-2")
    caplog.set_level(logging.INFO)
    sleeps = len(env.time.sleeps)
    with pytest.raises(errors.VolumeHeld, match="glance-host-2") as raised:
        store.get(location)
    # Glance answers RemoteServiceUnavailable with 503, never a 500
    assert isinstance(raised.value, gs_exc.RemoteServiceUnavailable)
    assert 0 < round(sum(env.time.sleeps[sleeps:]), 3) <= 30
    assert any("busy" in r.getMessage() for r in caplog.records)
    env.cloud.requests.clear()
    client.attachments.delete(other)
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_readers_queued_behind_the_first_do_not_wait_once_more(
        env: Env, image: StoredImage) -> None:
    # the first reader of this host waits out another host's hold under
    # the volume's lock; a reader that waited for that lock as long gives
    # up then, instead of waiting for the other host all over again
    store, location, _, vid = image
    client, other = env.foreign_attachment(vid, host="glance-host-2")
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
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_multiattach_hosts_each_have_one_shared_attachment(
        env: Env) -> None:
    env.cloud.add_volume_type("glance-shared", multiattach=True)
    store = env.store()
    data = pattern(3 * CHUNK)
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, data=data, volume_type="glance-shared",
        metadata={"image_size": str(len(data))})
    location = env.location(store, "cinder://fast/%s" % vid)
    client, other = env.foreign_attachment(vid, host="glance-host-2")
    readers = [get_as(env, pid, store, location) for pid in WORKERS]
    assert len(env.cloud.volume(vid).attachments) == 2
    for reader in readers:
        assert b"".join(reader) == data
    assert list(env.cloud.volume(vid).attachments) == [other]
    client.attachments.delete(other)
    env.assert_clean(keep=[vid])


@pytest.mark.parametrize("protocol", ["rbd"])
def test_a_handle_is_not_shared(env: Env, image: StoredImage) -> None:
    # librbd's handle lives in the process that opened it: the next
    # reader waits (bounded) for that reader instead of joining it
    store, location, data, vid = image
    reader = get_as(env, WORKERS[0], store, location)
    with pytest.raises(errors.VolumeHeld):
        get_as(env, WORKERS[1], store, location)
    assert b"".join(reader) == data
    assert read_all(store, location) == data
    env.assert_clean(keep=[vid])


@pytest.mark.parametrize("protocol", ["nfs"])
# unmounted through the recording root helper, not the fake mounts
@pytest.mark.keeps_resources("mounts")
def test_unprivileged_readers_take_the_volume_over_once_per_share(
        env: Env, tmp_path: pathlib.Path) -> None:
    # one reader giving the file back while another opens it would fail
    # the other: the share takes it over and gives it back, not readers
    base = os.path.realpath(env.mount_base)
    mount_point = os.path.join(
        base, hashlib.md5(NFS_EXPORT.encode()).hexdigest())
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "200 27 0:99 / %s rw - nfs %s rw\n" % (mount_point, NFS_EXPORT))
    helper = RootHelper()
    store = env.store(collaborators=env.collaborators(
        euid=lambda: 1000, root_execute=helper, mounts=None,
        mount_table=MountTable(str(mountinfo))))
    _, location, data, vid = stored(env, store)
    helper.argvs.clear()
    readers = [get_as(env, pid, store, location) for pid in WORKERS]
    for reader in readers:
        assert b"".join(reader) == data
    volume_file = os.path.join(mount_point, "volume-%s" % vid)
    owner = str(os.stat(volume_file).st_uid)
    assert helper.argvs == [["chown", "-h", "1000", volume_file],
                            ["chown", "-h", owner, volume_file],
                            ["umount", mount_point]]


@pytest.mark.parametrize("protocol", ["nfs"])
# unmounted through the recording root helper (asserted), not the fake
@pytest.mark.keeps_resources("mounts")
def test_a_volume_that_cannot_be_taken_over_is_released_at_once(
        env: Env, tmp_path: pathlib.Path) -> None:
    helper = FailingChown()
    base = os.path.realpath(env.mount_base)
    mount_point = os.path.join(
        base, hashlib.md5(NFS_EXPORT.encode()).hexdigest())
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "200 27 0:99 / %s rw - nfs %s rw\n" % (mount_point, NFS_EXPORT))
    store = env.store(collaborators=env.collaborators(
        euid=lambda: 1000, root_execute=helper, mounts=None,
        mount_table=MountTable(str(mountinfo))))
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, data=pattern(100),
        metadata={"image_size": "100"})
    helper.failing = True
    with pytest.raises(Exception, match="chown refused"):
        store.get(env.location(store, "cinder://fast/%s" % vid))
    assert store.runtime.journal.records() == []
    assert helper.argvs[-1] == ["umount", mount_point]
    env.assert_clean(keep=[vid])


class FailingChown(RootHelper):
    """A root helper that refuses chown once ``failing``."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False

    def __call__(self, *argv: Any, **kwargs: Any) -> tuple[str, str]:
        if self.failing and argv[0] == "chown":
            raise OSError("chown refused")
        return super().__call__(*argv, **kwargs)
