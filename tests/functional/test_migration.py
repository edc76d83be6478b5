"""Switching glance-api from glance_store's in-tree cinder driver to this
one, and back, on the same database and the same Cinder.

A second glance-api (testing_support/second_api.py, port 9393) is
started with the in-tree driver, single-store (``stores = cinder``), then
multi-store (``enabled_backends = fast:cinder,slow:cinder``), then restarted
with this driver (``fast:volume,slow:volume``), then with the in-tree
driver again.  The stack's own glance-api (9292, this driver) is only what
Cinder asks when it clones an image volume.  The tests run in order and
share the images they made; each test names the driver it needs.

Sizes stay below 1 GiB: past it, the in-tree driver's uploads of unknown
size are corrupt (doc/source/migration.rst), which is not what a switch
can fix.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest
from cinderclient import api_versions
from cinderclient.v3 import client as cinder_v3

from testing_support import second_api
from testing_support import stack as aio_stack
from testing_support.second_api import Driver
from testing_support.second_api import SecondApi
from testing_support.second_api import in_tree_mounts
from tests.functional.test_glance_api import Cleanup
from tests.functional.test_glance_api import Content
from tests.functional.test_glance_api import Glance
from tests.functional.test_glance_api import KnownLengthBody
from tests.functional.test_glance_api import LogTail
from tests.functional.test_glance_api import VolumeFiles
from tests.functional.test_glance_api import assert_cloned
from tests.functional.test_glance_api import assert_download
from tests.functional.test_glance_api import assert_image_matches
from tests.functional.test_glance_api import chunked_body
from tests.functional.test_glance_api import create_volume_from_image
from tests.functional.test_glance_api import db_locations
from tests.functional.test_glance_api import delete_volume
from tests.functional.test_glance_api import stores_of
from tests.functional.test_glance_api import volume_ids
from tests.functional.waits import wait_for
from tests.functional.waits import wait_volume_gone

MiB = 1024 * 1024
GiB = 1024 * MiB
# Not multiples of a block or of a MiB: the tail is read and written too.
SIZES = {"legacy": 16 * MiB + 4097, "known": 40 * MiB,
         "unknown": 24 * MiB + 12345}


@dataclass
class Written:
    """An image one driver wrote: its content and the volume holding it."""

    image_id: str
    content: Content
    volume_id: str
    store: str


@dataclass
class Migration:
    """What the module's tests share."""

    api: SecondApi
    stack: contextlib.ExitStack
    glance: Glance              # admin, through the second glance-api
    service: Glance             # the service user, through it
    stack_glance: Glance        # admin, through the stack's glance-api
    cinder: Any                 # admin in project admin (the images' owner)
    cleanup: Cleanup
    by_in_tree: dict[str, Written] = field(default_factory=dict)
    by_volume: dict[str, Written] = field(default_factory=dict)

    def switch(self, driver: Driver) -> None:
        self.api.switch(driver, self.stack)


@pytest.fixture(scope="module")
def migration(aio: dict[str, Any], admin_cinder: Any) -> Iterator[Migration]:
    admin = aio_stack.session(aio, aio["admin"])
    service = aio_stack.session(aio, aio["service_user"])
    stack_glance = Glance(admin, aio["glance"]["url"])
    with contextlib.ExitStack() as stack:
        api = second_api.start_in(stack, aio)
        # Runs first: images and volumes go while Glance still serves them
        # (through the stack's glance-api, which is up whatever happened to
        # the second one).
        cleanup = Cleanup(stack_glance, Glance(service, aio["glance"]["url"]),
                          admin_cinder)
        stack.enter_context(cleanup.stack)
        yield Migration(api=api, stack=stack,
                        glance=Glance(admin, second_api.URL),
                        service=Glance(service, second_api.URL),
                        stack_glance=stack_glance, cleanup=cleanup,
                        cinder=cinder_v3.Client(
                            session=admin, service_type="volumev3",
                            api_version=api_versions.APIVersion("3.60")))


