"""Waiting in the functional tests: the package's Poller, failing the test
(an AssertionError naming what and the last value seen) at the deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar

from cinderclient import exceptions as cinder_exc

from glance_store_cinder.errors import StateTimeout
from glance_store_cinder.polling import Poller

T = TypeVar("T")


def wait_until(fetch: Callable[[], T], timeout: float, what: str,
               interval: float = 0.2, done: Callable[[T], bool] = bool
               ) -> T:
    """Call ``fetch`` until ``done`` with what it returns (by default:
    until that is true); return that.  Fail after ``timeout`` seconds
    naming ``what`` and the last value seen."""
    seen: list[T] = []

    def look() -> T:
        seen[:] = [fetch()]
        return seen[0]

    poller = Poller(timeout=timeout, first_interval=interval, growth=1.0)
    try:
        return poller.wait(look, done, what)
    except StateTimeout as exc:
        raise AssertionError("%s (last: %r)" % (exc, seen[-1])) from None


def wait_for(check: Callable[[], bool], what: str,
             timeout: float = 60, interval: float = 0.2) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` at the deadline."""
    wait_until(check, timeout, what, interval)


def volume_status(cinder: Any, volume_id: str) -> str:
    """The volume's status; "gone" once Cinder no longer has it."""
    try:
        return str(cinder.volumes.get(volume_id).status)
    except cinder_exc.NotFound:
        return "gone"


def wait_volume_gone(cinder: Any, volume_id: str,
                     timeout: float = 120) -> None:
    """A deleted volume goes from "deleting" to gone; wait for that."""
    wait_until(lambda: volume_status(cinder, volume_id), timeout,
               "volume %s to be gone" % volume_id,
               done=lambda status: status == "gone")
