"""The cold gets' slow mode, without Cinder or a driver.

``python -m bench.first_read DIR [--times N] [--compact]`` writes 1 GiB
into a new file in DIR the way this driver writes a volume (4 MiB writes,
pages dropped behind the writes, fsync), then reads it cold twice: sync,
drop the page cache (and with ``--compact`` compact memory), read it
through.  It prints the seconds of each, N times, and removes the file.
Run it as root, on the stack's export (``$GSC_AIO_DIR/export``) or
another directory, with nothing else running.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

MiB = 1024 * 1024
CHUNK = 4 * MiB
SIZE = 1024 * MiB
DROP_EVERY = 8   # chunks: 32 MiB, as the driver's writeback pacing
# Free page reporting (virtio-balloon): the guest hands free pages back to
# the host, which must fault them in again when the guest next uses them.
REPORTED_KIB = "/sys/module/page_reporting/parameters/reported_kib"


def reported_kib() -> int | None:
    """KiB of free memory reported to the host so far; None if unknown."""
    try:
        with open(REPORTED_KIB) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def reported_mib_since(before: int | None) -> str:
    after = reported_kib()
    if before is None or after is None:
        return ""
    return ", %d MiB reported to the host" % ((after - before) // 1024)


def write(path: str) -> float:
    data = os.urandom(CHUNK)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        start = time.perf_counter()
        for i in range(SIZE // CHUNK):
            os.write(fd, data)
            if i % DROP_EVERY == DROP_EVERY - 1:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.fsync(fd)
        return time.perf_counter() - start
    finally:
        os.close(fd)


def cold_read(path: str, compact: bool, drop_behind: bool) -> float:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    if compact:
        with open("/proc/sys/vm/compact_memory", "w") as f:
            f.write("1\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        start = time.perf_counter()
        n = 0
        while os.read(fd, CHUNK):
            n += 1
            if drop_behind and n % DROP_EVERY == 0:
                # the pages read so far go back to the allocator, which
                # hands them to the readahead ahead of this read
                os.posix_fadvise(fd, 0, n * CHUNK, os.POSIX_FADV_DONTNEED)
        return time.perf_counter() - start
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.first_read",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("directory")
    p.add_argument("--times", type=int, default=4)
    p.add_argument("--compact", action="store_true",
                   help="compact memory after dropping the page cache")
    p.add_argument("--drop-behind", action="store_true",
                   help="drop the pages read every 32 MiB while reading")
    p.add_argument("--pause", type=float, default=0.0, metavar="S",
                   help="seconds between the write and the first read "
                        "(does the slow mode follow the write?)")
    args = p.parse_args(argv)
    path = os.path.join(args.directory, "gsc-first-read-%d.bin"
                        % os.getpid())
    for n in range(args.times):
        try:
            mark = reported_kib()
            wrote = write(path)
            print("%d: write+fsync %.2f s%s" % (
                n + 1, wrote, reported_mib_since(mark)), flush=True)
            if args.pause:
                mark = reported_kib()
                time.sleep(args.pause)
                print("%d: pause %.0f s%s" % (
                    n + 1, args.pause, reported_mib_since(mark)), flush=True)
            for which in ("first", "second"):
                mark = reported_kib()
                took = cold_read(path, args.compact, args.drop_behind)
                print("%d: %s cold read %.2f s%s" % (
                    n + 1, which, took, reported_mib_since(mark)),
                    flush=True)
        finally:
            if os.path.exists(path):
                os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
