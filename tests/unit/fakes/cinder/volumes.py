"""The volumes resource: create, show, delete, actions, metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.unit.fakes._http import Reply
from tests.unit.fakes.cinder.backend import CinderBackend
from tests.unit.fakes.cinder.model import AVAILABILITY_ZONE
from tests.unit.fakes.cinder.model import SERVICE_UUID
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.cinder.model import FakeVolume
from tests.unit.fakes.cinder.model import bool_from_string
from tests.unit.fakes.cinder.model import check_metadata
from tests.unit.fakes.cinder.model import invalid_input
from tests.unit.fakes.cinder.model import invalid_volume
from tests.unit.fakes.cinder.model import iso
from tests.unit.fakes.cinder.model import no_such_action
from tests.unit.fakes.cinder.model import positive_int
from tests.unit.fakes.cinder.model import utcnow
from tests.unit.fakes.cinder.routes import Call
from tests.unit.fakes.cinder.routes import Route
from tests.unit.fakes.cinder.volume_list import VolumeListApi

_DELETABLE = ("available", "error", "error_restoring", "error_extending",
              "error_managing")

# Fields of the volume view by microversion: (since, admin only, name,
# value).  Cinder adds them in its view builder the same way.
_VERSIONED_FIELDS: tuple[tuple[tuple[int, int], bool, str,
                               Callable[[FakeVolume], Any]], ...] = (
    ((3, 13), False, "group_id", lambda v: None),
    ((3, 21), True, "provider_id", lambda v: None),
    ((3, 48), False, "shared_targets", lambda v: False),
    ((3, 48), False, "service_uuid", lambda v: SERVICE_UUID),
    ((3, 61), True, "cluster_name", lambda v: None),
    ((3, 63), False, "volume_type_id", lambda v: v.volume_type_id),
    ((3, 65), False, "consumes_quota", lambda v: True),
)


def visible(backend: CinderBackend, call: Call, volume_id: str
            ) -> FakeVolume:
    """The volume if the caller may see it, else Cinder's 404."""
    vol = backend.volumes.get(volume_id)
    if vol is None or not (call.token.is_admin
                           or vol.project_id == call.project_id):
        raise CinderError(404, "Volume %s could not be found." % volume_id)
    return vol


