"""Hot images: many readers of one image at once (issue 10).

A mixin of the worker: each workload stores one image (the
``concurrent-0`` slice), reads it as the rows say, checks every chunk of
every reader against the image and deletes it.  The in-tree driver lets
one reader attach a volume that is not multiattach: its other readers
fail, and the row says FAILED with how many failed.

* ``hot_paced_4`` / ``hot_paced_16``: N readers started together, each
  consuming at ``PACE`` (a compute node streaming to its disk); timed:
  the wall time of all N.  With it: one such reader alone (same process,
  measured once for both rows),
  every reader's first byte against the lone reader's first byte (its
  attach), the number of bit-exact readers.
* ``hot_unpaced``: ``UNPACED`` readers as fast as they can; aggregate
  throughput against one reader alone.
* ``hot_back_to_back``: ``BACK_TO_BACK`` gets one after another, ours
  through a store with ``cinder_read_attachment_linger``; per get,
  against reading the volume's bytes from its file directly.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import conf as bench_conf
from bench.common import OURS
from bench.common import MiB
from bench.common import drop_caches
from bench.common import volume_id_of
from bench.common import volume_path
from bench.contender import Failed
from bench.contender import Timed
from bench.contender import together
from bench.data import Expected
from bench.data import first_difference
from bench.worker_parts import WorkerParts

HOT_WORKLOADS = ("hot_paced_4", "hot_paced_16", "hot_unpaced",
                 "hot_back_to_back")
IMAGE = "concurrent-0"
PACE = 40 * MiB          # bytes per second per paced reader
UNPACED = 4
BACK_TO_BACK = 10
CHUNK = 4 * MiB


class HotImages(WorkerParts):
    """The hot-image workloads (mixed into ``bench.worker.Worker``)."""

    def _hot_image(self) -> str:
        return str(self.add(IMAGE).uri)

    def _read(self, uri: str, pace: float | None) -> dict[str, float]:
        """One reader: (first byte, end) seconds after its start."""
        s = self.data.slices[IMAGE]
        start = time.perf_counter()
        store, loc = self.location(uri)
        try:
            reader, _ = store.get(loc, context=self.context)
        except Exception as exc:
            raise Failed("get raised %s: %s" % (type(exc).__name__,
                                                str(exc)[:160])) from exc
        first = None
        pos = 0
        with Expected(self.data.path(s.file), s.offset, s.length) as exp:
            try:
                for chunk in reader:
                    if first is None:
                        first = time.perf_counter() - start
                    if not exp.matches(pos, chunk):
                        raise Failed("get: " + first_difference(exp, pos,
                                                                chunk))
                    pos += len(chunk)
                    if pace:
                        ahead = start + pos / pace - time.perf_counter()
                        if ahead > 0:
                            time.sleep(ahead)
            finally:
                close = getattr(reader, "close", None)
                if callable(close):
                    close()
        if pos != s.length:
            raise Failed("get returned %d bytes, the image has %d"
                         % (pos, s.length))
        return {"first_byte_s": first or 0.0,
                "end_s": time.perf_counter() - start}

    def _readers(self, workload: str, uri: str, n: int,
                 pace: float | None) -> None:
        nbytes = self.data.slices[IMAGE].length
        alone = self._alone(uri, pace)
        drop_caches()
        seconds, results = together(lambda _: self._read(uri, pace),
                                    list(range(n)))
        good = [r[1] for r in results if r[0] == "ok"]
        bad = [r[1] for r in results if r[0] != "ok"]
        if bad:
            self.record(workload, None, n * nbytes, "%d of %d readers "
                        "failed: %s" % (len(bad), n, str(bad[0])[:160]),
                        bad[0], bit_exact=len(good), readers=n)
            return
        firsts = [g["first_byte_s"] for g in good]
        self.record(workload, Timed(seconds, {}), n * nbytes, readers=n,
                    bit_exact=len(good), alone_s=alone["end_s"],
                    alone_first_byte_s=alone["first_byte_s"],
                    ratio_alone=seconds / alone["end_s"],
                    first_byte_max_s=max(firsts),
                    first_byte_median_s=statistics.median(firsts),
                    aggregate_ratio=(n * alone["end_s"] / seconds))

    def _alone(self, uri: str, pace: float | None) -> dict[str, float]:
        """One reader alone, page cache dropped first; once per process
        and pace: the rows of one pace read the same bytes, each from a
        volume of its own, one after the other (so the first row's N
        readers follow a lone read of their volume, the next row's are
        its first readers; both with the page cache dropped)."""
        done: dict[float | None, dict[str, float]] = \
            vars(self).setdefault("_alone_reads", {})
        if pace not in done:
            drop_caches()
            done[pace] = self._read(uri, pace)
        return done[pace]

    def _hot(self, workload: str, run: Any) -> None:
        uri = ""
        try:
            uri = self._hot_image()
            run(uri)
        except Failed as exc:
            self.record(workload, None, self.data.slices[IMAGE].length,
                        str(exc), exc)
        finally:
            if uri:
                self.delete_volumes([uri])

    def w_hot_paced_4(self) -> None:
        self._hot("hot_paced_4",
                  lambda uri: self._readers("hot_paced_4", uri, 4, PACE))

    def w_hot_paced_16(self) -> None:
        self._hot("hot_paced_16",
                  lambda uri: self._readers("hot_paced_16", uri, 16, PACE))

    def w_hot_unpaced(self) -> None:
        self._hot("hot_unpaced", lambda uri: self._readers(
            "hot_unpaced", uri, UNPACED, None))

    def w_hot_back_to_back(self) -> None:
        self._hot("hot_back_to_back", self._back_to_back)

    def _back_to_back(self, uri: str) -> None:
        nbytes = self.data.slices[IMAGE].length
        extra: dict[str, float] = {}
        drop_caches()
        self._read(uri, None)   # every series reads from the page cache
        if self.contender == OURS:
            # without the linger, for the choice of its default
            extra["per_get_no_linger_s"] = statistics.median(
                self._read(uri, None)["end_s"] for _ in range(BACK_TO_BACK))
            uri = uri.replace("cinder://%s/" % bench_conf.STORE,
                              "cinder://%s/" % bench_conf.LINGER_STORE)
        gets = [self._read(uri, None)["end_s"] for _ in range(BACK_TO_BACK)]
        alone = [self._file_read(uri) for _ in range(BACK_TO_BACK)]
        if self.contender == OURS:
            self.delete_volumes([uri])   # the linger store's: ends it
        per_get, bytes_alone = statistics.median(gets), \
            statistics.median(alone)
        self.record("hot_back_to_back", Timed(sum(gets), {}),
                    BACK_TO_BACK * nbytes, gets=BACK_TO_BACK,
                    per_get_s=per_get, bytes_alone_s=bytes_alone,
                    ratio_bytes_alone=per_get / bytes_alone, **extra)

    def _file_read(self, uri: str) -> float:
        """Reading the volume's bytes from its file, chunk by chunk."""
        s = self.data.slices[IMAGE]
        path = volume_path(self.env, volume_id_of(uri))
        start = time.perf_counter()
        with Expected(self.data.path(s.file), s.offset, s.length) as exp, \
                open(path, "rb", buffering=0) as f:
            pos = 0
            while pos < s.length:
                chunk = f.read(min(CHUNK, s.length - pos))
                if not chunk or not exp.matches(pos, chunk):
                    raise Failed("the volume's file differs at %d" % pos)
                pos += len(chunk)
        return time.perf_counter() - start


