"""Image data: generated once, before anything is timed, kept in tmpfs.

Two files under the data directory (``/dev/shm/gsc-bench-data`` unless
``--data-dir``):

``random.bin``
    The image data of testing_support.imagedata (what the functional tests
    and the demo send too): random-looking, incompressible, different at
    every offset (so an image written at the wrong offset, or into another
    image's volume, never compares equal), and reproducible, so the
    expected digests can be cached in ``manifest.json`` next to it.
``sparse.bin``
    A raw disk image: 10 % of its 4 MiB blocks hold random data (a run of
    blocks at the start, like a boot sector and root filesystem, then runs
    of one to three blocks spread over the disk), the rest are holes that
    read as zeros.

Images are *slices* of these files (offset, length) handed to the drivers
through :class:`SourceReader`, which copies what it is asked for, like the
request body glance-api passes to a store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from typing import Any

from bench.common import GiB
from bench.common import MiB
from bench.common import write_json
from glance_store_cinder.transfer.drop_behind import DropBehind
from testing_support.imagedata import write_random

VERSION = 2
BLOCK = 4 * MiB
_GEN_STEP = 16 * MiB
# Where in the data the sparse file's extents start reading it, one after
# the other: as the files of VERSION 2 hold it.
_SPARSE_DATA_START = 16


@dataclasses.dataclass(frozen=True)
class Slice:
    name: str
    file: str  # "random" or "sparse"
    offset: int
    length: int

    def key(self) -> str:
        return "%s:%d:%d" % (self.file, self.offset, self.length)


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes and counts of one benchmark run."""

    name: str
    rounds: int
    known: int           # workload 1 (and 4: the image read back)
    unknown_small: int   # workload 2, first half
    unknown_large: int   # workload 2, second half
    small: int           # workload 3
    small_count: int
    concurrent: int      # workload 5
    concurrency: int
    sparse: int          # workload 6
    cinder_cycles: int   # baseline: create/attach/detach cycles per round
    secondary_rounds: int  # rounds that run the rows that are not headline
    reads: int           # gets of the same image(s) per round (workload 4, 5)
    # The size curve: known- and unknown-size adds of each size (the
    # headline adds are its other points), in the first ``curve_rounds``.
    curve: tuple[int, ...] = ()
    curve_rounds: int = 0
    # The sizes of the known-size curve that the unknown-size one leaves
    # to the headline unknown-size adds (1 GiB, and the large one that is
    # not a whole number of GiB).
    curve_known_only: tuple[int, ...] = ()
    # The hot-image rows (bench/hot.py), in the first ``hot_rounds``: each
    # is many readers at once, and the in-tree driver's refused readers
    # wait before they fail, so a round of them is long.  (3 for runs
    # recorded before this field: they ran the hot rows with the
    # secondary ones.)
    hot_rounds: int = 3
    # The end-to-end downloads per round (2 for runs recorded before this
    # field: they did ``reads`` of them).
    e2e_reads: int = 2

    def curve_sizes(self, kind: str) -> tuple[int, ...]:
        """The sizes of the ``curve_known`` or ``curve_unknown`` curve."""
        if kind == "curve_unknown":
            return tuple(n for n in self.curve
                         if n not in self.curve_known_only)
        return self.curve

    def slices(self) -> dict[str, Slice]:
        out = {
            "known": Slice("known", "random", 0, self.known),
            "unknown_small": Slice("unknown_small", "random", 0,
                                   self.unknown_small),
            "unknown_large": Slice("unknown_large", "random", 0,
                                   self.unknown_large),
            "sparse": Slice("sparse", "sparse", 0, self.sparse),
        }
        for n in self.curve:
            name = curve_slice(n)
            out[name] = Slice(name, "random", 0, n)
        pos = self.known
        for k in range(self.concurrency):
            name = "concurrent-%d" % k
            out[name] = Slice(name, "random", pos, self.concurrent)
            pos += self.concurrent
        for i in range(self.small_count):
            name = "small-%d" % i
            out[name] = Slice(name, "random", pos, self.small)
            pos += self.small
        return out

    def file_sizes(self) -> dict[str, int]:
        slices = self.slices().values()
        return {
            "random": max(s.offset + s.length for s in slices
                          if s.file == "random"),
            "sparse": self.sparse,
        }


