"""Waiting for Cinder in the functional tests."""

from __future__ import annotations

import time
from typing import Any

from cinderclient import exceptions as cinder_exc


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
