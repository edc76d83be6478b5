"""A fake OpenStack (Keystone v3 and Cinder v3) at the HTTP layer.

Mount ``cloud.adapter`` on a ``requests.Session`` and hand that session to
``keystoneauth1.session.Session(session=...)``: keystoneauth1's identity
plugins and python-cinderclient then run unmodified against it.

Cinder is served by ``tests.unit.fakes.cinder`` (one module per resource
behind a route table, following Cinder's API code, 2024.x, microversions
up to 3.71) and only for what the driver calls; Keystone by
``tests.unit.fakes.identity``.  :class:`FakeCloud` is the test-facing side:
users and tokens, volumes created directly, failures injected, state
inspected, and the check that nothing is left behind.
"""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

from requests import Session

from tests.unit.fakes._http import FakeAdapter
from tests.unit.fakes._http import Incoming
from tests.unit.fakes._http import Reply
from tests.unit.fakes.cinder.api import FakeCinder
from tests.unit.fakes.cinder.backend import CinderBackend
from tests.unit.fakes.cinder.backend import Quota
from tests.unit.fakes.cinder.model import AVAILABILITY_ZONE
from tests.unit.fakes.cinder.model import CINDER_MOUNT_POINT_BASE
from tests.unit.fakes.cinder.model import NFS_EXPORT
from tests.unit.fakes.cinder.model import PROTOCOLS
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.cinder.model import FakeAttachment
from tests.unit.fakes.cinder.model import FakeVolume
from tests.unit.fakes.cinder.model import FakeVolumeType
from tests.unit.fakes.cinder.model import RecordedRequest
from tests.unit.fakes.cinder.model import Transition
from tests.unit.fakes.cinder.model import check_metadata
from tests.unit.fakes.identity import DEFAULT_DOMAIN_NAME
from tests.unit.fakes.identity import DEFAULT_ROLES
from tests.unit.fakes.identity import IdentityRegistry
from tests.unit.fakes.injection import Injections
from tests.unit.fakes.injection import answered
from tests.unit.fakes.keystone import FakeKeystone

__all__ = ["AVAILABILITY_ZONE", "CINDER_MOUNT_POINT_BASE", "NFS_EXPORT",
           "PROTOCOLS", "CinderError", "FakeAttachment", "FakeCloud",
           "FakeVolume", "FakeVolumeType", "RecordedRequest"]

KEYSTONE_HOST = "keystone.test"
CINDER_HOST = "cinder.test"
KEYSTONE_URL = "http://keystone.test/v3"
CINDER_ROOT = "http://cinder.test"


