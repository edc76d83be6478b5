"""``cinder://`` locations: parsing, validation and the store's prefix.

Accepted forms::

    cinder://<store>/<volume_id>   (multi-store)
    cinder://<volume_id>           (single-store, and legacy multi-store)

Anything else (an empty id, an id that is not a canonical UUID, extra path
segments, ``..``, a query or fragment) is refused with ``BadStoreUri``.

Volume ids are canonical: 36 characters, lower-case hex and dashes, as
Cinder writes them.  oslo.utils' ``is_uuid_like`` also takes ``{...}``,
``urn:uuid:``, 32 bare digits and upper case, so two location strings
could name one volume, and whatever is accepted is sent to Cinder's URL.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import glance_store.location
from glance_store import exceptions as gs_exc

SCHEME = "cinder"
_STORE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_VOLUME_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_volume_id(text: Any) -> bool:
    """Whether ``text`` is a volume id as Cinder writes it."""
    return isinstance(text, str) and _VOLUME_ID.fullmatch(text) is not None


def _bad(uri: str, why: str) -> gs_exc.BadStoreUri:
    return gs_exc.BadStoreUri(
        message="Invalid cinder location %r: %s" % (uri, why))


def parse(uri: str) -> tuple[str | None, str]:
    """Split a location into (store name or None, volume id)."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME + "://"):
        raise _bad(str(uri), "it must start with cinder://")
    parts = urllib.parse.urlsplit(uri)
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise _bad(uri, "query and fragment are not allowed")
    rest = uri[len(SCHEME + "://"):]
    segments = rest.split("/")
    if len(segments) == 1:
        store, volume_id = None, segments[0]
    elif len(segments) == 2:
        store, volume_id = segments
        if not _STORE_NAME.fullmatch(store) or ".." in store:
            raise _bad(uri, "store name %r is not valid" % store)
    else:
        raise _bad(uri, "expected cinder://[<store>/]<volume_id>")
    if not volume_id:
        raise _bad(uri, "the volume id is empty")
    if not is_volume_id(volume_id):
        raise _bad(uri, "volume id %r is not a canonical (lower-case, "
                   "dashed) UUID" % volume_id)
    return store, volume_id


def format_uri(store: str | None, volume_id: str) -> str:
    if store:
        return "%s://%s/%s" % (SCHEME, store, volume_id)
    return "%s://%s" % (SCHEME, volume_id)


class UrlPrefix(str):
    """A store's location prefix, as Glance uses it in two ways.

    Glance matches locations to stores with ``uri.startswith(url_prefix)``
    and, when it rewrites a legacy ``cinder://<id>`` location, formats
    ``"%s/%s" % (url_prefix, volume_id)``.  The string value keeps the
    trailing slash, so store ``a`` never claims ``cinder://ab/...``; its
    ``str()`` drops it, so the rewritten location has a single slash.
    """

    def __str__(self) -> str:
        return self.rstrip("/")


def url_prefix(store: str | None) -> UrlPrefix:
    if store:
        return UrlPrefix("%s://%s/" % (SCHEME, store))
    return UrlPrefix("%s://" % SCHEME)


class StoreLocation(glance_store.location.StoreLocation):
    """A volume holding one image."""

    volume_id: str
    store_in_uri: str | None

    def process_specs(self) -> None:
        specs: dict[str, Any] = self.specs
        self.scheme = specs.get("scheme", SCHEME)
        self.volume_id = specs["volume_id"]
        self.store_in_uri = specs.get("store")

    def get_uri(self) -> str:
        return format_uri(self.backend_group, self.volume_id)

    def parse_uri(self, uri: str) -> None:
        self.scheme = SCHEME
        self.store_in_uri, self.volume_id = parse(uri)
