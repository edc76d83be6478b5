"""PowerFlex (ScaleIO) volumes.

The device node can appear before the kernel knows the volume's real size;
writing then hits the end of a device that is too small.  Wait until the
device shows at least the volume's size.
"""

from __future__ import annotations

import os
from typing import Any

from glance_store_cinder.connectors.base import ConnectedDevice
from glance_store_cinder.connectors.base import DeviceFamily


def device_size(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


class ScaleIOFamily(DeviceFamily):

    def device_from(self, volume_id: str, info: dict[str, Any],
                    expected_size: int) -> ConnectedDevice:
        device = super().device_from(volume_id, info, expected_size)
        # For the type checker: the generic device_from raised unless
        # os-brick gave a path; without -O this is never false either.
        assert device.path is not None  # nosec B101
        path = device.path
        self.context.poller.wait(
            lambda: device_size(path),
            lambda size: size >= expected_size,
            "PowerFlex device %s to show %d bytes" % (path, expected_size))
        return device
