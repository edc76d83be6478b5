"""The attachments resource (3.27+): create, update, complete, delete.

``connection_info`` is answered *flattened*, the way Cinder's volume
manager stores it: the driver's ``data`` keys at the top level next to
``driver_volume_type``, plus ``attachment_id``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

from tests.unit.fakes._http import Reply
from tests.unit.fakes.cinder.backend import CinderBackend
from tests.unit.fakes.cinder.model import CINDER_MOUNT_POINT_BASE
from tests.unit.fakes.cinder.model import NFS_EXPORT
from tests.unit.fakes.cinder.model import RBD_POOL
from tests.unit.fakes.cinder.model import UUID_RE
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.cinder.model import FakeAttachment
from tests.unit.fakes.cinder.model import FakeVolume
from tests.unit.fakes.cinder.model import invalid_volume
from tests.unit.fakes.cinder.model import iso
from tests.unit.fakes.cinder.model import no_such_action
from tests.unit.fakes.cinder.model import utcnow
from tests.unit.fakes.cinder.routes import Call
from tests.unit.fakes.cinder.routes import Route
from tests.unit.fakes.cinder.volumes import visible

SINCE = (3, 27)


def _summary(att: FakeAttachment) -> dict[str, Any]:
    return {"id": att.id, "status": att.attach_status,
            "instance": att.instance_uuid, "volume_id": att.volume_id}


def _detail(att: FakeAttachment) -> dict[str, Any]:
    view = _summary(att)
    view.update(attached_at=iso(att.attached_at) or "", detached_at="",
                attach_mode=att.attach_mode,
                connection_info=copy.deepcopy(att.connection_info))
    return view


def _field_error(field: str, value: Any = None) -> CinderError:
    shown = "" if value is None else " Value: %r." % (value,)
    return CinderError(400, "Invalid input for field/attribute %s.%s"
                       % (field, shown))


def _check_create(call: Call, spec: dict[str, Any]) -> None:
    """Cinder's JSON schema for an attachment create."""
    allowed = {"volume_uuid", "instance_uuid", "connector"}
    if call.at_least(3, 54):
        allowed.add("mode")
    extra = sorted(set(spec) - allowed)
    if extra:
        raise CinderError(
            400, "Invalid input for field/attribute attachment. "
            "Additional properties are not allowed (%s %s unexpected)"
            % (", ".join(repr(k) for k in extra),
               "was" if len(extra) == 1 else "were"))
    volume_id = spec.get("volume_uuid")
    if not isinstance(volume_id, str) or not UUID_RE.match(volume_id):
        raise _field_error("volume_uuid", volume_id)
    instance = spec.get("instance_uuid")
    if instance is not None and (not isinstance(instance, str)
                                 or not UUID_RE.match(instance)):
        raise _field_error("instance_uuid", instance)
    mode = spec.get("mode", "null")
    if mode not in ("null", "rw", "ro"):
        raise CinderError(400, "Invalid input for field/attribute mode. "
                          "Value: %r. %r is not one of ['rw', 'ro']"
                          % (mode, mode))
    connector = spec.get("connector")
    if connector is not None and not isinstance(connector, dict):
        raise _field_error("connector")


def _reserve(vol: FakeVolume, instance: str | None) -> None:
    """The volume's status check and move to reserved."""
    allowed = (("available", "in-use", "downloading") if vol.multiattach
               else ("available", "downloading"))
    if vol.status in allowed:
        vol.status = "reserved"
    elif not (instance and vol.status in ("in-use", "reserved") and any(
            a.instance_uuid == instance for a in vol.attachments.values())):
        raise invalid_volume(
            "Volume %s status must be %s, but the current status is %s."
            % (vol.id, " or ".join(allowed), vol.status))


def _local_data(vol: FakeVolume) -> dict[str, Any]:
    return {"device_path": str(vol.backing_path)}


def _nfs_data(vol: FakeVolume) -> dict[str, Any]:
    return {"export": NFS_EXPORT, "name": vol.backend_name, "options": None,
            "format": vol.fmt, "mount_point_base": CINDER_MOUNT_POINT_BASE}


def _rbd_data(vol: FakeVolume) -> dict[str, Any]:
    return {"name": "%s/%s" % (RBD_POOL, vol.backend_name),
            "hosts": ["192.0.2.50"], "ports": ["6789"],
            "cluster_name": "ceph", "auth_enabled": True,
            "auth_username": "cinder", "secret_type": "ceph",
            "secret_uuid": "5a1e7c1d-0000-4000-8000-0000000000cf",
            "volume_id": vol.id, "discard": True, "keyring": None}


