"""One contender, one round: ``python -m bench.worker SPEC.json``.

Runs in its own process (oslo.config's CONF and glance_store's store maps
are process-wide): configures the contender's stores from a
glance-api.conf-style file through glance_store's multi-store API, runs
the workloads it is asked for, checks every result, and writes samples to
the spec's ``out`` file after each workload.  Every volume it creates is
deleted before it exits, also when it fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import uuid
from typing import Any

from bench import cleanup
from bench import common
from bench import conf as bench_conf
from bench.common import INTREE
from bench.common import OURS
from bench.common import drop_caches
from bench.common import volume_id_of
from bench.common import volume_path
from bench.common import write_json
from bench.data import FULL
from bench.data import QUICK
from bench.data import DataSet
from bench.data import Expected
from bench.data import SourceReader

LOG = logging.getLogger("bench.worker")

WORKLOADS = ("add_known", "get", "add_unknown_small", "add_unknown_large",
             "add_small", "concurrent_add", "concurrent_get",
             "sparse_dense", "sparse_thin")


class Failed(Exception):
    """The contender returned wrong data or failed: no time is recorded."""

    def __init__(self, message: str, uri: str | None = None) -> None:
        super().__init__(message)
        self.uri = uri


class Worker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.env = spec["env"]
        self.contender = spec["contender"]
        self.round = spec["round"]
        self.profile = QUICK if spec["profile"] == "quick" else FULL
        self.data = DataSet(spec["data_dir"], self.profile)
        self.data.prepare(log=lambda *_: None)
        self.prefix = spec["image_prefix"]
        self.samples: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}
        self.admin = cleanup.admin_client(self.env)
        self.kept: dict[str, str] = {}  # slice name -> uri
        self.profile_dir = spec.get("profile_dir")
        self.workload: str | None = None
        self._profilers: dict[str, Any] = {}

    # -- setup ----------------------------------------------------------
    def configure(self) -> None:
        from glance_store import multi_backend
        from oslo_config import cfg
        from oslo_context import context as oslo_context

        workdir = self.spec["workdir"]
        os.makedirs(os.path.join(workdir, "locks"), exist_ok=True)
        path = os.path.join(workdir, "glance-api.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(bench_conf.conf_text(self.env, self.contender, workdir))
        start = time.perf_counter()
        conf = cfg.CONF
        conf.register_opt(cfg.DictOpt("enabled_backends"))
        conf(["--config-file", path], project="glance")
        multi_backend.register_store_opts(conf)
        multi_backend.create_multi_stores(conf)
        self.conf = conf
        self.stores = {bench_conf.STORE: multi_backend.
                       get_store_from_store_identifier(bench_conf.STORE)}
        if self.contender == OURS:
            self.stores[bench_conf.THIN_STORE] = (
                multi_backend.get_store_from_store_identifier(
                    bench_conf.THIN_STORE))
        svc = self.env["service_user"]
        self.context = oslo_context.RequestContext(
            user_id=svc.get("user_id"), project_id=svc.get("project_id"))
        self.info["configure_s"] = time.perf_counter() - start
        module = type(self.stores[bench_conf.STORE]).__module__
        self.info["driver"] = module
        expected = ("glance_store_cinder" if self.contender == OURS
                    else "glance_store._drivers.cinder")
        if not module.startswith(expected):
            raise RuntimeError("store %s is %s, expected %s"
                               % (bench_conf.STORE, module, expected))

    # -- helpers --------------------------------------------------------
    def new_image_id(self) -> str:
        return self.prefix + str(uuid.uuid4())[14:]

    def location(self, uri: str) -> tuple[Any, Any]:
        """The store that holds ``cinder://<store>/<id>``, and its location.
        """
        from glance_store import location as gs_location
        store = uri.split("/")[2]
        return self.stores[store], \
            gs_location.get_location_from_uri_and_backend(
                uri, store, conf=self.conf)

    def record(self, workload: str, seconds: float | None, nbytes: int,
               ok: bool, error: str | None = None,
               cause: BaseException | None = None, **extra: Any) -> None:
        sample = {"workload": workload, "contender": self.contender,
                  "round": self.round, "seconds": seconds if ok else None,
                  "bytes": nbytes, "ok": ok, "error": error}
        if not ok and cause is not None and self.outage(cause):
            # The environment went away (restarted by someone): not the
            # contender's failure; the orchestrator repeats the round.
            sample["outage"] = True
        if extra:
            sample["extra"] = extra
        self.samples.append(sample)
        state = "%.3fs" % seconds if ok and seconds is not None else \
            "FAILED (%s)" % error
        LOG.info("%s %s round %d: %s", self.contender, workload,
                 self.round, state)
        self.flush()

    def outage(self, exc: BaseException) -> bool:
        if isinstance(exc, Failed) and exc.__cause__ is None:
            return False  # wrong data, wrong size: the contender's fault
        if cleanup.is_outage(exc):
            return True
        try:
            self.admin.volume_types.list()
        except Exception:
            return True
        return False

    def flush(self) -> None:
        write_json(self.spec["out"], {"samples": self.samples,
                                      "info": self.info})

    def delete_volumes(self, uris: list[str]) -> None:
        ids = [volume_id_of(u) for u in uris]
        for vid in ids:
            with contextlib.suppress(Exception):
                self.admin.volumes.delete(vid)
        left = cleanup.wait_gone(self.admin, ids)
        if left:
            # Attached, or in a state delete refuses: the hard way.
            for vid in left:
                with contextlib.suppress(Exception):
                    cleanup.remove_volume(self.admin,
                                          self.admin.volumes.get(vid))
            cleanup.wait_gone(self.admin, left)

    @contextlib.contextmanager
    def profiled(self) -> Any:
        """pyinstrument around a timed call, in profiling runs only.

        Only the calling thread is sampled (for the drivers' adds: the
        thread that reads, writes and talks to Cinder; the hashing threads
        show as the time it waits for them).
        """
        if not self.profile_dir or not self.workload or \
                threading.current_thread() is not threading.main_thread():
            yield
            return
        from pyinstrument import Profiler
        profiler = self._profilers.get(self.workload)
        if profiler is None:
            profiler = self._profilers[self.workload] = Profiler(
                interval=0.001)
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()

    def save_profiles(self) -> None:
        for workload, profiler in self._profilers.items():
            stem = os.path.join(self.profile_dir, "%s-%s" % (
                self.contender, workload))
            with open(stem + ".txt", "w", encoding="utf-8") as f:
                f.write(profiler.output_text(unicode=True, color=False))
            with open(stem + ".html", "w", encoding="utf-8") as f:
                f.write(profiler.output_html())

    def sweep(self) -> None:
        cleanup.sweep(self.admin, ["image-" + self.prefix])

    # -- add and check --------------------------------------------------
    def add(self, slice_name: str, announced: int | None = None,
            store: str = bench_conf.STORE
            ) -> tuple[float, str]:
        """Timed ``add`` of a slice; returns (seconds, uri).

        :raises Failed: on an exception or a wrong size or checksum.
        """
        s = self.data.slices[slice_name]
        reader = SourceReader(self.data.path(s.file), s.offset, s.length)
        size = s.length if announced is None else announced
        image_id = self.new_image_id()
        start = time.perf_counter()
        try:
            with self.profiled():
                uri, written, checksum, multihash, _ = self.stores[
                    store].add(image_id, reader, size, "sha512",
                               context=self.context)
        except Exception as exc:
            LOG.exception("add of %s failed", slice_name)
            raise Failed("add raised %s: %s" % (type(exc).__name__,
                                                str(exc)[:200])) from exc
        finally:
            reader.close()
        seconds = time.perf_counter() - start
        want = self.data.digests[slice_name]
        if written != s.length:
            raise Failed("add reported %d bytes, the image has %d"
                         % (written, s.length), uri)
        if checksum != want["md5"]:
            raise Failed("md5 %s, expected %s" % (checksum, want["md5"]),
                         uri)
        if multihash != want["sha512"]:
            raise Failed("sha512 differs from the image's", uri)
        return seconds, uri

    def check_volume(self, slice_name: str, uri: str) -> dict[str, Any]:
        """Compare the volume's backing file with the image."""
        s = self.data.slices[slice_name]
        path = volume_path(self.env, volume_id_of(uri))
        with Expected(self.data.path(s.file), s.offset, s.length) as exp:
            problem = exp.compare_file(path)
        if problem:
            raise Failed("read back: " + problem)
        st = os.stat(path)
        return {"allocated": st.st_blocks * 512, "file_size": st.st_size}

    def flush_volume(self, uri: str) -> float:
        """fsync the volume's backing file; the seconds it took."""
        fd = os.open(volume_path(self.env, volume_id_of(uri)), os.O_RDONLY)
        try:
            start = time.perf_counter()
            os.fsync(fd)
            return time.perf_counter() - start
        finally:
            os.close(fd)

    def add_checked(self, workload: str, slice_name: str,
                    announced: int | None = None,
                    store: str = bench_conf.STORE,
                    keep: bool = False) -> dict[str, Any] | None:
        s = self.data.slices[slice_name]
        os.sync()
        uri = None
        try:
            seconds, uri = self.add(slice_name, announced, store)
            # What is still in the page cache when add returned: an image
            # is safe only once it is on the disk under the volume.
            flush = self.flush_volume(uri)
            os.sync()
            facts = self.check_volume(slice_name, uri)
            facts["flush_s"] = flush
        except Failed as exc:
            self.record(workload, None, s.length, False, str(exc), exc)
            uri = uri or exc.uri
            if uri:
                self.delete_volumes([uri])
            return None
        self.record(workload, seconds, s.length, True, **facts)
        if workload == "add_known":
            self.record("add_known_durable", seconds + facts["flush_s"],
                        s.length, True)
        if keep:
            self.kept[slice_name] = uri
        else:
            self.delete_volumes([uri])
        return facts

    # -- read -----------------------------------------------------------
    def read_all(self, uri: str, slice_name: str, exclude_compare: bool
                 ) -> float:
        """Timed ``get`` of the whole image, every chunk compared."""
        s = self.data.slices[slice_name]
        with Expected(self.data.path(s.file), s.offset, s.length) as exp:
            compare = 0.0
            start = time.perf_counter()
            profiling = self.profiled()
            profiling.__enter__()
            try:
                store, loc = self.location(uri)
                reader, length = store.get(loc, context=self.context)
            except Exception as exc:
                raise Failed("get raised %s: %s" % (
                    type(exc).__name__, str(exc)[:200])) from exc
            pos = 0
            try:
                if length != s.length:
                    raise Failed("get reported %d bytes, the image has %d"
                                 % (length, s.length))
                for chunk in reader:
                    c0 = time.perf_counter()
                    if not exp.matches(pos, chunk):
                        from bench.data import first_difference
                        raise Failed("get: " + first_difference(exp, pos,
                                                                chunk))
                    pos += len(chunk)
                    compare += time.perf_counter() - c0
            finally:
                close = getattr(reader, "close", None)
                if callable(close):
                    close()
                profiling.__exit__(None, None, None)
            seconds = time.perf_counter() - start
        if pos != s.length:
            raise Failed("get returned %d bytes, the image has %d"
                         % (pos, s.length))
        return seconds - compare if exclude_compare else seconds

    # -- workloads ------------------------------------------------------
    def w_add_known(self) -> None:
        self.add_checked("add_known", "known", keep=True)

    def w_get(self) -> None:
        uri = self.kept.pop("known", None)
        s = self.data.slices["known"]
        if uri is None:
            # The timed add failed (or did not run): store one untimed.
            try:
                uri = self.add("known")[1]
            except Failed as exc:
                self.record("get", None, s.length, False,
                            "no image to read: %s" % exc, exc)
                if exc.uri:
                    self.delete_volumes([exc.uri])
                return
        try:
            for _ in range(self.profile.reads):
                drop_caches()
                seconds = self.read_all(uri, "known", exclude_compare=True)
                self.record("get", seconds, s.length, True)
        except Failed as exc:
            self.record("get", None, s.length, False, str(exc), exc)
        finally:
            self.delete_volumes([uri])

    def w_add_unknown_small(self) -> None:
        self.add_checked("add_unknown_small", "unknown_small", announced=0)

    def w_add_unknown_large(self) -> None:
        self.add_checked("add_unknown_large", "unknown_large", announced=0)

    def w_add_small(self) -> None:
        uris = []
        try:
            for i in range(self.profile.small_count):
                name = "small-%d" % i
                s = self.data.slices[name]
                uri = None
                try:
                    seconds, uri = self.add(name)
                    uris.append(uri)
                    self.check_volume(name, uri)
                except Failed as exc:
                    uri = uri or exc.uri
                    if uri and uri not in uris:
                        uris.append(uri)
                    self.record("add_small", None, s.length, False,
                                str(exc), exc, index=i)
                    continue
                self.record("add_small", seconds, s.length, True, index=i)
        finally:
            self.delete_volumes(uris)

    def _concurrent(self, fn: Any, items: list[Any]) -> tuple[float, list]:
        """Run ``fn(item)`` in one thread per item, started together."""
        barrier = threading.Barrier(len(items) + 1)
        results: list[Any] = [None] * len(items)

        def run(i: int) -> None:
            barrier.wait()
            try:
                results[i] = ("ok", fn(items[i]))
            except BaseException as exc:  # reported below
                results[i] = ("error", exc)

        threads = [threading.Thread(target=run, args=(i,), daemon=True)
                   for i in range(len(items))]
        for t in threads:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        return time.perf_counter() - start, results

    def w_concurrent_add(self) -> None:
        names = ["concurrent-%d" % k for k in range(self.profile.concurrency)]
        total = sum(self.data.slices[n].length for n in names)
        os.sync()
        seconds, results = self._concurrent(lambda n: self.add(n), names)
        uris = [r[1][1] for r in results if r[0] == "ok"]
        uris += [r[1].uri for r in results
                 if r[0] != "ok" and getattr(r[1], "uri", None)]
        errors = ["%s: %s" % (n, r[1])
                  for n, r in zip(names, results, strict=True)
                  if r[0] != "ok"]
        causes = [r[1] for r in results if r[0] != "ok"]
        if not errors:
            os.sync()
            for name, uri in zip(names, uris, strict=False):
                try:
                    self.check_volume(name, uri)
                except Failed as exc:
                    errors.append("%s: %s" % (name, exc))
                    causes.append(exc)
        if errors:
            self.record("concurrent_add", None, total, False,
                        "; ".join(errors), causes[0])
            self.delete_volumes(uris)
            return
        self.record("concurrent_add", seconds, total, True)
        self.kept.update(zip(names, uris, strict=False))

    def w_concurrent_get(self) -> None:
        names = ["concurrent-%d" % k for k in range(self.profile.concurrency)]
        total = sum(self.data.slices[n].length for n in names)
        uris = [self.kept.pop(n, None) for n in names]
        if None in uris:
            # The concurrent add failed: it is reported; nothing to read.
            self.delete_volumes([u for u in uris if u])
            return
        try:
            for _ in range(self.profile.reads):
                drop_caches()
                seconds, results = self._concurrent(
                    lambda item: self.read_all(item[0], item[1],
                                               exclude_compare=False),
                    list(zip(uris, names, strict=False)))
                errors = ["%s: %s" % (n, r[1])
                          for n, r in zip(names, results, strict=True)
                          if r[0] != "ok"]
                if errors:
                    self.record("concurrent_get", None, total, False,
                                "; ".join(errors), next(
                                    r[1] for r in results if r[0] != "ok"))
                    break
                self.record("concurrent_get", seconds, total, True)
        finally:
            self.delete_volumes(uris)

    def w_sparse_dense(self) -> None:
        self.add_checked("sparse_dense", "sparse")

    def w_sparse_thin(self) -> None:
        if bench_conf.THIN_STORE not in self.stores:
            return
        self.add_checked("sparse_thin", "sparse",
                         store=bench_conf.THIN_STORE)

    def warm_up(self) -> None:
        """One untimed add and get: a long-running glance-api has its
        keystone token, HTTP connections and privsep daemon already."""
        start = time.perf_counter()
        for store in self.stores:
            seconds, uri = self.add("small-0", store=store)
            try:
                self.read_all(uri, "small-0", exclude_compare=False)
            finally:
                self.delete_volumes([uri])
        self.info["warm_up_s"] = time.perf_counter() - start

    # -- driver ---------------------------------------------------------
    def run(self) -> int:
        try:
            self.configure()
            self.warm_up()
        except Exception as exc:
            LOG.exception("configuring %s failed", self.contender)
            self.info["error"] = "configure failed: %s" % exc
            self.flush()
            return 2
        try:
            for name in self.spec["workloads"]:
                fn = getattr(self, "w_" + name)
                self.workload = name
                try:
                    fn()
                except Exception as exc:
                    # A broken workload must not stop the others.
                    LOG.exception("workload %s failed", name)
                    self.record(name, None, 0, False, "%s: %s" % (
                        type(exc).__name__, exc), exc)
            return 0
        finally:
            self.workload = None
            try:
                self.sweep()
            except Exception:
                LOG.exception("sweeping volumes failed")
            if self.profile_dir:
                self.save_profiles()
            self.flush()


def main(argv: list[str]) -> int:
    return common.run_process(argv, Worker, quiet=("stevedore",))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["INTREE", "OURS", "WORKLOADS", "Worker", "main"]
