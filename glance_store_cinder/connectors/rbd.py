"""Ceph RBD volumes.

With local attach (krbd, ``do_local_attach`` in the connection data) os-brick
maps a ``/dev/rbd*`` device.  Without it, os-brick opens the image through
librbd and hands back a file-like object instead of a path.
"""

from __future__ import annotations

from typing import Any

from glance_store_cinder.connectors.base import ConnectedDevice
from glance_store_cinder.connectors.base import DeviceFamily


class RbdFamily(DeviceFamily):

    def device_from(self, info: dict[str, Any],
                    expected_size: int) -> ConnectedDevice:
        path = info.get("path")
        if isinstance(path, str):
            return super().device_from(info, expected_size)
        return ConnectedDevice(path=None, file_object=path)
