"""Transports for the store's HTTP sessions that stand between it and
the fake cloud: they refuse, watch or edit requests on their way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import BaseAdapter

from tests.unit.fakes import FakeCloud


class Relay(BaseAdapter):
    """A transport that hands every request to ``send``."""

    def __init__(self, send: Callable[..., requests.Response]) -> None:
        super().__init__()
        self._send = send

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        return self._send(request, *args, **kwargs)

    def close(self) -> None:
        """Nothing to release."""


def relay_session(send: Callable[..., requests.Response]
                  ) -> requests.Session:
    """A session whose requests all go to ``send`` (and never out)."""
    session = requests.Session()
    session.trust_env = False
    adapter = Relay(send)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Outage:
    """A transport that refuses connections while ``down``.

    ``session`` is an ``http_session_factory``; when up, requests go to the
    fake cloud.  ``tap`` (if set) sees every request before it is sent.
    """

    def __init__(self, cloud: FakeCloud, down: bool = True) -> None:
        self.cloud = cloud
        self.down = down
        self.refused = 0
        self.tap: Callable[[requests.PreparedRequest], None] | None = None

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        if self.down:
            self.refused += 1
            raise requests.exceptions.ConnectionError(
                "Connection refused", request=request)
        if self.tap is not None:
            self.tap(request)
        return self.cloud.adapter.send(request, *args, **kwargs)

    def session(self) -> requests.Session:
        return relay_session(self.send)
