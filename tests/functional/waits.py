"""Waiting for Cinder in the functional tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from cinderclient import exceptions as cinder_exc

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str,
               interval: float = 0.2) -> T:
    """Poll ``predicate`` until it returns something true; fail after
    ``timeout`` seconds naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "%s: not within %ss (last: %r)" % (
            what, timeout, value)
        time.sleep(interval)


def wait_volume_gone(cinder: Any, volume_id: str,
                     timeout: float = 120) -> None:
    """A deleted volume goes from "deleting" to gone; wait for that."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = cinder.volumes.get(volume_id).status
        except cinder_exc.NotFound:
            return
        assert time.monotonic() < deadline, (volume_id, status)
        time.sleep(0.2)


def wait_for(check: Callable[[], bool], what: str,
             timeout: float = 60, interval: float = 0.2) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "still not so after %ds: %s" % (
            timeout, what)
        time.sleep(interval)
