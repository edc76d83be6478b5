"""Multitenant stores through glance-api: images in their owners' projects.

The stack's glance-api has two stores with ``cinder_store_multitenant``
on the NFS backend (volume type ``glance-tenant``):

* ``tenant`` also has the service user (``glance``, admin in Cinder): a
  project that Glance lets read another project's image (a member, or
  anyone for a public or community image) reads the volume with it, as
  Cinder hides the owner's volume from the reader's token;
* ``tokenonly`` has no service user (the in-tree driver's behaviour when
  no ``cinder_store_*`` is set): every call carries the requester's token,
  so such a read fails.

Projects ``demo-a`` (owner), ``demo-b`` (given access) and ``demo-c``
(never given any), each with a user of its name (member and reader).
"""

from __future__ import annotations

import configparser
import contextlib
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from cinderclient import exceptions as cinder_exc

from testing_support import stack
from tests.functional.test_faults import service
from tests.functional.test_glance_api import BLOCK
from tests.functional.test_glance_api import Cleanup
from tests.functional.test_glance_api import Content
from tests.functional.test_glance_api import Glance
from tests.functional.test_glance_api import KnownLengthBody
from tests.functional.test_glance_api import LogTail
from tests.functional.test_glance_api import MiB
from tests.functional.test_glance_api import volume_ids
from tests.functional.waits import wait_until
from tests.functional.waits import wait_volume_gone

SIZE = 24 * MiB + 12345      # not a multiple of anything the driver uses
PATCH = "application/openstack-images-v2.1-json-patch"
FALLBACK = ("volume %s is not visible to project %s; reading it with the "
            "service credentials")


class Project:
    """One demo project's user, speaking to glance-api."""

    def __init__(self, aio: dict[str, Any], user: dict[str, Any]) -> None:
        self.id = str(user["project_id"])
        self.name = str(user["project_name"])
        self.glance = Glance(stack.session(aio, user), aio["glance"]["url"])

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.glance.session.request(self.glance.url + path, method,
                                           raise_exc=False, **kwargs)

    def upload(self, cleanup: Cleanup, content: Content, store: str,
               **props: Any) -> dict[str, Any]:
        image = self.glance.create(**props)
        cleanup.image(image["id"])
        self.glance.upload(image["id"], KnownLengthBody(content),
                           store=store)
        return self.glance.show(image["id"])

    def download_status(self, image_id: str) -> int:
        resp = self.request("GET", "/v2/images/%s/file" % image_id,
                            stream=True)
        resp.close()
        return int(resp.status_code)

    def download(self, image: dict[str, Any], content: Content) -> None:
        resp = self.request("GET", "/v2/images/%s/file" % image["id"],
                            stream=True)
        try:
            assert resp.status_code == 200, (self.name, resp.status_code,
                                             resp.text[:500])
            digests = content.verify(resp.iter_content(BLOCK),
                                     "%s's download of %s"
                                     % (self.name, image["id"]))
        finally:
            resp.close()
        assert digests == (image["checksum"], image["os_hash_value"])

    def share_with(self, image_id: str, member: Project) -> None:
        resp = self.request("POST", "/v2/images/%s/members" % image_id,
                            json={"member": member.id})
        assert resp.status_code == 200, resp.text

    def accept(self, image_id: str) -> None:
        resp = self.request("PUT", "/v2/images/%s/members/%s"
                            % (image_id, self.id),
                            json={"status": "accepted"})
        assert resp.status_code == 200, resp.text

    def set_visibility(self, image_id: str, visibility: str) -> int:
        return set_visibility(self.glance, image_id, visibility)

    def delete(self, image_id: str) -> int:
        return int(self.request("DELETE",
                                "/v2/images/%s" % image_id).status_code)


def set_visibility(glance: Glance, image_id: str, visibility: str) -> int:
    resp = glance.session.patch(
        glance.url + "/v2/images/%s" % image_id, raise_exc=False,
        json=[{"op": "replace", "path": "/visibility", "value": visibility}],
        headers={"Content-Type": PATCH})
    return int(resp.status_code)


@pytest.fixture(scope="module")
def projects(aio: dict[str, Any]) -> dict[str, Project]:
    demos = {d["project_name"]: d for d in aio["demo"]}
    assert set(demos) >= {"demo-a", "demo-b", "demo-c"}, sorted(demos)
    return {key: Project(aio, demos["demo-" + key]) for key in "abc"}


