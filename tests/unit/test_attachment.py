"""Attaching a volume to this host, every step undone on exit."""

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.attachment import READ_ONLY
from glance_store_cinder.attachment import READ_WRITE
from glance_store_cinder.attachment import Attacher
from glance_store_cinder.transfer.device import open_device
from glance_store_cinder.volumes import Volumes
from tests.unit.fakes.connector import ConnectorCall
from tests.unit.harness import ENDPOINT_TEMPLATE
from tests.unit.harness import HOST
from tests.unit.harness import AttachTarget
from tests.unit.harness import Env
from tests.unit.harness import pattern


@pytest.fixture
def volume(env: Env) -> AttachTarget:
    store = env.store()
    volumes = store.runtime.service_volumes()
    vid = env.cloud.create_volume_directly(env.service_project, 1,
                                           data=b"on the volume")
    env.cloud.requests.clear()
    return store.runtime.attacher, volumes, vid


def steps(env: Env) -> list[tuple[str, str, str | None]]:
    return [(r.method, r.path.split("/")[1], r.action)
            for r in env.cloud.requests if "/attachments" in r.path]


@pytest.mark.parametrize("mode", [READ_ONLY, READ_WRITE])
def test_attach_steps_in_order_and_undone(env: Env, volume: AttachTarget,
                                          mode: str) -> None:
    attacher, volumes, vid = volume
    with attacher.attach(volumes, volumes.get(vid), mode) as attachment:
        assert steps(env) == [("POST", "attachments", None),
                              ("PUT", "attachments", None),
                              ("POST", "attachments", "os-complete")]
        create, update, _ = [r for r in env.cloud.requests
                             if "/attachments" in r.path]
        assert create.body["attachment"] == {
            "volume_uuid": vid, "connector": None, "mode": mode}
        assert update.body["attachment"]["connector"]["host"] == HOST
        assert env.factory.open_volume_ids() == [vid]
        assert attachment.attachment_id in env.cloud.volume(vid).attachments
        assert env.cloud.volume(vid).status == "in-use"
        assert env.cloud.volume(vid).access_mode == mode
        device = open_device(attachment.device, writable=False)
        assert device.read_at(0, 13) == b"on the volume"
        device.close()
    assert steps(env)[-1] == ("DELETE", "attachments", None)
    env.assert_detached(vid)


def test_failure_inside_the_block_is_kept_and_everything_undone(
        env: Env, volume: AttachTarget) -> None:
    attacher, volumes, vid = volume
    with pytest.raises(ZeroDivisionError):
        with attacher.attach(volumes, volumes.get(vid), READ_WRITE):
            raise ZeroDivisionError


def test_undo_failing_while_handling_a_failure_keeps_the_first(
        env: Env, volume: AttachTarget) -> None:
    attacher, volumes, vid = volume
    with pytest.raises(ZeroDivisionError):
        with attacher.attach(volumes, volumes.get(vid), READ_WRITE):
            env.cloud.fail_next("DELETE", r"/attachments/", 500, times=2)
            env.factory.fail_on("disconnect")
            raise ZeroDivisionError
    # the disconnect was forced through; the attachment Cinder refused
    # to delete is what remains, recorded for recovery
    env.factory.assert_clean()
    assert len(env.cloud.volume(vid).attachments) == 1
    env.store()  # the next start of a worker
    env.assert_clean(keep=[vid])


def test_undo_failing_after_success_is_raised(
        env: Env, volume: AttachTarget) -> None:
    attacher, volumes, vid = volume
    with pytest.raises(gs_exc.BackendException, match="Deleting attach"):
        with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
            env.cloud.fail_next("DELETE", r"/attachments/", 500, times=2)
    env.store()  # the next start of a worker
    env.assert_clean(keep=[vid])


# the fake answers 404 without deleting it
@pytest.mark.keeps_resources("attachments")
def test_attachment_already_gone_is_fine(
        env: Env, volume: AttachTarget) -> None:
    attacher, volumes, vid = volume
    with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
        env.cloud.fail_next("DELETE", r"/attachments/", 404)


def test_encrypted_volume_refused_before_attaching(
        env: Env, volume: AttachTarget) -> None:
    attacher, volumes, _ = volume
    vid = env.cloud.create_volume_directly(env.service_project, 1,
                                           encrypted=True)
    with pytest.raises(gs_exc.BackendException, match="encrypted"):
        with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
            pass
    assert steps(env) == []


