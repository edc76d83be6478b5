"""iSCSI, Fibre Channel, NVMe-oF, local and other block-device exports.

os-brick does all the work; the generic family is enough.
"""

from glance_store_cinder.connectors.base import DeviceFamily


class BlockFamily(DeviceFamily):
    """Volumes that appear as a block device on this host."""
