"""Cinder's URL map: method and path pattern to a handler.

Paths are relative to the project's endpoint (``/volumes/{volume_id}``);
``{name}`` matches one path segment and reaches the handler in
``call.params``.  A path no route matches, or matches with another method,
is Cinder's 404, as is a route newer than the request's microversion.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from tests.unit.fakes._http import Incoming
from tests.unit.fakes._http import Reply
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.identity import TokenInfo

Version = tuple[int, int]


@dataclasses.dataclass
class Call:
    """One Cinder API request being answered."""

    req: Incoming
    request_id: str
    path: str = ""
    """The URL path relative to the project's endpoint."""
    ctx: TokenInfo | None = None
    version: Version | None = None
    record: bool = False
    params: dict[str, str] = dataclasses.field(default_factory=dict)

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

    def element(self, key: str) -> dict[str, Any]:
        """The body's ``{key: {...}}`` object, or Cinder's 400."""
        body = self.req.body
        if not isinstance(body, dict) or not isinstance(body.get(key), dict):
            raise CinderError(
                400, "Missing required element '%s' in request body." % key)
        return dict(body[key])

    def single_action(self) -> tuple[str, Any]:
        """The action name and argument of a ``.../action`` body."""
        body = self.req.body
        if not isinstance(body, dict) or len(body) != 1:
            raise CinderError(400, "Malformed request body")
        action, info = next(iter(body.items()))
        return str(action), info


Handler = Callable[[Call], Reply]


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    since: Version = (3, 0)
    """The microversion that introduced the resource."""

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.template)


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile("^%s$" % regex)


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [(route, route.pattern) for route in routes]

    def dispatch(self, call: Call) -> Reply:
        for route, pattern in self._routes:
            match = pattern.match(call.path)
            if match is None or route.method != call.req.method:
                continue
            if not call.at_least(*route.since):
                break
            call.params = match.groupdict()
            return route.handler(call)
        raise CinderError(404)
