"""Glance's image API as a store's service user sees it.

The operator commands (``verify``, ``list``, ``sweep``) ask Glance which
images exist, what it recorded of each (size, md5 checksum, multihash) and
where their data lives.  They authenticate with the store's own keystone
session (``CinderClients.service_session()``) and find Glance in its
service catalog (type ``image``).

Locations are the delicate part.  Glance only puts ``locations`` in an
image's view when ``show_multiple_locations`` is set, which deployments
rarely do.  Since 2024.2 it also answers ``GET /v2/images/{id}/locations``
to callers with the ``service`` role (policy ``fetch_image_location``).
This client uses the view when it carries the list and that call
otherwise; when neither is available it says so instead of guessing:
``direct_url`` shows one location, not all, and a partial list would make
``sweep`` take a used volume for a leftover.

What the store's user sees is what the commands see: Glance lists every
image only to its ``admin`` role (the usual grant for Glance's own
service user); with ``service`` alone, images of other projects that are
not public are invisible.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from glance_store import exceptions as gs_exc
from keystoneauth1 import session as ks_session

from glance_store_cinder import errors

SERVICE_TYPE = "image"
DEFAULT_TIMEOUT = 60.0
DEFAULT_PAGE_SIZE = 200
# Statuses in which an image has data and Glance's record of it.
STATUSES_WITH_DATA = frozenset({"active", "deactivated"})


class LocationsUnavailable(gs_exc.GlanceStoreException):
    """Glance will not tell this user where an image's data is."""

    message = "%(reason)s"


class BadGlanceResponse(gs_exc.BackendException):
    """Glance answered something that is not an image API document."""


@dataclasses.dataclass(frozen=True)
class ImageLocation:
    """One location of an image: its URI and the store Glance names."""

    url: str
    store: str | None

    @classmethod
    def from_view(cls, view: Any) -> ImageLocation:
        if not isinstance(view, Mapping) or not isinstance(
                view.get("url"), str):
            raise BadGlanceResponse(
                "Glance returned a location without a url: %r"
                % (view,))
        metadata = view.get("metadata")
        store = (metadata.get("store")
                 if isinstance(metadata, Mapping) else None)
        return cls(url=view["url"],
                   store=store if isinstance(store, str) else None)


def _optional(view: Mapping[str, Any], key: str, kind: type) -> Any:
    value = view.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise BadGlanceResponse(
        "Glance returned image %s with a %s of type %s"
        % (view.get("id"), key, type(value).__name__))


@dataclasses.dataclass(frozen=True)
class GlanceImage:
    """What Glance recorded of an image."""

    id: str
    name: str | None
    status: str
    size: int | None
    checksum: str | None
    hash_algo: str | None
    hash_value: str | None
    stores: tuple[str, ...] | None
    """Store names from the view's ``stores`` (multi-store Glance only)."""
    locations: tuple[ImageLocation, ...] | None
    """None when the view hides them (``show_multiple_locations`` off)."""

    @classmethod
    def from_view(cls, view: Any) -> GlanceImage:
        if not isinstance(view, Mapping) or not isinstance(
                view.get("id"), str) or not isinstance(
                view.get("status"), str):
            raise BadGlanceResponse(
                "Glance returned an image without id or status: %r"
                % (view,))
        size = _optional(view, "size", int)
        if isinstance(size, bool) or (size is not None and size < 0):
            raise BadGlanceResponse(
                "Glance returned image %s with size %r"
                % (view["id"], size))
        stores = _optional(view, "stores", str)
        locations = _optional(view, "locations", list)
        return cls(
            id=view["id"], name=_optional(view, "name", str),
            status=view["status"], size=size,
            checksum=_optional(view, "checksum", str),
            hash_algo=_optional(view, "os_hash_algo", str),
            hash_value=_optional(view, "os_hash_value", str),
            stores=(tuple(s.strip() for s in stores.split(",") if s.strip())
                    if stores is not None else None),
            locations=(tuple(ImageLocation.from_view(v) for v in locations)
                       if locations is not None else None))

    @property
    def has_data(self) -> bool:
        return self.status in STATUSES_WITH_DATA


