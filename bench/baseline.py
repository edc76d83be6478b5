"""The limits, one round: ``python -m bench.baseline SPEC.json``.

hashing
    md5 and sha512 of the known-size image's bytes, already in memory in
    4 MiB chunks, each on one core (with the CPU seconds of the thread),
    one after the other ("serial"); in the rounds of the secondary rows
    also in two threads at once ("overlapped").  No driver can add faster
    than the slower of the two.
device
    The bytes, in memory, written in 4 MiB chunks into a pre-sized file
    on the Cinder export and fsynced, starting writeback every 32 MiB
    (``device_write_paced``, with the whole machine's CPU seconds: the
    kernel's write path, loop device included), and the same with
    O_DIRECT from one aligned buffer (``device_write_direct``, past the
    page cache); then, page cache dropped
    before each, that file read back with 16 MiB reads, plainly and
    dropping what was read behind the reader (``device_read``,
    ``device_read_drop_behind``).  In the rounds of the secondary rows
    also: the bytes copied into a fresh file with 16 MiB writes and one
    fsync (``device_write``), and the pre-sized write without writeback
    started (``device_write_presized``).  What the storage under the
    volumes can do: the fastest write and the fastest read are the
    floors'.
hash + write
    The reference implementation, in the rounds of the secondary rows:
    md5 and sha512 in two threads while the main thread writes the same
    4 MiB chunks into a pre-sized file on the export, then fsync.  A
    straightforward driver without Cinder, not a limit.
cinder
    See :mod:`bench.cinder_cycle`; one untimed cycle first (privsep
    start).
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import sys
import threading
import time
from typing import Any

from bench import cleanup
from bench import common
from bench import cpu
from bench import disks
from bench.cinder_cycle import CinderCycle
from bench.common import MiB
from bench.common import drop_caches
from bench.common import write_json
from bench.cpu import Meter
from bench.data import from_spec
from bench.data import new_hash
from glance_store_cinder.transfer.drop_behind import DropBehind
from glance_store_cinder.transfer.writeback import WritebackPacer

LOG = logging.getLogger("bench.baseline")

CHUNK = 4 * MiB
DEVICE_IO = 16 * MiB
ALGORITHMS = ("md5", "sha512")


def _write_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _write_each(fd: int, chunks: list[bytes], pacer: WritebackPacer | None,
                aligned: mmap.mmap | None) -> None:
    """The chunks one after the other; through ``aligned`` (one page-
    aligned buffer, for an O_DIRECT ``fd``) when given."""
    for i, c in enumerate(chunks):
        if aligned is None:
            _write_all(fd, c, i * CHUNK)
        else:
            aligned[:len(c)] = c
            with memoryview(aligned) as view:
                _write_all(fd, view[:len(c)], i * CHUNK)
        if pacer is not None:
            pacer.wrote(i * CHUNK, len(c))


class Baseline:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.env = spec["env"]
        self.round = spec["round"]
        self.profile, self.data = from_spec(spec)
        # The comparison lines (overlapped hashes, the other writes, the
        # reference implementation) are measured with the secondary rows;
        # the floors' parts in every round.
        self.comparing = self.round < self.profile.secondary_rounds
        self.samples: list[dict[str, Any]] = []
        self.known = self.data.slices["known"]
        self.want = self.data.digests["known"]
        self.digests: dict[str, str] = {}  # what the hash threads got
        self._loaded: list[bytes] = []
        self._background: float | None = None
        self.devices = disks.devices(self.env["nfs"]["export_dir"])

    def record(self, name: str, seconds: float | None, nbytes: int,
               ok: bool = True, error: str | None = None,
               cpu_s: dict[str, float] | None = None,
               meter: Meter | None = None,
               outage: bool = False, extra: dict[str, Any] | None = None
               ) -> None:
        sample: dict[str, Any] = {
            "workload": name, "contender": "limit", "round": self.round,
            "seconds": seconds, "bytes": nbytes, "ok": ok, "error": error}
        if outage:
            sample["outage"] = True
        if meter is not None:
            cpu_s, sample["io"] = meter.seconds, meter.io
        if cpu_s:
            sample["cpu"] = cpu_s
        if extra:
            sample["extra"] = extra
        self.samples.append(sample)
        LOG.info("%s round %d: %s", name, self.round,
                 "%.3fs" % seconds if seconds is not None else error)
        write_json(self.spec["out"], {"samples": self.samples})

    def _chunks(self) -> list[bytes]:
        """The image in memory, read once per process (every part after
        the first drops the page cache: reading it again would be a cold
        read of the data file each time)."""
        if self._loaded:
            return self._loaded
        s = self.known
        fd = os.open(self.data.path(s.file), os.O_RDONLY)
        try:
            self._loaded = [
                os.pread(fd, min(CHUNK, s.length - pos), s.offset + pos)
                for pos in range(0, s.length, CHUNK)]
        finally:
            os.close(fd)
        return self._loaded

    def _digest(self, chunks: list[bytes], algorithm: str) -> None:
        h = new_hash(algorithm)
        for c in chunks:
            h.update(c)
        self.digests[algorithm] = str(h.hexdigest())

    def _check_digests(self) -> None:
        for algorithm in ALGORITHMS:
            if self.digests.pop(algorithm, None) != self.want[algorithm]:
                raise RuntimeError("%s of the image is wrong" % algorithm)

    # -- hashing ----------------------------------------------------------
    def hashing(self) -> None:
        chunks = self._chunks()
        n = self.known.length
        serial = 0.0
        for algorithm in ALGORITHMS:
            cpu0, start = time.thread_time(), time.perf_counter()
            self._digest(chunks, algorithm)
            seconds = time.perf_counter() - start
            if self.digests[algorithm] != self.want[algorithm]:
                raise RuntimeError("%s of the image is wrong" % algorithm)
            self.record("hash_" + algorithm, seconds, n,
                        cpu_s={"thread_s": time.thread_time() - cpu0})
            serial += seconds
        self.record("hash_serial", serial, n)
        if not self.comparing:
            return
        threads = [threading.Thread(target=self._digest, args=(chunks, a))
                   for a in ALGORITHMS]
        meter = Meter(self.devices)
        with meter.measure():
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - start
        self._check_digests()
        self.record("hash_overlapped", seconds, n, meter=meter)

    # -- device -----------------------------------------------------------
    def background(self) -> float:
        """What the others use of the machine (busy CPU seconds per
        second), measured once per process: each look sleeps a second."""
        if self._background is None:
            self._background = cpu.background_rate()
        return self._background

    def _scratch(self, what: str) -> str:
        return os.path.join(self.env["nfs"]["export_dir"], "%s%s-%d.tmp" % (
            self.spec["name_prefix"], what, self.round))

    def device(self) -> None:
        # The floor's parts, in every round: the faster ways in (writeback
        # started as it writes; O_DIRECT) and the two ways of reading back.
        paced = self._scratch("paced")
        try:
            self.presized_write(paced, paced=True, keep=True)
            self._cold_read(paced, "device_read")
            self._cold_read(paced, "device_read_drop_behind",
                            drop_behind=True)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(paced)
        if self.comparing:
            self._comparing_writes()
        # Last: on an export that refuses O_DIRECT this part fails after
        # the other writes are measured (and recorded).
        self.presized_write(self._scratch("direct"), direct=True)

    def _comparing_writes(self) -> None:
        # A plain copy, the pre-sized write without writeback started, and
        # the reference implementation.
        copy = self._scratch("device")
        try:
            self._device_write(copy)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(copy)
        self.presized_write(self._scratch("presized"))
        self.hash_and_write(self._scratch("hash-write"))

    def _cold_read(self, path: str, name: str,
                   drop_behind: bool = False) -> None:
        """Read ``path`` with 16 MiB reads, page cache dropped first; with
        ``drop_behind``, dropping what was read a window behind (a host
        that hands free memory back to its hypervisor faults fresh pages
        in slowly, reused ones quickly: transfer/drop_behind.py)."""
        dropped = drop_caches()
        fd = os.open(path, os.O_RDONLY)
        meter = Meter(self.devices)
        try:
            dropper = DropBehind(fd) if drop_behind else None
            with meter.measure():
                start = time.perf_counter()
                got = 0
                while buf := os.read(fd, DEVICE_IO):
                    if dropper is not None:
                        dropper.read(got, len(buf))
                    got += len(buf)
                seconds = time.perf_counter() - start
        finally:
            os.close(fd)
        if got != self.known.length:
            raise RuntimeError("read back %d bytes of %d"
                               % (got, self.known.length))
        self.record(name, seconds, got, meter=meter,
                    extra={"cache_dropped": dropped})

    def _device_write(self, path: str) -> None:
        s = self.known
        dropped = drop_caches()
        background = self.background()
        src = os.open(self.data.path(s.file), os.O_RDONLY)
        out = -1
        meter = Meter(self.devices)
        try:
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with meter.measure():
                start = time.perf_counter()
                for pos in range(0, s.length, DEVICE_IO):
                    _write_all(out, os.pread(
                        src, min(DEVICE_IO, s.length - pos),
                        s.offset + pos), pos)
                os.fsync(out)
                seconds = time.perf_counter() - start
        finally:
            os.close(src)
            if out >= 0:
                os.close(out)
        meter.seconds["background_busy_per_s"] = background
        meter.seconds["write_busy_s"] = cpu.own_share(meter.seconds,
                                                      seconds, background)
        self.record("device_write", seconds, s.length, meter=meter,
                    extra={"cache_dropped": dropped})

    def _write_chunks(self, path: str, chunks: list[bytes],
                      hashing: bool, paced: bool = False,
                      keep: bool = False, direct: bool = False
                      ) -> tuple[float, Meter, bool]:
        """Write ``chunks`` into a pre-sized (sparse, like a Cinder NFS
        volume) file, then fsync; with ``hashing``, md5 and sha512 of them
        in two threads meanwhile; with ``paced``, writeback started every
        32 MiB while writing (the kernel otherwise holds it all for the
        fsync); with ``direct``, with O_DIRECT from one aligned buffer;
        with ``keep``, the file stays for the caller to read and remove.
        (seconds, meter, cache dropped)."""
        dropped = drop_caches()
        background = self.background()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        out = os.open(path, flags | (os.O_DIRECT if direct else 0), 0o600)
        aligned: mmap.mmap | None = None
        meter = Meter(self.devices)
        try:
            aligned = mmap.mmap(-1, CHUNK) if direct else None
            os.ftruncate(out, self.known.length)
            threads = [threading.Thread(target=self._digest,
                                        args=(chunks, a))
                       for a in (ALGORITHMS if hashing else ())]
            with meter.measure():
                start = time.perf_counter()
                for t in threads:
                    t.start()
                _write_each(out, chunks,
                            WritebackPacer(out) if paced else None, aligned)
                os.fsync(out)
                for t in threads:
                    t.join()
                seconds = time.perf_counter() - start
        finally:
            os.close(out)
            if aligned is not None:
                # A traceback on its way up may hold a view of it: then it
                # goes with the traceback, and the error stays the one seen.
                with contextlib.suppress(BufferError):
                    aligned.close()
            if not keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        meter.seconds["background_busy_per_s"] = background
        meter.seconds["write_busy_s"] = cpu.own_share(meter.seconds,
                                                      seconds, background)
        return seconds, meter, dropped

    def presized_write(self, path: str, paced: bool = False,
                       keep: bool = False, direct: bool = False) -> None:
        """The device's other way in: the bytes, already in memory, into
        a pre-sized file, as a driver writes into a volume."""
        seconds, meter, dropped = self._write_chunks(
            path, self._chunks(), hashing=False, paced=paced, keep=keep,
            direct=direct)
        name = ("device_write_direct" if direct else "device_write_paced"
                if paced else "device_write_presized")
        self.record(name, seconds, self.known.length,
                    meter=meter, extra={"cache_dropped": dropped})

    def hash_and_write(self, path: str) -> None:
        """The reference implementation: md5 and sha512 in two threads
        while this thread writes the same 4 MiB chunks into a pre-sized
        file; then fsync."""
        seconds, meter, dropped = self._write_chunks(path, self._chunks(),
                                                     hashing=True)
        self._check_digests()
        self.record("hash_write", seconds, self.known.length,
                    meter=meter, extra={"cache_dropped": dropped})

    # -- cinder -----------------------------------------------------------
    def cinder(self) -> None:
        cycles = CinderCycle(self.env, self.spec["workdir"],
                             self.spec["name_prefix"])
        try:
            cycles.setup()
            for i in range(self.profile.cinder_cycles + 1):
                steps = cycles.cycle("%d-%d" % (self.round, i))
                if i == 0:
                    continue  # warm-up: privsep daemon, sessions
                self.record("cinder_cycle", sum(steps.values()), 0,
                            extra=steps)
        finally:
            cycles.close()

    def run(self) -> int:
        rc = 0
        for part in self.spec["parts"]:
            try:
                getattr(self, part)()
            except Exception as exc:
                LOG.exception("baseline %s failed", part)
                self.record(part, None, 0, ok=False,
                            error="%s: %s" % (type(exc).__name__, exc),
                            outage=cleanup.environment_gone(
                                cleanup.admin_client(self.env), exc))
                rc = 1
        return rc


def main(argv: list[str]) -> int:
    return common.run_process(argv, Baseline, quiet=())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