@pytest.fixture
def files(aio: dict[str, Any], tmp_path: pathlib.Path) -> VolumeFiles:
    return VolumeFiles(aio["nfs"]["export_dir"], tmp_path,
                       aio["block"]["volumes_dir"])


def keep(request: pytest.FixtureRequest, written: Written) -> None:
    """The image outlives this test: not a leak of it."""
    request.node.keep_volumes.add(written.volume_id)


def upload(m: Migration, name: str, store: str | None) -> tuple[str, Content]:
    content = Content(SIZES[name])
    image = m.glance.create(name="gsc-migration-%s" % name)
    m.cleanup.image(image["id"])
    body: Any = (chunked_body(content) if name == "unknown"
                 else KnownLengthBody(content))
    m.glance.upload(image["id"], body, store=store)
    assert_image_matches(m.glance.show(image["id"]), content)
    return image["id"], content


def write(request: pytest.FixtureRequest, m: Migration, files: VolumeFiles,
          name: str) -> Written:
    """Image ``name`` uploaded into fast through the driver in use, kept
    past this test; its volume file holds it."""
    image_id, content = upload(m, name, "fast")
    volume_id = volume_ids(m.service.locations(image_id))["fast"]
    written = Written(image_id, content, volume_id, "fast")
    keep(request, written)
    verify_volume(files, volume_id, content)
    return written


def file_size(files: VolumeFiles, volume_id: str) -> int:
    return os.path.getsize(files.path(volume_id))


def verify_volume(files: VolumeFiles, volume_id: str,
                  content: Content) -> None:
    """The volume file holds the image from offset 0, then only zeros."""
    length = file_size(files, volume_id)
    # For the report: the in-tree driver truncates a volume file to the
    # image (it opens it with "wb"); this store keeps the volume's size.
    print("volume %s: file of %d bytes for an image of %d" % (
        volume_id, length, content.size))
    files.verify(volume_id, Content(max(length, content.size), content.size))


# -- the in-tree driver writes -------------------------------------------
def test_in_tree_single_store_writes_a_legacy_location(
        request: pytest.FixtureRequest, aio: dict[str, Any],
        migration: Migration) -> None:
    m = migration
    m.switch(Driver.IN_TREE_SINGLE)
    image_id, content = upload(m, "legacy", None)
    [(url, meta)] = db_locations(aio, image_id)
    match = re.fullmatch(r"cinder://([0-9a-f-]{36})", url)
    assert match and meta == {}, (url, meta)
    m.by_in_tree["legacy"] = Written(image_id, content, match.group(1),
                                     "fast")
    keep(request, m.by_in_tree["legacy"])
    assert in_tree_mounts(aio) == []


@pytest.mark.parametrize("name", ["known", "unknown"])
def test_in_tree_multi_store_writes(request: pytest.FixtureRequest,
                                    aio: dict[str, Any], migration: Migration,
                                    files: VolumeFiles, name: str) -> None:
    migration.switch(Driver.IN_TREE)
    migration.by_in_tree[name] = write(request, migration, files, name)
    assert in_tree_mounts(aio) == []


# -- switched to this driver -----------------------------------------------
@pytest.mark.parametrize("name", ["legacy", "known", "unknown"])
def test_volume_reads_what_in_tree_wrote(aio: dict[str, Any],
                                         migration: Migration,
                                         name: str) -> None:
    m = migration
    m.switch(Driver.VOLUME)
    w = m.by_in_tree[name]
    if name == "legacy":
        # Glance asks the stores (this driver: the volume's type) and
        # rewrites cinder://<id> to the store's location on the first read.
        assert db_locations(aio, w.image_id) == [
            ("cinder://%s" % w.volume_id, {})]
    image = m.glance.show(w.image_id)
    assert stores_of(image) == {"fast"}
    assert db_locations(aio, w.image_id) == [
        ("cinder://fast/%s" % w.volume_id, {"store": "fast"})]
    assert_download(m.glance, image, w.content)


