"""Multi-store, legacy locations, auth modes, volume flags, early close."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.store import Store
from tests.functional.conftest import FAMILY_STORES
from tests.functional.conftest import block_loop_devices
from tests.functional.conftest import location_for
from tests.functional.data import PatternSource
from tests.functional.data import check_stream
from tests.functional.data import expected_bytes
from tests.functional.waits import volume_status
from tests.functional.waits import wait_until
from tests.functional.waits import wait_volume_gone

MiB = 1024 * 1024
GiB = 1024 * MiB


def add(store: Store, size: int = MiB, context: Any = None) -> Any:
    return store.add(str(uuid.uuid4()), PatternSource(size), size, "sha512",
                     context=context)


def volume_id_of(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


@pytest.mark.parametrize("name,type_key", [("fast", "fast"),
                                           ("slow", "slow")])
def test_each_store_uses_its_volume_type(stores: dict[str, Any],
                                         admin_cinder: Any,
                                         aio: dict[str, Any], name: str,
                                         type_key: str) -> None:
    uri, *_ = add(stores[name])
    try:
        assert uri.startswith("cinder://%s/" % name)
        volume = admin_cinder.volumes.get(volume_id_of(uri))
        assert volume.volume_type == aio["volume_types"][type_key]
    finally:
        stores[name].delete(location_for(uri, name))


def test_is_image_associated_with_store(stores: dict[str, Any]) -> None:
    uri, *_ = add(stores["fast"])
    volume_id = volume_id_of(uri)
    try:
        assert stores["fast"].is_image_associated_with_store(None, volume_id)
        assert not stores["slow"].is_image_associated_with_store(
            None, volume_id)
        assert not stores["fast"].is_image_associated_with_store(
            None, str(uuid.uuid4()))
    finally:
        stores["fast"].delete(location_for(uri, "fast"))


def test_store_with_missing_type_refuses_add_but_deletes(
        stores: dict[str, Any], aio: dict[str, Any],
        admin_cinder: Any) -> None:
    """Glance drops the image record even when a delete is refused, so a
    store whose volume type went missing still deletes its volumes."""
    missing = aio["volume_types"]["missing"]
    with pytest.raises(gs_exc.StoreAddDisabled, match=missing):
        add(stores["missing"])
    uri, *_ = add(stores["fast"])
    volume_id = volume_id_of(uri)
    stores["missing"].delete(
        location_for("cinder://missing/%s" % volume_id, "missing"))
    wait_volume_gone(admin_cinder, volume_id)


def test_legacy_location_is_readable_and_deletable(stores: dict[str, Any],
                                                   admin_cinder: Any) -> None:
    uri, size, checksum, _, _ = add(stores["fast"], 3 * MiB)
    legacy = "cinder://%s" % volume_id_of(uri)
    loc = location_for(legacy, "fast")
    reader, length = stores["fast"].get(loc)
    assert check_stream(reader, size)[0] == checksum
    stores["fast"].delete(loc)
    wait_volume_gone(admin_cinder, volume_id_of(uri))


def test_volume_registered_by_cinder_reads_whole_volume(
        stores: dict[str, Any], admin_cinder: Any, aio: dict[str, Any],
        request: pytest.FixtureRequest) -> None:
    """Like upload-to-image's volumes: no image_size metadata."""
    volume = admin_cinder.volumes.create(
        1, name="cinder-made-%s" % uuid.uuid4(),
        volume_type=aio["volume_types"]["fast"])
    request.node.keep_volumes.add(volume.id)
    try:
        _wait_available(admin_cinder, volume.id)
        known = expected_bytes(0, MiB)
        path = os.path.join(aio["nfs"]["export_dir"], "volume-%s" % volume.id)
        with open(path, "r+b") as f:  # no truncation
            f.write(known)
        loc = location_for("cinder://fast/%s" % volume.id, "fast")
        assert stores["fast"].get_size(loc) == GiB
        reader, length = stores["fast"].get(loc)
        assert length == GiB
        first = b""
        rest = 0
        for chunk in reader:
            if len(first) < MiB:
                need = MiB - len(first)
                first += chunk[:need]
                chunk = chunk[need:]
            assert chunk.count(0) == len(chunk)
            rest += len(chunk)
        assert first == known
        assert len(first) + rest == GiB
    finally:
        stores["fast"].delete(location_for("cinder://fast/%s" % volume.id,
                                           "fast"))


