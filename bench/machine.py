"""What the run ran on: CPUs, memory, kernel, versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

from bench.common import REPO
from bench.common import GiB


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _field(text: str, prefix: str, sep: str) -> str:
    for line in text.splitlines():
        if line.startswith(prefix):
            return line.split(sep, 1)[1].strip()
    return ""


def machine() -> dict[str, Any]:
    mem = _field(_read("/proc/meminfo"), "MemTotal:", ":").split()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _field(_read("/proc/cpuinfo"), "model name", ":"),
        "memory_gib": round(int(mem[0]) * 1024 / GiB, 1) if mem else 0.0,
        "kernel": platform.release(),
        "os": _field(_read("/etc/os-release"), "PRETTY_NAME=",
                     "=").strip('"'),
        "python": platform.python_version(),
    }


def versions(env: dict[str, Any]) -> dict[str, Any]:
    from importlib import metadata
    out: dict[str, Any] = {}
    for dist in ("glance-store", "glance-store-cinder", "os-brick",
                 "python-cinderclient"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse",
                               "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain",
             "glance_store_cinder"], capture_output=True,
            text=True).stdout.strip()
        out["glance_store_cinder_commit"] = head + ("+dirty" if dirty
                                                    else "")
    except OSError:
        pass
    out["cinder"] = env.get("versions", {}).get("cinder")
    return out


def loadavg() -> list[float]:
    return [float(x) for x in _read("/proc/loadavg").split()[:3]]
