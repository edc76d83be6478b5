"""Uploads of unknown size: the volume grows while it is written.

Online (``cinder_do_extend_attached``): Cinder extends the attached volume
(microversion 3.42+) and os-brick refreshes the device size.  Offline: the
volume is flushed, detached, extended and attached again, and writing
resumes where it stopped, nothing truncated.
"""

import io
import os

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.attachment import READ_WRITE
from glance_store_cinder.attachment import Attacher
from glance_store_cinder.privileged import RootCommands
from glance_store_cinder.transfer.volume_target import VolumeWriteTarget
from glance_store_cinder.volumes import Volumes
from tests.unit.fakes import RecordedRequest
from tests.unit.harness import CHUNK
from tests.unit.harness import GIB
from tests.unit.harness import Env
from tests.unit.harness import digests
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all


def version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def attachments_created(env: Env) -> list[RecordedRequest]:
    return [r for r in env.cloud.requests
            if r.method == "POST" and r.path == "/attachments"]


@pytest.mark.parametrize("online", [True, False])
def test_unknown_size_upload_grows_and_keeps_every_byte(
        env: Env, online: bool) -> None:
    store = env.store(cinder_do_extend_attached=online, chunk=4 * CHUNK)
    data = pattern(7 * GIB + GIB // 4 + 3)
    image_id = new_image_id()

    uri, written, md5, multihash, _ = store.add(
        image_id, io.BytesIO(data), 0, "sha512")

    assert written == len(data)
    assert (md5, multihash) == digests(data)
    vol = env.cloud.volume(uri.rsplit("/", 1)[1])
    assert vol.metadata["image_size"] == str(len(data))
    assert vol.metadata["glance_image_id"] == image_id
    capacity = vol.size * GIB
    assert len(data) <= capacity <= len(data) + max(len(data) // 4, GIB)
    # the backing file (NFS: the volume itself) keeps its full size
    assert os.path.getsize(vol.backing_path) == capacity
    extends = env.extend_requests()
    assert len(extends) >= 1
    assert [r.body["os-extend"]["new_size"] for r in extends] == sorted(
        r.body["os-extend"]["new_size"] for r in extends)
    if online:
        assert all(version(r.microversion) >= (3, 42) for r in extends)
        assert len(attachments_created(env)) == 1  # attached throughout
    else:
        # detached, extended, attached again each time
        assert len(attachments_created(env)) == len(extends) + 1
    env.assert_clean(keep=[vol.id])
    # bytes written before each extend are intact after it
    assert read_all(store, env.location(store, uri)) == data
    assert store.get_size(env.location(store, uri)) == len(data)


@pytest.mark.parametrize("protocol,online", [
    ("local", True), ("nfs", True), ("local", False)])
def test_many_gib_need_far_fewer_extends_than_gib(
        env: Env, online: bool) -> None:
    store = env.store(cinder_do_extend_attached=online, chunk=4 * CHUNK)
    gibs = 60
    data = pattern(gibs * GIB + 1)
    uri, written, md5, _, _ = store.add(new_image_id(), io.BytesIO(data), 0,
                                        "sha512")
    assert written == len(data) and md5 == digests(data)[0]
    extends = env.extend_requests()
    assert len(extends) <= gibs // 3  # 1 GiB at a time would be 60
    vol = env.cloud.volume(uri.rsplit("/", 1)[1])
    assert vol.size * GIB - len(data) <= max(len(data) // 4, GIB)
    assert read_all(store, env.location(store, uri)) == data


@pytest.mark.parametrize("online", [True, False])
def test_announced_size_needs_no_extend(env: Env, online: bool) -> None:
    store = env.store(cinder_do_extend_attached=online)
    data = pattern(3 * GIB + 1)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    assert env.extend_requests() == []
    assert env.cloud.volume(uri.rsplit("/", 1)[1]).size == 4


def test_online_extend_refreshes_block_devices_only(env: Env) -> None:
    store = env.store(cinder_do_extend_attached=True)
    store.add(new_image_id(), io.BytesIO(pattern(2 * GIB + 1)), 0, "sha512")
    refreshes = [c for c in env.factory.calls if c.operation == "extend"]
    if env.protocol == "nfs":
        assert refreshes == []  # a file on a share shows its new size
    else:
        assert len(refreshes) == len(env.extend_requests()) >= 1


# -- the target itself --------------------------------------------------------
TargetParts = tuple[Attacher, Volumes, str, RootCommands]


@pytest.fixture
def target_parts(env: Env) -> TargetParts:
    store = env.store()
    volumes = store.runtime.service_volumes()
    vid = env.cloud.create_volume_directly(env.service_project, 1)
    return store.runtime.attacher, volumes, vid, store.runtime.root_commands


@pytest.mark.parametrize("online", [True, False])
def test_grow_keeps_what_was_written_and_writing_resumes(
        env: Env, target_parts: TargetParts, online: bool) -> None:
    attacher, volumes, vid, commands = target_parts
    head = pattern(GIB, seed=7)
    tail = pattern(GIB // 2, seed=8)
    with VolumeWriteTarget(attacher, volumes, vid, root_commands=commands,
                           extend_attached=online,
                           gib=GIB) as target:
        assert target.capacity == GIB
        target.write_at(0, head)
        target.grow(GIB, GIB + len(tail))
        assert target.capacity >= GIB + len(tail)
        target.write_at(GIB, tail)
        target.sync()
        assert target.extends == 1
    env.assert_clean(keep=[vid])
    vol = env.cloud.volume(vid)
    assert vol.size == 2 and vol.status == "available"
    with open(vol.backing_path, "rb") as f:
        assert f.read(len(head) + len(tail)) == head + tail
        assert f.read() == bytes(GIB - len(tail))


def test_grow_by_more_than_one_step(env: Env,
                                    target_parts: TargetParts) -> None:
    attacher, volumes, vid, commands = target_parts
    with VolumeWriteTarget(attacher, volumes, vid, root_commands=commands,
                           extend_attached=True,
                           gib=GIB) as target:
        target.grow(0, 5 * GIB + 1)  # one chunk bigger than several GiB
        assert target.capacity == 6 * GIB
    assert env.cloud.volume(vid).size == 6
    assert len(env.extend_requests()) == 1


def test_offline_grow_failing_to_reattach_leaves_nothing_attached(
        env: Env, target_parts: TargetParts) -> None:
    attacher, volumes, vid, commands = target_parts
    target = VolumeWriteTarget(attacher, volumes, vid, root_commands=commands,
                           extend_attached=False,
                               gib=GIB)
    with pytest.raises(gs_exc.BackendException, match="HTTP 500"):
        with target:
            target.write_at(0, b"before")
            env.cloud.fail_next("POST", r"/attachments$", 500)
            target.grow(GIB, GIB + 1)
    env.assert_clean(keep=[vid])
    vol = env.cloud.volume(vid)
    assert vol.size == 2  # the extend itself went through
    with open(vol.backing_path, "rb") as f:
        assert f.read(6) == b"before"


def test_target_attaches_read_write(env: Env,
                                    target_parts: TargetParts) -> None:
    attacher, volumes, vid, commands = target_parts
    with VolumeWriteTarget(attacher, volumes, vid, root_commands=commands,
                           extend_attached=False,
                           gib=GIB):
        assert env.cloud.volume(vid).access_mode == READ_WRITE
