"""The Glance images client against the fake Glance, with the store's user.
"""

import pathlib

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.glance_images import BadGlanceResponse
from glance_store_cinder.glance_images import GlanceImages
from glance_store_cinder.glance_images import ImageLocation
from glance_store_cinder.glance_images import LocationsUnavailable
from tests.unit import harness
from tests.unit.fakes.glance import FakeGlance

VOLUME = "0b4f2b1e-4a45-4c2b-9d35-3f0a9a4b8f10"
URI = "cinder://fast/" + VOLUME


def _client(tmp_path: pathlib.Path,
            roles: tuple[str, ...] = ("member", "service"),
            page_size: int = 2, **glance: bool
            ) -> tuple[harness.Env, FakeGlance, GlanceImages]:
    env = harness.Env(tmp_path)
    env.cloud.add_user("glance", harness.PASSWORD, "service", roles=roles)
    fake = FakeGlance(env.cloud, **glance).install()
    session = env.store("fast").runtime.clients.service_session()
    return env, fake, GlanceImages(session, interface="publicURL",
                                   page_size=page_size)


def test_lists_every_page_hidden_and_community_images_too(
        tmp_path: pathlib.Path) -> None:
    env, fake, glance = _client(tmp_path)
    owner = env.service_project
    ids = {fake.add_image(owner, data=b"x" * n) for n in range(1, 6)}
    ids.add(fake.add_image(owner, os_hidden=True))
    ids.add(fake.add_image("someone-else", visibility="community"))
    listed = [i.id for i in glance.iter_images()]
    assert sorted(listed) == sorted(ids)
    assert len(listed) == len(ids)
    pages = [r for r in fake.requests if r.path == "/v2/images"]
    assert len(pages) == 4  # 6 shown in pages of 2, then 1 hidden
    assert all(r.query["visibility"] == "all" for r in pages)


def test_image_record_carries_size_and_digests(tmp_path: pathlib.Path) -> None:
    env, fake, glance = _client(tmp_path)
    image_id = fake.add_image(env.service_project, data=b"abc",
                              name="cirros")
    image = glance.get(image_id)
    assert image is not None
    md5, sha512 = harness.digests(b"abc")
    assert (image.name, image.status, image.size) == ("cirros", "active", 3)
    assert (image.checksum, image.hash_algo, image.hash_value) == (
        md5, "sha512", sha512)
    assert image.locations is None  # hidden: show_multiple_locations off


def test_unknown_image_is_none(tmp_path: pathlib.Path) -> None:
    _env, _fake, glance = _client(tmp_path)
    assert glance.get(harness.new_image_id()) is None
    assert glance.locations(harness.new_image_id()) is None


def test_locations_from_the_service_only_api(tmp_path: pathlib.Path) -> None:
    env, fake, glance = _client(tmp_path)
    image_id = fake.add_image(env.service_project,
                              locations=((URI, "fast"),))
    assert glance.locations(image_id) == [URI]
    assert glance.image_locations(image_id) == (ImageLocation(URI, "fast"),)
    assert fake.requests[-1].path == "/v2/images/%s/locations" % image_id


def test_locations_from_the_view_when_glance_shows_them(
        tmp_path: pathlib.Path) -> None:
    env, fake, glance = _client(tmp_path, show_multiple_locations=True)
    image_id = fake.add_image(env.service_project,
                              locations=((URI, "fast"),))
    [image] = list(glance.iter_images())
    assert image.locations == (ImageLocation(URI, "fast"),)
    assert glance.fetch_locations(image) == image.locations
    assert not [r for r in fake.requests if r.path.endswith("/locations")]
    assert image.stores == ("fast",)
    assert glance.locations(image_id) == [URI]


def test_without_the_service_role_locations_are_unavailable(
        tmp_path: pathlib.Path) -> None:
    env, fake, glance = _client(tmp_path, roles=("member",))
    image_id = fake.add_image(env.service_project,
                              locations=((URI, "fast"),))
    with pytest.raises(LocationsUnavailable) as caught:
        glance.locations(image_id)
    assert "'service' role" in str(caught.value)
    assert isinstance(caught.value.__cause__, gs_exc.Forbidden)


def test_glance_without_locations_api_is_said_so(
        tmp_path: pathlib.Path) -> None:
    env, fake, glance = _client(tmp_path, locations_api=False)
    image_id = fake.add_image(env.service_project)
    with pytest.raises(LocationsUnavailable) as caught:
        glance.locations(image_id)
    assert "show_multiple_locations" in str(caught.value)


def test_glance_errors_are_translated_by_status(
        tmp_path: pathlib.Path) -> None:
    _env, fake, glance = _client(tmp_path)
    fake.fail_next("GET", "^/v2/images$", 503)
    with pytest.raises(gs_exc.RemoteServiceUnavailable) as caught:
        list(glance.iter_images())
    assert "Listing images in Glance" in str(caught.value)
    assert "HTTP 503" in str(caught.value)


def test_no_image_endpoint_in_the_catalog(tmp_path: pathlib.Path) -> None:
    env = harness.Env(tmp_path)
    session = env.store("fast").runtime.clients.service_session()
    glance = GlanceImages(session)
    with pytest.raises(gs_exc.RemoteServiceUnavailable):
        glance.get(harness.new_image_id())


def test_explicit_endpoint_overrides_the_catalog(
        tmp_path: pathlib.Path) -> None:
    env, fake, _glance = _client(tmp_path)
    image_id = fake.add_image(env.service_project)
    session = env.store("fast").runtime.clients.service_session()
    glance = GlanceImages(session, endpoint="http://glance.test/")
    image = glance.get(image_id)
    assert image is not None and image.id == image_id
    broken = GlanceImages(session, endpoint="http://nowhere.test")
    with pytest.raises(gs_exc.RemoteServiceUnavailable):
        broken.get(image_id)


def test_a_response_that_is_no_image_is_refused(
        tmp_path: pathlib.Path) -> None:
    _env, _fake, _glance = _client(tmp_path)
    from glance_store_cinder.glance_images import GlanceImage
    with pytest.raises(BadGlanceResponse):
        GlanceImage.from_view({"status": "active"})
    with pytest.raises(BadGlanceResponse):
        GlanceImage.from_view({"id": "x", "status": "active", "size": "1"})
    with pytest.raises(BadGlanceResponse):
        ImageLocation.from_view({"metadata": {}})