def test_encrypted_export_refused_after_update(
        env: Env, volume: AttachTarget) -> None:
    # Cinder says "encrypted" in the connection info of a volume whose
    # own record did not (an encryption type added to its type later)
    attacher, volumes, _ = volume
    vid = env.cloud.create_volume_directly(env.service_project, 1)
    info = volumes.get(vid)
    env.cloud.volume(vid).encrypted = True
    with pytest.raises(gs_exc.BackendException, match="encrypted"):
        with attacher.attach(volumes, info, READ_ONLY):
            pass
    assert ("DELETE", "attachments", None) in steps(env)


def test_get_refuses_an_encrypted_volume(env: Env) -> None:
    store = env.store()
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, data=pattern(100), encrypted=True,
        metadata={"image_size": "100"})
    with pytest.raises(gs_exc.BackendException, match="encrypted"):
        store.get(env.location(store, "cinder://fast/%s" % vid))
    env.assert_detached(vid)


# -- multiattach --------------------------------------------------------------
@pytest.fixture
def shared(env: Env) -> AttachTarget:
    env.cloud.add_volume_type("glance-shared", multiattach=True)
    store = env.store()
    volumes = store.runtime.service_volumes()
    vid = env.cloud.create_volume_directly(env.service_project, 1,
                                           volume_type="glance-shared")
    return store.runtime.attacher, volumes, vid


def disconnects(env: Env) -> list[ConnectorCall]:
    return [c for c in env.factory.calls if c.operation == "disconnect"]


def assert_nested_readers_share_device(env: Env, attacher: Attacher,
                                       volumes: Volumes, vid: str) -> None:
    """Two readers of this host: the device goes with the last one."""
    with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
        with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
            pass
        # the other reader of this host still needs the device
        assert disconnects(env) == []
    assert len(disconnects(env)) == 1
    env.cloud.assert_clean(keep=[vid])


@pytest.mark.parametrize("protocol", ["local"])  # NFS counts share users
# the fake counts each connect on its own, where os-brick has one device:
# the second reader's connect stays counted
@pytest.mark.keeps_resources("connections")
def test_multiattach_device_kept_for_another_user_on_this_host(
        env: Env, shared: AttachTarget) -> None:
    assert_nested_readers_share_device(env, *shared)


@pytest.mark.parametrize("protocol", ["local"])
@pytest.mark.keeps_resources("connections")  # as above
def test_multiattach_with_requester_tokens_keeps_a_shared_device(
        env: Env) -> None:
    # A requester's token does not show attachments' host names: "is
    # another attachment on this host?" must not be asked of Cinder.
    env.cloud.add_volume_type("glance-shared", multiattach=True)
    store = env.store(cinder_store_multitenant=True,
                      cinder_endpoint_template=ENDPOINT_TEMPLATE)
    context = env.user_context("alice", "alice-project")
    volumes = store.runtime.volumes_for(context)
    vid = env.cloud.create_volume_directly(
        context.project_id, 1, volume_type="glance-shared")
    assert_nested_readers_share_device(env, store.runtime.attacher, volumes,
                                       vid)


@pytest.mark.parametrize("protocol", ["local"])
def test_multiattach_lookup_failing_keeps_attachment_with_device(
        env: Env, shared: AttachTarget) -> None:
    attacher, volumes, vid = shared
    journal_dir = env.lock_path / "journal"
    with pytest.raises(OSError):
        with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
            # the journal cannot be read at detach time
            journal_dir.rename(env.tmp / "journal-away")
            journal_dir.write_text("")
    # the device was kept, so the attachment (its export) was kept too
    assert env.factory.open_volume_ids() == [vid]
    assert len(env.cloud.volume(vid).attachments) == 1
    journal_dir.unlink()
    (env.tmp / "journal-away").rename(journal_dir)
    # once this worker is gone, recovery undoes both, in order
    env.processes.kill(env.processes.pid)
    env.processes.become(9001)
    store = env.store(cinder_recover_at_start=False)
    outcome = store.runtime.recovery.apply()
    assert [s.record.kind for s in outcome.done] == ["connection",
                                                     "attachment"]
    env.assert_clean(keep=[vid])


@pytest.mark.parametrize("protocol", ["local"])
def test_multiattach_device_disconnected_when_others_are_elsewhere(
        env: Env, shared: AttachTarget) -> None:
    attacher, volumes, vid = shared
    with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
        client, other = env.foreign_attachment(vid, host="compute-9")
    env.factory.assert_clean()
    assert list(env.cloud.volume(vid).attachments) == [other]
    client.attachments.delete(other)
