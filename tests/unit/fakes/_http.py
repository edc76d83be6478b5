"""HTTP plumbing shared by the fake services: a requests transport adapter.

The fake services see a parsed :class:`Incoming` request and answer with a
:class:`Reply`; :class:`FakeAdapter` turns that into a real
``requests.Response`` so keystoneauth1 and cinderclient run unmodified on
top of it.
"""

from __future__ import annotations

import dataclasses
import http
import io
import json
import threading
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from urllib import parse

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class MalformedBody:
    """Marks a request body that is not valid JSON."""

    def __repr__(self) -> str:
        return "<malformed JSON body>"


MALFORMED = MalformedBody()


@dataclasses.dataclass(frozen=True)
class Incoming:
    """One request as a fake service sees it."""

    method: str
    url: str
    host: str
    path: str
    query: dict[str, str]
    headers: CaseInsensitiveDict[str]
    body: Any
    """The decoded JSON body, None without a body, MALFORMED if broken."""


@dataclasses.dataclass
class Reply:
    """What a fake service answers."""

    status: int
    body: Any = None
    """JSON-serialisable, or None for an empty body."""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[Incoming], Reply]


def new_request_id() -> str:
    return "req-%s" % uuid.uuid4()


def parse_request(request: requests.PreparedRequest) -> Incoming:
    url = request.url or ""
    parts = parse.urlsplit(url)
    raw = request.body
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    body: Any = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = MALFORMED
    query = dict(parse.parse_qsl(parts.query, keep_blank_values=True))
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for key, value in request.headers.items():
        headers[key] = value if isinstance(value, str) else value.decode()
    return Incoming(method=(request.method or "GET").upper(), url=url,
                    host=(parts.hostname or "").lower(),
                    path=parse.unquote(parts.path) or "/", query=query,
                    headers=headers, body=body)


def build_response(request: requests.PreparedRequest,
                   reply: Reply) -> requests.Response:
    content = b""
    if reply.body is not None:
        content = json.dumps(reply.body).encode("utf-8")
    resp = requests.Response()
    resp.status_code = reply.status
    try:
        resp.reason = http.HTTPStatus(reply.status).phrase
    except ValueError:
        resp.reason = "Unknown"
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    if content:
        headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(content))
    headers.update(reply.headers)
    resp.headers = headers
    resp._content = content
    resp.raw = io.BytesIO(content)
    resp.encoding = "utf-8"
    resp.url = request.url or ""
    resp.request = request
    return resp


class FakeAdapter(BaseAdapter):
    """A requests transport that hands requests to in-memory services.

    Mount it on a ``requests.Session`` for ``http://`` (and ``https://``
    if wanted).  Hosts without a service fail like an unresolvable name.
    """

    def __init__(self, services: Mapping[str, Handler],
                 lock: threading.RLock) -> None:
        super().__init__()
        self._services = dict(services)
        self._lock = lock

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None]
        | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        incoming = parse_request(request)
        handler = self._services.get(incoming.host)
        if handler is None:
            raise requests.exceptions.ConnectionError(
                "Failed to resolve '%s' (no fake service there)"
                % incoming.host, request=request)
        with self._lock:
            reply = handler(incoming)
        return build_response(request, reply)

    def add_service(self, host: str, handler: Handler) -> None:
        """Serve one more fake service (e.g. a fake Glance) at ``host``."""
        with self._lock:
            self._services[host.lower()] = handler

    def close(self) -> None:
        """Nothing to release."""
