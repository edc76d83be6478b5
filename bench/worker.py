"""One contender, one round: ``python -m bench.worker SPEC.json``.

Runs the workloads it is asked for, checks every result, and writes
samples to the spec's ``out`` file after each workload.  Every volume it
creates is deleted before it exits, also when it fails or is interrupted.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from bench import cleanup
from bench import common
from bench import conf as bench_conf
from bench.common import CURVE_HEADLINES
from bench.common import INTREE
from bench.common import OURS
from bench.common import drop_caches
from bench.common import write_json
from bench.contender import Contender
from bench.contender import Failed
from bench.contender import Timed
from bench.contender import together
from bench.cpu import Meter
from bench.data import curve_slice
from bench.e2e import E2E_WORKLOADS
from bench.e2e import GlanceApiImages
from bench.hot import HOT_WORKLOADS
from bench.hot import HotImages

LOG = logging.getLogger("bench.worker")

# A workload ``name`` is the method ``w_<name>`` of the worker; its rows
# are in bench/summary.py's ROWS.
WORKLOADS = ("add_known", "get", "add_unknown_small", "add_unknown_large",
             "add_small", "concurrent_add", "concurrent_get",
             "sparse_dense", "sparse_thin", "block_add_known", "block_get",
             "curve_known", "curve_unknown", *HOT_WORKLOADS,
             *E2E_WORKLOADS)
# Run in the first ``secondary_rounds`` rounds only; the others are the
# headline rows, run in every round.
SECONDARY = ("add_unknown_large", "concurrent_add", "concurrent_get",
             "sparse_dense", "sparse_thin", "block_add_known", "block_get")
# Run in the first ``curve_rounds`` rounds only; one sample per size of
# the curve, as workload ``<name>@<bytes>``.
CURVE = ("curve_known", "curve_unknown")
# Known-size adds that also get a "... until on disk" sample.
DURABLE = ("add_known", "block_add_known")


def _errors(names: list[str], results: list[tuple[str, Any]]
            ) -> list[tuple[str, BaseException]]:
    return [(n, r[1]) for n, r in zip(names, results, strict=True)
            if r[0] != "ok"]


class Worker(GlanceApiImages, HotImages, Contender):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.round = spec["round"]
        self.samples: list[dict[str, Any]] = []
        self.kept: dict[str, str] = {}  # slice name -> uri

    def record(self, workload: str, timed: Timed | None, nbytes: int,
               error: str | None = None,
               cause: BaseException | None = None, **extra: Any) -> None:
        """One sample: ``timed`` when it passed its checks, else None and
        the ``error``."""
        ok = timed is not None
        sample: dict[str, Any] = {
            "workload": workload, "contender": self.contender,
            "round": self.round, "seconds": timed.seconds if timed else None,
            "bytes": nbytes, "ok": ok, "error": error}
        if timed is None and cause is not None and self.outage(cause):
            # The environment went away (restarted by someone): not the
            # contender's failure; the orchestrator repeats the round.
            sample["outage"] = True
        if timed and timed.cpu:
            sample["cpu"] = timed.cpu
        if timed and timed.io:
            sample["io"] = timed.io
        if timed and timed.phases:
            sample["phases"] = timed.phases
        if extra:
            sample["extra"] = extra
        self.samples.append(sample)
        LOG.info("%s %s round %d: %s", self.contender, workload, self.round,
                 "%.3fs" % timed.seconds if timed else "FAILED (%s)" % error)
        self.flush()

    def outage(self, exc: BaseException) -> bool:
        if isinstance(exc, Failed) and exc.__cause__ is None:
            return False  # wrong data, wrong size: the contender's fault
        return cleanup.environment_gone(self.admin, exc)

    def flush(self) -> None:
        write_json(self.spec["out"], {"samples": self.samples,
                                      "info": self.info})

    def fail(self, workload: str, nbytes: int, exc: Failed,
             uris: list[str]) -> None:
        """Record a failed sample and delete what it left."""
        self.record(workload, None, nbytes, str(exc), exc)
        self.delete_volumes([u for u in dict.fromkeys(uris + [exc.uri or ""])
                             if u])

    def add_checked(self, workload: str, slice_name: str,
                    announced: int | None = None,
                    store: str = bench_conf.STORE,
                    keep: str = "") -> bool:
        """One timed add, checked and recorded; whether it passed."""
        s = self.data.slices[slice_name]
        dropped = drop_caches()
        timed = None
        try:
            timed = self.add(slice_name, announced, store)
            # What is still in the page cache when add returned: an image
            # is safe only once it is on the disk under the volume.
            flush = self.flush_volume(timed.uri)
            facts = self.check_volume(slice_name, timed.uri)
        except Failed as exc:
            self.fail(workload, s.length, exc, [timed.uri] if timed else [])
            return False
        self.record(workload, timed, s.length, cache_dropped=dropped,
                    flush_s=flush, **facts)
        if workload in DURABLE:
            self.record(workload + "_durable", Timed(
                timed.seconds + flush, timed.cpu, phases=timed.phases),
                s.length)
        if keep:
            self.kept[keep] = timed.uri
        else:
            self.delete_volumes([timed.uri])
        return True

    # -- workloads ------------------------------------------------------
    def w_add_known(self) -> None:
        self.add_checked("add_known", "known", keep="known")

    def w_block_add_known(self) -> None:
        self.add_checked("block_add_known", "known",
                         store=bench_conf.BLOCK_STORE, keep="block_known")

    def w_get(self) -> None:
        self.timed_gets("get", "known", bench_conf.STORE)

    def w_block_get(self) -> None:
        self.timed_gets("block_get", "block_known", bench_conf.BLOCK_STORE)

    def timed_gets(self, workload: str, kept: str, store: str) -> None:
        """Cold gets of the image the known-size add of ``store`` kept."""
        uri = self.kept.pop(kept, None)
        s = self.data.slices["known"]
        try:
            # The timed add failed (or did not run): store one untimed.
            uri = uri or self.add("known", store=store).uri
            for _ in range(self.profile.reads):
                dropped = drop_caches()
                self.record(workload, self.read_all(uri, "known",
                                                    exclude_compare=True),
                            s.length, cache_dropped=dropped)
        except Failed as exc:
            self.fail(workload, s.length, exc, [])
        finally:
            if uri:
                self.delete_volumes([uri])

    def w_add_unknown_small(self) -> None:
        self.add_checked("add_unknown_small", "unknown_small", announced=0)

    def w_add_unknown_large(self) -> None:
        self.add_checked("add_unknown_large", "unknown_large", announced=0)

    def w_add_small(self) -> None:
        uris: list[str] = []
        try:
            for i in range(self.profile.small_count):
                name = "small-%d" % i
                dropped = drop_caches()
                try:
                    timed = self.add(name)
                    uris.append(timed.uri)
                    facts = self.check_volume(name, timed.uri)
                except Failed as exc:
                    self.fail("add_small", self.data.slices[name].length,
                              exc, [])
                    continue
                self.record("add_small", timed, self.data.slices[
                    name].length, index=i, cache_dropped=dropped, **facts)
        finally:
            self.delete_volumes(uris)

    def _concurrent_names(self) -> tuple[list[str], int]:
        names = ["concurrent-%d" % k for k in range(self.profile.concurrency)]
        return names, sum(self.data.slices[n].length for n in names)

    def w_concurrent_add(self) -> None:
        names, total = self._concurrent_names()
        dropped = drop_caches()
        with Meter(self.devices).measure() as meter:
            seconds, results = together(self.add, names)
        uris = [r[1].uri for r in results if getattr(r[1], "uri", None)]
        errors = _errors(names, results)
        if not errors:
            for name, uri in zip(names, uris, strict=True):
                try:
                    self.check_volume(name, uri)
                except Failed as exc:
                    errors.append((name, exc))
        if errors:
            self.fail("concurrent_add", total, Failed("; ".join(
                "%s: %s" % e for e in errors)), uris)
            return
        self.record("concurrent_add", Timed(seconds, meter.seconds,
                                            io=meter.io), total,
                    cache_dropped=dropped)
        self.kept.update(zip(names, uris, strict=True))

    def w_concurrent_get(self) -> None:
        names, total = self._concurrent_names()
        uris = [self.kept.pop(n, "") for n in names]
        try:
            if "" in uris:
                return  # the concurrent add failed: it is reported
            for _ in range(self.profile.reads):
                dropped = drop_caches()
                with Meter(self.devices).measure() as meter:
                    seconds, results = together(
                        lambda item: self.read_all(item[0], item[1],
                                                   exclude_compare=False),
                        list(zip(uris, names, strict=True)))
                errors = _errors(names, results)
                if errors:
                    self.record("concurrent_get", None, total, "; ".join(
                        "%s: %s" % e for e in errors), errors[0][1])
                    break
                self.record("concurrent_get", Timed(
                    seconds, meter.seconds, io=meter.io), total,
                    cache_dropped=dropped)
        finally:
            self.delete_volumes([u for u in uris if u])

    def w_curve_known(self) -> None:
        self.curve("curve_known", None)

    def w_curve_unknown(self) -> None:
        self.curve("curve_unknown", 0)

    def curve(self, kind: str, announced: int | None) -> None:
        """The sizes in ascending order; after a size failed, the larger
        ones are not asked (each would write its whole image before the
        check finds it wrong), and the run's findings say so.  The
        headline adds of the curve's kind that failed in this process
        before it (in the default order, they run first) count as failed
        sizes: the size of their image, whatever the sample recorded."""
        headlines = CURVE_HEADLINES[kind]
        failed = [(self.data.slices[headlines[s["workload"]]].length,
                   s["workload"]) for s in self.samples
                  if s["workload"] in headlines
                  and not s["ok"] and not s.get("outage")]
        for n in sorted(self.profile.curve_sizes(kind)):
            workload = "%s@%d" % (kind, n)
            smaller = [w for size, w in failed if size < n]
            if smaller:
                self.info.setdefault("not_asked", []).append(
                    "%s (%s failed)" % (workload, smaller[0]))
            elif not self.add_checked(workload, curve_slice(n),
                                      announced=announced):
                failed.append((n, workload))

    def w_sparse_dense(self) -> None:
        self.add_checked("sparse_dense", "sparse")

    def w_sparse_thin(self) -> None:
        if bench_conf.THIN_STORE in self.stores:
            self.add_checked("sparse_thin", "sparse",
                             store=bench_conf.THIN_STORE)

    # -- driver ---------------------------------------------------------
    def warm_up(self, stores: bool, glance_api: bool) -> None:
        """Untimed, all at once (one thread each, as a glance-api serves
        its requests): one add and get per store the workloads use, and
        one upload and download through the glance-api of the end-to-end
        rows.  A long-running glance-api has its keystone token, HTTP
        connections and privsep daemon already."""
        start = time.perf_counter()
        calls: list[Any] = []
        if stores:
            calls += [lambda store=store: self.warm_up_store(store)
                      for store in bench_conf.stores_used(
                          self.spec["workloads"], list(self.stores))]
        if glance_api:
            calls.append(self.e2e_warm_up)
        _, results = together(lambda call: call(), calls)
        errors = [value for outcome, value in results if outcome != "ok"]
        for error in errors:
            LOG.error("warm-up failed: %r", error)
        if errors:
            raise RuntimeError("%d of %d warm-up calls failed, the first: %r"
                               % (len(errors), len(calls), errors[0]))
        self.info["warm_up_s"] = time.perf_counter() - start

    def warm_up_store(self, store: str) -> None:
        uri = self.add("small-0", store=store).uri
        try:
            self.read_all(uri, "small-0", exclude_compare=False)
        finally:
            self.delete_volumes([uri])

    def run(self) -> int:
        workloads = self.spec["workloads"]
        try:
            # The end-to-end rows' contender is a glance-api, not a store
            # of this process: no stores when they are all it runs.
            stores = any(w not in E2E_WORKLOADS for w in workloads)
            if stores:
                self.configure()
            self.warm_up(stores, any(w in E2E_WORKLOADS for w in workloads))
        except Exception as exc:
            LOG.exception("configuring %s failed", self.contender)
            self.info["error"] = "configure failed: %s" % exc
            self.e2e_sweep()
            self.flush()
            return 2
        try:
            wall = self.info.setdefault("wall", {})
            for name in self.spec["workloads"]:
                self.workload = name
                start = time.perf_counter()
                try:
                    getattr(self, "w_" + name)()
                except Exception as exc:
                    # A broken workload must not stop the others.
                    LOG.exception("workload %s failed", name)
                    self.record(name, None, 0, "%s: %s" % (
                        type(exc).__name__, exc), exc)
                wall[name] = time.perf_counter() - start
                self.flush()
            return 0
        finally:
            self.workload = None
            self.e2e_sweep()
            try:
                cleanup.sweep(self.admin, ["image-" + self.prefix])
            except Exception:
                LOG.exception("sweeping volumes failed")
            if self.profile_dir:
                self.save_profiles()
            self.flush()


def main(argv: list[str]) -> int:
    return common.run_process(argv, Worker, quiet=("stevedore",))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["HOT_WORKLOADS", "INTREE", "OURS", "SECONDARY", "WORKLOADS",
           "Worker", "main"]
