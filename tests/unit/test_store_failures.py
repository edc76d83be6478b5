"""A failure at every step of add and get leaves nothing behind.

Each step is made to fail once (an HTTP error from Cinder, an os-brick
error); the caller must get a glance_store exception, and the cloud must
hold no new volume and no attachment, and the host no connection.
"""

import io
import json
from typing import Any

import pytest
import requests
from glance_store import exceptions as gs_exc

from glance_store_cinder.store import Store
from tests.unit.harness import CHUNK
from tests.unit.harness import GIB
from tests.unit.harness import Env
from tests.unit.harness import StoredImage
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

VOLUME = r"/volumes/[0-9a-f-]{36}"

# (step, method, path) of every Cinder call an upload makes
ADD_STEPS = [
    ("create volume", "POST", r"/volumes$"),
    ("status poll", "GET", VOLUME + "$"),
    ("attachment create", "POST", r"/attachments$"),
    ("attachment update", "PUT", r"/attachments/"),
    ("attachment complete", "POST", r"/attachments/.*/action$"),
    ("readonly flag", "POST", VOLUME + "/action$"),
]

STATUS_ERRORS = [
    (500, gs_exc.BackendException),
    (503, gs_exc.RemoteServiceUnavailable),
    (403, gs_exc.Forbidden),
]


def add(store: Store, data: bytes, size: int | None = None) -> Any:
    return store.add(new_image_id(), io.BytesIO(data),
                     len(data) if size is None else size, "sha512")


@pytest.mark.parametrize("step,method,path", ADD_STEPS,
                         ids=[s[0] for s in ADD_STEPS])
def test_add_fails_cleanly_at_each_cinder_step(env: Env, step: str,
                                               method: str, path: str) -> None:
    store = env.store()
    env.cloud.fail_next(method, path, 500)
    with pytest.raises(gs_exc.BackendException) as raised:
        add(store, pattern(2 * CHUNK + 1))
    assert "HTTP 500" in str(raised.value)
    env.assert_clean()


def test_store_works_after_a_failed_upload(env: Env) -> None:
    store = env.store()
    env.factory.fail_on("connect")
    with pytest.raises(gs_exc.BackendException):
        add(store, b"first")
    uri, *_ = add(store, b"again")
    assert read_all(store, env.location(store, uri)) == b"again"


@pytest.mark.parametrize("step,method,path", [ADD_STEPS[0], ADD_STEPS[4]],
                         ids=["create volume", "attachment complete"])
@pytest.mark.parametrize("status,error", STATUS_ERRORS,
                         ids=[str(s[0]) for s in STATUS_ERRORS])
@pytest.mark.parametrize("protocol", ["nfs"])
def test_add_failures_are_typed_by_status(env: Env, step: str, method: str,
                                          path: str, status: int,
                                          error: type[Exception]) -> None:
    store = env.store()
    env.cloud.fail_next(method, path, status)
    with pytest.raises(error, match="HTTP %d" % status):
        add(store, pattern(CHUNK))
    env.assert_clean()


def test_add_volume_create_over_quota_is_storage_full(env: Env) -> None:
    store = env.store()
    env.cloud.set_quota(env.service_project, gigabytes=1)
    with pytest.raises(gs_exc.StorageFull):
        add(store, pattern(GIB + 1))
    env.assert_clean()


@pytest.mark.parametrize("online", [True, False])
def test_add_extend_over_quota_is_storage_full(env: Env, online: bool) -> None:
    store = env.store(cinder_do_extend_attached=online)
    env.cloud.set_quota(env.service_project, gigabytes=2)
    with pytest.raises(gs_exc.StorageFull):
        add(store, pattern(3 * GIB), size=0)
    env.assert_clean()


@pytest.mark.parametrize("online", [True, False])
def test_add_extend_request_failing(env: Env, online: bool) -> None:
    store = env.store(cinder_do_extend_attached=online)
    env.cloud.fail_next("POST", VOLUME + "/action$", 500)
    with pytest.raises(gs_exc.BackendException, match="Extending"):
        add(store, pattern(GIB + CHUNK), size=0)
    env.assert_clean()


