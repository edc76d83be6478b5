import uuid

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder import location

VOL = str(uuid.uuid4())


@pytest.mark.parametrize("uri,expected", [
    ("cinder://%s" % VOL, (None, VOL)),
    ("cinder://fast/%s" % VOL, ("fast", VOL)),
    ("cinder://store_1-a/%s" % VOL, ("store_1-a", VOL)),
])
def test_parse_accepts_legacy_and_multistore_forms(
        uri: str, expected: tuple[str | None, str]) -> None:
    assert location.parse(uri) == expected


@pytest.mark.parametrize("uri", [
    "",
    "cinder://",
    "cinder://fast/",
    "cinder://not-a-uuid",
    "cinder://fast/not-a-uuid",
    "cinder://fast/extra/%s" % VOL,
    "cinder://../%s" % VOL,
    "cinder://fast/../%s" % VOL,
    "cinder://fast//%s" % VOL,
    "cinder://%s?x=1" % VOL,
    "cinder://%s#frag" % VOL,
    "rbd://%s" % VOL,
    "file:///%s" % VOL,
    # one volume, many spellings: only Cinder's own is a location
    "cinder://{%s}" % VOL,
    "cinder://urn:uuid:%s" % VOL,
    "cinder://%s" % VOL.replace("-", ""),
    "cinder://%s" % VOL.upper(),
    "cinder://fast/%s" % VOL.upper(),
    "cinder://%s\n" % VOL,
    "cinder://fast\n/%s" % VOL,
    "cinder://%s%%2F.." % VOL,
])
def test_parse_refuses_malformed_locations(uri: str) -> None:
    with pytest.raises(gs_exc.BadStoreUri):
        location.parse(uri)


def test_store_location_round_trips_multistore_uri() -> None:
    loc = location.StoreLocation({}, None, backend_group="fast")
    loc.parse_uri("cinder://fast/%s" % VOL)
    assert loc.volume_id == VOL
    assert loc.get_uri() == "cinder://fast/%s" % VOL


def test_store_location_of_legacy_uri_in_a_store_gets_store_prefix() -> None:
    loc = location.StoreLocation({}, None, backend_group="slow")
    loc.parse_uri("cinder://%s" % VOL)
    assert loc.get_uri() == "cinder://slow/%s" % VOL


def test_store_location_single_store_keeps_legacy_form() -> None:
    loc = location.StoreLocation({"volume_id": VOL}, None)
    assert loc.get_uri() == "cinder://%s" % VOL


def test_url_prefix_matches_with_trailing_slash() -> None:
    prefix = location.url_prefix("a")
    assert ("cinder://a/%s" % VOL).startswith(prefix)
    assert not ("cinder://ab/%s" % VOL).startswith(prefix)


def test_url_prefix_formats_like_glance_lazy_update_expects() -> None:
    # glance/common/store_utils.py builds "%s/%s" % (url_prefix, volume_id)
    prefix = location.url_prefix("fast")
    assert "%s/%s" % (prefix, VOL) == "cinder://fast/%s" % VOL
    assert location.parse("%s/%s" % (prefix, VOL)) == ("fast", VOL)
