"""A fake Glance images API (v2) at the HTTP layer, beside the fake cloud.

``FakeGlance(cloud).install()`` serves it at ``http://glance.test`` on the
cloud's transport and lists it in Keystone's catalog as type ``image``.
It answers what the operator commands read, the way Glance 33 does:

* ``GET /v2/images``: paged (``limit``, ``marker``, a ``next`` link
  relative to the API root), newest first; ``visibility`` (``all``
  included) and ``os_hidden`` (hidden images only with ``true``) filters;
  an admin token sees every project's images, others public, community
  (with ``visibility=all`` or ``community``) and their own;
* ``GET /v2/images/{id}``: 404 for an image the token may not see;
* ``locations`` in image views only with ``show_multiple_locations``;
  ``stores`` (multi-store) from the locations' ``store`` metadata, shown
  even when the locations are not;
* ``GET /v2/images/{id}/locations``: the service-only API (policy
  ``fetch_image_location``: role ``service`` or ``admin``; 403 otherwise),
  ``[{"url", "metadata"}]``; ``locations_api=False`` models a Glance
  without it (404).

Errors carry Glance's ``x-openstack-request-id``; a missing or invalid
token gets keystonemiddleware's 401.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import uuid
from typing import Any
from urllib import parse

from tests.unit.fakes._http import Incoming
from tests.unit.fakes._http import Reply
from tests.unit.fakes._http import new_request_id
from tests.unit.fakes.cloud import FakeCloud
from tests.unit.fakes.identity import TokenInfo

GLANCE_HOST = "glance.test"
GLANCE_URL = "http://glance.test"
API_LIMIT_MAX = 1000
_VISIBILITIES = ("public", "private", "shared", "community")


@dataclasses.dataclass
class FakeImage:
    id: str
    owner: str
    name: str | None = None
    status: str = "active"
    visibility: str = "shared"
    os_hidden: bool = False
    size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    locations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    created_at: datetime.datetime = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC))


@dataclasses.dataclass(frozen=True)
class GlanceRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int


class GlanceError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeGlance:
    """Images with their data's digests and locations."""

    def __init__(self, cloud: FakeCloud, *,
                 show_multiple_locations: bool = False,
                 multi_store: bool = True,
                 locations_api: bool = True) -> None:
        self.cloud = cloud
        self.show_multiple_locations = show_multiple_locations
        self.multi_store = multi_store
        self.locations_api = locations_api
        self.images: dict[str, FakeImage] = {}
        self.requests: list[GlanceRequest] = []
        self._failures: list[tuple[str, re.Pattern[str], int]] = []
        self._clock = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    def install(self) -> FakeGlance:
        self.cloud.add_service(GLANCE_HOST, self.handle, "image",
                               GLANCE_URL)
        return self

    # -- test-facing API ----------------------------------------------
    def add_image(self, owner: str, *, data: bytes | None = None,
                  locations: tuple[tuple[str, str | None], ...] = (),
                  hash_algo: str = "sha512", image_id: str | None = None,
                  **fields: Any) -> str:
        """An image; ``data`` sets size, checksum and multihash.

        ``locations`` are (url, store name or None) pairs.  Images are
        created one second apart, so the listing order is stable.
        """
        self._clock += datetime.timedelta(seconds=1)
        image = FakeImage(id=image_id or str(uuid.uuid4()), owner=owner,
                          created_at=self._clock, **fields)
        if data is not None:
            image.size = len(data)
            image.checksum = hashlib.md5(data).hexdigest()
            image.os_hash_algo = hash_algo
            image.os_hash_value = hashlib.new(hash_algo, data).hexdigest()
        image.locations = [
            {"url": url, "metadata": {"store": store} if store else {}}
            for url, store in locations]
        self.images[image.id] = image
        return image.id

    def fail_next(self, method: str, path_regex: str, status: int) -> None:
        """Answer the next matching request with ``status``."""
        self._failures.append((method.upper(), re.compile(path_regex),
                               status))

    # -- API ------------------------------------------------------------
    def handle(self, req: Incoming) -> Reply:
        request_id = new_request_id()
        try:
            reply = self._route(req)
        except GlanceError as exc:
            reply = Reply(exc.status, {"code": exc.status,
                                       "title": "Error",
                                       "message": exc.message})
        reply.headers.setdefault("x-openstack-request-id", request_id)
        self.requests.append(GlanceRequest(req.method, req.path,
                                           dict(req.query), reply.status))
        return reply

    def _route(self, req: Incoming) -> Reply:
        for failure in list(self._failures):
            method, pattern, status = failure
            if method in ("*", req.method) and pattern.search(req.path):
                self._failures.remove(failure)
                raise GlanceError(status, "Injected failure")
        token = self.cloud.identity.validate(req.headers.get("X-Auth-Token"))
        if token is None:
            # keystonemiddleware answers before Glance sees the request.
            return Reply(401, {"error": {
                "code": 401, "title": "Unauthorized",
                "message": "The request you have made requires "
                "authentication."}})
        segments = [s for s in req.path.split("/") if s]
        if req.method != "GET" or segments[:2] != ["v2", "images"]:
            raise GlanceError(404, "Not found")
        if len(segments) == 2:
            return self._list(token, req.query)
        image = self._visible(token, segments[2])
        if len(segments) == 3:
            return Reply(200, self._view(image))
        if segments[3:] == ["locations"] and self.locations_api:
            return self._locations(token, image)
        raise GlanceError(404, "Not found")

    def _visible(self, token: TokenInfo, image_id: str) -> FakeImage:
        image = self.images.get(image_id)
        if image is None or not self._may_see(token, image, "all"):
            raise GlanceError(404, "No image found with ID %s" % image_id)
        return image

    @staticmethod
    def _may_see(token: TokenInfo, image: FakeImage,
                 visibility: str | None) -> bool:
        if visibility not in (None, "all") and (
                image.visibility != visibility):
            return False
        if token.is_admin:
            return visibility is not None or image.visibility != "community"
        if image.owner == token.project_id:
            return True
        if image.visibility == "public":
            return True
        return image.visibility == "community" and visibility is not None

    def _locations(self, token: TokenInfo, image: FakeImage) -> Reply:
        if not ({"service", "admin"} & set(token.roles)):
            raise GlanceError(403, "You are not authorized to complete "
                              "fetch_image_location action.")
        return Reply(200, [dict(loc) for loc in image.locations])

    def _list(self, token: TokenInfo, query: dict[str, str]) -> Reply:
        visibility = query.get("visibility")
        if visibility is not None and visibility not in (
                _VISIBILITIES + ("all",)):
            raise GlanceError(400, "Invalid visibility value: %s"
                              % visibility)
        hidden = query.get("os_hidden", "false")
        if hidden not in ("true", "false"):
            raise GlanceError(400, "Invalid value '%s' for 'os_hidden' "
                              "filter." % hidden)
        images = sorted((i for i in self.images.values()
                         if i.os_hidden == (hidden == "true")
                         and self._may_see(token, i, visibility)),
                        key=lambda i: i.created_at, reverse=True)
        start = 0
        marker = query.get("marker")
        if marker:
            ids = [i.id for i in images]
            if marker not in ids:
                raise GlanceError(400, "marker not found")
            start = ids.index(marker) + 1
        limit = min(int(query.get("limit", "25")), API_LIMIT_MAX)
        page = images[start:start + limit]
        body: dict[str, Any] = {"images": [self._view(i) for i in page],
                                "first": "/v2/images",
                                "schema": "/v2/schemas/images"}
        if start + limit < len(images) and page:
            params = {k: v for k, v in query.items() if k != "marker"}
            params["marker"] = page[-1].id
            body["next"] = "/v2/images?%s" % parse.urlencode(params)
        return Reply(200, body)

    def _view(self, image: FakeImage) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": image.id, "name": image.name, "status": image.status,
            "visibility": image.visibility, "owner": image.owner,
            "os_hidden": image.os_hidden, "protected": False,
            "size": image.size, "virtual_size": None,
            "checksum": image.checksum, "os_hash_algo": image.os_hash_algo,
            "os_hash_value": image.os_hash_value,
            "disk_format": "raw", "container_format": "bare",
            "min_disk": 0, "min_ram": 0, "tags": [],
            "created_at": image.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": image.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "self": "/v2/images/%s" % image.id,
            "file": "/v2/images/%s/file" % image.id,
            "schema": "/v2/schemas/image"}
        if self.show_multiple_locations:
            view["locations"] = [dict(loc) for loc in image.locations]
        stores = [loc["metadata"]["store"] for loc in image.locations
                  if loc["metadata"].get("store")]
        if self.multi_store and stores:
            view["stores"] = ",".join(stores)
        return view
