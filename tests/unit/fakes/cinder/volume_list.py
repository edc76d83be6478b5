"""``GET /volumes/detail``: what the operator commands list.

Cinder's behaviour for what ``glance-store-cinder list`` (and ``sweep``)
send: newest first; ``all_tenants`` for admins only (ignored for others);
the filters of Cinder's default ``resource_filters.json`` that matter here
(``name``, ``name~`` "contains" since 3.34, ``status``, ``metadata`` as a
Python dict literal), others refused since 3.33 for non-admins; paging
with ``limit`` and ``marker`` and a ``volumes_links`` next link.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from tests.unit.fakes._http import Reply
from tests.unit.fakes.cinder.backend import CinderBackend
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.cinder.model import FakeVolume
from tests.unit.fakes.cinder.model import bool_from_string
from tests.unit.fakes.cinder.model import invalid_input
from tests.unit.fakes.cinder.model import positive_int
from tests.unit.fakes.cinder.routes import Call

_FILTERS = frozenset({
    "name", "status", "metadata", "bootable", "migration_status",
    "availability_zone", "group_id", "size", "created_at", "updated_at"})
_PAGING = frozenset({"limit", "marker", "offset", "sort", "sort_key",
                     "sort_dir", "with_count"})

View = Callable[[Call, FakeVolume], dict[str, Any]]


def _filters(call: Call, query: dict[str, str]) -> dict[str, str]:
    like = call.at_least(3, 34)
    unknown = sorted(k for k in query if k not in _FILTERS and not (
        like and k.endswith("~") and k[:-1] in _FILTERS))
    if unknown and call.at_least(3, 33) and not call.token.is_admin:
        raise CinderError(400, "Invalid filters %s are found in query "
                          "options." % ",".join(unknown))
    return {k: v for k, v in query.items() if k not in unknown}


def _matches(vol: FakeVolume, filters: dict[str, str]) -> bool:
    for key, value in filters.items():
        if key == "name" and vol.name != value:
            return False
        if key == "name~" and value not in (vol.name or ""):
            return False
        if key == "status" and vol.status != value:
            return False
        if key == "metadata":
            try:
                wanted = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise invalid_input("Invalid metadata filter %r." % value
                                    ) from None
            if not isinstance(wanted, dict) or any(
                    vol.metadata.get(k) != v for k, v in wanted.items()):
                return False
    return True


class VolumeListApi:
    def __init__(self, backend: CinderBackend, cinder_root: str,
                 view: View) -> None:
        self.backend = backend
        self.cinder_root = cinder_root
        self.view = view

    def detail(self, call: Call) -> Reply:
        query = dict(call.req.query)
        paging = {k: query.pop(k) for k in list(query) if k in _PAGING}
        everyone = call.token.is_admin and bool_from_string(
            query.pop("all_tenants", "false"), "all_tenants")
        query.pop("all_tenants", None)
        filters = _filters(call, query)
        found = [v for v in reversed(list(self.backend.volumes.values()))
                 if (everyone or v.project_id == call.project_id)
                 and self.backend.observe(v) and _matches(v, filters)]
        page, links = self._page(call, found, paging)
        body: dict[str, Any] = {"volumes": [self.view(call, v)
                                            for v in page]}
        if links:
            body["volumes_links"] = links
        return Reply(200, body)

    def _page(self, call: Call, items: list[FakeVolume],
              paging: dict[str, str]
              ) -> tuple[list[FakeVolume], list[dict[str, str]]]:
        start = 0
        marker = paging.get("marker")
        if marker:
            ids = [v.id for v in items]
            if marker not in ids:
                raise CinderError(404, "Marker %s could not be found."
                                  % marker)
            start = ids.index(marker) + 1
        if not paging.get("limit"):
            return items[start:], []
        count = positive_int(paging["limit"], "limit")
        page = items[start:start + count]
        links = []
        if start + count < len(items) and page:
            links.append({"rel": "next", "href":
                          "%s/v3/%s/volumes/detail?limit=%d&marker=%s"
                          % (self.cinder_root, call.project_id, count,
                             page[-1].id)})
        return page, links
