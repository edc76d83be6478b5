"""Connecting an attached volume to this host, one module per family.

Cinder says how a volume is exported (``driver_volume_type``); os-brick
knows how to connect it.  A family adds what the store needs on top:
refusing exports it cannot write safely, sharing mounts between workers,
waiting for a device to show its real size.
"""

from __future__ import annotations

from glance_store_cinder.connectors.base import ConnectedDevice
from glance_store_cinder.connectors.base import ConnectorFactory
from glance_store_cinder.connectors.base import DeviceFamily
from glance_store_cinder.connectors.base import FamilyContext
from glance_store_cinder.connectors.block import BlockFamily
from glance_store_cinder.connectors.nfs import NfsFamily
from glance_store_cinder.connectors.rbd import RbdFamily
from glance_store_cinder.connectors.scaleio import ScaleIOFamily

__all__ = [
    "ConnectedDevice",
    "ConnectorFactory",
    "DeviceFamily",
    "FamilyContext",
    "family_for",
]

_FAMILIES: dict[str, type[DeviceFamily]] = {
    "nfs": NfsFamily,
    "rbd": RbdFamily,
    "scaleio": ScaleIOFamily,
}


def family_for(protocol: str, context: FamilyContext) -> DeviceFamily:
    """The family handling ``protocol`` (iSCSI, FC, local... by default)."""
    cls = _FAMILIES.get(protocol.lower(), BlockFamily)
    return cls(protocol, context)
