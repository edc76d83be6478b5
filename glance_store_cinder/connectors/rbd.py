"""Ceph RBD volumes.

With local attach (krbd, ``do_local_attach`` in the connection data) os-brick
maps a ``/dev/rbd*`` device.  Without it, os-brick opens the image through
librbd and hands back a file-like object instead of a path.
"""

from __future__ import annotations

from typing import Any

from glance_store_cinder.connectors.base import ConnectedDevice
from glance_store_cinder.connectors.base import DeviceFamily
from glance_store_cinder.connectors.base import UnsupportedVolume


def _rbd_handle_type() -> type:
    from os_brick.initiator import linuxrbd
    return linuxrbd.RBDVolumeIOWrapper


class RbdFamily(DeviceFamily):

    def device_from(self, volume_id: str, info: dict[str, Any],
                    expected_size: int) -> ConnectedDevice:
        path = info.get("path")
        if isinstance(path, str):
            return super().device_from(volume_id, info, expected_size)
        # Anything but os-brick's librbd wrapper (a path-like object, a
        # handle of another kind) is not what os-brick opened for us.
        if not isinstance(path, _rbd_handle_type()):
            raise UnsupportedVolume(
                "Volume %s: os-brick returned %r for an RBD volume, "
                "neither a device path nor its librbd handle; it is not "
                "read or written" % (volume_id, type(path).__name__))
        return ConnectedDevice(path=None, file_object=path)