def _scaleio_data(vol: FakeVolume) -> dict[str, Any]:
    return {"scaleIO_volname": vol.backend_name,
            "scaleIO_volume_id": vol.id.replace("-", "")[:16],
            "hostIP": None, "serverIP": "192.0.2.60", "serverPort": 443,
            "serverUsername": "admin", "iopsLimit": None,
            "bandwidthLimit": None, "config_group": "powerflex",
            "failed_over": False}


# What each Cinder driver returns from initialize_connection.
_DRIVER_DATA: dict[str, Callable[[FakeVolume], dict[str, Any]]] = {
    "local": _local_data, "nfs": _nfs_data, "rbd": _rbd_data,
    "scaleio": _scaleio_data}


class AttachmentsApi:
    def __init__(self, backend: CinderBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/attachments", self.create, SINCE),
            Route("PUT", "/attachments/{attachment_id}", self.update, SINCE),
            Route("POST", "/attachments/{attachment_id}/action",
                  self.action, SINCE),
            Route("DELETE", "/attachments/{attachment_id}", self.delete,
                  SINCE),
        ]

    def _find(self, call: Call) -> tuple[FakeVolume, FakeAttachment]:
        attachment_id = call.params["attachment_id"]
        for vol, att in self.backend.attachments():
            if att.id == attachment_id and (
                    call.token.is_admin
                    or att.project_id == call.project_id):
                return vol, att
        raise CinderError(404, "Volume attachment could not be found with "
                          "filter: attachment_id = %s." % attachment_id)

    def create(self, call: Call) -> Reply:
        spec = call.element("attachment")
        _check_create(call, spec)
        instance = spec.get("instance_uuid")
        vol = visible(self.backend, call, spec["volume_uuid"])
        _reserve(vol, instance)
        att = FakeAttachment(
            id=str(uuid.uuid4()), volume_id=vol.id,
            project_id=call.project_id, instance_uuid=instance,
            attach_status="reserved",
            attach_mode="ro" if vol.readonly else spec.get("mode", "null"),
            created_at=utcnow(), connection_info={})
        vol.attachments[att.id] = att
        if vol.attach_status == "detached":
            vol.attach_status = "reserved"
        if spec.get("connector"):
            self._connect(vol, att, spec["connector"])
        return Reply(200, {"attachment": _detail(att)})

    def update(self, call: Call) -> Reply:
        vol, att = self._find(call)
        connector = call.element("attachment").get("connector")
        if not connector:
            raise CinderError(400, "Must specify 'connector' to update "
                              "attachment.")
        if not isinstance(connector, dict):
            raise _field_error("connector")
        self._connect(vol, att, connector)
        return Reply(200, {"attachment": _detail(att)})

    def action(self, call: Call) -> Reply:
        action, _ = call.single_action()
        if action != "os-complete":
            raise no_such_action(action)
        if not call.at_least(3, 44):
            raise CinderError(404)
        vol, att = self._find(call)
        att.attach_status = "attached"
        vol.status = "in-use"
        vol.attach_status = "attached"
        return Reply(204)

    def delete(self, call: Call) -> Reply:
        vol, att = self._find(call)
        del vol.attachments[att.id]
        remaining = list(vol.attachments.values())
        if remaining:
            vol.status = "in-use"
            vol.attach_status = "attached"
        else:
            vol.status = "available"
            vol.attach_status = "detached"
        return Reply(200, {"attachments": [_summary(a) for a in remaining]})

    # -- the volume manager's side ----------------------------------------
    def _connection_info(self, vol: FakeVolume, att: FakeAttachment,
                         mode: str) -> dict[str, Any]:
        protocol = self.backend.protocol
        info = _DRIVER_DATA[protocol](vol)
        info.update(qos_specs=None, access_mode=mode,
                    encrypted=vol.encrypted, cacheable=False,
                    driver_volume_type=protocol, attachment_id=att.id)
        for key, value in self.backend.connection_overrides.items():
            if value is None:
                info.pop(key, None)
            else:
                info[key] = value
        return info

    def _connect(self, vol: FakeVolume, att: FakeAttachment,
                 connector: dict[str, Any]) -> None:
        if "error" in vol.status:
            raise CinderError(
                500, "Unable to update attachment.(Invalid volume: The "
                "volume connection cannot be initialized in error state.)")
        mode = str(connector.get("mode") or "rw")
        if att.attach_mode != "null":
            mode = att.attach_mode
        att.connector = dict(connector, mode=mode)
        att.connection_info = self._connection_info(vol, att, mode)
        att.attach_mode = mode
        att.attach_status = "attaching"
        att.host_name = connector.get("host")
        att.mountpoint = connector.get("mountpoint")
        att.attached_at = utcnow()
        vol.status = "attaching"
        vol.attach_status = "attaching"