def _wait_available(cinder: Any, volume_id: str) -> None:
    wait_until(lambda: volume_status(cinder, volume_id), 120,
               "volume %s to be available" % volume_id,
               done=lambda status: status == "available")


def test_application_credential_store(
        stores: dict[str, Any], admin_cinder: Any) -> None:
    uri, size, checksum, _, _ = add(stores["appcred"])
    loc = location_for(uri, "appcred")
    reader, _ = stores["appcred"].get(loc)
    assert check_stream(reader, size)[0] == checksum
    stores["appcred"].delete(loc)


def test_multitenant_volume_lives_in_requester_project(
        stores: dict[str, Any], admin_cinder: Any, demo_contexts: Any) -> None:
    a, b = demo_contexts["a"], demo_contexts["b"]
    uri, size, checksum, _, _ = add(stores["tenant"], context=a)
    loc = location_for(uri, "tenant")
    try:
        volume = admin_cinder.volumes.get(volume_id_of(uri))
        assert getattr(volume, "os-vol-tenant-attr:tenant_id") == \
            a.project_id
        assert volume.metadata["image_owner"] == a.project_id
        # Glance lets b read an image shared with or public to b's project;
        # the volume is in a's project, so the store reads it with its
        # service credentials.  Deleting is a's (or an admin's) only.
        reader, _ = stores["tenant"].get(loc, context=b)
        assert check_stream(reader, size)[0] == checksum
        with pytest.raises(gs_exc.NotFound):
            stores["tenant"].delete(loc, context=b)
        reader, _ = stores["tenant"].get(loc, context=a)
        assert check_stream(reader, size)[0] == checksum
    finally:
        stores["tenant"].delete(loc, context=a)


def test_bootable_only_where_configured_and_read_only(
        stores: dict[str, Any], admin_cinder: Any) -> None:
    fast_uri, *_ = add(stores["fast"])
    slow_uri, *_ = add(stores["slow"])
    try:
        fast = admin_cinder.volumes.get(volume_id_of(fast_uri))
        slow = admin_cinder.volumes.get(volume_id_of(slow_uri))
        assert fast.bootable == "true"
        assert slow.bootable == "false"
        for v in (fast, slow):
            assert v.metadata.get("readonly") == "True"
    finally:
        stores["fast"].delete(location_for(fast_uri, "fast"))
        stores["slow"].delete(location_for(slow_uri, "slow"))


def test_early_close_detaches_and_releases_the_device(
        stores: dict[str, Any], admin_cinder: Any, aio: dict[str, Any],
        family_store: str) -> None:
    store = stores[family_store]
    uri, *_ = add(store, 12 * MiB)
    loc = location_for(uri, family_store)
    try:
        reader, _ = store.get(loc)
        next(reader)
        volume = admin_cinder.volumes.get(volume_id_of(uri))
        assert volume.attachments
        bound = 1 if family_store == FAMILY_STORES["block"] else 0
        assert len(block_loop_devices(aio)) == bound
        reader.close()
        volume = admin_cinder.volumes.get(volume_id_of(uri))
        assert volume.status == "available"
        assert not volume.attachments
        # Cinder's detach of a device still open is carried out by the
        # kernel at the last close: allow it a moment.
        wait_until(lambda: block_loop_devices(aio), 10,
                   "the loop device to be released", interval=0.1,
                   done=lambda bound: bound == [])
        assert store.runtime.journal.records() == []
    finally:
        store.delete(loc)


def test_delete_right_after_abandoned_read(stores: dict[str, Any],
                                           admin_cinder: Any) -> None:
    store = stores["fast"]
    uri, *_ = add(store, 8 * MiB)
    loc = location_for(uri, "fast")
    reader, _ = store.get(loc)
    next(reader)
    del reader  # a client that went away
    store.delete(loc)