class VolumesApi:
    def __init__(self, backend: CinderBackend, cinder_root: str) -> None:
        self.backend = backend
        self.cinder_root = cinder_root

    def routes(self) -> list[Route]:
        return [
            # Before /volumes/{volume_id}: "detail" is not an id.
            Route("GET", "/volumes/detail",
                  VolumeListApi(self.backend, self.cinder_root,
                                self.view).detail),
            Route("POST", "/volumes", self.create),
            Route("GET", "/volumes/{volume_id}", self.show),
            Route("DELETE", "/volumes/{volume_id}", self.delete),
            Route("POST", "/volumes/{volume_id}/action", self.action),
            Route("POST", "/volumes/{volume_id}/metadata",
                  self.merge_metadata),
        ]

    # -- views ------------------------------------------------------------
    def _links(self, vol: FakeVolume) -> list[dict[str, str]]:
        return [{"rel": "self", "href": "%s/v3/%s/volumes/%s"
                 % (self.cinder_root, vol.project_id, vol.id)},
                {"rel": "bookmark", "href": "%s/%s/volumes/%s"
                 % (self.cinder_root, vol.project_id, vol.id)}]

    @staticmethod
    def _attachments_view(call: Call, vol: FakeVolume
                          ) -> list[dict[str, Any]]:
        """Completed attachments; the host only to admin or service."""
        show_host = call.token.is_admin or "service" in call.token.roles
        return [{
            "id": vol.id, "attachment_id": att.id, "volume_id": vol.id,
            "server_id": att.instance_uuid,
            "host_name": att.host_name if show_host else None,
            "device": att.mountpoint, "attached_at": iso(att.attached_at),
        } for att in vol.attachments.values()
            if att.attach_status == "attached"]

    def view(self, call: Call, vol: FakeVolume) -> dict[str, Any]:
        admin = call.token.is_admin
        view: dict[str, Any] = {
            "id": vol.id, "status": vol.status, "size": vol.size,
            "availability_zone": vol.availability_zone,
            "created_at": iso(vol.created_at),
            "updated_at": iso(vol.updated_at),
            "name": vol.name, "description": vol.description,
            "volume_type": vol.volume_type, "snapshot_id": None,
            "source_volid": None, "metadata": dict(vol.metadata),
            "links": self._links(vol), "user_id": vol.user_id,
            "bootable": str(vol.bootable).lower(),
            "encrypted": vol.encrypted, "replication_status": None,
            "consistencygroup_id": None, "multiattach": vol.multiattach,
            "attachments": self._attachments_view(call, vol),
            "os-vol-tenant-attr:tenant_id": vol.project_id,
        }
        if admin:
            view["migration_status"] = None
            view["os-vol-host-attr:host"] = "fake-cinder@%s#pool" % (
                self.backend.protocol)
            view["os-vol-mig-status-attr:migstat"] = None
            view["os-vol-mig-status-attr:name_id"] = None
        for since, admin_only, name, value in _VERSIONED_FIELDS:
            if call.at_least(*since) and (admin or not admin_only):
                view[name] = value(vol)
        if call.at_least(3, 64) and vol.encryption_key_id:
            view["encryption_key_id"] = vol.encryption_key_id
        return view

    # -- handlers -------------------------------------------------------------
    def create(self, call: Call) -> Reply:
        spec = call.element("volume")
        _refuse_sources(self.backend, call, spec)
        size = positive_int(spec.get("size"), "size")
        name = spec.get("name", spec.get("display_name"))
        description = spec.get("description",
                               spec.get("display_description"))
        for value, what in ((name, "name"), (description, "description")):
            if value is not None and (not isinstance(value, str)
                                      or len(value) > 255):
                raise invalid_input("%s must be a string of at most 255 "
                                    "characters." % what)
        metadata = check_metadata(spec.get("metadata") or {})
        zone = spec.get("availability_zone")
        if zone not in (None, AVAILABILITY_ZONE):
            raise invalid_input("Availability zone '%s' is invalid." % zone)
        type_ref = spec.get("volume_type")
        if type_ref is None and self.backend.default_type is None:
            raise CinderError(404, "Default volume type can not be found.")
        vtype = self.backend.type_for(
            None if type_ref is None else str(type_ref))
        if vtype is None:
            raise CinderError(404, "Volume type with name %s could not be "
                              "found." % type_ref)
        self.backend.check_quota(call.project_id, 1, size)
        vol = self.backend.new_volume(
            project_id=call.project_id, user_id=call.token.user_id,
            size=size, name=name, description=description, vtype=vtype,
            metadata=metadata, status="creating")
        self.backend.start(vol, "creating", "available")
        return Reply(202, {"volume": self.view(call, vol)})

    def show(self, call: Call) -> Reply:
        volume_id = call.params["volume_id"]
        vol = visible(self.backend, call, volume_id)
        if not self.backend.observe(vol):
            raise CinderError(404, "Volume %s could not be found."
                              % volume_id)
        return Reply(200, {"volume": self.view(call, vol)})

    def delete(self, call: Call) -> Reply:
        vol = visible(self.backend, call, call.params["volume_id"])
        if vol.status not in _DELETABLE or vol.attach_status == "attached":
            raise invalid_volume(
                "Volume status must be %s and must not be migrating, "
                "attached, belong to a group, have snapshots, awaiting a "
                "transfer, or be disassociated from snapshots after volume "
                "transfer." % " or ".join(_DELETABLE))
        self.backend.start(vol, "deleting", None)
        return Reply(202)

    def merge_metadata(self, call: Call) -> Reply:
        vol = visible(self.backend, call, call.params["volume_id"])
        body = call.req.body
        if not isinstance(body, dict) or "metadata" not in body:
            raise CinderError(400, "Malformed request body")
        vol.metadata.update(check_metadata(body["metadata"]))
        vol.updated_at = utcnow()
        return Reply(200, {"metadata": dict(vol.metadata)})

    def action(self, call: Call) -> Reply:
        vol = visible(self.backend, call, call.params["volume_id"])
        action, info = call.single_action()
        if action == "os-extend":
            return self._extend(call, vol, info)
        flags = {"os-set_bootable": ("bootable", 200),
                 "os-update_readonly_flag": ("readonly", 202)}
        if action not in flags:
            raise no_such_action(action)
        flag, status = flags[action]
        value = info.get(flag) if isinstance(info, dict) else None
        setattr(vol, flag, bool_from_string(value, flag))
        return Reply(status)

    def _extend(self, call: Call, vol: FakeVolume, info: Any) -> Reply:
        if not isinstance(info, dict):
            raise CinderError(400, "Malformed request body")
        new_size = positive_int(info.get("new_size"), "new_size")
        attached = call.at_least(3, 42) and vol.status == "in-use"
        expected = "in-use" if attached else "available"
        if vol.status != expected:
            raise invalid_volume(
                "Volume %s status must be '%s' to extend, currently %s."
                % (vol.id, expected, vol.status))
        if new_size <= vol.size:
            raise invalid_input(
                "New size for extend must be greater than current size. "
                "(current: %d, extended: %d)." % (vol.size, new_size))
        self.backend.check_quota(vol.project_id, 0, new_size - vol.size)
        self.backend.start(vol, "extending", expected, new_size)
        return Reply(202)


def _refuse_sources(backend: CinderBackend, call: Call,
                    spec: dict[str, Any]) -> None:
    """Volumes from snapshots, backups, volumes or images: not modelled."""
    for key, what in (("snapshot_id", "Snapshot"), ("backup_id", "Backup")):
        if spec.get(key):
            raise CinderError(404, "%s %s could not be found."
                              % (what, spec[key]))
    if spec.get("source_volid"):
        visible(backend, call, str(spec["source_volid"]))
        raise CinderError(501, "FakeCloud does not clone volumes.")
    if spec.get("imageRef"):
        raise CinderError(501, "FakeCloud has no image service.")
