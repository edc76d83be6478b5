"""The few glance-api v2 calls of the end-to-end rows, over http.client.

A client as thin as it can be, so that its own work stays small next to
glance-api's on this 2-CPU machine: an upload is ``sendfile`` from the
image's data file (in tmpfs) into the request's socket, with a
Content-Length; a download reads the response in 4 MiB pieces.  The
token is the environment's admin's, from keystoneauth (cached by its
session).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

from testing_support import stack as aio_stack

TIMEOUT = 900.0      # gunicorn's own --timeout for glance-api
CHUNK = 4 * 1024 * 1024


class GlanceError(Exception):
    """glance-api answered with an unexpected status."""

    def __init__(self, what: str, status: int, body: bytes) -> None:
        super().__init__("%s: HTTP %d: %s" % (
            what, status, body[:300].decode("utf-8", "replace")))
        self.status = status


class GlanceHttp:
    def __init__(self, env: dict[str, Any], url: str) -> None:
        self.session = aio_stack.session(env, env["admin"])
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=TIMEOUT)

    def _headers(self, extra: dict[str, str] | None = None
                 ) -> dict[str, str]:
        headers = {"X-Auth-Token": self.session.get_token() or ""}
        headers.update(extra or {})
        return headers

    def call(self, method: str, path: str, body: Any = None,
             ok: tuple[int, ...] = (200,),
             headers: dict[str, str] | None = None) -> Any:
        """A JSON call; its decoded answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        hdrs = self._headers(headers)
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn = self._connection()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        if resp.status not in ok:
            raise GlanceError("%s %s" % (method, path), resp.status, raw)
        return json.loads(raw) if raw else None

    def create(self, image_id: str, name: str) -> dict[str, Any]:
        image: dict[str, Any] = self.call(
            "POST", "/v2/images", {"id": image_id, "name": name,
                                   "disk_format": "raw",
                                   "container_format": "bare"},
            ok=(201,))
        return image

    def show(self, image_id: str) -> dict[str, Any]:
        image: dict[str, Any] = self.call("GET", "/v2/images/%s" % image_id)
        return image

    def delete(self, image_id: str) -> None:
        self.call("DELETE", "/v2/images/%s" % image_id, ok=(204, 404))

    def images(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call(
            "GET", "/v2/images?limit=1000")["images"]
        return found

    def upload(self, image_id: str, path: str, offset: int, length: int,
               store: str) -> None:
        """``PUT /v2/images/<id>/file`` of ``length`` bytes of the file
        ``path`` from ``offset``, with a Content-Length, into ``store``;
        returns when glance-api has answered (204)."""
        conn = self._connection()
        try:
            conn.putrequest("PUT", "/v2/images/%s/file" % image_id)
            for key, value in self._headers({
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                    "X-Image-Meta-Store": store}).items():
                conn.putheader(key, value)
            conn.endheaders()
            sent, problem = 0, None
            assert conn.sock is not None
            with open(path, "rb") as f:
                try:
                    sent = conn.sock.sendfile(f, offset, length)
                except OSError as exc:
                    # glance-api refused early: its answer says why.
                    problem = exc
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        if resp.status != 204:
            raise GlanceError("upload of %s" % image_id, resp.status, raw)
        if problem is not None or sent != length:
            raise GlanceError("upload of %s sent %d of %d bytes (%s)" % (
                image_id, sent, length, problem), resp.status, raw)

    @contextlib.contextmanager
    def download(self, image_id: str
                 ) -> Iterator[tuple[http.client.HTTPResponse,
                                     Iterator[bytes]]]:
        """``GET /v2/images/<id>/file``: the response and its body in
        pieces of ``CHUNK``."""
        conn = self._connection()
        try:
            conn.request("GET", "/v2/images/%s/file" % image_id,
                         headers=self._headers())
            resp = conn.getresponse()
            if resp.status != 200:
                raise GlanceError("download of %s" % image_id, resp.status,
                                  resp.read())
            yield resp, _pieces(resp)
        finally:
            conn.close()


def _pieces(resp: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        piece = resp.read(CHUNK)
        if not piece:
            return
        yield piece