class FakeCloud:
    """Keystone and Cinder in memory, volumes as sparse files."""

    keystone_url = KEYSTONE_URL

    def __init__(self, *, gib: int = 1024 ** 3,
                 backing_dir: pathlib.Path | str,
                 protocol: str = "local",
                 volume_types: Sequence[str] = ("glance-fast", "glance-slow"),
                 default_type: str | None = "glance-fast",
                 status_polls_before_ready: int = 1) -> None:
        self.backend = CinderBackend(
            gib=gib, backing_dir=pathlib.Path(backing_dir),
            protocol=protocol, volume_types=volume_types,
            default_type=default_type,
            status_polls_before_ready=status_polls_before_ready)
        self.identity = IdentityRegistry()
        self.keystone = FakeKeystone(self.identity, KEYSTONE_URL,
                                     self._catalog_urls)
        self._injections = Injections()
        self.cinder = FakeCinder(self.backend, self.identity,
                                 self._injections, CINDER_ROOT,
                                 KEYSTONE_URL)
        self._lock = threading.RLock()
        self._adapter = FakeAdapter(
            {KEYSTONE_HOST: self._keystone, CINDER_HOST: self.cinder.handle},
            self._lock)
        self._extra_catalog: dict[str, str] = {}

    # -- settings and records -------------------------------------------
    @property
    def gib(self) -> int:
        return self.backend.gib

    @property
    def backing_dir(self) -> pathlib.Path:
        return self.backend.backing_dir

    @property
    def protocol(self) -> str:
        return self.backend.protocol

    @property
    def status_polls_before_ready(self) -> int:
        """GETs that see a transitional status before the result."""
        return self.backend.status_polls_before_ready

    @status_polls_before_ready.setter
    def status_polls_before_ready(self, polls: int) -> None:
        self.backend.status_polls_before_ready = polls

    @property
    def default_type(self) -> str | None:
        return self.backend.default_type

    @default_type.setter
    def default_type(self, name: str | None) -> None:
        self.backend.default_type = name

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every Cinder API request, in order."""
        return self.cinder.requests

    @property
    def deleted_volume_ids(self) -> list[str]:
        return self.backend.deleted_volume_ids

    @property
    def auth_log(self) -> list[tuple[str, str | None]]:
        """(user name or application credential id, project id) per auth."""
        return self.identity.auth_log

    # -- transport ----------------------------------------------------------
    @property
    def adapter(self) -> FakeAdapter:
        """The transport to mount: ``s.mount('http://', cloud.adapter)``."""
        return self._adapter

    def http_session(self) -> Session:
        """A requests.Session with the adapter mounted."""
        session = Session()
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        return session

    def add_service(self, host: str, handler: Callable[[Incoming], Reply],
                    service_type: str, url: str) -> None:
        """Serve one more fake service (a fake Glance) on the transport
        and list it in the catalog (one URL for every project)."""
        self._adapter.add_service(host, handler)
        self._extra_catalog[service_type] = url

    @staticmethod
    def cinder_endpoint(project_id: str) -> str:
        return "%s/v3/%s" % (CINDER_ROOT, project_id)

    # -- identity -------------------------------------------------------------
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

    # -- Cinder state -----------------------------------------------------
    def add_volume_type(self, name: str, *,
                        extra_specs: dict[str, str] | None = None,
                        multiattach: bool = False, encrypted: bool = False,
                        description: str | None = None) -> str:
        specs = dict(extra_specs or {})
        if multiattach:
            specs["multiattach"] = "<is> True"
        with self._lock:
            return self.backend.add_type(name, specs, description,
                                         encrypted).id

    def set_quota(self, project_id: str, *, volumes: int = -1,
                  gigabytes: int = -1) -> None:
        """Limit a project; -1 is unlimited (Cinder's convention)."""
        with self._lock:
            self.backend.quotas[project_id] = Quota(volumes, gigabytes)

    def volume(self, volume_id: str) -> FakeVolume:
        """The live volume (KeyError once it is gone)."""
        with self._lock:
            return self.backend.volumes[volume_id]

    def volume_exists(self, volume_id: str) -> bool:
        with self._lock:
            return volume_id in self.backend.volumes

    @property
    def volumes(self) -> list[FakeVolume]:
        with self._lock:
            return list(self.backend.volumes.values())

    def attachment(self, attachment_id: str) -> FakeAttachment:
        with self._lock:
            for _, att in self.backend.attachments():
                if att.id == attachment_id:
                    return att
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
            vtype = self.backend.type_for(volume_type)
            if vtype is None:
                raise ValueError("unknown volume type %r" % volume_type)
            if len(data) > size * self.gib:
                raise ValueError("%d bytes do not fit in %d GiB of %d bytes"
                                 % (len(data), size, self.gib))
            vol = self.backend.new_volume(
                project_id=project_id, user_id=None, size=size, name=name,
                description=None, vtype=vtype,
                metadata=check_metadata(dict(metadata or {})),
                status="available", fmt=fmt, encrypted=encrypted,
                multiattach=multiattach)
            vol.bootable = bootable
            vol.created_directly = True
            if data:
                with open(vol.backing_path, "r+b") as f:
                    f.write(data)
            return vol.id

    # -- steering -------------------------------------------------------------
    def fail_next(self, method: str, path_regex: str, status: int,
                  times: int = 1, message: str | None = None) -> None:
        """Answer the next ``times`` matching requests with an HTTP error.

        ``method`` is an HTTP method or ``*``; ``path_regex`` is searched
        in the URL path (``/v3/<project>/volumes/<id>``, ``/v3/auth/tokens``).
        Nothing changes state (but for ``TIMEOUT_DONE``); the error body is
        Cinder's (Keystone's for the identity host).  ``status`` may also
        be ``injection.TIMEOUT_UNDONE`` (no answer, nothing done) or
        ``TIMEOUT_DONE`` (the request done, its answer lost): the client's
        request times out.
        """
        with self._lock:
            self._injections.add(method, path_regex, status, times, message)

    def override_connection_info(self, **changes: Any) -> None:
        """A hostile or broken Cinder: put ``changes`` into every
        attachment's connection info from now on (``None`` removes a key).
        """
        with self._lock:
            self.backend.connection_overrides.update(changes)

    def stall(self, volume_id: str, status: str, polls: int,
              then: str | None = None) -> None:
        """Show ``status`` for ``polls`` more GETs of the volume.

        Work in progress (create, extend, delete) carries on afterwards;
        a volume with none returns to its current status, or to ``then``.
        """
        with self._lock:
            vol = self.backend.volumes[volume_id]
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
            vol = self.backend.volumes[volume_id]
            vol.transition = None
            vol.status = status

    def settle(self) -> None:
        """Finish every transition at once."""
        with self._lock:
            for vol in list(self.backend.volumes.values()):
                if vol.transition is not None:
                    self.backend.finish(vol)

    # -- checks ---------------------------------------------------------------
    def leftovers(self, keep: Iterable[str] = ()) -> list[str]:
        """Volumes not in ``keep`` and attachments that remain.

        Volumes being deleted count as gone.
        """
        keep = set(keep)
        problems = []
        with self._lock:
            for vol in self.backend.volumes.values():
                if vol.id not in keep and not vol.deleting:
                    problems.append("volume %s (%s, status %s, metadata %r)"
                                    % (vol.id, vol.name, vol.status,
                                       vol.metadata))
            for vol, att in self.backend.attachments():
                problems.append("attachment %s on volume %s (%s, host %s)"
                                % (att.id, vol.id, att.attach_status,
                                   att.host_name))
        return problems

    def leaks(self) -> dict[str, list[str]]:
        """What a test should not leave: volumes made through the API that
        are not a stored image, and any attachment."""
        with self._lock:
            expected = {v.id for v in self.backend.volumes.values()
                        if v.created_directly or v.stored_image}
            found = self.leftovers(keep=expected)
        return {"volumes": [p for p in found if p.startswith("volume ")],
                "attachments": [p for p in found
                                if p.startswith("attachment ")]}

    def assert_clean(self, keep: Iterable[str] = ()) -> None:
        """Fail if a volume not in ``keep`` or any attachment remains."""
        problems = self.leftovers(keep)
        if problems:
            raise AssertionError("the cloud is not clean:\n  "
                                 + "\n  ".join(problems))

    # -- for FakeConnector ------------------------------------------------
    def volume_by_backing_path(self, path: str) -> FakeVolume | None:
        real = os.path.realpath(path)
        with self._lock:
            return next((v for v in self.backend.volumes.values()
                         if os.path.realpath(v.backing_path) == real), None)

    def volume_by_backend_name(self, name: str) -> FakeVolume | None:
        with self._lock:
            return next((v for v in self.backend.volumes.values()
                         if v.backend_name == name), None)

    def is_exported(self, volume_id: str) -> bool:
        """Has the volume an attachment that got a connection?"""
        with self._lock:
            vol = self.backend.volumes.get(volume_id)
            return vol is not None and any(
                a.connection_info for a in vol.attachments.values())

    # -- internals ------------------------------------------------------------
    def _catalog_urls(self, project_id: str) -> dict[str, str]:
        url = self.cinder_endpoint(project_id)
        return {"volumev3": url, "block-storage": url,
                **self._extra_catalog}

    def _keystone(self, req: Incoming) -> Reply:
        return answered(
            self._injections.take(req), lambda: self.keystone.handle(req),
            lambda inj: self.keystone.error_reply(inj.status, inj.message))
