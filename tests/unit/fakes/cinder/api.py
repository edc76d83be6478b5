"""The Cinder v3 API front: versions, authentication, faults, recording.

What every request goes through before its resource sees it, as in Cinder
(keystonemiddleware, then the API router):

* errors are Cinder faults (``{"itemNotFound": {"code": 404, "message":
  ...}}``) carrying ``x-openstack-request-id`` and, as Cinder sets it,
  ``x-compute-request-id`` (the header cinderclient takes ``request_id``
  from); a missing or revoked token gets keystonemiddleware's 401;
* a token used on another project's URL gets 400 "Malformed request url";
* the microversion is read from ``OpenStack-API-Version`` and echoed.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.unit.fakes._http import MALFORMED
from tests.unit.fakes._http import Incoming
from tests.unit.fakes._http import Reply
from tests.unit.fakes._http import new_request_id
from tests.unit.fakes.cinder.attachments import AttachmentsApi
from tests.unit.fakes.cinder.backend import CinderBackend
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.cinder.model import RecordedRequest
from tests.unit.fakes.cinder.routes import Call
from tests.unit.fakes.cinder.routes import RouteTable
from tests.unit.fakes.cinder.routes import Version
from tests.unit.fakes.cinder.volume_types import VolumeTypesApi
from tests.unit.fakes.cinder.volumes import VolumesApi
from tests.unit.fakes.identity import IdentityRegistry
from tests.unit.fakes.injection import Injection
from tests.unit.fakes.injection import Injections
from tests.unit.fakes.injection import answered
from tests.unit.fakes.keystone import keystone_error_body

MIN_VERSION: Version = (3, 0)
MAX_VERSION: Version = (3, 71)
API_VERSION_HEADER = "OpenStack-API-Version"

_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
                404: "itemNotFound", 405: "badMethod",
                409: "conflictingRequest", 413: "overLimit",
                415: "badMediaType", 501: "notImplemented",
                503: "serviceUnavailable"}
_PROJECT_PATH = re.compile(r"^/v3/(?P<project>[^/]+)(?P<rest>/.*)?$")


def fault(status: int, message: str) -> Reply:
    name = _FAULT_NAMES.get(status, "computeFault")
    return Reply(status, {name: {"code": status, "message": message}})


def parse_version(req: Incoming) -> Version:
    """The requested microversion (3.0 without the header)."""
    raw = req.headers.get(API_VERSION_HEADER)
    for item in (raw or "").split(","):
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


class FakeCinder:
    """Answers Cinder API requests from the backend's state."""

    def __init__(self, backend: CinderBackend, identity: IdentityRegistry,
                 injections: Injections, root: str,
                 keystone_url: str) -> None:
        self.backend = backend
        self.identity = identity
        self.injections = injections
        self.root = root
        self.keystone_url = keystone_url
        self.requests: list[RecordedRequest] = []
        self.routes = RouteTable(
            VolumesApi(backend, root).routes()
            + AttachmentsApi(backend).routes()
            + VolumeTypesApi(backend).routes())

    def handle(self, req: Incoming) -> Reply:
        call = Call(req=req, request_id=new_request_id())
        try:
            reply = self._answer(call)
        except CinderError as exc:
            reply = fault(exc.status, exc.message)
        reply.headers.setdefault("x-openstack-request-id", call.request_id)
        if call.ctx is not None:
            # Cinder's wsgi layer adds it to results and faults alike.
            reply.headers.setdefault("x-compute-request-id", call.request_id)
        if call.version is not None:
            reply.headers[API_VERSION_HEADER] = "volume %d.%d" % call.version
            reply.headers["Vary"] = API_VERSION_HEADER
        if call.record:
            self._record(call, reply)
        return reply

    def _record(self, call: Call, reply: Reply) -> None:
        req = call.req
        self.requests.append(RecordedRequest(
            method=req.method, path=call.path,
            microversion="%d.%d" % call.version if call.version else None,
            project_id=call.ctx.project_id if call.ctx else None,
            body=None if req.body is MALFORMED else copy.deepcopy(req.body),
            query=dict(req.query), status=reply.status, url_path=req.path))

    def _version_doc(self) -> dict[str, Any]:
        return {
            "id": "v3.0", "status": "CURRENT",
            "version": "%d.%d" % MAX_VERSION,
            "min_version": "%d.%d" % MIN_VERSION,
            "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": self.root + "/v3/"}],
            "media-types": [{
                "base": "application/json",
                "type": "application/vnd.openstack.volume+json;version=3"}],
        }

    def _unauthenticated(self, call: Call) -> Reply:
        # keystonemiddleware answers before Cinder sees the request.
        call.ctx = None
        call.version = None
        return Reply(401, keystone_error_body(
            401, "The request you have made requires authentication."),
            {"WWW-Authenticate": 'Keystone uri="%s"' % self.keystone_url})

    def _answer(self, call: Call) -> Reply:
        req = call.req
        path = req.path.rstrip("/")
        if path in ("", "/v3") and req.method == "GET":
            return Reply(300 if path == "" else 200,
                         {"versions": [self._version_doc()]})
        match = _PROJECT_PATH.match(req.path)
        if match is None:
            raise CinderError(404)
        call.path = (match.group("rest") or "/").rstrip("/") or "/"
        call.record = True
        call.ctx = self.identity.validate(req.headers.get("X-Auth-Token"))
        try:
            call.version = parse_version(req)
        except CinderError:
            if call.ctx is not None:
                raise
        inj = self.injections.take(req)
        if inj is not None and inj.status == 401:
            return self._unauthenticated(call)
        return answered(inj, lambda: self._dispatch(call, match),
                        self._injected_error)

    def _dispatch(self, call: Call, match: re.Match[str]) -> Reply:
        if call.ctx is None:
            return self._unauthenticated(call)
        self._check_request(call, match.group("project"))
        return self.routes.dispatch(call)

    @staticmethod
    def _injected_error(inj: Injection) -> Reply:
        raise CinderError(inj.status, inj.message)

    @staticmethod
    def _check_request(call: Call, url_project: str) -> None:
        if call.token.project_id is None:
            raise CinderError(403, "Policy doesn't allow this operation "
                              "without a project-scoped token.")
        if url_project != call.project_id:
            raise CinderError(400, "Malformed request url")
        if call.req.body is MALFORMED:
            raise CinderError(400, "Malformed request body")
