"""How a volume grows when the image size is not known in advance.

An upload of unknown size starts on a 1 GiB volume.  When the next chunk
does not fit, the volume is extended to::

    floor((written_so_far + max(1 GiB, written_so_far / 4)) / 1 GiB) GiB

that is, by a quarter of what has been written, and by at least 1 GiB.
Growth is geometric (1.25x), so a 100 GiB image needs about 20 extends
instead of 99, and the final volume never exceeds the image by more than
max(25 %, 1 GiB): the last extend happened when the image was already
larger than ``written_so_far``.
"""

from __future__ import annotations

from oslo_utils import units


def initial_size_gib(image_size: int, gib: int = units.Gi) -> int:
    """Volume size for an image of ``image_size`` bytes (0: unknown)."""
    return max(1, -(-image_size // gib))


def grown_size_gib(written: int, needed: int, current_gib: int,
                   gib: int = units.Gi) -> int:
    """New size of a volume holding ``written`` bytes and needing ``needed``.

    :param needed: bytes the volume must hold after the extend (at least
        ``written`` plus the chunk waiting).
    """
    target = (written + max(gib, written // 4)) // gib
    target = max(target, -(-needed // gib), current_gib + 1)
    return target