def fail_volumes_on_sleep(env: Env, status: str, failed: str) -> None:
    """While the store waits, volumes in ``status`` go to ``failed``."""
    def fail() -> None:
        for vol in env.cloud.volumes:
            if vol.status == status:
                env.cloud.set_status(vol.id, failed)

    env.time.on_sleep = fail


@pytest.mark.parametrize("online", [True, False])
def test_add_volume_going_to_error_while_extending(
        env: Env, online: bool) -> None:
    store = env.store(cinder_do_extend_attached=online)
    fail_volumes_on_sleep(env, "extending", "error_extending")
    with pytest.raises(gs_exc.BackendException, match="error_extending"):
        add(store, pattern(GIB + CHUNK), size=0)
    env.time.on_sleep = None
    env.assert_clean()


def test_add_metadata_update_failing(env: Env) -> None:
    # the real size of an unknown-size upload is recorded at the end
    store = env.store()
    env.cloud.fail_next("POST", VOLUME + "/metadata$", 500)
    with pytest.raises(gs_exc.BackendException, match="metadata"):
        add(store, pattern(CHUNK + 1), size=0)
    env.assert_clean()


def test_add_bootable_flag_failing(env: Env) -> None:
    outage = env.outage(down=False)

    def fail_bootable(request: requests.PreparedRequest) -> None:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if b"os-set_bootable" in body:
            env.cloud.fail_next("POST", VOLUME + "/action$", 500)

    outage.tap = fail_bootable
    store = env.store(collaborators=env.collaborators(
        http_session_factory=outage.session),
        cinder_bootable_volume_formats="raw")
    with pytest.raises(gs_exc.BackendException, match="bootable"):
        add(store, pattern(CHUNK))
    assert env.requests_of("os-update_readonly_flag")
    env.assert_clean()


def test_add_volume_going_to_error_while_created(env: Env) -> None:
    store = env.store()
    fail_volumes_on_sleep(env, "creating", "error")
    with pytest.raises(gs_exc.BackendException, match="status error"):
        add(store, pattern(CHUNK))
    env.assert_clean()


def test_add_stuck_creating_waits_once_and_recovery_deletes_it(
        env: Env) -> None:
    store = env.store(cinder_state_transition_timeout=5)
    env.cloud.status_polls_before_ready = 10 ** 6
    with pytest.raises(gs_exc.BackendException, match="Timed out"):
        add(store, pattern(CHUNK))
    # one bounded wait (create), not a second one for the cleanup
    assert sum(env.time.sleeps) < 6
    [stuck] = env.cloud.volumes
    assert stuck.status == "creating"
    [record] = store.runtime.journal.records()
    assert record.volume_id == stuck.id and record.released
    # cinder-volume is back: the next start of a worker deletes it
    env.cloud.settle()
    env.store()
    env.assert_clean()
    assert store.runtime.journal.records() == []


def test_add_cleanup_delete_is_retried_when_cinder_fails(env: Env) -> None:
    store = env.store()
    env.cloud.fail_next("POST", VOLUME + "/action$", 500)
    env.cloud.fail_next("DELETE", VOLUME + "$", 500, times=2)
    with pytest.raises(gs_exc.BackendException, match="read-only"):
        add(store, pattern(CHUNK))
    env.assert_clean()
    assert store.runtime.journal.records() == []


@pytest.mark.parametrize("operation", ["connect", "disconnect"])
def test_add_connector_failure(env: Env, operation: str) -> None:
    store = env.store()
    env.factory.fail_on(operation)
    with pytest.raises(gs_exc.BackendException, match=operation.title()):
        add(store, pattern(2 * CHUNK))
    env.assert_clean()


@pytest.mark.parametrize("online", [True, False])
def test_add_connector_failure_while_growing(env: Env, online: bool) -> None:
    # Offline, the volume is connected again after the extend; online,
    # os-brick is asked to see the new size (block devices).  Fail that.
    store = env.store(cinder_do_extend_attached=online)
    operation = "extend" if online else "connect"

    def fail_once_extending() -> None:
        if any(v.status == "extending" for v in env.cloud.volumes):
            env.factory.fail_on(operation)
            env.time.on_sleep = None

    env.time.on_sleep = fail_once_extending
    if online and env.protocol == "nfs":
        # a file on a share shows its new size by itself: nothing to fail
        uri, *_ = add(store, pattern(GIB + CHUNK), size=0)
        env.assert_clean(keep=[uri.rsplit("/", 1)[1]])
        return
    with pytest.raises(gs_exc.BackendException):
        add(store, pattern(GIB + CHUNK), size=0)
    env.assert_clean()


