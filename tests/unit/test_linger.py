"""The linger of a shared read attachment, seen from this host's writers
and from another host's readers (the fakes' clock; no real waiting)."""

from __future__ import annotations

import pytest

from glance_store_cinder import errors
from glance_store_cinder import journal as jr
from glance_store_cinder.attachment import READ_WRITE
from glance_store_cinder.store import Store
from tests.unit.fakes.connector import fake_connector_properties
from tests.unit.harness import Env
from tests.unit.test_sharing import LINGER
from tests.unit.test_sharing import SHARED_FAMILIES
from tests.unit.test_sharing import WORKERS
from tests.unit.test_sharing import attachment_creates
from tests.unit.test_sharing import records
from tests.unit.test_sharing import stored

OTHER_HOST = "glance-host-2"


def set_deadlines(env: Env) -> list[float]:
    """Every deadline set on the store's alarms (the linger's and the
    cleanup retry's: a read that went well sets none of the latter)."""
    return [d for alarm in env.alarms for d in alarm.deadlines]


def other_host_store(env: Env) -> Store:
    """A store of another glance-api host: its own name and journal."""
    return env.store(collaborators=env.collaborators(
        host_properties=lambda settings: fake_connector_properties(
            settings.root_helper, "192.0.2.11", settings.use_multipath,
            settings.enforce_multipath, host=OTHER_HOST),
        lock_path=str(env.tmp / "locks-2")))


def attachment_hosts(env: Env, volume_id: str) -> list[str]:
    return sorted(a.connector.get("host", "") if a.connector else ""
                  for a in env.cloud.volume(volume_id).attachments.values())


@SHARED_FAMILIES
def test_another_host_waits_at_most_the_linger(env: Env) -> None:
    # Both hosts live in this one process, where oslo's in-process locks
    # are shared by name: the other host reads after this one's alarm
    # instead of waiting for it.
    image = stored(env, env.store(cinder_read_attachment_linger=LINGER))
    store, data, vid = image.store, image.data, image.vid
    other = other_host_store(env)
    assert image.read_through(store) == data
    left = env.time.now
    # the volume is free for others exactly LINGER after the last reader
    [share] = records(store, jr.ATTACHMENT)
    assert share.get("linger_until") == left + LINGER
    assert set_deadlines(env) == [left + LINGER]
    env.time.now = left + LINGER - 0.1
    assert env.ring_alarms() == 0
    assert attachment_hosts(env, vid) == ["glance-host-1"]
    env.time.now = left + LINGER
    assert env.ring_alarms() == 1
    assert attachment_hosts(env, vid) == []
    sleeps = len(env.time.sleeps)
    reader, _ = other.get(env.location(other, "cinder://fast/%s" % vid))
    assert attachment_hosts(env, vid) == [OTHER_HOST]
    assert sum(env.time.sleeps[sleeps:]) < 1   # no waiting for us
    assert b"".join(reader) == data
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_another_host_gives_up_while_this_host_keeps_reading(
        env: Env) -> None:
    # a linger renewed by reader after reader: the other host's bound is
    # its own cinder_state_transition_timeout, and its error names us
    image = stored(env, env.store(cinder_read_attachment_linger=LINGER))
    data, vid = image.data, image.vid
    other = other_host_store(env)
    reader = image.reader(WORKERS[0])
    sleeps = len(env.time.sleeps)
    with pytest.raises(errors.VolumeHeld, match="glance-host-1"):
        other.get(env.location(other, "cinder://fast/%s" % vid))
    assert 0 < round(sum(env.time.sleeps[sleeps:]), 3) <= 30
    assert b"".join(reader) == data
    env.time.now += LINGER
    env.ring_alarms()
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_a_write_attach_ends_the_linger_without_waiting(env: Env) -> None:
    image = stored(env, env.store(cinder_read_attachment_linger=LINGER))
    store, data, vid = image.store, image.data, image.vid
    assert image.read_through(store) == data
    [share] = records(store, jr.ATTACHMENT)
    assert share.get("linger_until") is not None
    runtime = store.runtime
    volumes = runtime.service_volumes()
    sleeps = len(env.time.sleeps)
    env.cloud.requests.clear()
    with runtime.attacher.attach(volumes, volumes.get(vid), READ_WRITE):
        assert sum(env.time.sleeps[sleeps:]) < 1
        # the lingering attachment went before the writer's was made
        methods = [(r.method, "attachments" in r.path)
                   for r in env.cloud.requests]
        assert methods.index(("DELETE", True)) < \
            methods.index(("POST", True))
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_a_share_closed_for_a_writer_does_not_linger(env: Env) -> None:
    image = stored(env, env.store(cinder_read_attachment_linger=LINGER))
    store, data, vid = image.store, image.data, image.vid
    reader = image.reader(WORKERS[0])
    runtime = store.runtime
    volumes = runtime.service_volumes()
    finished: list[bytes] = []

    def last_reader_finishes() -> None:
        if not finished:
            finished.append(b"".join(reader))

    # the writer waits for the live reader; it finishes meanwhile, and
    # its leaving releases the share at once instead of lingering
    env.time.on_sleep = last_reader_finishes
    env.cloud.requests.clear()
    with runtime.attacher.attach(volumes, volumes.get(vid), READ_WRITE):
        assert finished == [data]
        [own] = records(store, jr.ATTACHMENT)
        assert own.owner is not None and not own.get("shared")
        assert len(env.cloud.volume(vid).attachments) == 1
    env.time.on_sleep = None
    assert set_deadlines(env) == []   # no linger was set
    env.assert_clean(keep=[vid])


@SHARED_FAMILIES
def test_back_to_back_readers_of_several_workers_attach_once(
        env: Env) -> None:
    image = stored(env, env.store(cinder_read_attachment_linger=LINGER))
    vid = image.vid
    env.cloud.requests.clear()
    for pid in WORKERS * 2:
        assert b"".join(image.reader(pid)) == image.data
        env.time.now += LINGER / 2   # each comes within the linger
        env.ring_alarms()
    assert len(attachment_creates(env)) == 1
    env.time.now += LINGER
    env.ring_alarms()
    env.assert_clean(keep=[vid])


def test_only_a_store_whose_shares_outlive_their_readers_keeps_the_cache(
        env: Env) -> None:
    # without a linger the share, and its cache, go with the last reader
    assert not env.store().runtime.shared_reads.lingers
    assert env.store(cinder_read_attachment_linger=5).runtime.shared_reads \
        .lingers
