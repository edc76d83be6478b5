"""The volume types resource: the list and the default type."""

from __future__ import annotations

from typing import Any

from tests.unit.fakes._http import Reply
from tests.unit.fakes.cinder.backend import CinderBackend
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.cinder.model import FakeVolumeType
from tests.unit.fakes.cinder.routes import Call
from tests.unit.fakes.cinder.routes import Route

# What Cinder shows of a type's extra specs to non-admins.
_USER_VISIBLE_EXTRA_SPECS = ("RESKEY:availability_zones", "multiattach",
                             "replication_enabled")


class VolumeTypesApi:
    def __init__(self, backend: CinderBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [Route("GET", "/types", self.list),
                Route("GET", "/types/default", self.default)]

    @staticmethod
    def _view(call: Call, vtype: FakeVolumeType) -> dict[str, Any]:
        admin = call.token.is_admin
        specs = {k: v for k, v in vtype.extra_specs.items()
                 if admin or k in _USER_VISIBLE_EXTRA_SPECS}
        view: dict[str, Any] = {
            "id": vtype.id, "name": vtype.name,
            "is_public": vtype.is_public, "description": vtype.description,
            "extra_specs": specs,
            "os-volume-type-access:is_public": vtype.is_public}
        if admin:
            view["qos_specs_id"] = None
        return view

    def list(self, call: Call) -> Reply:
        return Reply(200, {"volume_types": [
            self._view(call, t) for t in self.backend.types.values()
            if t.is_public or call.token.is_admin]})

    def default(self, call: Call) -> Reply:
        name = self.backend.default_type
        vtype = self.backend.type_by_name(name) if name else None
        if vtype is None:
            raise CinderError(404, "Default volume type can not be found.")
        return Reply(200, {"volume_type": self._view(call, vtype)})
