"""Multiattach image volumes: each host its own attachment, at once.

The stack's glance-api store ``multi`` keeps images in volumes of type
``glance-block-multi`` (``multiattach="<is> True"``) on the loop-device
backend, whose driver reports multiattach: every connection of a volume
shares one loop device, counted, and the last one out detaches it.

A second host is played by a store in this test process with its own
connector host name and its own journal (the driver's per-host state):
Cinder sees two hosts.  It runs on the same machine as glance-api, so
both see the same loop device, as two hosts see one LUN.  What it does
not reproduce: a real second kernel (os-brick's local connector connects
and disconnects nothing, the device node is the target's own).
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from glance_store import exceptions as gs_exc
from oslo_config import cfg

from glance_store_cinder.attachment import READ_ONLY
from glance_store_cinder.location import StoreLocation
from glance_store_cinder.options import StoreSettings
from glance_store_cinder.runtime import Collaborators
from glance_store_cinder.store import Store
from testing_support import stack
from tests.functional.conftest import block_loop_devices
from tests.functional.test_glance_api import Cleanup
from tests.functional.test_glance_api import Content
from tests.functional.test_glance_api import Glance
from tests.functional.test_glance_api import MiB
from tests.functional.test_glance_api import upload
from tests.functional.test_glance_api import volume_ids
from tests.functional.test_shared_reads import OpenDownload
from tests.functional.waits import wait_until

# Larger than what the sockets between glance-api and this client buffer:
# a download held open after its first chunk keeps glance-api reading.
SIZE = 96 * MiB + 4321
SECOND_HOST = "gsc-second-host"
SETTLE = 60            # seconds for a detach to show in Cinder


def second_host_store(aio: dict[str, Any], base: pathlib.Path,
                      group: str, volume_type: str) -> Store:
    """A store of another host: its connector's host name, its journal."""
    conf = cfg.ConfigOpts()
    conf_file = base / "second-host.conf"
    conf_file.write_text(f"""
[{group}]
cinder_volume_type = {volume_type}
{stack.service_user_options(aio)}
cinder_mount_point_base = {base}/mnt
cinder_state_transition_timeout = 5
""")
    conf(["--config-file", str(conf_file)], project="gsc-second-host")

    def host_properties(settings: StoreSettings) -> dict[str, Any]:
        return {"host": SECOND_HOST, "platform": "x86_64",
                "os_type": "linux", "ip": "127.0.0.2",
                "initiator": "iqn.2026-12.invalid:" + SECOND_HOST,
                "multipath": False, "enforce_multipath": False}

    store = Store(conf, backend=group, collaborators=Collaborators(
        host_properties=host_properties, lock_path=str(base / "locks")))
    store.configure()
    return store


def location(store: Store, volume_id: str) -> StoreLocation:
    return StoreLocation({"volume_id": volume_id,
                          "store": store.backend_group},
                         store.conf, backend_group=store.backend_group)


def attachment_hosts(admin_cinder: Any, volume_id: str) -> list[str]:
    volume = admin_cinder.volumes.get(volume_id)
    return sorted(str(a.get("host_name")) for a in volume.attachments)


def read_all(reader: Iterator[bytes]) -> tuple[str, str]:
    md5 = hashlib.md5()
    sha512 = hashlib.sha512()
    for chunk in reader:
        md5.update(chunk)
        sha512.update(chunk)
    return md5.hexdigest(), sha512.hexdigest()


@pytest.fixture
def multi_image(aio: dict[str, Any], glance: Glance, glance_service: Glance,
                admin_cinder: Any, cleanup: Cleanup
                ) -> tuple[dict[str, Any], str, Content]:
    content = Content(SIZE)
    image = upload(glance, cleanup, content, store="multi")
    volume_id = volume_ids(glance_service.locations(image["id"]))["multi"]
    volume = admin_cinder.volumes.get(volume_id)
    assert volume.multiattach is True
    assert volume.volume_type == aio["volume_types"]["multi"]
    return image, volume_id, content