# -- what must be gone after a delete -------------------------------------
def glance_option(aio: dict[str, Any], section: str, option: str) -> str:
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(aio["glance"]["api_conf"])
    return conf.get(section, option)


def journal_records_of(aio: dict[str, Any], volume_id: str) -> list[str]:
    """glance-api's journal records (host-wide) that name the volume."""
    journal = pathlib.Path(glance_option(aio, "oslo_concurrency",
                                         "lock_path")) / "journal"
    found = []
    for path in sorted(journal.glob("*.json")):
        with contextlib.suppress(OSError):
            if volume_id in path.read_text():
                found.append(path.name)
    return found


def glance_mounts(aio: dict[str, Any]) -> list[str]:
    base = aio["glance"]["mount_point_base"].rstrip("/") + "/"
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f
                if line.split()[1].startswith(base)]


def assert_deleted_everywhere(aio: dict[str, Any], admin_cinder: Any,
                              owner: Project, image_id: str,
                              volume_id: str) -> None:
    """The owner's delete: image, volume, attachments, mounts, journal."""
    assert owner.delete(image_id) == 204
    assert owner.request("GET", "/v2/images/%s" % image_id
                         ).status_code == 404
    wait_volume_gone(admin_cinder, volume_id)
    with pytest.raises(cinder_exc.NotFound):
        admin_cinder.volumes.get(volume_id)
    assert admin_cinder.attachments.list(search_opts={
        "volume_id": volume_id, "all_tenants": 1}) == []
    wait_until(lambda: not journal_records_of(aio, volume_id), 30,
               "glance-api's journal to forget volume %s" % volume_id)
    assert glance_mounts(aio) == []


def volume_in(admin_cinder: Any, glance_service: Glance, image_id: str,
              store: str) -> Any:
    volume_id = volume_ids(glance_service.locations(image_id))[store]
    return admin_cinder.volumes.get(volume_id)


# -- the tests -------------------------------------------------------------
def test_image_shared_with_a_project_is_downloaded_by_it(
        aio: dict[str, Any], projects: dict[str, Project],
        glance_service: Glance, admin_cinder: Any,
        cleanup: Cleanup) -> None:
    a, b, c = projects["a"], projects["b"], projects["c"]
    content = Content(SIZE)
    image = a.upload(cleanup, content, "tenant")
    assert image["status"] == "active" and image["stores"] == "tenant"
    assert image["visibility"] == "shared"
    volume = volume_in(admin_cinder, glance_service, image["id"], "tenant")
    assert getattr(volume, "os-vol-tenant-attr:tenant_id") == a.id
    assert volume.volume_type == aio["volume_types"]["tenant"]
    assert volume.metadata["image_owner"] == a.id
    a.download(image, content)

    # Not yet shared: Glance itself hides the image from b and c.
    assert b.download_status(image["id"]) == 404
    a.share_with(image["id"], b)
    b.accept(image["id"])
    log = LogTail(aio["logs"]["glance-api"])
    b.download(image, content)
    assert FALLBACK % (volume.id, b.id) in log.read()
    # Never given access: Glance answers 404 before asking the store.
    log = LogTail(aio["logs"]["glance-api"])
    assert c.download_status(image["id"]) == 404
    assert FALLBACK % (volume.id, c.id) not in log.read()
    # A member reads, it does not delete (Glance refuses before the store).
    assert b.delete(image["id"]) == 403
    assert admin_cinder.volumes.get(volume.id).status == "available"
    assert_deleted_everywhere(aio, admin_cinder, a, image["id"], volume.id)


@pytest.mark.parametrize("visibility,by", [("public", "admin"),
                                           ("community", "owner")])
def test_public_and_community_images_are_downloaded_by_everyone(
        aio: dict[str, Any], projects: dict[str, Project],
        glance: Glance, glance_service: Glance, admin_cinder: Any,
        cleanup: Cleanup, visibility: str, by: str) -> None:
    a, b, c = projects["a"], projects["b"], projects["c"]
    content = Content(SIZE)
    image = a.upload(cleanup, content, "tenant", visibility="private")
    volume = volume_in(admin_cinder, glance_service, image["id"], "tenant")
    assert b.download_status(image["id"]) == 404
    if by == "admin":
        # Glance's default policy (publicize_image) is admin only.
        assert a.set_visibility(image["id"], visibility) == 403
        assert set_visibility(glance, image["id"], visibility) == 200
    else:
        assert a.set_visibility(image["id"], visibility) == 200
    for reader in (b, c):
        reader.download(image, content)
    assert_deleted_everywhere(aio, admin_cinder, a, image["id"], volume.id)


