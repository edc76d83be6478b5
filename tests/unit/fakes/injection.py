"""Injected HTTP failures, shared by the fake Keystone and Cinder."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import TypeVar

import requests

from tests.unit.fakes._http import Incoming

T = TypeVar("T")

# Statuses that are no answer at all: the client's request times out,
# before Cinder does anything, or after it did what was asked (the answer
# lost on the way back).
TIMEOUT_UNDONE = -1
TIMEOUT_DONE = -2


@dataclasses.dataclass
class Injection:
    method: str
    """An HTTP method or ``*``."""
    pattern: re.Pattern[str]
    status: int
    times: int
    message: str


class Injections:
    def __init__(self) -> None:
        self._pending: list[Injection] = []

    def add(self, method: str, path_regex: str, status: int, times: int,
            message: str | None) -> None:
        self._pending.append(Injection(
            method.upper(), re.compile(path_regex), status, times,
            message or ("Injected failure (HTTP %d)" % status if status > 0
                        else "Injected timeout")))

    def take(self, req: Incoming) -> Injection | None:
        """The first injection matching the request, used up once."""
        for inj in self._pending:
            if (inj.method in ("*", req.method)
                    and inj.pattern.search(req.path)):
                inj.times -= 1
                if inj.times <= 0:
                    self._pending.remove(inj)
                return inj
        return None


def answered(inj: Injection | None, handle: Callable[[], T],
             fail: Callable[[Injection], T]) -> T:
    """The answer to a request as its injection says: ``handle``'s (none
    injected), ``fail``'s (an HTTP status), or a client timeout, after
    ``handle`` for ``TIMEOUT_DONE``."""
    if inj is None:
        return handle()
    if inj.status == TIMEOUT_UNDONE:
        raise requests.exceptions.ReadTimeout(inj.message)
    if inj.status == TIMEOUT_DONE:
        handle()
        raise requests.exceptions.ReadTimeout(inj.message)
    return fail(inj)
