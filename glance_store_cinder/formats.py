"""Which disk format an image's first bytes show (oslo.utils inspector)."""

from __future__ import annotations

import io
import logging

from oslo_utils.imageutils import format_inspector

LOG = logging.getLogger(__name__)


def detected_formats(head: bytes) -> set[str]:
    """Format names matching ``head``; ``{'raw'}`` when none is specific."""
    wrapper = format_inspector.InspectWrapper(io.BytesIO(head))
    try:
        while wrapper.read(64 * 1024):
            pass
    finally:
        wrapper.close()
    try:
        matches = wrapper.formats or []
    except format_inspector.ImageFormatError as exc:
        LOG.debug("No disk format recognised: %s", exc)
        return set()
    found = {str(m) for m in matches}
    if found & _RAW_DISKS:
        # A raw disk with a partition table is still Glance's "raw".
        found.add("raw")
    return found


# Inspector names that are raw disk images as far as Glance is concerned.
_RAW_DISKS = frozenset({"gpt"})
