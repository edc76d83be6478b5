"""Volume lifecycle: create, wait, delete; readers still detaching."""

import io
from typing import Any

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder import errors
from glance_store_cinder.volumes import AttachmentCalls
from tests.unit.fakes.injection import TIMEOUT_DONE
from tests.unit.fakes.injection import TIMEOUT_UNDONE
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.harness import StoredImage
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

TIMEOUT = 20
# most of this is Cinder-side only; the export protocol does not matter
LOCAL = pytest.mark.parametrize("protocol", ["local"])


@pytest.fixture
def image(env: Env) -> StoredImage:
    store = env.store(cinder_state_transition_timeout=TIMEOUT)
    data = pattern(2 * CHUNK + 5)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    return store, env.location(store, uri), data, uri.rsplit("/", 1)[1]


def test_delete_waits_for_a_reader_still_detaching(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader, _ = store.get(location)
    next(reader)

    def reader_goes_away() -> None:
        reader.close()
        env.time.on_sleep = None

    env.time.on_sleep = reader_goes_away
    start = env.time.now
    store.delete(location)
    assert env.time.now > start  # it did wait
    env.assert_clean()


@LOCAL
def test_delete_waits_while_cinder_still_shows_detaching(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    env.cloud.stall(vid, "detaching", 5, then="available")
    store.delete(location)
    assert len(env.time.sleeps) >= 5
    env.assert_clean()


@LOCAL
def test_delete_of_a_volume_attached_elsewhere_times_out_as_in_use(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    client, attachment_id = env.foreign_attachment(vid)
    start = env.time.now
    with pytest.raises(gs_exc.InUseByStore, match=vid):
        store.delete(location)
    assert TIMEOUT <= env.time.now - start <= TIMEOUT + 1
    assert env.cloud.volume_exists(vid)
    assert not env.cloud.volume(vid).deleting
    client.attachments.delete(attachment_id)
    store.delete(location)
    env.assert_clean()


@LOCAL
@pytest.mark.keeps_resources("volumes")  # stuck in deleting for good
def test_delete_of_a_volume_being_deleted_is_done(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    env.cloud.stall(vid, "deleting", 10 ** 6, then="available")
    store.delete(location)
    assert env.cloud.volume(vid).status == "deleting"


@LOCAL
def test_delete_waits_for_the_volume_to_be_deleting_or_gone(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    env.cloud.status_polls_before_ready = 3
    store.delete(location)
    # Cinder reported it deleting (or gone) before delete returned
    assert env.cloud.volume(vid).deleting or not env.cloud.volume_exists(vid)
    env.assert_clean()


@LOCAL
def test_error_volume_is_deleted(env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    env.cloud.set_status(vid, "error")
    store.delete(location)
    env.assert_clean()


@LOCAL
def test_wait_status_stops_at_an_error_status(env: Env) -> None:
    store = env.store()
    volumes = store.runtime.service_volumes()
    vid = env.cloud.create_volume_directly(env.service_project, 1)
    env.cloud.stall(vid, "extending", 2, then="error_extending")
    with pytest.raises(errors.VolumeInErrorState, match="error_extending"):
        volumes.wait_status(vid, "available")
    assert env.time.now - 1000.0 < 1  # no waiting out the timeout


@LOCAL
def test_wait_status_times_out(env: Env) -> None:
    store = env.store(cinder_state_transition_timeout=7)
    volumes = store.runtime.service_volumes()
    vid = env.cloud.create_volume_directly(env.service_project, 1)
    env.cloud.stall(vid, "creating", 10 ** 6)
    with pytest.raises(errors.StateTimeout, match="7.0s"):
        volumes.wait_status(vid, "available")
    assert env.time.now - 1000.0 == pytest.approx(7)
    # the first look comes quickly, the interval grows
    assert env.time.sleeps[0] <= 0.05
    assert env.time.sleeps[:-1] == sorted(env.time.sleeps[:-1])


@LOCAL
def test_create_with_a_type_cinder_does_not_know(env: Env) -> None:
    # configure could not check the type (Cinder was down), Cinder checks
    # it on create: a configuration error naming the type
    outage = env.outage()
    store = env.store(cinder_volume_type="glance-nope",
                      collaborators=env.collaborators(
                          http_session_factory=outage.session))
    outage.down = False
    with pytest.raises(gs_exc.BadStoreConfiguration, match="glance-nope"):
        store.add(new_image_id(), io.BytesIO(b"abc"), 3, "sha512")
    env.assert_clean()


@LOCAL
def test_volume_type_lookup_by_name_or_id(env: Env) -> None:
    store = env.store()
    volumes = store.runtime.service_volumes()
    type_id = env.cloud.add_volume_type("by-id")
    assert volumes.volume_type_exists("glance-slow")
    assert volumes.volume_type_exists(type_id)
    assert not volumes.volume_type_exists("glance-nope")
    assert volumes.default_volume_type() == "glance-fast"


@LOCAL
def test_volume_info_reads_what_the_store_needs(env: Env) -> None:
    store = env.store()
    volumes = store.runtime.service_volumes()
    vid = env.cloud.create_volume_directly(
        env.service_project, 3, metadata={"image_size": "12"},
        volume_type="glance-slow", bootable=True)
    info = volumes.get(vid)
    assert (info.id, info.status, info.size_gib, info.volume_type) == (
        vid, "available", 3, "glance-slow")
    assert info.metadata == {"image_size": "12"}
    assert info.bootable is True and info.encrypted is False
    assert info.attachments == () and info.multiattach is False


@LOCAL
def test_attachments_on_this_host_are_seen(
        env: Env, image: StoredImage) -> None:
    # the service role lets the store see which host holds an attachment
    store, location, data, vid = image
    client, attachment_id = env.foreign_attachment(vid, host="h-2")
    info = store.runtime.service_volumes().get(vid)
    assert [a["host_name"] for a in info.attachments] == ["h-2"]
    assert info.attachments_on("h-2") and not info.attachments_on("h-1")
    client.attachments.delete(attachment_id)
    assert read_all(store, location) == data


# -- the attachment's delete, asked again when Cinder failed inside --------
def _add(store: Any, data: bytes) -> str:
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    return str(uri)


@pytest.mark.parametrize("failure", [500, 502, 504, TIMEOUT_UNDONE,
                                     TIMEOUT_DONE])
def test_an_attachment_delete_failed_inside_cinder_once_is_asked_again(
        env: Env, failure: int, caplog: pytest.LogCaptureFixture) -> None:
    # A lost RPC in cinder-api (RabbitMQ restarted) answers 500 or
    # nothing; the answer of a delete that went through can be lost too
    # (TIMEOUT_DONE: the second ask finds it gone).
    store = env.store()
    data = pattern(CHUNK + 3)
    env.cloud.fail_next("DELETE", r"/attachments/", failure)
    uri = _add(store, data)
    assert "asking Cinder once more" in caplog.text
    assert read_all(store, env.location(store, uri)) == data
    env.assert_clean(keep=[uri.rsplit("/", 1)[1]])


def test_an_attachment_delete_failing_twice_fails_the_add(env: Env) -> None:
    store = env.store()
    env.cloud.fail_next("DELETE", r"/attachments/", TIMEOUT_UNDONE, times=2)
    with pytest.raises(gs_exc.RemoteServiceUnavailable,
                       match="Deleting attachment"):
        _add(store, pattern(CHUNK))
    env.store()  # the next start of a worker recovers what is left
    env.assert_clean()


@LOCAL
def test_a_second_ask_that_finds_nothing_is_not_found_when_that_matters(
        env: Env, image: StoredImage) -> None:
    # A 404 after a failed first ask may be an attachment this user cannot
    # see: recovery with requesters' tokens (missing_ok=False) must know.
    store, location, data, vid = image
    client, attachment_id = env.foreign_attachment(vid)
    env.cloud.fail_next("DELETE", r"/attachments/", TIMEOUT_DONE)
    with pytest.raises(gs_exc.NotFound):
        AttachmentCalls(client).delete(attachment_id, missing_ok=False,
                                       ask_again=True)
    env.assert_clean(keep=[vid])


def test_an_attachment_delete_failed_inside_is_asked_once_outside_requests(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    client, attachment_id = env.foreign_attachment(vid)
    env.cloud.fail_next("DELETE", r"/attachments/", 500)
    with pytest.raises(gs_exc.BackendException, match="Deleting attach"):
        AttachmentCalls(client).delete(attachment_id)   # recovery, sweep
    AttachmentCalls(client).delete(attachment_id)
    env.assert_clean(keep=[vid])


@pytest.mark.parametrize("status,error", [
    (400, gs_exc.BackendException), (403, gs_exc.Forbidden)])
def test_an_attachment_delete_refused_is_not_asked_again(
        env: Env, status: int, error: type[Exception],
        caplog: pytest.LogCaptureFixture) -> None:
    store = env.store()
    env.cloud.fail_next("DELETE", r"/attachments/", status)
    with pytest.raises(error, match="Deleting attach"):
        _add(store, pattern(CHUNK))
    assert "asking Cinder once more" not in caplog.text
    env.store()
    env.assert_clean()