def test_without_service_credentials_another_project_cannot_read(
        aio: dict[str, Any], projects: dict[str, Project],
        glance_service: Glance, admin_cinder: Any,
        cleanup: Cleanup) -> None:
    """``tokenonly``: Glance lets b read, Cinder does not show b a's volume.

    What glance-api answers is recorded here as it is: the operator
    setting that makes the read work is the service user (``tenant``).
    """
    a, b = projects["a"], projects["b"]
    content = Content(4 * MiB)
    image = a.upload(cleanup, content, "tokenonly")
    volume = volume_in(admin_cinder, glance_service, image["id"],
                       "tokenonly")
    assert getattr(volume, "os-vol-tenant-attr:tenant_id") == a.id
    a.share_with(image["id"], b)
    b.accept(image["id"])
    log = LogTail(aio["logs"]["glance-api"])
    # The store raises NotFound (Cinder: no such volume for b's token);
    # Glance 33 turns that into 204 No Content with an empty body.
    resp = b.request("GET", "/v2/images/%s/file" % image["id"])
    assert (resp.status_code, resp.content) == (204, b""), resp.status_code
    assert FALLBACK % (volume.id, b.id) not in log.read()
    a.download(image, content)
    assert_deleted_everywhere(aio, admin_cinder, a, image["id"], volume.id)


@contextlib.contextmanager
def volume_type_renamed(aio: dict[str, Any], admin_cinder: Any,
                        name: str) -> Iterator[str]:
    """The type missing under its name while the block runs; glance-api
    restarted both ways, so that its stores check the type at start.
    Yields what glance-api logged while it started."""
    [vtype] = [t for t in admin_cinder.volume_types.list(is_public=None)
               if t.name == name]
    # The form tools/openstack-aio/up names back, should this run die.
    away = "%s-renamed-%d" % (name, os.getpid())
    admin_cinder.volume_types.update(vtype.id, name=away)
    try:
        log = LogTail(aio["logs"]["glance-api"])
        service("restart", "glance-api")
        yield log.read()
    finally:
        try:
            admin_cinder.volume_types.update(vtype.id, name=name)
        finally:
            service("restart", "glance-api")


def test_delete_while_the_stores_volume_type_is_missing(
        aio: dict[str, Any], projects: dict[str, Project],
        glance_service: Glance, admin_cinder: Any,
        cleanup: Cleanup) -> None:
    """Glance drops the image record even when the store refuses a delete:
    a store whose type went missing must still delete its volumes."""
    a = projects["a"]
    content = Content(2 * MiB)
    image = a.upload(cleanup, content, "tenant")
    volume = volume_in(admin_cinder, glance_service, image["id"], "tenant")
    name = aio["volume_types"]["tenant"]
    with volume_type_renamed(aio, admin_cinder, name) as started:
        assert ("Store tenant: cinder_volume_type %r does not exist"
                % name) in started
        refused = a.glance.create()
        cleanup.image(refused["id"])
        resp = a.request("PUT", "/v2/images/%s/file" % refused["id"],
                         data=b"x" * 1024,
                         headers={"Content-Type": "application/octet-stream",
                                  "X-Image-Meta-Store": "tenant"})
        print("\nupload to a store whose type is missing: %d"
              % resp.status_code)
        assert resp.status_code == 410, resp.text
        a.download(image, content)
        assert_deleted_everywhere(aio, admin_cinder, a, image["id"],
                                  volume.id)


def test_glance_api_runs_the_multitenant_stores(aio: dict[str, Any]) -> None:
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(aio["glance"]["api_conf"])
    for store in ("tenant", "tokenonly"):
        assert conf.getboolean(store, "cinder_store_multitenant")
    assert conf.get("tenant", "cinder_store_user_name")
    assert not conf.has_option("tokenonly", "cinder_store_user_name")