def test_two_hosts_read_one_image_through_their_own_attachments(
        aio: dict[str, Any], glance: Glance, admin_cinder: Any,
        multi_image: tuple[dict[str, Any], str, Content],
        tmp_path: pathlib.Path) -> None:
    image, volume_id, content = multi_image
    expected = (image["checksum"], image["os_hash_value"])
    other = second_host_store(aio, tmp_path, "multi",
                              aio["volume_types"]["multi"])
    download = OpenDownload(glance, image["id"], content)
    try:
        [glance_host] = attachment_hosts(admin_cinder, volume_id)
        reader, length = other.get(location(other, volume_id))
        assert length == content.size
        try:
            first = next(reader)
            # Both hold an attachment at once; the target's loop device
            # serves both (one device, counted by the loop driver).
            assert attachment_hosts(admin_cinder, volume_id) == sorted(
                [glance_host, SECOND_HOST])
            assert len(block_loop_devices(aio)) == 1
        except BaseException:
            reader.close()
            raise
        digests = read_all(iter([first, *reader]))
        assert digests == expected
        # The second host's detach leaves glance-api's reader its device.
        wait_until(lambda: attachment_hosts(admin_cinder, volume_id)
                   == [glance_host], SETTLE, "the second host's detach")
        assert len(block_loop_devices(aio)) == 1
        assert other.runtime.journal.records() == []
    finally:
        digests = download.finish()
    assert digests == expected
    wait_until(lambda: not attachment_hosts(admin_cinder, volume_id),
               SETTLE, "glance-api's read attachment to end")


def test_users_of_one_host_keep_the_device_for_each_other(
        aio: dict[str, Any], admin_cinder: Any,
        multi_image: tuple[dict[str, Any], str, Content],
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two attachments of one multiattach volume on one host: the first
    one closed must not disconnect the device the other still reads."""
    image, volume_id, content = multi_image
    host = second_host_store(aio, tmp_path, "multi",
                             aio["volume_types"]["multi"])
    attacher = host.runtime.attacher
    volumes = host.runtime.service_volumes()
    caplog.set_level(logging.DEBUG, "glance_store_cinder.connectors.base")
    with attacher.attach(volumes, volumes.get(volume_id), READ_ONLY) as outer:
        with attacher.attach(volumes, volumes.get(volume_id), READ_ONLY):
            assert attachment_hosts(admin_cinder, volume_id) == [
                SECOND_HOST, SECOND_HOST]
        assert ("Volume %s stays connected for another user on this host"
                % volume_id) in caplog.text
        assert len(admin_cinder.volumes.get(volume_id).attachments) == 1
        path = outer.device.path
        assert path is not None
        with open(path, "rb") as f:
            got = f.read(content.size)
        assert (hashlib.md5(got).hexdigest(),
                hashlib.sha512(got).hexdigest()) == (
            image["checksum"], image["os_hash_value"])
    assert host.runtime.journal.records() == []
    assert attachment_hosts(admin_cinder, volume_id) == []


def test_without_multiattach_the_second_host_is_told_to_retry(
        aio: dict[str, Any], glance: Glance, glance_service: Glance,
        admin_cinder: Any, cleanup: Cleanup,
        tmp_path: pathlib.Path) -> None:
    """The contrast: ``glance-block`` (not multiattach) lets one host at a
    time; the other gives up within cinder_state_transition_timeout."""
    content = Content(SIZE)
    image = upload(glance, cleanup, content, store="block")
    volume_id = volume_ids(glance_service.locations(image["id"]))["block"]
    assert admin_cinder.volumes.get(volume_id).multiattach is False
    other = second_host_store(aio, tmp_path, "block",
                              aio["volume_types"]["block"])
    download = OpenDownload(glance, image["id"], content)
    try:
        [glance_host] = attachment_hosts(admin_cinder, volume_id)
        started = time.monotonic()
        with pytest.raises(gs_exc.RemoteServiceUnavailable,
                           match=glance_host):
            other.get(location(other, volume_id))
        assert time.monotonic() - started < 60
        assert attachment_hosts(admin_cinder, volume_id) == [glance_host]
        assert other.runtime.journal.records() == []
    finally:
        digests = download.finish()
    assert digests == (image["checksum"], image["os_hash_value"])
    wait_until(lambda: not attachment_hosts(admin_cinder, volume_id),
               SETTLE, "glance-api's read attachment to end")