def _normal_interface(interface: str) -> str:
    # In-tree style catalog info says "publicURL"; keystoneauth says
    # "public".
    return interface[:-3] if interface.endswith("URL") else interface


class GlanceImages:
    """Reads images and their locations from Glance's v2 API."""

    def __init__(self, session: ks_session.Session, *,
                 interface: str = "public", region_name: str | None = None,
                 endpoint: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self._session = session
        self._endpoint_filter = {"service_type": SERVICE_TYPE,
                                 "interface": _normal_interface(interface),
                                 "region_name": region_name}
        self._endpoint = endpoint
        self._timeout = timeout
        self._page_size = page_size

    def _get(self, path: str, action: str) -> Any:
        with errors.cinder_errors(action):
            response = self._session.get(
                path, endpoint_filter=self._endpoint_filter,
                endpoint_override=self._endpoint, timeout=self._timeout,
                headers={"Accept": "application/json"})
        try:
            return response.json()
        except ValueError as exc:
            raise BadGlanceResponse(
                "%s: Glance answered HTTP %d without JSON"
                % (action, response.status_code)) from exc

    # -- images -------------------------------------------------------
    def iter_images(self) -> Iterator[GlanceImage]:
        """Every image the user may see, hidden and community ones too."""
        for hidden in ("false", "true"):
            query = urllib.parse.urlencode({
                "limit": self._page_size, "visibility": "all",
                "os_hidden": hidden})
            path: str | None = "/v2/images?%s" % query
            while path:
                body = self._get(path, "Listing images in Glance")
                page = body.get("images") if isinstance(body, dict) else None
                if not isinstance(page, list):
                    raise BadGlanceResponse(
                        "Glance's image list has no images: %r"
                        % (body,))
                for view in page:
                    yield GlanceImage.from_view(view)
                following = body.get("next")
                path = following if isinstance(following, str) else None

    def get(self, image_id: str) -> GlanceImage | None:
        """The image, or None when Glance does not know it."""
        try:
            view = self._get("/v2/images/%s" % _quoted(image_id),
                             "Reading image %s from Glance" % image_id)
        except gs_exc.NotFound:
            return None
        return GlanceImage.from_view(view)

    # -- locations ----------------------------------------------------
    def fetch_locations(self, image: GlanceImage) -> tuple[ImageLocation,
                                                            ...]:
        """The image's locations: from its view, else the locations API."""
        if image.locations is not None:
            return image.locations
        action = "Reading the locations of image %s from Glance" % image.id
        try:
            body = self._get("/v2/images/%s/locations" % _quoted(image.id),
                             action)
        except gs_exc.Forbidden as exc:
            raise LocationsUnavailable(reason=(
                "%s: refused (the service user needs Glance's 'service' "
                "role, or set show_multiple_locations in glance-api)"
                % action)) from exc
        except gs_exc.NotFound as exc:
            # The image was there a moment ago: this Glance has no
            # locations API (before 2024.2), or the image just went away.
            raise LocationsUnavailable(reason=(
                "%s: not found (a Glance before 2024.2 has no locations "
                "API: set show_multiple_locations in glance-api)" % action)
            ) from exc
        if not isinstance(body, list):
            raise BadGlanceResponse(
                "%s: expected a list, got %r" % (action, body))
        return tuple(ImageLocation.from_view(v) for v in body)

    def image_locations(self, image_id: str
                        ) -> tuple[ImageLocation, ...] | None:
        """The image's locations; None when the image does not exist."""
        image = self.get(image_id)
        if image is None:
            return None
        return self.fetch_locations(image)

    def locations(self, image_id: str) -> list[str] | None:
        """The image's location URIs; None when the image does not exist.

        The journal design's ``ImageLookup`` (used by ``sweep``).
        """
        found = self.image_locations(image_id)
        return None if found is None else [loc.url for loc in found]


def _quoted(image_id: str) -> str:
    return urllib.parse.quote(image_id, safe="")
