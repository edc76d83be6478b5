"""A shared read attachment whose steps fail: the first error is the one
the caller sees, and what exists stays recorded for recovery or goes."""

from __future__ import annotations

import hashlib
import os
import pathlib

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder import journal as jr
from glance_store_cinder.mounts import MountTable
from tests.unit.fakes.cloud import NFS_EXPORT
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.harness import StoredImage
from tests.unit.harness import pattern
from tests.unit.test_sharing import SHARED_FAMILIES
from tests.unit.test_sharing import WORKERS
from tests.unit.test_sharing import FailingChown
from tests.unit.test_sharing import get_as
from tests.unit.test_sharing import records
from tests.unit.test_sharing import stored


@pytest.fixture
def image(env: Env) -> StoredImage:
    return stored(env, env.store())


@SHARED_FAMILIES
def test_a_failed_disconnect_is_reported_when_the_delete_fails_too(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader = get_as(env, WORKERS[0], store, location)
    assert next(reader) == data[:CHUNK]
    env.factory.fail_on("disconnect")
    env.cloud.fail_next("DELETE", r"/attachments/", 500)
    with pytest.raises(gs_exc.BackendException, match="Disconnecting"):
        reader.close()
    # nothing was forced through: the share stays recorded for recovery
    [share] = records(store, jr.ATTACHMENT)
    assert share.get("shared")
    assert records(store, jr.READER) == []
    env.store()  # the next start of a worker recovers it
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_a_failed_attachment_delete_alone_is_reported(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    reader = get_as(env, WORKERS[0], store, location)
    env.cloud.fail_next("DELETE", r"/attachments/", 500)
    with pytest.raises(gs_exc.BackendException, match="Deleting attach"):
        b"".join(reader)
    env.factory.assert_clean()
    env.store()  # the next start of a worker recovers it
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_a_failed_connect_forgets_the_share_and_its_reader(
        env: Env, image: StoredImage) -> None:
    store, location, data, vid = image
    env.factory.fail_on("connect")
    with pytest.raises(gs_exc.BackendException, match="Connecting"):
        get_as(env, WORKERS[0], store, location)
    assert records(store, jr.READER) == []
    env.assert_detached(vid)
    # and the next reader attaches afresh
    reader = get_as(env, WORKERS[1], store, location)
    assert b"".join(reader) == data
    env.assert_clean(keep=[vid])


@pytest.mark.parametrize("protocol", ["nfs"])
# unmounted through the recording root helper, not the fake mounts
@pytest.mark.keeps_resources("mounts")
def test_a_takeover_failure_is_reported_when_the_release_fails_too(
        env: Env, tmp_path: pathlib.Path) -> None:
    helper = FailingChown()
    base = os.path.realpath(env.mount_base)
    mount_point = os.path.join(
        base, hashlib.md5(NFS_EXPORT.encode()).hexdigest())
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "200 27 0:99 / %s rw - nfs %s rw\n" % (mount_point, NFS_EXPORT))
    collaborators = env.collaborators(
        euid=lambda: 1000, root_execute=helper, mounts=None,
        mount_table=MountTable(str(mountinfo)))
    store = env.store(collaborators=collaborators)
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, data=pattern(100),
        metadata={"image_size": "100"})
    helper.failing = True
    env.cloud.fail_next("DELETE", r"/attachments/", 500)
    # the chown's error, not the release's
    with pytest.raises(OSError, match="chown refused"):
        store.get(env.location(store, "cinder://fast/%s" % vid))
    assert records(store, jr.READER) == []
    assert helper.argvs[-1] == ["umount", mount_point]
    [share] = records(store, jr.ATTACHMENT)
    assert share.get("attachment_id")  # Cinder's: kept for recovery
    env.store(collaborators=collaborators)  # the next start recovers it
    env.assert_clean(keep=[vid])
