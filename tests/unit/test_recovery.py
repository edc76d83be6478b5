"""Recovery: what dead workers of this host left is undone, nothing else.

A "crash" is a worker that stops between two steps and never runs its
cleanup: a reader kept open, or an upload frozen in its source's read().
The worker is then declared dead in the fake process table, and another
worker (another pid) starts the store.
"""

import io
import threading
from collections.abc import Iterable

import pytest
from glance_store import exceptions as gs_exc
from glance_store import location as gs_location

from glance_store_cinder import journal as jr
from glance_store_cinder.owners import Owners
from glance_store_cinder.recovery import Step
from glance_store_cinder.store import Store
from glance_store_cinder.transfer.reader import VolumeReader
from tests.unit.fakes.processes import FakeProcessTable
from tests.unit.harness import CHUNK
from tests.unit.harness import ENDPOINT_TEMPLATE
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

NEXT_WORKER = 4343

# A "killed" worker here still lives in the test process: what it holds in
# memory (a librbd handle) cannot die with it, and PowerFlex devices wait
# for their size.  What recovery does is Cinder's and the journal's, the
# same for every family: the block and the file-share family show it.
pytestmark = pytest.mark.parametrize("protocol", ["local", "nfs"])


# A stored image: its store, its location, its data and its volume's id.
StoredImage = tuple[Store, gs_location.Location, bytes, str]


@pytest.fixture
def image(env: Env) -> StoredImage:
    store = env.store()
    data = pattern(3 * CHUNK + 5)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    return store, env.location(store, uri), data, uri.rsplit("/", 1)[1]


def crash_reading(env: Env, store: Store, location: gs_location.Location
                  ) -> VolumeReader:
    """A reader that holds the volume when its worker dies."""
    reader, _ = store.get(location)
    next(reader)
    env.processes.kill(env.processes.pid)
    env.processes.become(NEXT_WORKER)
    return reader  # kept referenced: nobody ever closes it


def restart_after_crash(env: Env, store: Store,
                        location: gs_location.Location
                        ) -> tuple[Store, VolumeReader]:
    """The next worker's store, not recovering at start, and the reader
    its dead predecessor left (to keep referenced)."""
    abandoned = crash_reading(env, store, location)
    return env.store(cinder_recover_at_start=False), abandoned


def kinds(steps: Iterable[Step]) -> list[str]:
    return [s.record.kind for s in steps]


