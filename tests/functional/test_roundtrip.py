"""add -> get -> get_size -> delete through the Store API, real Cinder,
on each device family (an NFS share, a block device)."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest
from glance_store import exceptions as gs_exc

from tests.functional.conftest import location_for
from tests.functional.data import PatternSource
from tests.functional.data import check_stream
from tests.functional.waits import wait_volume_gone

MiB = 1024 * 1024
GiB = 1024 * MiB


def roundtrip(stores: dict[str, Any], admin_cinder: Any, store_name: str,
              size: int, announced: int | None = None) -> Any:
    store = stores[store_name]
    source = PatternSource(size)
    image_id = str(uuid.uuid4())
    announced = size if announced is None else announced
    uri, written, checksum, multihash, info = store.add(
        image_id, source, announced, "sha512")
    assert written == size
    assert checksum == source.md5.hexdigest()
    assert multihash == source.sha512.hexdigest()
    assert info == {"store": store_name}
    assert uri.startswith("cinder://%s/" % store_name)
    volume_id = uri.rsplit("/", 1)[1]
    volume = admin_cinder.volumes.get(volume_id)
    assert volume.name == "image-%s" % image_id
    assert volume.metadata["glance_image_id"] == image_id
    assert int(volume.metadata["image_size"]) == size

    loc = location_for(uri, store_name)
    assert store.get_size(loc) == size
    reader, length = store.get(loc)
    assert length == size
    md5, sha512 = check_stream(reader, size)
    assert (md5, sha512) == (checksum, multihash)

    store.delete(loc)
    wait_volume_gone(admin_cinder, volume_id)
    with pytest.raises(gs_exc.NotFound):
        store.get_size(loc)
    return volume


def stored_extends(caplog: pytest.LogCaptureFixture, volume_id: str) -> int:
    """The driver's ``Stored image ... (N bytes, K extends)`` record."""
    for record in caplog.records:
        match = re.match(r"Stored image \S+ in volume %s \(\d+ bytes, "
                         r"(\d+) extends\)" % volume_id, record.getMessage())
        if match:
            return int(match.group(1))
    raise AssertionError("no 'Stored image' record for %s" % volume_id)


def online_extends(aio: dict[str, Any], volume_id: str) -> int:
    """Extends of an attached volume, from the block driver's log lines."""
    with open(aio["logs"]["cinder-volume"], errors="replace") as f:
        return sum("Extended volume %s " % volume_id in line
                   and "while attached" in line for line in f)


@pytest.mark.parametrize("size", [0, 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1,
                                  100 * MiB])
def test_known_size_roundtrip(stores: dict[str, Any], admin_cinder: Any,
                              family_store: str, size: int) -> None:
    volume = roundtrip(stores, admin_cinder, family_store, size)
    assert volume.size == max(1, -(-size // GiB))


@pytest.mark.parametrize("store_name,size,online", [
    ("fast", int(1.1 * GiB), False),
    ("fast", int(2.5 * GiB), False),
    ("blockoff", int(1.1 * GiB), False),
    ("block", int(2.5 * GiB), True),
], ids=["nfs-1.1GiB-offline", "nfs-2.5GiB-offline", "block-1.1GiB-offline",
        "block-2.5GiB-online"])
def test_unknown_size_roundtrip_is_bit_exact(
        stores: dict[str, Any], admin_cinder: Any, aio: dict[str, Any],
        caplog: pytest.LogCaptureFixture, store_name: str, size: int,
        online: bool) -> None:
    caplog.set_level(logging.INFO, logger="glance_store_cinder")
    volume = roundtrip(stores, admin_cinder, store_name, size, announced=0)
    # Grown to fit, never more than max(25 %, 1 GiB) above the image.
    assert volume.size * GiB >= size
    assert volume.size * GiB - size <= max(size // 4, GiB)
    extends = stored_extends(caplog, volume.id)
    assert extends >= 1
    # Online: Cinder grew the attached volume every time (the loop device
    # refreshed in place); offline: never while attached.
    assert online_extends(aio, volume.id) == (extends if online else 0)


@pytest.mark.parametrize("actual,announced", [
    (5 * MiB, 4 * MiB),
    (3 * MiB, 4 * MiB),
])
def test_size_mismatch_is_invalid_and_leaves_no_volume(stores: dict[str, Any],
                                                       admin_cinder: Any,
                                                       actual: int,
                                                       announced: int) -> None:
    with pytest.raises(gs_exc.Invalid):
        stores["fast"].add(str(uuid.uuid4()), PatternSource(actual),
                           announced, "sha512")


def test_partial_read_with_offset_and_length(stores: dict[str, Any]) -> None:
    store = stores["fast"]
    size = 9 * MiB + 5
    uri, *_ = store.add(str(uuid.uuid4()), PatternSource(size), size,
                        "sha512")
    loc = location_for(uri, "fast")
    try:
        offset, length = 4 * MiB - 3, 2 * MiB + 7
        reader, got_length = store.get(loc, offset=offset,
                                       chunk_size=length)
        from tests.functional.data import expected_bytes
        assert got_length == length
        assert b"".join(reader) == expected_bytes(offset, length)
    finally:
        store.delete(loc)


def test_missing_volume_is_not_found_everywhere(
        stores: dict[str, Any]) -> None:
    store = stores["fast"]
    loc = location_for("cinder://fast/%s" % uuid.uuid4(), "fast")
    with pytest.raises(gs_exc.NotFound):
        store.get(loc)
    with pytest.raises(gs_exc.NotFound):
        store.get_size(loc)
    with pytest.raises(gs_exc.NotFound):
        store.delete(loc)
