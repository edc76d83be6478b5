"""NFS volumes: shares counted across readers, raw files only."""

import hashlib
import io
import uuid

import pytest
from glance_store import exceptions as gs_exc
from glance_store import location as gs_location

from glance_store_cinder import journal as jr
from glance_store_cinder.store import Store
from tests.unit.fakes.cloud import NFS_EXPORT
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.harness import SharedImages
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all


@pytest.fixture
def two_images(nfs_env: Env) -> SharedImages:
    env = nfs_env
    store = env.store()
    images: list[tuple[gs_location.Location, bytes]] = []
    for seed in (1, 2):
        data = pattern(3 * CHUNK, seed=seed)
        uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                            "sha512")
        images.append((env.location(store, uri), data))
    # every upload was the only user of the share: unmounted each time
    assert len(env.mounts.unmounted) == 2
    env.mounts.unmounted.clear()
    return store, images


def share_mount_point(env: Env) -> str:
    """os-brick's mount point of the fake's export."""
    return str(env.mount_base / hashlib.md5(NFS_EXPORT.encode()).hexdigest())


def holders(env: Env, store: Store) -> list[jr.Record]:
    return [r for r in store.runtime.journal.records(jr.CONNECTION)
            if r.get("share") == NFS_EXPORT]


def holder_of_another_worker(env: Env, store: Store, pid: int
                             ) -> jr.Record:
    """A connection record of the share written by worker ``pid``."""
    me = env.processes.pid
    env.processes.become(pid)
    try:
        return store.runtime.journal.begin(
            jr.CONNECTION, volume_id="v", protocol="nfs", share=NFS_EXPORT,
            properties={"export": NFS_EXPORT, "name": "volume-v"},
            mount_point=share_mount_point(env))
    finally:
        env.processes.become(me)


def test_share_unmounted_once_after_the_last_reader(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, data1), (loc2, data2)] = two_images
    mount_point = share_mount_point(env)

    first, _ = store.get(loc1)
    second, _ = store.get(loc2)
    assert next(first) == data1[:CHUNK]
    assert next(second) == data2[:CHUNK]
    assert len(holders(env, store)) == 2

    first.close()
    assert env.mounts.unmounted == []  # the other reader still uses it
    assert b"".join(second) == data2[CHUNK:]
    assert env.mounts.unmounted == [mount_point]
    assert holders(env, store) == []


def test_second_reader_of_a_volume_joins_the_first(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, data1), _] = two_images
    first, _ = store.get(loc1)
    next(first)
    env.cloud.requests.clear()
    sleeps = len(env.time.sleeps)
    # no second attachment, no waiting: the host's read attachment is
    # shared
    assert read_all(store, loc1) == data1
    assert [r for r in env.cloud.requests if "/attachments" in r.path] == []
    assert len(env.time.sleeps) == sleeps
    assert env.mounts.unmounted == []  # the first reader still reads
    first.close()
    assert len(env.mounts.unmounted) == 1


def test_holder_from_a_dead_worker_does_not_pin_the_share(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, data1), _] = two_images
    dead = holder_of_another_worker(env, store, env.processes.spawn(7001))
    env.processes.kill(7001)
    assert read_all(store, loc1) == data1
    assert len(env.mounts.unmounted) == 1
    store.runtime.journal.remove(dead)  # recovery's business


def test_holder_whose_pid_was_reused_does_not_pin_the_share(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, data1), _] = two_images
    dead = holder_of_another_worker(env, store, env.processes.spawn(7001))
    env.processes.spawn(7001)  # died; an unrelated process got its pid
    assert read_all(store, loc1) == data1
    assert len(env.mounts.unmounted) == 1
    store.runtime.journal.remove(dead)


# another worker still holds the share: it stays mounted, its holder stays
@pytest.mark.keeps_resources("mounts", "journal_records")
def test_holder_from_a_live_worker_keeps_the_share(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, data1), _] = two_images
    other = holder_of_another_worker(env, store, env.processes.spawn(7001))
    assert read_all(store, loc1) == data1
    assert env.mounts.unmounted == []
    assert holders(env, store) == [other]


@pytest.mark.keeps_resources("mounts", "journal_records")
def test_holder_in_another_pid_namespace_keeps_the_share(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, data1), _] = two_images
    other = holder_of_another_worker(env, store, env.processes.spawn(7001))
    env.processes.namespace = "4026532999"  # we moved; it cannot be judged
    env.processes.become(7002)
    assert read_all(store, loc1) == data1
    assert env.mounts.unmounted == []
    assert other in holders(env, store)


def test_damaged_holder_file_never_fails_an_attach(
        nfs_env: Env, two_images: SharedImages,
        caplog: pytest.LogCaptureFixture) -> None:
    env = nfs_env
    store, [(loc1, data1), _] = two_images
    journal_dir = env.lock_path / "journal"
    damaged = journal_dir / ("connection-%s.json" % uuid.uuid4())
    damaged.write_text("")
    assert read_all(store, loc1) == data1
    assert read_all(store, loc1) == data1
    assert len(env.mounts.unmounted) == 2
    assert [r.getMessage() for r in caplog.records
            if "damaged" in r.getMessage()] and not damaged.exists()
    assert list(journal_dir.glob("*.corrupt"))


def test_connect_failure_leaves_no_holder(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, _), _] = two_images
    env.factory.fail_on("connect")
    with pytest.raises(gs_exc.BackendException, match="Connecting"):
        store.get(loc1)
    assert holders(env, store) == []
    env.assert_clean(keep=[v.id for v in env.cloud.volumes])


def test_nothing_is_mounted_when_the_holder_cannot_be_recorded(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, _), _] = two_images
    journal_dir = env.lock_path / "journal"
    journal_dir.rename(env.tmp / "journal-away")
    journal_dir.write_text("")  # the journal cannot be written
    env.factory.calls.clear()
    with pytest.raises(gs_exc.BackendException, match="journal"):
        store.get(loc1)
    assert [c for c in env.factory.calls if c.operation == "connect"] == []
    assert env.mounts.unmounted == []
    env.assert_clean(keep=[v.id for v in env.cloud.volumes])
    journal_dir.unlink()


def test_connector_gets_the_mount_point_base(nfs_env: Env) -> None:
    env = nfs_env
    store = env.store()
    store.add(new_image_id(), io.BytesIO(b"x"), 1, "sha512")
    assert {r.protocol.lower() for r in env.factory.requests} == {"nfs"}
    assert {r.kwargs["conn"]["mount_point_base"]
            for r in env.factory.requests} == {str(env.mount_base)}


def test_qcow2_file_on_the_share_is_refused(nfs_env: Env) -> None:
    env = nfs_env
    store = env.store()
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, data=b"QFI\xfb" + bytes(100), fmt="qcow2",
        metadata={"image_size": "104"})
    location = env.location(store, "cinder://fast/%s" % vid)
    with pytest.raises(gs_exc.BackendException, match="qcow2"):
        store.get(location)
    env.assert_clean(keep=[vid])
    assert env.cloud.volume(vid).status == "available"
    assert env.factory.calls == []  # never connected, never mounted
    assert env.mounts.unmounted == []


def test_disconnect_failure_still_drops_the_reference(
        nfs_env: Env, two_images: SharedImages) -> None:
    env = nfs_env
    store, [(loc1, data1), _] = two_images
    reader, _ = store.get(loc1)
    env.factory.fail_on("disconnect")
    with pytest.raises(gs_exc.BackendException):
        reader.close()
    assert holders(env, store) == []
    assert len(env.mounts.unmounted) == 1