def test_reader_killed_mid_download_is_recovered_at_start(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    abandoned = crash_reading(env, store, location)
    assert len(env.cloud.volume(vid).attachments) == 1
    restarted = env.store()
    env.assert_clean(keep=[vid])
    assert restarted.runtime.journal.records() == []
    # the next download does not wait for anything
    sleeps = len(env.time.sleeps)
    assert read_all(restarted, location) == data
    assert len(env.time.sleeps) == sleeps
    abandoned.close()  # what the dead worker would have done: harmless
    env.assert_clean(keep=[vid])


def test_busy_volume_is_recovered_at_once_without_waiting(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    restarted, abandoned = restart_after_crash(env, store, location)
    assert len(env.cloud.volume(vid).attachments) == 1
    sleeps = len(env.time.sleeps)
    assert read_all(restarted, location) == data
    # Cinder's 400 led to recovery at once, not to a wait
    assert len(env.time.sleeps) == sleeps
    env.assert_clean(keep=[vid])


def test_plan_says_what_and_why_and_changes_nothing(
        env: Env, image: StoredImage) -> None:
    store, location, _, vid = image
    restarted, abandoned = restart_after_crash(env, store, location)
    steps = restarted.runtime.recovery.plan()
    assert kinds(steps) == ["reader", "connection", "attachment"]
    assert "has exited" in steps[0].reason
    assert all("no live reader" in s.reason for s in steps[1:])
    assert [s.action for s in steps] == ["forget the reader", "disconnect",
                                         "delete the attachment"]
    assert vid in steps[2].subject
    assert len(env.cloud.volume(vid).attachments) == 1
    assert len(restarted.runtime.journal.records()) == 3
    outcome = restarted.runtime.recovery.apply(steps)
    assert outcome.done == steps and not outcome.failed
    env.assert_clean(keep=[vid])


def test_live_workers_and_other_hosts_are_never_touched(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader, _ = store.get(location)
    next(reader)
    journal = store.runtime.journal
    # a lock path shared with another host (on a shared file system)
    elsewhere = jr.Journal(journal.directory, journal.store,
                           Owners(FakeProcessTable(pid=1),
                                  lambda: "glance-host-2"))
    other_host = elsewhere.begin(jr.ATTACHMENT, volume_id=vid, mode="ro",
                                 attachment_id="a-elsewhere")
    env.processes.become(NEXT_WORKER)  # the first worker lives on
    restarted = env.store()
    assert restarted.runtime.recovery.plan() == []
    assert len(env.cloud.volume(vid).attachments) == 1
    # the shared attachment, its connection, the live reader, the other
    # host's record
    assert len(journal.records()) == 4
    env.processes.become(4242)
    assert b"".join(reader) == data[CHUNK:]
    assert [r.id for r in journal.records()] == [other_host.id]
    journal.remove(other_host)
    env.assert_clean(keep=[vid])


def test_record_stays_until_its_undo_succeeds(env: Env,
                                              image: StoredImage) -> None:
    store, location, _, vid = image
    abandoned = crash_reading(env, store, location)  # noqa: F841
    env.cloud.fail_next("DELETE", r"/attachments/", 500)
    restarted = env.store()
    # the connection was undone, the attachment Cinder refused is kept
    [kept] = restarted.runtime.journal.records()
    assert kept.kind == jr.ATTACHMENT
    assert env.factory.open_volume_ids() == []
    assert len(env.cloud.volume(vid).attachments) == 1
    outcome = restarted.runtime.recovery.apply()
    assert kinds(outcome.done) == ["attachment"] and not outcome.failed
    env.assert_clean(keep=[vid])


def test_attachment_refused_at_detach_is_replayed_while_its_owner_lives(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader, _ = store.get(location)
    env.cloud.fail_next("DELETE", r"/attachments/", 403)
    with pytest.raises(gs_exc.Forbidden):
        reader.close()
    [released] = store.runtime.journal.records()
    assert released.released and released.kind == jr.ATTACHMENT
    # another worker starts: the record is no longer anyone's to use
    env.processes.become(NEXT_WORKER)
    env.store()
    env.assert_clean(keep=[vid])
    assert store.runtime.journal.records() == []


class FrozenSource:
    """An upload's data that stops coming: the worker hangs, then dies."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.reached = threading.Event()
        self.thaw = threading.Event()

    def read(self, size: int = -1) -> bytes:
        if self._data.tell() >= CHUNK:
            self.reached.set()
            self.thaw.wait(30)
            raise OSError("the worker is gone")
        return self._data.read(size)


@pytest.mark.parametrize("online", [True, False])
def test_upload_killed_midway_is_recovered_at_start(env: Env,
                                                    online: bool) -> None:
    store = env.store(cinder_do_extend_attached=online)
    source = FrozenSource(pattern(4 * CHUNK))
    errors: list[Exception] = []

    def upload() -> None:
        try:
            store.add(new_image_id(), source, 4 * CHUNK, "sha512")
        except Exception as exc:
            errors.append(exc)

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        assert source.reached.wait(30)
        [volume] = env.cloud.volumes
        assert volume.status == "in-use"
        env.processes.kill(env.processes.pid)
        env.processes.become(NEXT_WORKER)
        restarted = env.store()
        assert kinds(restarted.runtime.recovery.plan()) == []
        env.cloud.settle()
        env.assert_clean()
        assert restarted.runtime.journal.records() == []
    finally:
        source.thaw.set()
        uploader.join(30)
    assert errors


def test_volume_whose_create_never_answered_is_found_by_name(env: Env) -> None:
    store = env.store()
    env.cloud.fail_next("POST", r"/volumes$", 504)
    image_id = new_image_id()
    # Cinder created it although the answer was lost
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, name="image-%s" % image_id,
        metadata={"glance_image_id": image_id})
    with pytest.raises(gs_exc.BackendException):
        store.add(image_id, io.BytesIO(b"x"), 1, "sha512")
    env.assert_clean()
    env.cloud.settle()
    assert vid in env.cloud.deleted_volume_ids


def test_without_service_credentials_only_connections_are_undone(
        env: Env, image: StoredImage) -> None:
    store, location, _, vid = image
    abandoned = crash_reading(env, store, location)  # noqa: F841
    restarted = env.store(
        cinder_store_auth_address=None, cinder_store_user_name=None,
        cinder_store_password=None, cinder_store_project_name=None,
        cinder_endpoint_template=ENDPOINT_TEMPLATE)
    assert env.factory.open_volume_ids() == []
    [kept] = restarted.runtime.journal.all_records()
    assert kept.kind == jr.ATTACHMENT
    env.store()  # a worker with them does the rest
    env.assert_clean(keep=[vid])


def test_volume_of_an_owner_that_died_before_recording_its_id(
        env: Env) -> None:
    store = env.store()
    image_id = new_image_id()
    store.runtime.journal.begin(jr.VOLUME, image_id=image_id,
                                name="image-%s" % image_id)
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, name="image-%s" % image_id,
        metadata={"glance_image_id": image_id})
    env.processes.kill(env.processes.pid)
    env.processes.become(NEXT_WORKER)
    env.store()
    env.cloud.settle()
    assert vid in env.cloud.deleted_volume_ids
    assert store.runtime.journal.records() == []