def test_add_busy_volume_is_retried(env: Env) -> None:
    # Cinder says 400 while another user still holds the volume
    store = env.store()
    env.cloud.fail_next("POST", r"/attachments$", 400)
    data = pattern(CHUNK + 3)
    uri, *_ = add(store, data)
    assert read_all(store, env.location(store, uri)) == data


def test_add_busy_volume_gives_up_after_the_attempts(env: Env) -> None:
    store = env.store(cinder_attachment_retry_attempts=2)
    env.cloud.fail_next("POST", r"/attachments$", 400, times=2)
    with pytest.raises(gs_exc.BackendException, match="HTTP 400"):
        add(store, pattern(CHUNK))
    env.assert_clean()


# -- get ----------------------------------------------------------------------
GET_STEPS = [
    ("volume show", "GET", VOLUME + "$"),
    ("attachment create", "POST", r"/attachments$"),
    ("attachment update", "PUT", r"/attachments/"),
    ("attachment complete", "POST", r"/attachments/.*/action$"),
]


@pytest.fixture
def image(env: Env) -> StoredImage:
    store = env.store()
    data = pattern(3 * CHUNK + 1)
    uri, *_ = add(store, data)
    env.cloud.requests.clear()
    return store, env.location(store, uri), data, uri.rsplit("/", 1)[1]


@pytest.mark.parametrize("step,method,path", GET_STEPS,
                         ids=[s[0] for s in GET_STEPS])
def test_get_fails_cleanly_at_each_cinder_step(env: Env, image: StoredImage,
                                               step: str, method: str,
                                               path: str) -> None:
    store, location, data, vid = image
    env.cloud.fail_next(method, path, 500)
    with pytest.raises(gs_exc.BackendException, match="HTTP 500"):
        store.get(location)
    env.assert_detached(vid)
    assert read_all(store, location) == data


def test_get_connect_failure(env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    env.factory.fail_on("connect")
    with pytest.raises(gs_exc.BackendException, match="Connecting"):
        store.get(location)
    env.assert_detached(vid)


def test_get_disconnect_failure_is_reported_and_leaves_nothing(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader, _ = store.get(location)
    assert next(reader) == data[:CHUNK]
    env.factory.fail_on("disconnect")
    with pytest.raises(gs_exc.BackendException, match="Disconnecting"):
        reader.close()
    env.assert_detached(vid)


def test_get_attachment_delete_failure_is_reported(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader, _ = store.get(location)
    env.cloud.fail_next("DELETE", r"/attachments/", 500, times=2)
    with pytest.raises(gs_exc.BackendException, match="Deleting attach"):
        b"".join(reader)
    env.factory.assert_clean()
    # what is left is an attachment Cinder refused to delete; nothing of
    # it is connected any more, and the journal keeps it for recovery
    [attachment] = env.cloud.volume(vid).attachments.values()
    assert attachment.attach_status == "attached"
    env.store()  # the next start of a worker
    env.assert_clean(keep=[vid])


def test_add_request_bodies_are_what_cinder_expects(env: Env) -> None:
    store = env.store()
    add(store, pattern(CHUNK))
    [create] = [r for r in env.cloud.requests
                if r.method == "POST" and r.path == "/volumes"]
    body = create.body["volume"]
    assert body["size"] == 1 and body["volume_type"] == "glance-fast"
    assert json.dumps(body["metadata"])  # strings only (Cinder checks)


def test_add_keeps_the_quota_error_when_the_detach_fails_too(env: Env) -> None:
    # Glance must answer 413 (StorageFull), not 500 for the detach; the
    # volume is extended while attached, then detached on the way out
    store = env.store(cinder_do_extend_attached=True)
    env.cloud.set_quota(env.service_project, gigabytes=2)
    env.cloud.fail_next("DELETE", r"/attachments/", 500, times=2)
    with pytest.raises(gs_exc.StorageFull):
        add(store, pattern(3 * GIB), size=0)
    # the attachment Cinder refused to delete is recovered later
    env.store()
    env.assert_clean()

