"""A fake OpenStack (Keystone v3 and Cinder v3) at the HTTP layer.

Mount ``cloud.adapter`` on a ``requests.Session`` and hand that session to
``keystoneauth1.session.Session(session=...)``: keystoneauth1's identity
plugins and python-cinderclient then run unmodified against it.

What Cinder answers follows Cinder's API code (2024.x, microversions up to
3.71), including the details a client can trip over:

* errors are Cinder faults (``{"itemNotFound": {"code": 404, "message":
  ...}}``) carrying ``x-openstack-request-id`` and, as Cinder sets it,
  ``x-compute-request-id`` (the header cinderclient takes ``request_id``
  from); a missing or revoked token gets keystonemiddleware's 401;
* a token used on another project's URL gets 400 "Malformed request url";
* the attachment API returns ``connection_info`` *flattened* (the driver's
  ``data`` keys at the top level next to ``driver_volume_type``, plus
  ``attachment_id``), the way Cinder's volume manager stores it;
* a volume's ``attachments`` list only shows attachments that are
  ``attached`` (completed), and ``host_name`` in it only to admin or
  ``service`` role tokens;
* asynchronous work (create, extend, delete) is seen through polls: a
  volume stays in its transitional status for ``status_polls_before_ready``
  GETs of it, the next GET shows the result.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import datetime
import os
import pathlib
import re
import threading
import uuid
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

import requests

from tests.unit.fakes._http import MALFORMED
from tests.unit.fakes._http import FakeAdapter
from tests.unit.fakes._http import Incoming
from tests.unit.fakes._http import Reply
from tests.unit.fakes._http import new_request_id
from tests.unit.fakes.identity import DEFAULT_DOMAIN_NAME
from tests.unit.fakes.identity import DEFAULT_ROLES
from tests.unit.fakes.identity import FakeKeystone
from tests.unit.fakes.identity import TokenInfo
from tests.unit.fakes.identity import keystone_error_body

KEYSTONE_HOST = "keystone.test"
CINDER_HOST = "cinder.test"
KEYSTONE_URL = "http://keystone.test/v3"
CINDER_ROOT = "http://cinder.test"

Version = tuple[int, int]
MIN_VERSION: Version = (3, 0)
MAX_VERSION: Version = (3, 71)
API_VERSION_HEADER = "OpenStack-API-Version"

AVAILABILITY_ZONE = "nova"
NFS_EXPORT = "127.0.0.1:/fake/export"
CINDER_MOUNT_POINT_BASE = "/var/lib/cinder/mnt"
SERVICE_UUID = "5a1e7c1d-0c1d-4c1d-9c1d-000000c1de55"
PROTOCOLS = ("local", "nfs")

_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
                404: "itemNotFound", 405: "badMethod",
                409: "conflictingRequest", 413: "overLimit",
                415: "badMediaType", 501: "notImplemented",
                503: "serviceUnavailable"}
_DEFAULT_MESSAGES = {404: "The resource could not be found."}

# Cinder's default resource_filters.json.
_VOLUME_FILTERS = frozenset({
    "name", "status", "metadata", "bootable", "migration_status",
    "availability_zone", "group_id", "size", "created_at", "updated_at"})
_ATTACHMENT_FILTERS = frozenset({
    "volume_id", "status", "instance_id", "attach_status"})
_PAGING = frozenset({"limit", "marker", "offset", "sort", "sort_key",
                     "sort_dir", "with_count"})
_USER_VISIBLE_EXTRA_SPECS = ("RESKEY:availability_zones", "multiattach",
                             "replication_enabled")
_DELETABLE = ("available", "error", "error_restoring", "error_extending",
              "error_managing")
_LEGACY_ACTIONS = frozenset({
    "os-attach", "os-detach", "os-reserve", "os-unreserve",
    "os-begin_detaching", "os-roll_detaching", "os-initialize_connection",
    "os-terminate_connection", "os-volume_upload_image", "os-retype",
    "os-migrate_volume", "revert", "os-reimage"})
_RESOURCES = frozenset({"volumes", "types", "attachments"})
_UUID_RE = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
    re.IGNORECASE)


class CinderError(Exception):
    """An HTTP error answered as a Cinder fault."""

    def __init__(self, status: int, message: str | None = None) -> None:
        message = message or _DEFAULT_MESSAGES.get(status, "Error")
        super().__init__(message)
        self.status = status
        self.message = message


def _invalid_volume(reason: str) -> CinderError:
    return CinderError(400, "Invalid volume: %s" % reason)


def _invalid_input(reason: str) -> CinderError:
    return CinderError(400, "Invalid input received: %s" % reason)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _iso(when: datetime.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when else None


def _bool_from_string(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise _invalid_input("Invalid value '%s' for %s." % (value, what))


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _invalid_input("%s must be an integer, not %r." % (what, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid_input(
            "%s must be an integer, not %r." % (what, value)) from None
    if isinstance(value, float) and number != value:
        raise _invalid_input("%s must be an integer, not %r." % (what, value))
    if number <= 0:
        raise _invalid_input("%s must be greater than 0." % what)
    return number


def _check_metadata(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict):
        raise _invalid_input("Metadata must be a dict, not %r." % metadata)
    for key, value in metadata.items():
        if not isinstance(key, str) or not 0 < len(key) <= 255:
            raise _invalid_input("Invalid metadata key %r." % (key,))
        if not isinstance(value, str) or len(value) > 255:
            raise _invalid_input(
                "Invalid metadata value %r for key %r: a string of at most "
                "255 characters is required." % (value, key))
    return dict(metadata)


# -- model ------------------------------------------------------------------
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


@dataclasses.dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    message: str


@dataclasses.dataclass
class _Call:
    """One Cinder API request being answered."""

    req: Incoming
    request_id: str
    path: str = ""
    ctx: TokenInfo | None = None
    version: Version | None = None
    record: bool = False

    @property
    def token(self) -> TokenInfo:
        assert self.ctx is not None
        return self.ctx

    @property
    def project_id(self) -> str:
        assert self.ctx is not None and self.ctx.project_id is not None
        return self.ctx.project_id

    def at_least(self, major: int, minor: int) -> bool:
        return self.version is not None and self.version >= (major, minor)


class FakeCloud:
    """Keystone and Cinder in memory, volumes as sparse files."""

    keystone_url = KEYSTONE_URL

    def __init__(self, *, gib: int = 1024 ** 3,
                 backing_dir: pathlib.Path | str,
                 protocol: str = "local",
                 volume_types: Sequence[str] = ("glance-fast", "glance-slow"),
                 default_type: str | None = "glance-fast",
                 status_polls_before_ready: int = 1) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError("protocol must be one of %s" % (PROTOCOLS,))
        if gib <= 0 or status_polls_before_ready < 0:
            raise ValueError("gib must be > 0, polls >= 0")
        self.gib = gib
        self.backing_dir = pathlib.Path(backing_dir)
        self.backing_dir.mkdir(parents=True, exist_ok=True)
        self.protocol = protocol
        self.status_polls_before_ready = status_polls_before_ready
        self.requests: list[RecordedRequest] = []
        self.deleted_volume_ids: list[str] = []
        self.identity = FakeKeystone(KEYSTONE_URL, self._catalog_urls)
        self._lock = threading.RLock()
        self._volumes: dict[str, FakeVolume] = {}
        self._types: dict[str, FakeVolumeType] = {}
        self._quotas: dict[str, dict[str, int]] = {}
        self._injections: list[_Injection] = []
        self._connection_overrides: dict[str, Any] = {}
        for name in volume_types:
            self.add_volume_type(name)
        if default_type is not None and self._type_by_name(
                default_type) is None:
            raise ValueError("default_type %r is not among the volume types"
                             % default_type)
        self.default_type = default_type
        self._adapter = FakeAdapter(
            {KEYSTONE_HOST: self._keystone, CINDER_HOST: self._cinder},
            self._lock)

    # == test-facing API ====================================================
    @property
    def adapter(self) -> FakeAdapter:
        """The transport to mount: ``s.mount('http://', cloud.adapter)``."""
        return self._adapter

    def http_session(self) -> requests.Session:
        """A requests.Session with the adapter mounted."""
        session = requests.Session()
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        return session

    @property
    def auth_log(self) -> list[tuple[str, str | None]]:
        """(user name or application credential id, project id) per auth."""
        return self.identity.auth_log

    @staticmethod
    def cinder_endpoint(project_id: str) -> str:
        return "%s/v3/%s" % (CINDER_ROOT, project_id)

    def add_user(self, name: str, password: str, project: str,
                 domain: str = DEFAULT_DOMAIN_NAME,
                 roles: Iterable[str] = DEFAULT_ROLES) -> tuple[str, str]:
        """Create a user with roles on ``project`` (created if needed).

        Calling it again for an existing user grants roles on one more
        project.  Returns (user id, project id).
        """
        with self._lock:
            return self.identity.add_user(name, password, project, domain,
                                          roles)

    def add_app_credential(self, user_name: str, project: str,
                           domain: str = DEFAULT_DOMAIN_NAME
                           ) -> tuple[str, str]:
        """An application credential of the user on the project: (id, secret).
        """
        with self._lock:
            return self.identity.add_app_credential(user_name, project,
                                                    domain)

    def issue_token(self, user_name: str, project: str | None = None,
                    domain: str = DEFAULT_DOMAIN_NAME) -> str:
        """A valid project-scoped token, as a requester's context carries."""
        with self._lock:
            return self.identity.issue_token(user_name, project, domain)

    def revoke_tokens(self, user_name: str | None = None) -> int:
        """Make (a user's) tokens invalid, as if they expired."""
        with self._lock:
            return self.identity.revoke_tokens(user_name)

    def project_id(self, name: str, domain: str = DEFAULT_DOMAIN_NAME) -> str:
        return self.identity.project_id(name, domain)

    def add_volume_type(self, name: str, *,
                        extra_specs: dict[str, str] | None = None,
                        multiattach: bool = False, encrypted: bool = False,
                        description: str | None = None) -> str:
        with self._lock:
            specs = dict(extra_specs or {})
            if multiattach:
                specs["multiattach"] = "<is> True"
            vtype = FakeVolumeType(str(uuid.uuid4()), name, specs,
                                   description, encrypted=encrypted)
            self._types[vtype.id] = vtype
            return vtype.id

    def set_quota(self, project_id: str, *, volumes: int = -1,
                  gigabytes: int = -1) -> None:
        """Limit a project; -1 is unlimited (Cinder's convention)."""
        with self._lock:
            self._quotas[project_id] = {"volumes": volumes,
                                        "gigabytes": gigabytes}

    def volume(self, volume_id: str) -> FakeVolume:
        """The live volume (KeyError once it is gone)."""
        with self._lock:
            return self._volumes[volume_id]

    def volume_exists(self, volume_id: str) -> bool:
        with self._lock:
            return volume_id in self._volumes

    @property
    def volumes(self) -> list[FakeVolume]:
        with self._lock:
            return list(self._volumes.values())

    def attachment(self, attachment_id: str) -> FakeAttachment:
        with self._lock:
            for vol in self._volumes.values():
                if attachment_id in vol.attachments:
                    return vol.attachments[attachment_id]
        raise KeyError(attachment_id)

    def create_volume_directly(self, project_id: str, size: int,
                               data: bytes = b"",
                               metadata: dict[str, str] | None = None,
                               volume_type: str | None = None,
                               encrypted: bool = False,
                               multiattach: bool = False, fmt: str = "raw",
                               name: str | None = None,
                               bootable: bool = False) -> str:
        """An already existing, available volume holding ``data``."""
        with self._lock:
            if project_id not in self.identity.projects:
                raise ValueError("unknown project id %r" % project_id)
            vtype = self._type_for(volume_type)
            if vtype is None:
                raise ValueError("unknown volume type %r" % volume_type)
            if len(data) > size * self.gib:
                raise ValueError("%d bytes do not fit in %d GiB of %d bytes"
                                 % (len(data), size, self.gib))
            vol = self._new_volume(
                project_id=project_id, user_id=None, size=size, name=name,
                description=None, vtype=vtype,
                metadata=_check_metadata(dict(metadata or {})),
                status="available", fmt=fmt,
                encrypted=encrypted or vtype.encrypted,
                multiattach=multiattach or vtype.multiattach)
            vol.bootable = bootable
            if data:
                with open(vol.backing_path, "r+b") as f:
                    f.write(data)
            return vol.id

    def fail_next(self, method: str, path_regex: str, status: int,
                  times: int = 1, message: str | None = None) -> None:
        """Answer the next ``times`` matching requests with an HTTP error.

        ``method`` is an HTTP method or ``*``; ``path_regex`` is searched
        in the URL path (``/v3/<project>/volumes/<id>``, ``/v3/auth/tokens``).
        Nothing changes state; the error body is Cinder's (Keystone's for
        the identity host).
        """
        with self._lock:
            self._injections.append(_Injection(
                method.upper(), re.compile(path_regex), status, times,
                message or "Injected failure (HTTP %d)" % status))

    def override_connection_info(self, **changes: Any) -> None:
        """A hostile or broken Cinder: put ``changes`` into every
        attachment's connection info from now on (``None`` removes a key).
        """
        with self._lock:
            self._connection_overrides.update(changes)

    def stall(self, volume_id: str, status: str, polls: int,
              then: str | None = None) -> None:
        """Show ``status`` for ``polls`` more GETs of the volume.

        Work in progress (create, extend, delete) carries on afterwards;
        a volume with none returns to its current status, or to ``then``.
        """
        with self._lock:
            vol = self._volumes[volume_id]
            if vol.transition is None:
                vol.transition = Transition(
                    then if then is not None else vol.status, polls)
            else:
                vol.transition.polls += polls
                if then is not None:
                    vol.transition.target = then
            vol.status = status

    def set_status(self, volume_id: str, status: str) -> None:
        """Put a volume in a status at once (e.g. ``error``)."""
        with self._lock:
            vol = self._volumes[volume_id]
            vol.transition = None
            vol.status = status

    def settle(self) -> None:
        """Finish every transition at once."""
        with self._lock:
            for vol in list(self._volumes.values()):
                if vol.transition is not None:
                    self._finish(vol)

    def assert_clean(self, keep: Iterable[str] = ()) -> None:
        """Fail if a volume not in ``keep`` or any attachment remains.

        Volumes being deleted count as gone.
        """
        keep = set(keep)
        with self._lock:
            problems = []
            for vol in self._volumes.values():
                if vol.id not in keep and not vol.deleting:
                    problems.append("volume %s (%s, status %s, metadata %r)"
                                    % (vol.id, vol.name, vol.status,
                                       vol.metadata))
                for att in vol.attachments.values():
                    problems.append("attachment %s on volume %s (%s, host %s)"
                                    % (att.id, vol.id, att.attach_status,
                                       att.host_name))
        if problems:
            raise AssertionError("the cloud is not clean:\n  "
                                 + "\n  ".join(problems))

    # -- for FakeConnector ------------------------------------------------
    def volume_by_backing_path(self, path: str) -> FakeVolume | None:
        with self._lock:
            real = os.path.realpath(path)
            for vol in self._volumes.values():
                if os.path.realpath(vol.backing_path) == real:
                    return vol
        return None

    def volume_by_backend_name(self, name: str) -> FakeVolume | None:
        with self._lock:
            for vol in self._volumes.values():
                if vol.backend_name == name:
                    return vol
        return None

    def is_exported(self, volume_id: str) -> bool:
        """Has the volume an attachment that got a connection?"""
        with self._lock:
            vol = self._volumes.get(volume_id)
            return vol is not None and any(
                a.connection_info for a in vol.attachments.values())

    # == model internals ====================================================
    def _catalog_urls(self, project_id: str) -> dict[str, str]:
        url = self.cinder_endpoint(project_id)
        return {"volumev3": url, "block-storage": url}

    def _type_by_name(self, name: str) -> FakeVolumeType | None:
        return next((t for t in self._types.values() if t.name == name),
                    None)

    def _type_for(self, name_or_id: str | None) -> FakeVolumeType | None:
        if name_or_id is None:
            if self.default_type is None:
                raise ValueError("no default volume type")
            return self._type_by_name(self.default_type)
        return self._types.get(name_or_id) or self._type_by_name(name_or_id)

    def _new_volume(self, *, project_id: str, user_id: str | None,
                    size: int, name: str | None, description: str | None,
                    vtype: FakeVolumeType, metadata: dict[str, str],
                    status: str, fmt: str, encrypted: bool,
                    multiattach: bool) -> FakeVolume:
        vid = str(uuid.uuid4())
        path = self.backing_dir / ("volume-%s" % vid)
        with open(path, "wb") as f:
            f.truncate(size * self.gib)
        vol = FakeVolume(
            id=vid, project_id=project_id, user_id=user_id, size=size,
            status=status, name=name, description=description,
            volume_type=vtype.name, volume_type_id=vtype.id,
            metadata=metadata, backing_path=path, created_at=_utcnow(),
            multiattach=multiattach, encrypted=encrypted, fmt=fmt,
            encryption_key_id=str(uuid.uuid4()) if encrypted else None)
        self._volumes[vid] = vol
        return vol

    def _start(self, vol: FakeVolume, status: str, target: str | None,
               new_size: int | None = None) -> None:
        vol.status = status
        vol.updated_at = _utcnow()
        vol.transition = Transition(target, self.status_polls_before_ready,
                                    new_size)

    def _observe(self, vol: FakeVolume) -> bool:
        """A GET sees the volume: advance its work.  False: it is gone."""
        if vol.transition is not None:
            if vol.transition.polls > 0:
                vol.transition.polls -= 1
            else:
                self._finish(vol)
        return vol.id in self._volumes

    def _finish(self, vol: FakeVolume) -> None:
        work = vol.transition
        assert work is not None
        vol.transition = None
        if work.target is None:
            del self._volumes[vol.id]
            self.deleted_volume_ids.append(vol.id)
            try:
                vol.backing_path.unlink()
            except FileNotFoundError:
                pass
            return
        if work.new_size is not None and work.new_size > vol.size:
            wanted = work.new_size * self.gib
            if os.path.getsize(vol.backing_path) < wanted:
                os.truncate(vol.backing_path, wanted)
            vol.size = work.new_size
        vol.status = work.target
        vol.updated_at = _utcnow()

    def _usage(self, project_id: str) -> tuple[int, int]:
        vols = [v for v in self._volumes.values()
                if v.project_id == project_id]
        return len(vols), sum(v.size for v in vols)

    def _check_quota(self, project_id: str, add_volumes: int,
                     add_gigabytes: int) -> None:
        quota = self._quotas.get(project_id)
        if not quota:
            return
        count, used = self._usage(project_id)
        limit = quota["gigabytes"]
        if limit >= 0 and used + add_gigabytes > limit:
            raise CinderError(
                413, "Requested volume or snapshot exceeds allowed gigabytes "
                "quota. Requested %sG, quota is %sG and %sG has been "
                "consumed." % (add_gigabytes, limit, used))
        limit = quota["volumes"]
        if add_volumes and limit >= 0 and count + add_volumes > limit:
            raise CinderError(
                413, "Maximum number of volumes allowed (%d) exceeded for "
                "quota 'volumes'." % limit)

    def _take_injection(self, req: Incoming) -> _Injection | None:
        for inj in self._injections:
            if (inj.method in ("*", req.method)
                    and inj.pattern.search(req.path)):
                inj.times -= 1
                if inj.times <= 0:
                    self._injections.remove(inj)
                return inj
        return None

    # == Keystone ===========================================================
    def _keystone(self, req: Incoming) -> Reply:
        inj = self._take_injection(req)
        if inj is not None:
            return self.identity.error_reply(inj.status, inj.message)
        return self.identity.handle(req)

    # == Cinder: plumbing ===================================================
    def _cinder(self, req: Incoming) -> Reply:
        call = _Call(req=req, request_id=new_request_id())
        try:
            reply = self._cinder_call(call)
        except CinderError as exc:
            reply = self._fault(exc.status, exc.message)
        reply.headers.setdefault("x-openstack-request-id", call.request_id)
        if call.ctx is not None:
            # Cinder's wsgi layer adds it to results and faults alike.
            reply.headers.setdefault("x-compute-request-id", call.request_id)
        if call.version is not None:
            reply.headers[API_VERSION_HEADER] = "volume %d.%d" % call.version
            reply.headers["Vary"] = API_VERSION_HEADER
        if call.record:
            self.requests.append(RecordedRequest(
                method=req.method, path=call.path,
                microversion=("%d.%d" % call.version
                              if call.version else None),
                project_id=call.ctx.project_id if call.ctx else None,
                body=copy.deepcopy(req.body) if req.body is not MALFORMED
                else None,
                query=dict(req.query), status=reply.status,
                url_path=req.path))
        return reply

    @staticmethod
    def _fault(status: int, message: str) -> Reply:
        name = _FAULT_NAMES.get(status, "computeFault")
        return Reply(status, {name: {"code": status, "message": message}})

    def _unauthenticated(self) -> Reply:
        # keystonemiddleware answers before Cinder sees the request.
        return Reply(401, keystone_error_body(
            401, "The request you have made requires authentication."),
            {"WWW-Authenticate": 'Keystone uri="%s"' % KEYSTONE_URL})

    @staticmethod
    def _parse_version(req: Incoming) -> Version:
        raw = req.headers.get(API_VERSION_HEADER)
        if not raw:
            return MIN_VERSION
        for item in raw.split(","):
            words = item.split()
            if len(words) != 2 or words[0].lower() != "volume":
                continue
            text = words[1]
            if text.lower() == "latest":
                return MAX_VERSION
            match = re.fullmatch(r"([1-9]\d*)\.([1-9]\d*|0)", text)
            if match is None:
                raise CinderError(
                    400, "API Version String %s is of invalid format. Must "
                    "be of format MajorNum.MinorNum." % text)
            version = (int(match.group(1)), int(match.group(2)))
            if not MIN_VERSION <= version <= MAX_VERSION:
                raise CinderError(
                    406, "Version %s is not supported by the API. Minimum "
                    "is %d.%d and maximum is %d.%d."
                    % ((text,) + MIN_VERSION + MAX_VERSION))
            return version
        return MIN_VERSION

    def _version_doc(self) -> dict[str, Any]:
        return {
            "id": "v3.0", "status": "CURRENT",
            "version": "%d.%d" % MAX_VERSION,
            "min_version": "%d.%d" % MIN_VERSION,
            "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": CINDER_ROOT + "/v3/"}],
            "media-types": [{
                "base": "application/json",
                "type": "application/vnd.openstack.volume+json;version=3"}],
        }

    def _cinder_call(self, call: _Call) -> Reply:
        req = call.req
        path = req.path.rstrip("/")
        if path == "" and req.method == "GET":
            return Reply(300, {"versions": [self._version_doc()]})
        if path == "/v3" and req.method == "GET":
            return Reply(200, {"versions": [self._version_doc()]})
        if not req.path.startswith("/v3/"):
            raise CinderError(404)
        segments = [s for s in req.path[len("/v3/"):].split("/") if s]
        url_project: str | None = None
        if segments and segments[0] not in _RESOURCES:
            # /v3/<project_id>/...; since 3.67 the project may be left out.
            url_project = segments.pop(0)
        call.path = "/" + "/".join(segments)
        call.record = True
        call.ctx = self.identity.validate(req.headers.get("X-Auth-Token"))
        try:
            call.version = self._parse_version(req)
        except CinderError:
            call.version = None
            if call.ctx is not None:
                raise
        inj = self._take_injection(req)
        if inj is not None:
            if inj.status == 401:
                call.ctx = None
                return self._unauthenticated()
            raise CinderError(inj.status, inj.message)
        if call.ctx is None:
            call.version = None
            return self._unauthenticated()
        if call.ctx.project_id is None:
            raise CinderError(403, "Policy doesn't allow this operation "
                              "without a project-scoped token.")
        if url_project is not None and url_project != call.ctx.project_id:
            raise CinderError(400, "Malformed request url")
        if req.body is MALFORMED:
            raise CinderError(400, "Malformed request body")
        return self._route(call, segments)

    def _route(self, call: _Call, seg: list[str]) -> Reply:
        method = call.req.method
        n = len(seg)
        if n and seg[0] == "volumes":
            if n == 1 and method == "POST":
                return self._volume_create(call)
            if n == 1 and method == "GET":
                return self._volume_list(call, detail=False)
            if n == 2 and seg[1] == "detail" and method == "GET":
                return self._volume_list(call, detail=True)
            if n == 2 and method == "GET":
                return self._volume_show(call, seg[1])
            if n == 2 and method == "PUT":
                return self._volume_update(call, seg[1])
            if n == 2 and method == "DELETE":
                return self._volume_delete(call, seg[1])
            if n == 3 and seg[2] == "action" and method == "POST":
                return self._volume_action(call, seg[1])
            if n in (3, 4) and seg[2] == "metadata":
                return self._metadata(call, seg[1],
                                      seg[3] if n == 4 else None)
        elif n and seg[0] == "types" and method == "GET":
            if n == 1:
                return self._type_list(call)
            if n == 2:
                return self._type_show(call, seg[1])
        elif n and seg[0] == "attachments":
            if not call.at_least(3, 27):
                raise CinderError(404)
            if n == 1 and method == "POST":
                return self._attachment_create(call)
            if n == 1 and method == "GET":
                return self._attachment_list(call, detail=False)
            if n == 2 and seg[1] == "detail" and method == "GET":
                return self._attachment_list(call, detail=True)
            if n == 2 and method == "GET":
                return self._attachment_show(call, seg[1])
            if n == 2 and method == "PUT":
                return self._attachment_update(call, seg[1])
            if n == 2 and method == "DELETE":
                return self._attachment_delete(call, seg[1])
            if n == 3 and seg[2] == "action" and method == "POST":
                return self._attachment_action(call, seg[1])
        raise CinderError(404)

    @staticmethod
    def _element(call: _Call, key: str) -> dict[str, Any]:
        body = call.req.body
        if not isinstance(body, dict) or not isinstance(body.get(key), dict):
            raise CinderError(
                400, "Missing required element '%s' in request body." % key)
        return dict(body[key])

    def _visible(self, call: _Call, volume_id: str) -> FakeVolume:
        vol = self._volumes.get(volume_id)
        if vol is None or not (call.token.is_admin
                               or vol.project_id == call.project_id):
            raise CinderError(404, "Volume %s could not be found."
                              % volume_id)
        return vol

    def _observed(self, call: _Call, volume_id: str) -> FakeVolume:
        vol = self._visible(call, volume_id)
        if not self._observe(vol):
            raise CinderError(404, "Volume %s could not be found."
                              % volume_id)
        return vol

    # == Cinder: volumes ====================================================
    def _links(self, vol: FakeVolume) -> list[dict[str, str]]:
        return [{"rel": "self", "href": "%s/v3/%s/volumes/%s"
                 % (CINDER_ROOT, vol.project_id, vol.id)},
                {"rel": "bookmark", "href": "%s/%s/volumes/%s"
                 % (CINDER_ROOT, vol.project_id, vol.id)}]

    def _volume_view(self, call: _Call, vol: FakeVolume) -> dict[str, Any]:
        ctx = call.token
        show_host = ctx.is_admin or "service" in ctx.roles
        attachments = [{
            "id": vol.id, "attachment_id": att.id, "volume_id": vol.id,
            "server_id": att.instance_uuid,
            "host_name": att.host_name if show_host else None,
            "device": att.mountpoint, "attached_at": _iso(att.attached_at),
        } for att in vol.attachments.values()
            if att.attach_status == "attached"]
        view: dict[str, Any] = {
            "id": vol.id, "status": vol.status, "size": vol.size,
            "availability_zone": vol.availability_zone,
            "created_at": _iso(vol.created_at),
            "updated_at": _iso(vol.updated_at),
            "name": vol.name, "description": vol.description,
            "volume_type": vol.volume_type, "snapshot_id": None,
            "source_volid": None, "metadata": dict(vol.metadata),
            "links": self._links(vol), "user_id": vol.user_id,
            "bootable": str(vol.bootable).lower(),
            "encrypted": vol.encrypted, "replication_status": None,
            "consistencygroup_id": None, "multiattach": vol.multiattach,
            "attachments": attachments,
            "os-vol-tenant-attr:tenant_id": vol.project_id,
        }
        if ctx.is_admin:
            view["migration_status"] = None
            view["os-vol-host-attr:host"] = "fake-cinder@%s#pool" % (
                self.protocol)
            view["os-vol-mig-status-attr:migstat"] = None
            view["os-vol-mig-status-attr:name_id"] = None
        if call.at_least(3, 13):
            view["group_id"] = None
        if ctx.is_admin and call.at_least(3, 21):
            view["provider_id"] = None
        if call.at_least(3, 48):
            view["shared_targets"] = False
            view["service_uuid"] = SERVICE_UUID
        if ctx.is_admin and call.at_least(3, 61):
            view["cluster_name"] = None
        if call.at_least(3, 63):
            view["volume_type_id"] = vol.volume_type_id
        if call.at_least(3, 64) and vol.encryption_key_id:
            view["encryption_key_id"] = vol.encryption_key_id
        if call.at_least(3, 65):
            view["consumes_quota"] = True
        return view

    def _volume_create(self, call: _Call) -> Reply:
        spec = self._element(call, "volume")
        for key, what in (("snapshot_id", "Snapshot"),
                          ("backup_id", "Backup")):
            if spec.get(key):
                raise CinderError(404, "%s %s could not be found."
                                  % (what, spec[key]))
        if spec.get("source_volid"):
            self._visible(call, str(spec["source_volid"]))
            raise CinderError(501, "FakeCloud does not clone volumes.")
        if spec.get("imageRef"):
            raise CinderError(501, "FakeCloud has no image service.")
        size = _positive_int(spec.get("size"), "size")
        name = spec.get("name", spec.get("display_name"))
        description = spec.get("description",
                               spec.get("display_description"))
        for value, what in ((name, "name"), (description, "description")):
            if value is not None and (not isinstance(value, str)
                                      or len(value) > 255):
                raise _invalid_input("%s must be a string of at most 255 "
                                     "characters." % what)
        metadata = _check_metadata(spec.get("metadata") or {})
        zone = spec.get("availability_zone")
        if zone not in (None, AVAILABILITY_ZONE):
            raise _invalid_input("Availability zone '%s' is invalid." % zone)
        type_ref = spec.get("volume_type")
        if type_ref is None and self.default_type is None:
            raise CinderError(404, "Default volume type can not be found.")
        vtype = self._type_for(None if type_ref is None else str(type_ref))
        if vtype is None:
            raise CinderError(404, "Volume type with name %s could not be "
                              "found." % type_ref)
        self._check_quota(call.project_id, 1, size)
        vol = self._new_volume(
            project_id=call.project_id, user_id=call.token.user_id,
            size=size, name=name, description=description, vtype=vtype,
            metadata=metadata, status="creating", fmt="raw",
            encrypted=vtype.encrypted, multiattach=vtype.multiattach)
        self._start(vol, "creating", "available")
        return Reply(202, {"volume": self._volume_view(call, vol)})

    def _volume_show(self, call: _Call, volume_id: str) -> Reply:
        vol = self._observed(call, volume_id)
        return Reply(200, {"volume": self._volume_view(call, vol)})

    def _volume_list(self, call: _Call, detail: bool) -> Reply:
        query = dict(call.req.query)
        paging = {k: query.pop(k) for k in list(query) if k in _PAGING}
        everyone = False
        if "all_tenants" in query:
            everyone = (call.token.is_admin and _bool_from_string(
                query.pop("all_tenants"), "all_tenants"))
            query.pop("all_tenants", None)
        filters = self._filters(call, query, _VOLUME_FILTERS)
        vols = []
        for vol in reversed(list(self._volumes.values())):
            if not everyone and vol.project_id != call.project_id:
                continue
            if not self._observe(vol):
                continue
            if self._volume_matches(vol, filters):
                vols.append(vol)
        total = len(vols)
        page, links = self._paginate(call, vols, paging,
                                     "volumes/detail" if detail
                                     else "volumes")
        if detail:
            items = [self._volume_view(call, v) for v in page]
        else:
            items = [{"id": v.id, "name": v.name, "links": self._links(v)}
                     for v in page]
        body: dict[str, Any] = {"volumes": items}
        if links:
            body["volumes_links"] = links
        if call.at_least(3, 45) and _bool_from_string(
                paging.get("with_count", "false"), "with_count"):
            body["count"] = total
        return Reply(200, body)

    def _filters(self, call: _Call, query: dict[str, str],
                 allowed: frozenset[str]) -> dict[str, str]:
        """Cinder's filter handling: reject unknown ones since 3.33."""
        like = call.at_least(3, 34)
        unknown = [k for k in query
                   if k not in allowed
                   and not (like and k.endswith("~")
                            and k[:-1] in allowed)]
        if unknown and call.at_least(3, 33) and not call.token.is_admin:
            raise CinderError(400, "Invalid filters %s are found in query "
                              "options." % ",".join(sorted(unknown)))
        return {k: v for k, v in query.items() if k not in unknown}

    @staticmethod
    def _volume_matches(vol: FakeVolume, filters: dict[str, str]) -> bool:
        for key, value in filters.items():
            if key == "name":
                if vol.name != value:
                    return False
            elif key == "name~":
                if value not in (vol.name or ""):
                    return False
            elif key == "status":
                if vol.status != value:
                    return False
            elif key == "bootable":
                if vol.bootable != _bool_from_string(value, "bootable"):
                    return False
            elif key == "availability_zone":
                if vol.availability_zone != value:
                    return False
            elif key == "size":
                if str(vol.size) != value:
                    return False
            elif key == "metadata":
                try:
                    wanted = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    raise _invalid_input("Invalid metadata filter %r."
                                         % value) from None
                if not isinstance(wanted, dict) or any(
                        vol.metadata.get(k) != v for k, v in wanted.items()):
                    return False
        return True

    @staticmethod
    def _paginate(call: _Call, items: list[FakeVolume],
                  paging: dict[str, str], collection: str
                  ) -> tuple[list[FakeVolume], list[dict[str, str]]]:
        start = 0
        marker = paging.get("marker")
        if marker:
            ids = [v.id for v in items]
            if marker not in ids:
                raise CinderError(404, "Marker %s could not be found."
                                  % marker)
            start = ids.index(marker) + 1
        if paging.get("offset"):
            offset = paging["offset"]
            if not offset.isdigit():
                raise _invalid_input("offset must be a non-negative "
                                     "integer, not %r." % offset)
            start += int(offset)
        limit = paging.get("limit")
        if not limit:
            return items[start:], []
        count = _positive_int(limit, "limit")
        page = items[start:start + count]
        links = []
        if start + count < len(items) and page:
            links.append({"rel": "next", "href":
                          "%s/v3/%s/%s?limit=%d&marker=%s"
                          % (CINDER_ROOT, call.project_id, collection,
                             count, page[-1].id)})
        return page, links

    def _volume_update(self, call: _Call, volume_id: str) -> Reply:
        vol = self._visible(call, volume_id)
        spec = self._element(call, "volume")
        for key in ("name", "display_name"):
            if key in spec:
                vol.name = spec[key]
        for key in ("description", "display_description"):
            if key in spec:
                vol.description = spec[key]
        if "metadata" in spec:
            vol.metadata = _check_metadata(spec["metadata"])
        vol.updated_at = _utcnow()
        return Reply(200, {"volume": self._volume_view(call, vol)})

    def _volume_delete(self, call: _Call, volume_id: str) -> Reply:
        vol = self._visible(call, volume_id)
        if vol.status not in _DELETABLE or vol.attach_status == "attached":
            raise _invalid_volume(
                "Volume status must be %s and must not be migrating, "
                "attached, belong to a group, have snapshots, awaiting a "
                "transfer, or be disassociated from snapshots after volume "
                "transfer." % " or ".join(_DELETABLE))
        self._start(vol, "deleting", None)
        return Reply(202)

    def _volume_action(self, call: _Call, volume_id: str) -> Reply:
        vol = self._visible(call, volume_id)
        body = call.req.body
        if not isinstance(body, dict) or len(body) != 1:
            raise CinderError(400, "Malformed request body")
        action, info = next(iter(body.items()))
        if action == "os-extend":
            return self._extend(call, vol, info)
        if action == "os-set_bootable":
            value = info.get("bootable") if isinstance(info, dict) else None
            vol.bootable = _bool_from_string(value, "bootable")
            return Reply(200)
        if action == "os-update_readonly_flag":
            value = info.get("readonly") if isinstance(info, dict) else None
            vol.readonly = _bool_from_string(value, "readonly")
            return Reply(202)
        if action in ("os-reset_status", "os-force_delete"):
            if not call.token.is_admin:
                raise CinderError(
                    403, "Policy doesn't allow volume_extension:"
                    "volume_admin_actions:%s to be performed."
                    % action[3:])
            if action == "os-force_delete":
                self._start(vol, "deleting", None)
                return Reply(202)
            info = info if isinstance(info, dict) else {}
            if info.get("status"):
                vol.transition = None
                vol.status = str(info["status"])
            if info.get("attach_status"):
                vol.attach_status = str(info["attach_status"])
            return Reply(202)
        if action in _LEGACY_ACTIONS:
            raise CinderError(501, "FakeCloud does not implement %s."
                              % action)
        raise CinderError(400, "There is no such action: %s. Verify the "
                          "request body and Content-Type header and try "
                          "again." % action)

    def _extend(self, call: _Call, vol: FakeVolume, info: Any) -> Reply:
        if not isinstance(info, dict):
            raise CinderError(400, "Malformed request body")
        new_size = _positive_int(info.get("new_size"), "new_size")
        attached = call.at_least(3, 42) and vol.status == "in-use"
        expected = "in-use" if attached else "available"
        if vol.status != expected:
            raise _invalid_volume(
                "Volume %s status must be '%s' to extend, currently %s."
                % (vol.id, expected, vol.status))
        if new_size <= vol.size:
            raise _invalid_input(
                "New size for extend must be greater than current size. "
                "(current: %d, extended: %d)." % (vol.size, new_size))
        self._check_quota(vol.project_id, 0, new_size - vol.size)
        self._start(vol, "extending", expected, new_size)
        return Reply(202)

    def _metadata(self, call: _Call, volume_id: str,
                  key: str | None) -> Reply:
        vol = self._visible(call, volume_id)
        method = call.req.method
        if key is None:
            if method == "GET":
                return Reply(200, {"metadata": dict(vol.metadata)})
            if method in ("POST", "PUT"):
                body = call.req.body
                if not isinstance(body, dict) or "metadata" not in body:
                    raise CinderError(400, "Malformed request body")
                new = _check_metadata(body["metadata"])
                if method == "POST":
                    vol.metadata.update(new)
                else:
                    vol.metadata = new
                vol.updated_at = _utcnow()
                return Reply(200, {"metadata": dict(vol.metadata)})
            raise CinderError(404)
        if method == "GET":
            if key not in vol.metadata:
                raise CinderError(404, "Metadata item was not found")
            return Reply(200, {"meta": {key: vol.metadata[key]}})
        if method == "PUT":
            body = call.req.body
            meta = body.get("meta") if isinstance(body, dict) else None
            if not isinstance(meta, dict) or list(meta) != [key]:
                raise CinderError(400, "Request body and URI mismatch")
            vol.metadata.update(_check_metadata(meta))
            return Reply(200, {"meta": dict(meta)})
        if method == "DELETE":
            if key not in vol.metadata:
                raise CinderError(404, "Metadata item was not found")
            del vol.metadata[key]
            return Reply(200)
        raise CinderError(404)

    # == Cinder: volume types ===============================================
    def _type_view(self, call: _Call, vtype: FakeVolumeType
                   ) -> dict[str, Any]:
        specs = dict(vtype.extra_specs)
        if not call.token.is_admin:
            specs = {k: v for k, v in specs.items()
                     if k in _USER_VISIBLE_EXTRA_SPECS}
        view: dict[str, Any] = {
            "id": vtype.id, "name": vtype.name,
            "is_public": vtype.is_public, "description": vtype.description,
            "extra_specs": specs,
            "os-volume-type-access:is_public": vtype.is_public}
        if call.token.is_admin:
            view["qos_specs_id"] = None
        return view

    def _type_list(self, call: _Call) -> Reply:
        return Reply(200, {"volume_types": [
            self._type_view(call, t) for t in self._types.values()
            if t.is_public or call.token.is_admin]})

    def _type_show(self, call: _Call, ref: str) -> Reply:
        if ref == "default":
            vtype = (self._type_by_name(self.default_type)
                     if self.default_type else None)
            if vtype is None:
                raise CinderError(404, "Default volume type can not be "
                                  "found.")
        else:
            vtype = self._types.get(ref) or self._type_by_name(ref)
            if vtype is None:
                if _UUID_RE.match(ref):
                    raise CinderError(404, "Volume type %s could not be "
                                      "found." % ref)
                raise CinderError(404, "Volume type with name %s could not "
                                  "be found." % ref)
        return Reply(200, {"volume_type": self._type_view(call, vtype)})

    # == Cinder: attachments ================================================
    @staticmethod
    def _attachment_summary(att: FakeAttachment) -> dict[str, Any]:
        return {"id": att.id, "status": att.attach_status,
                "instance": att.instance_uuid, "volume_id": att.volume_id}

    def _attachment_detail(self, att: FakeAttachment) -> dict[str, Any]:
        view = self._attachment_summary(att)
        view.update(attached_at=_iso(att.attached_at) or "",
                    detached_at="", attach_mode=att.attach_mode,
                    connection_info=copy.deepcopy(att.connection_info))
        return view

    def _find_attachment(self, call: _Call, attachment_id: str
                         ) -> tuple[FakeVolume, FakeAttachment]:
        for vol in self._volumes.values():
            att = vol.attachments.get(attachment_id)
            if att is not None and (call.token.is_admin
                                    or att.project_id == call.project_id):
                return vol, att
        raise CinderError(404, "Volume attachment could not be found with "
                          "filter: attachment_id = %s." % attachment_id)

    def _attachment_create(self, call: _Call) -> Reply:
        spec = self._element(call, "attachment")
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
        if not isinstance(volume_id, str) or not _UUID_RE.match(volume_id):
            raise CinderError(400, "Invalid input for field/attribute "
                              "volume_uuid. Value: %r." % (volume_id,))
        instance = spec.get("instance_uuid")
        if instance is not None and (not isinstance(instance, str)
                                     or not _UUID_RE.match(instance)):
            raise CinderError(400, "Invalid input for field/attribute "
                              "instance_uuid. Value: %r." % (instance,))
        mode = spec.get("mode", "null")
        if mode not in ("null", "rw", "ro"):
            raise CinderError(400, "Invalid input for field/attribute mode. "
                              "Value: %r. %r is not one of ['rw', 'ro']"
                              % (mode, mode))
        connector = spec.get("connector")
        if connector is not None and not isinstance(connector, dict):
            raise CinderError(400, "Invalid input for field/attribute "
                              "connector.")
        vol = self._visible(call, volume_id)
        allowed_status = (("available", "in-use", "downloading")
                          if vol.multiattach else ("available", "downloading"))
        if vol.status in allowed_status:
            vol.status = "reserved"
        elif not (instance and vol.status in ("in-use", "reserved") and any(
                a.instance_uuid == instance
                for a in vol.attachments.values())):
            raise _invalid_volume(
                "Volume %s status must be %s, but the current status is %s."
                % (vol.id, " or ".join(allowed_status), vol.status))
        att = FakeAttachment(
            id=str(uuid.uuid4()), volume_id=vol.id,
            project_id=call.project_id, instance_uuid=instance,
            attach_status="reserved",
            attach_mode="ro" if vol.readonly else mode,
            created_at=_utcnow(), connection_info={})
        vol.attachments[att.id] = att
        if vol.attach_status == "detached":
            vol.attach_status = "reserved"
        if connector:
            self._connect(vol, att, connector)
        return Reply(200, {"attachment": self._attachment_detail(att)})

    def _connection_info(self, vol: FakeVolume, att: FakeAttachment,
                         mode: str) -> dict[str, Any]:
        """What the volume manager stores: the driver's data, flattened."""
        info: dict[str, Any]
        if self.protocol == "nfs":
            info = {"export": NFS_EXPORT, "name": vol.backend_name,
                    "options": None, "format": vol.fmt,
                    "mount_point_base": CINDER_MOUNT_POINT_BASE}
        else:
            info = {"device_path": str(vol.backing_path)}
        info.update(qos_specs=None, access_mode=mode,
                    encrypted=vol.encrypted, cacheable=False,
                    driver_volume_type=self.protocol, attachment_id=att.id)
        for key, value in self._connection_overrides.items():
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
        att.attached_at = _utcnow()
        vol.status = "attaching"
        vol.attach_status = "attaching"

    def _attachment_update(self, call: _Call, attachment_id: str) -> Reply:
        vol, att = self._find_attachment(call, attachment_id)
        spec = self._element(call, "attachment")
        connector = spec.get("connector")
        if not connector:
            raise CinderError(400, "Must specify 'connector' to update "
                              "attachment.")
        if not isinstance(connector, dict):
            raise CinderError(400, "Invalid input for field/attribute "
                              "connector.")
        self._connect(vol, att, connector)
        return Reply(200, {"attachment": self._attachment_detail(att)})

    def _attachment_action(self, call: _Call, attachment_id: str) -> Reply:
        body = call.req.body
        if not isinstance(body, dict) or len(body) != 1:
            raise CinderError(400, "Malformed request body")
        action = next(iter(body))
        if action != "os-complete":
            raise CinderError(400, "There is no such action: %s. Verify the "
                              "request body and Content-Type header and "
                              "try again." % action)
        if not call.at_least(3, 44):
            raise CinderError(404)
        vol, att = self._find_attachment(call, attachment_id)
        att.attach_status = "attached"
        vol.status = "in-use"
        vol.attach_status = "attached"
        return Reply(204)

    def _attachment_delete(self, call: _Call, attachment_id: str) -> Reply:
        vol, att = self._find_attachment(call, attachment_id)
        del vol.attachments[att.id]
        remaining = list(vol.attachments.values())
        if remaining:
            vol.status = "in-use"
            vol.attach_status = "attached"
        else:
            vol.status = "available"
            vol.attach_status = "detached"
        return Reply(200, {"attachments": [
            self._attachment_summary(a) for a in remaining]})

    def _attachment_show(self, call: _Call, attachment_id: str) -> Reply:
        _, att = self._find_attachment(call, attachment_id)
        return Reply(200, {"attachment": self._attachment_detail(att)})

    def _attachment_list(self, call: _Call, detail: bool) -> Reply:
        query = dict(call.req.query)
        for key in _PAGING | {"all_tenants"}:
            query.pop(key, None)
        filters = self._filters(call, query, _ATTACHMENT_FILTERS)
        found = []
        for vol in self._volumes.values():
            for att in vol.attachments.values():
                if not (call.token.is_admin
                        or att.project_id == call.project_id):
                    continue
                if "volume_id" in filters and (
                        att.volume_id != filters["volume_id"]):
                    continue
                if "instance_id" in filters and (
                        att.instance_uuid != filters["instance_id"]):
                    continue
                status = filters.get("attach_status", filters.get("status"))
                if status is not None and att.attach_status != status:
                    continue
                found.append(att)
        found.sort(key=lambda a: a.created_at, reverse=True)
        view = self._attachment_detail if detail else self._attachment_summary
        return Reply(200, {"attachments": [view(a) for a in found]})
