"""Bytes read and written by the block devices under the Cinder export.

The export is a filesystem on a loop device whose image lives on the
machine's disk: both are counted (``/sys/dev/block/<dev>/stat``), the
loop device as ``export`` and the disk under it as ``disk``.
"""

from __future__ import annotations

import os

SECTOR = 512


def _sysfs(path: str) -> str | None:
    """The sysfs directory of the block device that holds ``path``."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return None
    sysdir = "/sys/dev/block/%d:%d" % (os.major(dev), os.minor(dev))
    return sysdir if os.path.exists(os.path.join(sysdir, "stat")) else None


def devices(export_dir: str) -> dict[str, str]:
    """{"export": sysfs dir, "disk": sysfs dir}, as far as they exist."""
    out: dict[str, str] = {}
    export = _sysfs(export_dir)
    if export is None:
        return out
    out["export"] = export
    try:
        with open(os.path.join(export, "loop", "backing_file"),
                  encoding="utf-8") as f:
            backing = f.read().strip()
    except OSError:
        return out
    disk = _sysfs(backing)
    if disk is not None:
        out["disk"] = disk
    return out


def counters(sysdirs: dict[str, str]) -> dict[str, int]:
    """Bytes read and written so far, per device name."""
    out: dict[str, int] = {}
    for name, sysdir in sysdirs.items():
        try:
            with open(os.path.join(sysdir, "stat"), encoding="ascii") as f:
                fields = f.read().split()
        except OSError:
            continue
        out[name + "_read_bytes"] = int(fields[2]) * SECTOR
        out[name + "_written_bytes"] = int(fields[6]) * SECTOR
    return out