@pytest.mark.parametrize("name", ["legacy", "known", "unknown"])
def test_cinder_clones_what_in_tree_wrote(aio: dict[str, Any],
                                          migration: Migration,
                                          admin_cinder: Any,
                                          files: VolumeFiles,
                                          name: str) -> None:
    """``cinder create --image-id``: cinder-volume clones the in-tree
    image volume (asking the stack's glance-api for the location)."""
    m = migration
    w = m.by_in_tree[name]
    cinder_log = LogTail(aio["logs"]["cinder-volume"])
    glance_log = LogTail(aio["logs"]["glance-api"])
    volume = create_volume_from_image(
        m.cinder, m.cleanup, w.image_id, 1,
        volume_type=aio["volume_types"][w.store])
    assert_cloned(cinder_log.read(), glance_log.read(), volume.id,
                  w.image_id, w.volume_id)
    assert volume.volume_image_metadata["image_id"] == w.image_id
    verify_volume(files, volume.id, w.content)
    delete_volume(admin_cinder, volume.id)


def test_copy_image_of_what_in_tree_wrote(request: pytest.FixtureRequest,
                                          migration: Migration,
                                          admin_cinder: Any,
                                          files: VolumeFiles) -> None:
    """copy-image import into slow: read by this driver, written by it."""
    m = migration
    m.switch(Driver.VOLUME)
    w = m.by_in_tree["unknown"]
    m.glance.import_image(w.image_id, "copy-image", ["slow"])
    image = m.glance.wait(
        w.image_id, lambda i: stores_of(i) == {"fast", "slow"}
        and not i.get("os_glance_importing_to_stores"), "copy-image")
    assert_image_matches(image, w.content)
    copy = volume_ids(m.service.locations(w.image_id))["slow"]
    request.node.keep_volumes.add(copy)
    verify_volume(files, copy, w.content)
    m.glance.delete_from_store("fast", w.image_id)
    wait_volume_gone(admin_cinder, w.volume_id)
    assert stores_of(m.glance.show(w.image_id)) == {"slow"}
    assert_download(m.glance, m.glance.show(w.image_id), w.content)
    m.by_in_tree["unknown"] = Written(w.image_id, w.content, copy, "slow")


@pytest.mark.parametrize("name", ["legacy", "known", "unknown"])
def test_volume_deletes_what_in_tree_wrote(aio: dict[str, Any],
                                           migration: Migration,
                                           admin_cinder: Any,
                                           name: str) -> None:
    m = migration
    m.switch(Driver.VOLUME)
    w = m.by_in_tree.pop(name)
    m.glance.delete(w.image_id)
    assert not m.glance.exists(w.image_id)
    wait_volume_gone(admin_cinder, w.volume_id)


# -- and back: the in-tree driver reads what this one wrote ----------------
@pytest.mark.parametrize("name", ["known", "unknown"])
def test_volume_writes(request: pytest.FixtureRequest, migration: Migration,
                       files: VolumeFiles, name: str) -> None:
    migration.switch(Driver.VOLUME)
    migration.by_volume[name] = write(request, migration, files, name)


@pytest.mark.parametrize("name", ["known", "unknown"])
def test_in_tree_reads_and_deletes_what_volume_wrote(
        aio: dict[str, Any], migration: Migration, admin_cinder: Any,
        name: str) -> None:
    m = migration
    m.switch(Driver.IN_TREE)
    w = m.by_volume.pop(name)
    image = m.glance.show(w.image_id)
    assert_download(m.glance, image, w.content)
    m.glance.delete(w.image_id)
    assert not m.glance.exists(w.image_id)
    wait_volume_gone(admin_cinder, w.volume_id)
    wait_for(lambda: in_tree_mounts(aio) == [],
             "the in-tree driver unmounts its share")


def test_stopped_api_leaves_nothing(aio: dict[str, Any],
                                    migration: Migration) -> None:
    """No process of the second glance-api (its privsep daemons too), no
    share mount of the in-tree driver."""
    m = migration
    m.api.stop()
    wait_for(lambda: second_api.processes_using(m.api.state) == [],
             "processes of %s exit" % m.api.state, timeout=30)
    assert in_tree_mounts(aio) == []
