"""What the fake Cinder stores: volume types, volumes, attachments.

Also Cinder's fault (:class:`CinderError`) and the input checks its API
layer applies, shared by the resource modules.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import re
from typing import Any

AVAILABILITY_ZONE = "nova"
NFS_EXPORT = "127.0.0.1:/fake/export"
CINDER_MOUNT_POINT_BASE = "/var/lib/cinder/mnt"
SERVICE_UUID = "5a1e7c1d-0c1d-4c1d-9c1d-000000c1de55"
PROTOCOLS = ("local", "nfs", "rbd", "scaleio")
RBD_POOL = "volumes"

UUID_RE = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
    re.IGNORECASE)
_DEFAULT_MESSAGES = {404: "The resource could not be found."}


class CinderError(Exception):
    """An HTTP error answered as a Cinder fault."""

    def __init__(self, status: int, message: str | None = None) -> None:
        message = message or _DEFAULT_MESSAGES.get(status, "Error")
        super().__init__(message)
        self.status = status
        self.message = message


def invalid_volume(reason: str) -> CinderError:
    return CinderError(400, "Invalid volume: %s" % reason)


def invalid_input(reason: str) -> CinderError:
    return CinderError(400, "Invalid input received: %s" % reason)


def no_such_action(action: str) -> CinderError:
    return CinderError(400, "There is no such action: %s. Verify the "
                       "request body and Content-Type header and try "
                       "again." % action)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def iso(when: datetime.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when else None


def bool_from_string(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise invalid_input("Invalid value '%s' for %s." % (value, what))


def positive_int(value: Any, what: str) -> int:
    not_int = invalid_input("%s must be an integer, not %r." % (what, value))
    if isinstance(value, bool):
        raise not_int
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise not_int from None
    if isinstance(value, float) and number != value:
        raise not_int
    if number <= 0:
        raise invalid_input("%s must be greater than 0." % what)
    return number


def check_metadata(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict):
        raise invalid_input("Metadata must be a dict, not %r." % metadata)
    for key, value in metadata.items():
        if not isinstance(key, str) or not 0 < len(key) <= 255:
            raise invalid_input("Invalid metadata key %r." % (key,))
        if not isinstance(value, str) or len(value) > 255:
            raise invalid_input(
                "Invalid metadata value %r for key %r: a string of at most "
                "255 characters is required." % (value, key))
    return dict(metadata)


@dataclasses.dataclass
class FakeVolumeType:
    id: str
    name: str
    extra_specs: dict[str, str]
    description: str | None = None
    is_public: bool = True
    encrypted: bool = False
    """An encryption type exists: volumes of this type are encrypted."""

    @property
    def multiattach(self) -> bool:
        return self.extra_specs.get("multiattach") == "<is> True"


@dataclasses.dataclass
class FakeAttachment:
    id: str
    volume_id: str
    project_id: str
    instance_uuid: str | None
    attach_status: str
    """reserved, attaching or attached (Cinder's attach_status)."""
    attach_mode: str
    """'null' until a connector decided it, then 'rw' or 'ro'."""
    created_at: datetime.datetime
    connector: dict[str, Any] | None = None
    connection_info: dict[str, Any] | None = None
    host_name: str | None = None
    mountpoint: str | None = None
    attached_at: datetime.datetime | None = None


@dataclasses.dataclass
class Transition:
    """Asynchronous work in progress on a volume, finished by polls."""

    target: str | None
    """Status once done; None: the volume is gone (deleted)."""
    polls: int
    """GETs still answered with the transitional status."""
    new_size: int | None = None


@dataclasses.dataclass
class FakeVolume:
    id: str
    project_id: str
    user_id: str | None
    size: int
    """In "GiB" of the cloud (``cloud.gib`` bytes each)."""
    status: str
    name: str | None
    description: str | None
    volume_type: str
    volume_type_id: str
    metadata: dict[str, str]
    backing_path: pathlib.Path
    created_at: datetime.datetime
    bootable: bool = False
    readonly: bool = False
    multiattach: bool = False
    encrypted: bool = False
    fmt: str = "raw"
    availability_zone: str = AVAILABILITY_ZONE
    attach_status: str = "detached"
    attachments: dict[str, FakeAttachment] = dataclasses.field(
        default_factory=dict)
    updated_at: datetime.datetime | None = None
    encryption_key_id: str | None = None
    transition: Transition | None = None
    created_directly: bool = False
    """Made by the test (``create_volume_directly``), not through the API."""

    @property
    def type(self) -> str:
        return self.volume_type

    @property
    def backend_name(self) -> str:
        """Cinder's name for the volume on its backend (the NFS file)."""
        return "volume-%s" % self.id

    @property
    def access_mode(self) -> str | None:
        """The mode of the latest connected attachment ('rw' or 'ro')."""
        modes = [a.attach_mode for a in self.attachments.values()
                 if a.connection_info]
        return modes[-1] if modes else None

    @property
    def deleting(self) -> bool:
        return self.transition is not None and self.transition.target is None

    @property
    def stored_image(self) -> bool:
        """What a finished upload leaves: available, read-only, detached,
        with the image's metadata."""
        return (self.status == "available" and self.transition is None
                and self.readonly and not self.attachments
                and "glance_image_id" in self.metadata)


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """A request Cinder received."""

    method: str
    path: str
    """Relative to the project's endpoint, e.g. ``/volumes/<id>/action``."""
    microversion: str | None
    project_id: str | None
    body: Any
    query: dict[str, str]
    status: int
    url_path: str

    @property
    def action(self) -> str | None:
        """The action name of a ``.../action`` request."""
        if self.path.endswith("/action") and isinstance(self.body, dict):
            return next(iter(self.body), None)
        return None