# The large unknown-size image is not a whole number of GiB: the volume
# is larger than the image, and the size must still come out exact.
FULL = Profile(name="full", rounds=5, known=GiB, unknown_small=GiB,
               unknown_large=3 * GiB // 2, small=MiB, small_count=3,
               concurrent=256 * MiB, concurrency=4, sparse=GiB,
               cinder_cycles=3, secondary_rounds=3, reads=2,
               curve=(64 * MiB, 256 * MiB, 5 * GiB // 2, 4 * GiB,
                      8 * GiB),
               curve_known_only=(5 * GiB // 2,),
               curve_rounds=1, hot_rounds=1, e2e_reads=1)
QUICK = Profile(name="quick", rounds=1, known=256 * MiB,
                unknown_small=256 * MiB, unknown_large=GiB + 256 * MiB,
                small=MiB, small_count=5, concurrent=64 * MiB,
                concurrency=4, sparse=256 * MiB, cinder_cycles=3,
                secondary_rounds=1, reads=1, curve=(64 * MiB,),
                curve_rounds=1, hot_rounds=1, e2e_reads=1)


def curve_slice(size: int) -> str:
    return "curve-%d" % size


def sparse_layout(size: int) -> list[tuple[int, int]]:
    """Data extents (offset, length) of the sparse image: 10 % of blocks."""
    blocks = size // BLOCK
    wanted = max(1, round(blocks * 0.10))
    head = max(1, wanted * 3 // 10)
    extents = [(0, head)]
    left = wanted - head
    # Runs of 1, 2, 3 blocks, evenly spread over the rest of the disk.
    runs: list[int] = []
    while left > 0:
        n = min(left, 1 + len(runs) % 3)
        runs.append(n)
        left -= n
    if runs:
        stride = (blocks - head) // len(runs)
        for i, n in enumerate(runs):
            start = head + i * stride + (stride - n) // 2
            extents.append((start, n))
    return [(b * BLOCK, n * BLOCK) for b, n in extents]


def _generate_random(path: str, size: int) -> None:
    with open(path + ".tmp", "wb") as f:
        write_random(f, size)
    os.replace(path + ".tmp", path)


def _generate_sparse(path: str, size: int) -> None:
    data_at = _SPARSE_DATA_START
    with open(path + ".tmp", "wb") as f:
        f.truncate(size)
        for offset, length in sparse_layout(size):
            f.seek(offset)
            write_random(f, length, offset=data_at)
            data_at += length
    os.replace(path + ".tmp", path)


class DataSet:
    """The data files of a profile, and the digests of its slices."""

    def __init__(self, directory: str, profile: Profile) -> None:
        self.directory = directory
        self.profile = profile
        self.slices = profile.slices()
        self.manifest_path = os.path.join(directory, "manifest.json")
        self.digests: dict[str, dict[str, str]] = {}

    def path(self, file: str) -> str:
        return os.path.join(self.directory, "%s.bin" % file)

    def prepare(self, log: Any = print) -> dict[str, float]:
        """Generate what is missing; compute missing digests (untimed)."""
        os.makedirs(self.directory, exist_ok=True)
        manifest: dict[str, Any] = {}
        try:
            with open(self.manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            pass
        if manifest.get("version") != VERSION:
            manifest = {"version": VERSION, "files": {}, "digests": {}}
        timings = {}
        for file, size in self.profile.file_sizes().items():
            path = self.path(file)
            have = manifest["files"].get(file)
            if (have != size or not os.path.exists(path)
                    or os.path.getsize(path) != size):
                start = time.perf_counter()
                log("bench: generating %s (%d MiB)" % (path, size // MiB))
                (_generate_random if file == "random"
                 else _generate_sparse)(path, size)
                manifest["files"][file] = size
                manifest["digests"] = {
                    k: v for k, v in manifest["digests"].items()
                    if not k.startswith(file + ":")}
                timings["generate_" + file] = time.perf_counter() - start
        missing = list({s.key(): s for s in self.slices.values()
                        if s.key() not in manifest["digests"]}.values())
        if missing:
            start = time.perf_counter()
            log("bench: computing md5/sha512 of %d image(s), %d MiB"
                % (len(missing), sum(s.length for s in missing) // MiB))
            manifest["digests"].update(self._digests(missing))
            timings["digests"] = time.perf_counter() - start
        write_json(self.manifest_path, manifest)
        self.digests = {name: manifest["digests"][s.key()]
                        for name, s in self.slices.items()}
        return timings

    def _digests(self, slices: list[Slice]) -> dict[str, dict[str, str]]:
        """md5 and sha512 of each slice, one thread per algorithm."""
        out: dict[str, dict[str, str]] = {s.key(): {} for s in slices}

        def run(algorithm: str) -> None:
            for file in {s.file for s in slices}:
                mine = [s for s in slices if s.file == file]
                _hash_slices(self.path(file), mine, algorithm, out)

        threads = [threading.Thread(target=run, args=(a,))
                   for a in ("md5", "sha512")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def data_bytes(self, name: str) -> int:
        """Bytes of the slice that are not in an all-zero 4 MiB block."""
        s = self.slices[name]
        if s.file != "sparse":
            return s.length
        return sum(n for _, n in sparse_layout(s.length))


def _hash_slices(path: str, slices: list[Slice], algorithm: str,
                 out: dict[str, dict[str, str]]) -> None:
    """Put each slice's digest in ``out[slice.key()][algorithm]``.

    Slices starting at one offset share a running hash, copied at each of
    their ends.
    """
    by_start: dict[int, list[Slice]] = {}
    for s in sorted(slices, key=lambda s: (s.offset, -s.length)):
        by_start.setdefault(s.offset, []).append(s)
    fd = os.open(path, os.O_RDONLY)
    try:
        for start, group in by_start.items():
            h = new_hash(algorithm)
            pos = start
            for end in sorted({s.offset + s.length for s in group}):
                while pos < end:
                    n = min(_GEN_STEP, end - pos)
                    h.update(os.pread(fd, n, pos))
                    pos += n
                for s in group:
                    if s.offset + s.length == end:
                        out[s.key()][algorithm] = h.copy().hexdigest()
    finally:
        os.close(fd)
def from_spec(spec: dict[str, Any]) -> tuple[Profile, DataSet]:
    """The profile a subprocess's spec names, and its data, ready."""
    profile = QUICK if spec["profile"] == "quick" else FULL
    data = DataSet(spec["data_dir"], profile)
    data.prepare(log=lambda *_: None)
    return profile, data


def new_hash(algorithm: str) -> Any:
    if algorithm == "md5":
        return hashlib.md5(usedforsecurity=False)
    return hashlib.new(algorithm)


class SourceReader:
    """A file-like image: ``read(n)`` copies the next ``n`` bytes."""

    def __init__(self, path: str, offset: int, length: int) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._start = offset
        self._end = offset + length
        self._pos = offset

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._pos
        if n is None or n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


class Expected:
    """Compares bytes read back with a slice, chunk by chunk."""

    def __init__(self, path: str, offset: int, length: int) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.offset = offset
        self.length = length

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Expected:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def matches(self, position: int, chunk: bytes) -> bool:
        """Whether ``chunk`` is the slice's bytes at ``position``."""
        if position + len(chunk) > self.length:
            return False
        return os.pread(self._fd, len(chunk),
                        self.offset + position) == chunk

    def compare_file(self, path: str, step: int = 16 * MiB) -> str | None:
        """Compare a whole file's head with the slice; None when equal.

        What was read is dropped behind the reader: a check of a cold
        volume otherwise reads into fresh pages, which on a host that
        hands free memory back to its hypervisor is several times slower
        (the limits' two reads; transfer/drop_behind.py), and the checks
        are much of the run's time outside the timed calls.
        """
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size < self.length:
                return "%s has %d bytes, the image %d" % (path, size,
                                                          self.length)
            dropper = DropBehind(fd)
            pos = 0
            while pos < self.length:
                n = min(step, self.length - pos)
                got = os.pread(fd, n, pos)
                dropper.read(pos, len(got))
                if not self.matches(pos, got):
                    problem = first_difference(self, pos, got)
                    bad, zeros = difference(self, pos, got)
                    if zeros:
                        end = _zeros_end(fd, bad, self.length)
                        problem += " up to offset %d (%.1f MiB)" % (
                            end, end / MiB)
                    return problem
                pos += n
            return None
        finally:
            os.close(fd)


def _zeros_end(fd: int, pos: int, limit: int) -> int:
    """Where the run of zero bytes containing the first zero at or after
    ``pos`` (block-aligned scan) ends, at most ``limit``."""
    step = BLOCK
    zeros = bytes(step)
    while pos < limit:
        got = os.pread(fd, min(step, limit - pos), pos)
        if got == zeros[:len(got)]:
            pos += len(got)
            continue
        for i in range(0, len(got), 4096):
            piece = got[i:i + 4096]
            if piece.count(0) != len(piece):
                return pos + i
        pos += len(got)
    return limit


def difference(expected: Expected, pos: int, got: bytes
               ) -> tuple[int, bool]:
    """(offset of the first differing 4 KiB block, whether it is zeros)."""
    want = os.pread(expected._fd, len(got), expected.offset + pos)
    for i in range(0, len(got), 4096):
        piece = got[i:i + 4096]
        if piece != want[i:i + 4096]:
            return pos + i, piece.count(0) == len(piece)
    return pos + min(len(got), len(want)), False


def first_difference(expected: Expected, pos: int, got: bytes) -> str:
    bad, zeros = difference(expected, pos, got)
    if bad >= pos + len(got):
        return "short read at offset %d" % bad
    return ("bytes differ at offset %d (%.1f MiB)%s"
            % (bad, bad / MiB, ", read back zeros" if zeros else ""))