def hot_lines(samples: list[dict[str, Any]]) -> list[str]:
    """The hot-image rows' own figures (medians over the rounds)."""
    lines = []
    for workload in HOT_WORKLOADS:
        for who in ("ours", "in-tree"):
            got = [s for s in samples if s["workload"] == workload
                   and s["contender"] == who]
            if not got:
                continue
            failed = [s for s in got if not s["ok"]]
            if failed:
                lines.append("%s, %s: FAILED in %d of %d round(s) (%s)" % (
                    workload, who, len(failed), len(got),
                    str(failed[0].get("error"))[:100]))
                continue
            lines.append("%s, %s: %s" % (workload, who, _figures(
                workload, [s.get("extra", {}) for s in got],
                [s["seconds"] for s in got])))
    return lines


def _med(extras: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(e[key]) for e in extras))


def _figures(workload: str, extras: list[dict[str, Any]],
             seconds: list[float]) -> str:
    total = statistics.median(seconds)
    if workload == "hot_back_to_back":
        text = ("per get %.3f s, reading the bytes alone %.3f s (%.2fx)"
                % (_med(extras, "per_get_s"), _med(extras, "bytes_alone_s"),
                   _med(extras, "ratio_bytes_alone")))
        if all("per_get_no_linger_s" in e for e in extras):
            text += "; without the linger %.3f s per get" % _med(
                extras, "per_get_no_linger_s")
        return text
    text = ("%d readers %.2f s, one alone %.2f s (%.2fx); first byte: "
            "max %.2f s, median %.2f s, alone %.2f s; %d/%d bit-exact" % (
                int(extras[0]["readers"]), total, _med(extras, "alone_s"),
                _med(extras, "ratio_alone"),
                _med(extras, "first_byte_max_s"),
                _med(extras, "first_byte_median_s"),
                _med(extras, "alone_first_byte_s"),
                min(int(e["bit_exact"]) for e in extras),
                int(extras[0]["readers"])))
    if workload == "hot_unpaced":
        text += "; aggregate throughput %.2fx one reader's" % _med(
            extras, "aggregate_ratio")
    return text
