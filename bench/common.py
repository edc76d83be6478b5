"""Shared by the orchestrator and its worker processes."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import pathlib
import signal
import subprocess
import traceback
from collections.abc import Callable
from typing import Any

from glance_store_cinder.errors import StateTimeout
from glance_store_cinder.polling import Poller

MiB = 1024 * 1024
GiB = 1024 * MiB

REPO = pathlib.Path(__file__).resolve().parent.parent
AIO_DIR = pathlib.Path(os.environ.get("GSC_AIO_DIR",
                                      "/var/lib/glance-store-cinder-aio"))
ENV_JSON = AIO_DIR / "env.json"

OURS = "ours"
INTREE = "in-tree"
CONTENDERS = (OURS, INTREE)

# Every image id of the benchmark starts with this (a valid UUID prefix,
# so it cannot be mistaken for a uuid4 of someone else by chance): the
# volumes are "image-<id>", and cleanup finds them by it.
IMAGE_MARK = "bece0b0b-"
BASELINE_MARK = "gsc-bench-"


def load_env() -> dict[str, Any]:
    with open(ENV_JSON, encoding="utf-8") as f:
        return json.load(f)


def write_json(path: pathlib.Path | str, data: Any) -> None:
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def drop_caches() -> bool:
    """``sync`` then drop the page cache; False when not allowed (not
    root), and only synced."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except PermissionError:
        return False
    return True


def mounts_under(*bases: str | os.PathLike[str]) -> list[str]:
    prefixes = [str(b).rstrip("/") + "/" for b in bases]
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if any(point.startswith(p) for p in prefixes):
                found.append(point)
    return found


def unmount_all_under(*bases: str | os.PathLike[str]) -> list[str]:
    """Unmount whatever is mounted below ``bases``; return what was."""
    left = mounts_under(*bases)
    for point in sorted(left, key=len, reverse=True):
        # A share just released may still be busy for a moment.
        with contextlib.suppress(StateTimeout):
            Poller(timeout=2.5, first_interval=0.5, growth=1.0).wait(
                functools.partial(_unmount, point), bool, "umount %s" % point)
        with contextlib.suppress(OSError):
            os.rmdir(point)
    still = mounts_under(*bases)
    if still:
        raise RuntimeError("still mounted after umount: %s" % still)
    return left


def _unmount(point: str) -> bool:
    done = subprocess.run(["umount", point], capture_output=True)
    return done.returncode == 0 or point not in mounts_under(point)


def volume_path(env: dict[str, Any], volume_id: str,
                block: bool = False) -> str:
    """The file that backs a volume: on the NFS export, or (``block``)
    the loop-device backend's file under its own directory."""
    if block:
        return os.path.join(env["block"]["volumes_dir"],
                            "volume-%s" % volume_id, "disk")
    return os.path.join(env["nfs"]["export_dir"], "volume-%s" % volume_id)


def volume_id_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[1]


def run_process(argv: list[str], make: Callable[[dict[str, Any]], Any],
                quiet: tuple[str, ...] = ()) -> int:
    """Body of a benchmark subprocess: read its spec, log, run, report.

    SIGTERM ends it like Ctrl-C, so its cleanup runs.
    """
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    logging.basicConfig(
        filename=spec["log"], level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s")
    for noisy in ("keystoneauth", "urllib3", "oslo_privsep", "os_brick",
                  "cinderclient") + quiet:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(make(spec).run())
    except BaseException:
        traceback.print_exc()
        return 3


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("signal %d" % signum)

# The headline adds that are points of each size curve, with the slice
# each adds (bench/render.py shows them in its table; after a failed one,
# its curve does not ask the larger sizes: bench/worker.py).
CURVE_HEADLINES = {
    "curve_known": {"add_known": "known"},
    "curve_unknown": {"add_unknown_small": "unknown_small",
                      "add_unknown_large": "unknown_large"}}
