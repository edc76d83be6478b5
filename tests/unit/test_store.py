"""The glance_store contract: add, get, get_size, delete.

Every test runs the real Store against the fake Cinder and Keystone (over
HTTP, through python-cinderclient and keystoneauth1) and fake os-brick
connectors, for the 'local' (block) and 'nfs' (file share) families.
"""

import gc
import io
import os
import struct
import uuid
from collections.abc import Iterator

import pytest
from glance_store import exceptions as gs_exc
from oslo_context import context as oslo_context

from glance_store_cinder.volumes import DELETE_ATTEMPTS
from tests.unit.harness import CHUNK
from tests.unit.harness import GIB
from tests.unit.harness import BrokenSource
from tests.unit.harness import Env
from tests.unit.harness import RecordingVerifier
from tests.unit.harness import StoredImage
from tests.unit.harness import digests
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

# for what does not depend on the export protocol
LOCAL = pytest.mark.parametrize("protocol", ["local"])


def volume_id_of(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def qcow2_image(size: int) -> bytes:
    header = struct.pack(">4sIQIIQ", b"QFI\xfb", 3, 0, 0, 16, 64 * GIB)
    return header + pattern(size - len(header))


# -- round trips --------------------------------------------------------------
@pytest.mark.parametrize("size", [
    0, 1, CHUNK, CHUNK + 1, 3 * CHUNK, GIB, GIB + 1,
])
def test_multi_store_round_trip(env: Env, size: int) -> None:
    store = env.store("fast")
    data = pattern(size)
    image_id = new_image_id()
    ctx = oslo_context.RequestContext(project_id="owner-project")

    uri, written, md5, multihash, info = store.add(
        image_id, io.BytesIO(data), size, "sha512", context=ctx)

    vid = volume_id_of(uri)
    assert uri == "cinder://fast/%s" % vid
    assert info == {"store": "fast"}
    assert written == size
    assert (md5, multihash) == digests(data, "sha512")
    vol = env.cloud.volume(vid)
    assert vol.name == "image-%s" % image_id
    assert vol.volume_type == "glance-fast"
    assert vol.size == max(1, -(-size // GIB))
    assert vol.metadata == {"glance_image_id": image_id,
                            "image_size": str(size),
                            "image_owner": "owner-project"}
    assert vol.readonly is True
    assert vol.status == "available" and not vol.attachments
    env.factory.assert_clean()

    location = env.location(store, uri)
    assert store.get_size(location) == size
    assert read_all(store, location) == data
    # readers attach read-only
    modes = {r.body["attachment"].get("mode") for r in env.cloud.requests
             if r.method == "POST" and r.path == "/attachments"}
    assert modes == {"rw", "ro"}
    env.assert_clean(keep=[vid])

    store.delete(location)
    env.assert_clean()
    with pytest.raises(gs_exc.NotFound):
        store.get_size(location)


def test_each_family_takes_its_own_path(env: Env) -> None:
    env.cloud.status_polls_before_ready = 0  # only device waits sleep
    store = env.store()
    data = pattern(3 * CHUNK)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    assert read_all(store, env.location(store, uri)) == data
    connects = [c for c in env.factory.calls if c.operation == "connect"]
    assert [c.protocol for c in connects] == [env.protocol.upper()] * 2
    # rbd: written and read through librbd file objects; scaleio: waited
    # for the device to show its size; nfs: the share unmounted each time
    assert env.factory.host.handles_opened == (
        2 if env.protocol == "rbd" else 0)
    assert bool(env.time.sleeps) == (env.protocol == "scaleio")
    assert len(env.mounts.unmounted) == (2 if env.protocol == "nfs" else 0)


def test_single_store_legacy_uri_and_four_tuple(env: Env) -> None:
    store = env.store(backend=None)
    data = pattern(2 * CHUNK + 3)
    image_id = new_image_id()

    # glance_store's back-compat: no hashing_algo, a 4-tuple
    result = store.add(image_id, io.BytesIO(data), len(data))
    assert len(result) == 4
    uri, written, md5, info = result
    vid = volume_id_of(uri)
    assert uri == "cinder://%s" % vid
    assert info == {}
    assert written == len(data)
    assert md5 == digests(data)[0]
    # no context: no owner, and certainly not the string "None"
    assert env.cloud.volume(vid).metadata == {
        "glance_image_id": image_id, "image_size": str(len(data))}

    location = env.location(store, uri)
    assert store.get_size(location) == len(data)
    assert read_all(store, location) == data
    store.delete(location)
    env.assert_clean()


def test_multi_store_reads_a_legacy_location(env: Env) -> None:
    store = env.store("fast")
    data = pattern(CHUNK + 9)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha256")
    legacy = env.location(store, "cinder://%s" % volume_id_of(uri))
    assert store.get_size(legacy) == len(data)
    assert read_all(store, legacy) == data
    store.delete(legacy)
    env.assert_clean()


@LOCAL
def test_context_without_project_gives_no_owner(env: Env) -> None:
    store = env.store()
    ctx = oslo_context.RequestContext(project_id=None)
    uri, *_ = store.add(new_image_id(), io.BytesIO(b"abc"), 3, "sha512",
                        context=ctx)
    metadata = env.cloud.volume(volume_id_of(uri)).metadata
    assert "image_owner" not in metadata
    assert "None" not in metadata.values()


@LOCAL
def test_iterable_source_of_uneven_chunks(env: Env) -> None:
    store = env.store()
    parts = [pattern(n, seed=n) for n in (1, CHUNK + 7, 0, 3, 2 * CHUNK)]
    data = b"".join(parts)
    uri, written, md5, _, _ = store.add(new_image_id(), iter(parts),
                                        len(data), "sha512")
    assert written == len(data) and md5 == digests(data)[0]
    assert read_all(store, env.location(store, uri)) == data


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
@LOCAL
def test_invalid_image_size_is_refused_before_anything_is_created(
        env: Env, bad: object) -> None:
    store = env.store()
    with pytest.raises(gs_exc.Invalid):
        store.add(new_image_id(), io.BytesIO(b"x"), bad, "sha512")
    assert not any(r.method == "POST" for r in env.cloud.requests)
    env.assert_clean()


# -- size mismatches ----------------------------------------------------------
@pytest.mark.parametrize("actual,announced", [
    (3 * CHUNK + 1, 3 * CHUNK),      # more data than announced
    (GIB + 1, GIB),                  # one byte past the volume
    (3 * CHUNK - 1, 3 * CHUNK),      # less data than announced
    (GIB, 2 * GIB),
])
def test_size_mismatch_is_invalid_and_leaves_nothing(env: Env, actual: int,
                                                     announced: int) -> None:
    store = env.store()
    with pytest.raises(gs_exc.Invalid):
        store.add(new_image_id(), io.BytesIO(pattern(actual)), announced,
                  "sha512")
    env.assert_clean()


# -- the verifier -------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 3 * CHUNK + 5])
def test_verifier_sees_every_byte(env: Env, size: int) -> None:
    store = env.store()
    data = pattern(size)
    verifier = RecordingVerifier()
    store.add(new_image_id(), io.BytesIO(data), size, "sha512",
              verifier=verifier)
    assert bytes(verifier.data) == data
    assert verifier.calls == -(-size // CHUNK)


def test_verifier_sees_every_byte_of_an_unknown_size_upload(env: Env) -> None:
    store = env.store()
    data = pattern(3 * GIB + 11)
    verifier = RecordingVerifier()
    store.add(new_image_id(), io.BytesIO(data), 0, "sha512",
              verifier=verifier)
    assert bytes(verifier.data) == data


# -- bootable -----------------------------------------------------------------
def test_bootable_flag_for_listed_formats_only(env: Env) -> None:
    store = env.store(cinder_bootable_volume_formats="qcow2")
    qcow = qcow2_image(2 * CHUNK)
    raw = pattern(2 * CHUNK)
    q_uri, *_ = store.add(new_image_id(), io.BytesIO(qcow), len(qcow),
                          "sha512")
    r_uri, *_ = store.add(new_image_id(), io.BytesIO(raw), len(raw),
                          "sha512")
    assert env.cloud.volume(volume_id_of(q_uri)).bootable is True
    assert env.cloud.volume(volume_id_of(r_uri)).bootable is False
    assert len(env.requests_of("os-set_bootable")) == 1
    # the header survived: what was written is what is read
    assert read_all(store, env.location(store, q_uri)) == qcow


@LOCAL
def test_bootable_raw_when_raw_is_listed(env: Env) -> None:
    store = env.store(cinder_bootable_volume_formats="raw,qcow2")
    uri, *_ = store.add(new_image_id(), io.BytesIO(pattern(100)), 100,
                        "sha512")
    assert env.cloud.volume(volume_id_of(uri)).bootable is True


@LOCAL
def test_no_bootable_formats_never_sets_the_flag(env: Env) -> None:
    store = env.store()
    qcow = qcow2_image(CHUNK)
    uri, *_ = store.add(new_image_id(), io.BytesIO(qcow), len(qcow),
                        "sha512")
    assert env.cloud.volume(volume_id_of(uri)).bootable is False
    assert env.requests_of("os-set_bootable") == []


# -- thin provisioning --------------------------------------------------------
def sparse_image() -> bytes:
    zeros = bytes(4 * CHUNK)
    return (pattern(CHUNK, seed=1) + zeros + pattern(CHUNK, seed=2) + zeros
            + zeros + pattern(10, seed=3))


@pytest.mark.parametrize("thin", [True, False])
def test_thin_provisioning_skips_zero_chunks(env: Env, thin: bool) -> None:
    store = env.store(cinder_thin_provisioning=thin)
    data = sparse_image()
    uri, written, md5, _, _ = store.add(new_image_id(), io.BytesIO(data),
                                        len(data), "sha512")
    assert written == len(data) and md5 == digests(data)[0]
    backing = env.cloud.volume(volume_id_of(uri)).backing_path
    allocated = os.stat(backing).st_blocks * 512
    if thin:
        # only the three chunks with data (and their file system blocks)
        assert allocated < 4 * CHUNK
    else:
        assert allocated >= len(data) - CHUNK
    assert read_all(store, env.location(store, uri)) == data


def test_thin_provisioning_of_an_unknown_size_upload(env: Env) -> None:
    store = env.store(cinder_thin_provisioning=True)
    data = pattern(CHUNK) + bytes(3 * GIB) + pattern(CHUNK, seed=5)
    uri, written, *_ = store.add(new_image_id(), io.BytesIO(data), 0,
                                 "sha512")
    assert written == len(data)
    backing = env.cloud.volume(volume_id_of(uri)).backing_path
    assert os.stat(backing).st_blocks * 512 < GIB
    assert read_all(store, env.location(store, uri)) == data


# -- reading ------------------------------------------------------------------
@pytest.fixture
def stored(env: Env) -> StoredImage:
    """A stored image of a few chunks (put there as an upload leaves it)."""
    store = env.store(read_chunk=CHUNK)
    data = pattern(5 * CHUNK + 123)
    vid = env.cloud.create_volume_directly(
        env.service_project, 2, data=data, volume_type="glance-fast",
        metadata={"image_size": str(len(data))})
    env.cloud.volume(vid).readonly = True
    return store, env.location(store, "cinder://fast/%s" % vid), data, vid


def test_get_offset_and_length_limit(env: Env, stored: StoredImage) -> None:
    store, location, data, vid = stored
    for offset, limit in [
            (0, None), (1, None), (CHUNK, None), (CHUNK + 1, 10), (0, 1),
            (0, CHUNK), (7, 2 * CHUNK + 1), (5 * CHUNK + 122, None),
            (5 * CHUNK, 10 ** 9)]:
        reader, length = store.get(location, offset=offset,
                                   chunk_size=limit)
        expected = data[offset:offset + limit if limit else None]
        assert length == len(expected), (offset, limit)
        chunks = list(reader)
        assert b"".join(chunks) == expected, (offset, limit)
        assert all(len(c) <= CHUNK for c in chunks)
        assert reader.closed
        env.assert_clean(keep=[vid])


def test_get_offset_outside_the_image(env: Env, stored: StoredImage) -> None:
    store, location, _, vid = stored
    for offset in (-1, 5 * CHUNK + 123, 10 ** 9):
        with pytest.raises(gs_exc.Invalid):
            store.get(location, offset=offset)


def test_get_of_an_empty_image(env: Env) -> None:
    store = env.store()
    uri, *_ = store.add(new_image_id(), io.BytesIO(b""), 0, "sha512")
    location = env.location(store, uri)
    assert store.get_size(location) == 0
    reader, length = store.get(location)
    assert length == 0 and list(reader) == []


def test_early_close_detaches(env: Env, stored: StoredImage) -> None:
    store, location, data, vid = stored
    reader, _ = store.get(location)
    assert next(reader) == data[:CHUNK]
    assert env.cloud.volume(vid).status == "in-use"
    assert env.factory.open_volume_ids() == [vid]
    reader.close()
    vol = env.cloud.volume(vid)
    assert vol.status == "available" and not vol.attachments
    env.assert_clean(keep=[vid])
    with pytest.raises(StopIteration):
        next(reader)
    reader.close()  # idempotent


def test_reader_as_context_manager_detaches(
        env: Env, stored: StoredImage) -> None:
    store, location, data, vid = stored
    reader, _ = store.get(location)
    with reader:
        next(reader)
    env.assert_detached(vid)


def test_dropped_reader_detaches_when_collected(
        env: Env, stored: StoredImage) -> None:
    store, location, data, vid = stored
    reader, _ = store.get(location)
    next(reader)
    assert env.cloud.volume(vid).attachments
    del reader
    gc.collect()
    # detached by the store's releaser thread, not by the collecting one
    assert store.runtime.releaser.flush(timeout=30)
    env.assert_detached(vid)


@LOCAL
def test_get_size_without_recorded_size_is_the_volume_size(env: Env) -> None:
    store = env.store()
    project = env.service_project
    vid = env.cloud.create_volume_directly(project, 2, data=b"abc")
    bad = env.cloud.create_volume_directly(project, 3,
                                           metadata={"image_size": "x"})
    assert store.get_size(env.location(
        store, "cinder://fast/%s" % vid)) == 2 * GIB
    assert store.get_size(env.location(
        store, "cinder://fast/%s" % bad)) == 3 * GIB


# -- missing volumes and errors -----------------------------------------------
def test_missing_volume_is_not_found_everywhere(env: Env) -> None:
    store = env.store()
    location = env.location(store, "cinder://fast/%s" % uuid.uuid4())
    for operation in (store.get, store.get_size, store.delete):
        with pytest.raises(gs_exc.NotFound):
            operation(location)
    env.assert_clean()


@pytest.mark.parametrize("status,error", [
    (500, gs_exc.BackendException),
    (403, gs_exc.Forbidden),
    (503, gs_exc.RemoteServiceUnavailable),
    (400, gs_exc.BackendException),
])
@LOCAL  # no connector involved
def test_http_errors_are_typed_never_zero(env: Env, stored: StoredImage,
                                          status: int,
                                          error: type[Exception]) -> None:
    store, location, data, vid = stored
    for operation in ("get", "get_size", "delete"):
        env.cloud.fail_next("GET", "/volumes/%s$" % vid, status)
        with pytest.raises(error) as raised:
            getattr(store, operation)(location)
        assert not isinstance(raised.value, gs_exc.NotFound)
        assert "HTTP %d" % status in str(raised.value)
    env.assert_clean(keep=[vid])
    # nothing changed: the image is still there
    assert read_all(store, location) == data


@pytest.mark.parametrize("status,error", [
    (500, gs_exc.BackendException),
    (400, gs_exc.InUseByStore),
    (409, gs_exc.InUseByStore),
    (403, gs_exc.Forbidden),
])
@LOCAL
def test_delete_refused_by_cinder_is_typed_and_keeps_the_volume(
        env: Env, stored: StoredImage, status: int,
        error: type[Exception]) -> None:
    store, location, data, vid = stored
    # a 5xx is tried again, twice
    env.cloud.fail_next("DELETE", "/volumes/%s$" % vid, status,
                        times=DELETE_ATTEMPTS if status >= 500 else 1)
    with pytest.raises(error):
        store.delete(location)
    assert env.cloud.volume(vid).status == "available"
    store.delete(location)
    env.assert_clean()


@LOCAL
def test_location_without_volume_id_is_a_bad_uri(env: Env) -> None:
    store = env.store()

    class Nowhere:
        volume_id = ""

    with pytest.raises(gs_exc.BadStoreUri):
        store.get_size(Nowhere())


@LOCAL
def test_store_not_configured_says_so(env: Env) -> None:
    store = env.store(configure=False)
    with pytest.raises(gs_exc.BadStoreConfiguration, match="not configured"):
        store.get_size(env.location(store, "cinder://fast/%s"
                                    % uuid.uuid4()))


# -- the configured volume type -----------------------------------------------
def test_unknown_volume_type_refuses_add_only(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    store = env.store(cinder_volume_type="glance-nope")
    assert "glance-nope" in (store.refusal or "")
    assert any("glance-nope" in r.getMessage() for r in caplog.records)

    with pytest.raises(gs_exc.StoreAddDisabled, match="glance-nope"):
        store.add(new_image_id(), io.BytesIO(b"abc"), 3, "sha512")
    assert not any(r.method == "POST" and r.path == "/volumes"
                   for r in env.cloud.requests)

    data = pattern(CHUNK + 1)
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, data=data,
        metadata={"image_size": str(len(data))})
    location = env.location(store, "cinder://fast/%s" % vid)
    assert store.get_size(location) == len(data)
    assert read_all(store, location) == data
    # Glance drops the image record even when delete is refused: deleting
    # needs no volume type, so the volume goes with the image
    store.delete(location)
    env.cloud.settle()
    assert not env.cloud.volume_exists(vid)
    env.assert_clean()


@LOCAL
def test_existing_volume_type_is_accepted(env: Env) -> None:
    store = env.store(cinder_volume_type="glance-slow")
    assert store.refusal is None
    uri, *_ = store.add(new_image_id(), io.BytesIO(b"x"), 1, "sha512")
    assert env.cloud.volume(volume_id_of(uri)).volume_type == "glance-slow"


@pytest.mark.parametrize("status", [500, 503])
@LOCAL
def test_cinder_failing_at_configure_does_not_refuse(
        env: Env, status: int) -> None:
    env.cloud.fail_next("GET", "/types", status)
    store = env.store(cinder_volume_type="glance-fast")
    assert store.refusal is None
    uri, *_ = store.add(new_image_id(), io.BytesIO(b"abc"), 3, "sha512")
    assert env.cloud.volume(volume_id_of(uri)).volume_type == "glance-fast"


@LOCAL
def test_cinder_unreachable_at_configure_does_not_refuse(env: Env) -> None:
    outage = env.outage()
    store = env.store(collaborators=env.collaborators(
        http_session_factory=outage.session))
    assert store.refusal is None
    assert outage.refused > 0
    outage.down = False
    uri, *_ = store.add(new_image_id(), io.BytesIO(b"abc"), 3, "sha512")
    assert env.cloud.volume_exists(volume_id_of(uri))


# -- which store a legacy volume belongs to -----------------------------------
@LOCAL
def test_is_image_associated_with_store_by_volume_type(env: Env) -> None:
    store = env.store(cinder_volume_type="glance-slow")
    project = env.service_project
    mine = env.cloud.create_volume_directly(project, 1,
                                            volume_type="glance-slow")
    other = env.cloud.create_volume_directly(project, 1,
                                             volume_type="glance-fast")
    assert store.is_image_associated_with_store(None, mine) is True
    assert store.is_image_associated_with_store(None, other) is False
    assert store.is_image_associated_with_store(
        None, str(uuid.uuid4())) is False


@LOCAL
def test_is_image_associated_without_type_uses_cinder_default(
        env: Env) -> None:
    store = env.store(cinder_volume_type=None)
    project = env.service_project
    default = env.cloud.create_volume_directly(project, 1)  # glance-fast
    other = env.cloud.create_volume_directly(project, 1,
                                             volume_type="glance-slow")
    assert env.cloud.default_type == "glance-fast"
    assert store.is_image_associated_with_store(None, default) is True
    assert store.is_image_associated_with_store(None, other) is False
    env.cloud.default_type = "glance-slow"
    assert store.is_image_associated_with_store(None, other) is True
    assert store.is_image_associated_with_store(None, default) is False


@LOCAL
def test_is_image_associated_answers_false_on_errors(env: Env) -> None:
    store = env.store()
    vid = env.cloud.create_volume_directly(env.service_project, 1)
    env.cloud.fail_next("GET", "/volumes/%s$" % vid, 500)
    assert store.is_image_associated_with_store(None, vid) is False
    assert store.is_image_associated_with_store(None, vid) is True


# -- sources that fail --------------------------------------------------------
@pytest.mark.parametrize("size,good", [
    (3 * CHUNK, CHUNK + 5),
    (0, 2 * GIB + 7),        # unknown size, after the volume grew
])
def test_source_failing_midway_propagates_and_leaves_nothing(
        env: Env, size: int, good: int) -> None:
    store = env.store()
    source = BrokenSource(pattern(3 * GIB), good)
    with pytest.raises(OSError) as raised:
        store.add(new_image_id(), source, size, "sha512")
    assert raised.value is source.error
    env.assert_clean()


@LOCAL
def test_glance_errors_from_the_source_are_not_rewrapped(env: Env) -> None:
    # Glance's size-limiting reader raises its own exception; Glance
    # catches it by class, so it must come out as it went in.
    class LimitExceeded(Exception):
        pass

    store = env.store()
    source = BrokenSource(pattern(3 * CHUNK), CHUNK, LimitExceeded())
    with pytest.raises(LimitExceeded):
        store.add(new_image_id(), source, 0, "sha512")
    env.assert_clean()


def test_lock_file_of_a_volume_goes_with_the_volume(env: Env) -> None:
    store = env.store()
    data = pattern(2 * CHUNK)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    vid = uri.rsplit("/", 1)[1]
    location = env.location(store, uri)
    assert read_all(store, location) == data
    lock_file = env.lock_path / ("glance_store_cinder-volume-%s" % vid)
    assert lock_file.exists()
    store.delete(location)
    assert not lock_file.exists()


def test_lock_file_of_a_failed_upload_goes_with_its_volume(env: Env) -> None:
    store = env.store()
    env.cloud.fail_next("POST", r"/volumes/.*/action$", 500)
    with pytest.raises(gs_exc.BackendException):
        store.add(new_image_id(), io.BytesIO(b"x" * CHUNK), CHUNK,
                  "sha512")
    env.assert_clean()
    assert not list(env.lock_path.glob("glance_store_cinder-volume-*"))


# -- identities ---------------------------------------------------------------
NOT_VOLUME_IDS = [
    "x?all_tenants=1&limit=1",
    "%2F..%2Fvolumes",
    "../volumes/detail",
    "{%s}",
    "urn:uuid:%s",
    "UPPER",
    "HEX32",
    "%s\n",
    "",
]


def _spelled(template: str, vid: str) -> str:
    if template == "UPPER":
        return vid.upper()
    if template == "HEX32":
        return vid.replace("-", "")
    return template % vid if "%s" in template else template


@pytest.mark.parametrize("template", NOT_VOLUME_IDS)
@LOCAL
def test_is_image_associated_never_sends_a_non_canonical_id(
        env: Env, template: str, caplog: pytest.LogCaptureFixture) -> None:
    store = env.store(cinder_volume_type="glance-fast")
    vid = env.cloud.create_volume_directly(env.service_project, 1)
    before = len(env.cloud.requests)
    assert store.is_image_associated_with_store(
        None, _spelled(template, vid)) is False
    assert env.cloud.requests[before:] == []
    assert "not a volume id" in caplog.text
    assert store.is_image_associated_with_store(None, vid) is True


@LOCAL
def test_location_of_another_store_is_refused(env: Env) -> None:
    fast = env.store("fast")
    data = pattern(100)
    uri, *_ = fast.add(new_image_id(), io.BytesIO(data), len(data),
                       "sha512")
    slow_uri = uri.replace("cinder://fast/", "cinder://slow/")
    location = env.location(fast, slow_uri)
    before = len(env.cloud.requests)
    for call in (fast.get, fast.get_size, fast.delete):
        with pytest.raises(gs_exc.BadStoreUri, match="store slow"):
            call(location)
    assert env.cloud.requests[before:] == []
    # a legacy location names no store: it is served
    legacy = env.location(fast, "cinder://%s" % volume_id_of(uri))
    assert read_all(fast, legacy) == data


@LOCAL
def test_image_size_larger_than_the_volume_is_an_error(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    store = env.store()
    data = pattern(100)
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, data=data,
        metadata={"image_size": str(GIB + 1)})
    location = env.location(store, "cinder://fast/%s" % vid)
    for call in (store.get, store.get_size):
        with pytest.raises(gs_exc.BackendException,
                           match="image_size %d is larger" % (GIB + 1)):
            call(location)
    assert "claims an image of %d bytes" % (GIB + 1) in caplog.text
    env.assert_clean(keep=[vid])
    env.cloud.volume(vid).metadata["image_size"] = str(GIB)
    assert store.get_size(location) == GIB


@LOCAL
def test_negative_chunk_size_is_refused_before_attaching(env: Env) -> None:
    store = env.store()
    data = pattern(100)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    location = env.location(store, uri)
    with pytest.raises(gs_exc.Invalid, match="chunk_size"):
        store.get(location, chunk_size=-1)
    env.assert_clean(keep=[volume_id_of(uri)])
    assert not env.requests_of("os-complete")[1:]  # only the upload's
    assert read_all(store, location, chunk_size=10) == data[:10]


def _volume_file_flags(env: Env) -> list[int]:
    """The open flags of this process's descriptors of volume files (by
    inode: an NFS family's share holds a hard link to the file)."""
    volumes = {(st.st_dev, st.st_ino) for st in (
        os.stat(v.backing_path) for v in env.cloud.backend.volumes.values())}
    flags = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            st = os.stat("/proc/self/fd/%s" % fd)
            with open("/proc/self/fdinfo/%s" % fd) as info:
                fields = dict(line.split(":", 1) for line in info)
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
        if (st.st_dev, st.st_ino) in volumes:
            flags.append(int(fields["flags"].strip(), 8))
    return flags


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("protocol", ["local", "nfs"])
def test_uploads_write_with_o_direct_unless_told_not_to(
        env: Env, direct: bool) -> None:
    store = env.store(cinder_upload_direct_io=direct)
    seen: list[int] = []
    first, second = pattern(CHUNK), pattern(CHUNK + 5, seed=2)

    def chunks() -> Iterator[bytes]:
        yield first
        # Mid-upload: the volume is attached and open for writing.
        seen.extend(_volume_file_flags(env))
        yield second

    uri, written, md5, _, _ = store.add(new_image_id(), chunks(), 0,
                                        "sha512")
    assert seen, "no descriptor of the volume was open mid-upload"
    assert any(f & os.O_DIRECT for f in seen) == direct
    assert written == 2 * CHUNK + 5 and md5 == digests(first + second)[0]
    assert read_all(store, env.location(store, uri)) == first + second
    assert _volume_file_flags(env) == []
