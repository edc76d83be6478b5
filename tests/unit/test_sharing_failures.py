"""A shared read attachment whose steps fail: the first error is the one
the caller sees, and what exists stays recorded for recovery or goes."""

from __future__ import annotations

import pathlib

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder import journal as jr
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.test_sharing import SHARED_FAMILIES
from tests.unit.test_sharing import WORKERS
from tests.unit.test_sharing import Shared
from tests.unit.test_sharing import chown_refused
from tests.unit.test_sharing import records
from tests.unit.test_sharing import stored
from tests.unit.test_unprivileged import unprivileged_nfs


@pytest.fixture
def image(env: Env) -> Shared:
    return stored(env, env.store())


@SHARED_FAMILIES
def test_a_failed_disconnect_is_reported_when_the_delete_fails_too(
        env: Env, image: Shared) -> None:
    reader = image.reader(WORKERS[0])
    assert next(reader) == image.data[:CHUNK]
    env.factory.fail_on("disconnect")
    env.cloud.fail_next("DELETE", r"/attachments/", 500, times=2)
    with pytest.raises(gs_exc.BackendException, match="Disconnecting"):
        reader.close()
    # nothing was forced through: the share stays recorded for recovery
    [share] = records(image.store, jr.ATTACHMENT)
    assert share.get("shared")
    assert records(image.store, jr.READER) == []
    env.store()  # the next start of a worker recovers it
    image.assert_clean()


@SHARED_FAMILIES
def test_a_failed_attachment_delete_alone_is_reported(
        env: Env, image: Shared) -> None:
    reader = image.reader(WORKERS[0])
    env.cloud.fail_next("DELETE", r"/attachments/", 500, times=2)
    with pytest.raises(gs_exc.BackendException, match="Deleting attach"):
        b"".join(reader)
    env.factory.assert_clean()
    env.store()  # the next start of a worker recovers it
    image.assert_clean()


@SHARED_FAMILIES
def test_a_failed_connect_forgets_the_share_and_its_reader(
        env: Env, image: Shared) -> None:
    env.factory.fail_on("connect")
    with pytest.raises(gs_exc.BackendException, match="Connecting"):
        image.reader(WORKERS[0])
    assert records(image.store, jr.READER) == []
    env.assert_detached(image.vid)
    # and the next reader attaches afresh
    assert b"".join(image.reader(WORKERS[1])) == image.data
    image.assert_clean()


@unprivileged_nfs
def test_a_takeover_failure_is_reported_when_the_release_fails_too(
        env: Env, tmp_path: pathlib.Path) -> None:
    store, mount_point, helper, image = chown_refused(env, tmp_path)
    env.cloud.fail_next("DELETE", r"/attachments/", 500, times=2)
    # the chown's error, not the release's
    with pytest.raises(OSError, match="chown refused"):
        store.get(image.location)
    assert records(store, jr.READER) == []
    assert helper.argvs[-1] == ["umount", mount_point]
    [share] = records(store, jr.ATTACHMENT)
    assert share.get("attachment_id")  # Cinder's: kept for recovery
    store.runtime.recovery.apply(volume_id=image.vid)
    image.assert_clean()
