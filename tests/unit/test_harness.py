"""The environment's leak check finds each kind of leftover.

These tests build :class:`Env` themselves (not the checked fixtures): they
leave things behind on purpose and look at what ``Env.leaks`` reports.
"""

from __future__ import annotations

import io
import pathlib
import threading

import pytest

from glance_store_cinder.attachment import READ_ONLY
from tests.unit.conftest import FAMILIES
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern


def found(env: Env) -> dict[str, list[str]]:
    return {kind: items for kind, items in env.leaks().items() if items}


def test_stored_images_and_the_tests_own_volumes_are_not_leaks(
        tmp_path: pathlib.Path) -> None:
    env = Env(tmp_path, "nfs")
    store = env.store()
    store.add(new_image_id(), io.BytesIO(pattern(CHUNK)), CHUNK, "sha512")
    env.cloud.create_volume_directly(env.service_project, 1)
    assert len(env.cloud.volumes) == 2
    assert found(env) == {}


def test_a_volume_that_is_no_stored_image_is_a_leak(
        tmp_path: pathlib.Path) -> None:
    env = Env(tmp_path)
    volumes = env.store().runtime.service_volumes()
    vid = volumes.create("image-x", 1, "glance-fast", {})
    assert list(found(env)) == ["volumes"]
    assert vid in found(env)["volumes"][0]


@pytest.mark.parametrize("protocol", FAMILIES)
def test_what_an_open_attachment_leaves_on_this_host(
        tmp_path: pathlib.Path, protocol: str) -> None:
    env = Env(tmp_path, protocol)
    store = env.store()
    attacher = store.runtime.attacher
    volumes = store.runtime.service_volumes()
    vid = env.cloud.create_volume_directly(env.service_project, 1)
    with attacher.attach(volumes, volumes.get(vid), READ_ONLY):
        leaks = found(env)
    expected = {"attachments", "connections", "journal_records"}
    if protocol == "nfs":
        expected |= {"mounts"}
    assert set(leaks) == expected
    if protocol in ("rbd", "scaleio"):
        # the file object, the device node
        assert len(leaks["connections"]) == 2
    assert found(env) == {}


def test_a_thread_still_running_is_a_leak(tmp_path: pathlib.Path) -> None:
    env = Env(tmp_path)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="left-running")
    thread.start()
    try:
        assert found(env) == {"threads": ["left-running"]}
    finally:
        stop.set()
        thread.join()
    assert found(env) == {}
