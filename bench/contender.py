"""One contender's stores, and its timed calls with their checks.

The stores are configured from a glance-api.conf-style file through
glance_store's multi-store API (oslo.config's CONF and glance_store's
store maps are process-wide: one contender per process).  Each timed call
returns its seconds and CPU seconds; a wrong result raises
:class:`Failed`, and no time is kept for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from bench import cleanup
from bench import conf as bench_conf
from bench import disks
from bench import phases as bench_phases
from bench.common import OURS
from bench.common import GiB
from bench.common import volume_id_of
from bench.common import volume_path
from bench.cpu import Meter
from bench.data import Expected
from bench.data import SourceReader
from bench.data import first_difference
from bench.data import from_spec

LOG = logging.getLogger("bench.worker")


class Failed(Exception):
    """The contender returned wrong data or failed: no time is recorded."""

    def __init__(self, message: str, uri: str | None = None) -> None:
        super().__init__(message)
        self.uri = uri


@dataclasses.dataclass
class Timed:
    seconds: float
    cpu: dict[str, float]
    uri: str = ""
    io: dict[str, int] = dataclasses.field(default_factory=dict)
    # The driver's phase timings of this call (this driver only).
    phases: dict[str, float] = dataclasses.field(default_factory=dict)


def together(fn: Callable[[Any], Any], items: list[Any]
             ) -> tuple[float, list[tuple[str, Any]]]:
    """Run ``fn(item)`` in one thread per item, started together; the wall
    time and ("ok", result) or ("error", exception) per item."""
    barrier = threading.Barrier(len(items) + 1)
    results: list[tuple[str, Any]] = [("error", None)] * len(items)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ("ok", fn(items[i]))
        except BaseException as exc:  # reported by the caller
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


class Contender:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.env = spec["env"]
        self.contender = spec["contender"]
        self.profile, self.data = from_spec(spec)
        self.prefix = spec["image_prefix"]
        self.admin = cleanup.admin_client(self.env)
        self.profile_dir: str | None = spec.get("profile_dir")
        self.workload: str | None = None
        self._profilers: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.devices = disks.devices(self.env["nfs"]["export_dir"])
        self.block_devices = disks.devices(
            self.env.get("block", {}).get("volumes_dir", "/nonexistent"))
        self.phases = bench_phases.install()

    def phases_of_call(self) -> dict[str, float]:
        """The phases the driver logged in this thread since the last
        call (the last record: warm-ups and retries came before)."""
        taken = self.phases.take()
        return taken[-1] if taken else {}

    # -- setup ----------------------------------------------------------
    def configure(self) -> None:
        from glance_store import multi_backend
        from oslo_config import cfg
        from oslo_context import context as oslo_context

        workdir = self.spec["workdir"]
        os.makedirs(os.path.join(workdir, "locks"), exist_ok=True)
        path = os.path.join(workdir, "glance-api.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(bench_conf.conf_text(self.env, self.contender, workdir,
                                         self.spec.get("ours_options")))
        start = time.perf_counter()
        conf = cfg.CONF
        conf.register_opt(cfg.DictOpt("enabled_backends"))
        conf(["--config-file", path], project="glance")
        multi_backend.register_store_opts(conf)
        multi_backend.create_multi_stores(conf)
        self.conf = conf
        names = [bench_conf.STORE, bench_conf.BLOCK_STORE] + (
            [bench_conf.THIN_STORE, bench_conf.LINGER_STORE]
            if self.contender == OURS else [])
        self.stores = {n: multi_backend.get_store_from_store_identifier(n)
                       for n in names}
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
        """A UUID (Glance checks the form) made of the run's prefix (8-4-4
        hex digits) and the last two groups of a random one."""
        return self.prefix + str(uuid.uuid4())[19:]

    def location(self, uri: str) -> tuple[Any, Any]:
        """The store that holds ``cinder://<store>/<id>``, and its location.
        """
        from glance_store import location as gs_location
        store = uri.split("/")[2]
        return self.stores[store], \
            gs_location.get_location_from_uri_and_backend(
                uri, store, conf=self.conf)

    @staticmethod
    def is_block(uri_or_store: str) -> bool:
        """A ``cinder://block/...`` location, or the block store's name."""
        store = uri_or_store.split("/")[2] if "://" in uri_or_store \
            else uri_or_store
        return store == bench_conf.BLOCK_STORE

    def devices_of(self, uri_or_store: str) -> dict[str, str]:
        """The disks whose bytes are counted for a store's calls."""
        return self.block_devices if self.is_block(uri_or_store) \
            else self.devices

    def backing_file(self, uri: str) -> str:
        return volume_path(self.env, volume_id_of(uri), self.is_block(uri))

    def delete_volumes(self, uris: list[str]) -> None:
        for uri in uris:
            if uri.split("/")[2] == bench_conf.LINGER_STORE:
                # As Glance does: the store's delete ends the lingering
                # read attachment at once; Cinder refuses the attached
                # volume until the linger runs out.
                try:
                    store, loc = self.location(uri)
                    store.delete(loc, context=self.context)
                except Exception:
                    LOG.exception("deleting %s through its store failed",
                                  uri)
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
    def profiled(self) -> Iterator[None]:
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
            stem = os.path.join(self.profile_dir or ".", "%s-%s" % (
                self.contender, workload))
            with open(stem + ".txt", "w", encoding="utf-8") as f:
                f.write(profiler.output_text(unicode=True, color=False))
            with open(stem + ".html", "w", encoding="utf-8") as f:
                f.write(profiler.output_html())

    # -- add and check --------------------------------------------------
    def add(self, slice_name: str, announced: int | None = None,
            store: str = bench_conf.STORE) -> Timed:
        """Timed ``add`` of a slice.

        :raises Failed: on an exception or a wrong size or checksum.
        """
        s = self.data.slices[slice_name]
        reader = SourceReader(self.data.path(s.file), s.offset, s.length)
        size = s.length if announced is None else announced
        meter = Meter(self.devices_of(store))
        self.phases.take()
        try:
            with meter.measure(), self.profiled():
                start = time.perf_counter()
                uri, written, checksum, multihash, _ = self.stores[
                    store].add(self.new_image_id(), reader, size, "sha512",
                               context=self.context)
                seconds = time.perf_counter() - start
        except Exception as exc:
            LOG.exception("add of %s failed", slice_name)
            raise Failed("add raised %s: %s" % (type(exc).__name__,
                                                str(exc)[:200])) from exc
        finally:
            reader.close()
        want = self.data.digests[slice_name]
        if written != s.length:
            raise Failed("add reported %d bytes, the image has %d"
                         % (written, s.length), uri)
        if checksum != want["md5"]:
            raise Failed("md5 %s, expected %s" % (checksum, want["md5"]),
                         uri)
        if multihash != want["sha512"]:
            raise Failed("sha512 differs from the image's", uri)
        return Timed(seconds, meter.seconds, uri, meter.io,
                     self.phases_of_call())

    def check_volume(self, slice_name: str, uri: str) -> dict[str, Any]:
        """Compare the volume's backing file with the image, and its size
        with the volume's in Cinder."""
        s = self.data.slices[slice_name]
        vid = volume_id_of(uri)
        path = self.backing_file(uri)
        with Expected(self.data.path(s.file), s.offset, s.length) as exp:
            problem = exp.compare_file(path)
        if problem:
            raise Failed("read back: " + problem, uri)
        st = os.stat(path)
        gib = int(self.admin.volumes.get(vid).size)
        if st.st_size > gib * GiB or gib * GiB < s.length:
            raise Failed("backing file has %d bytes; the volume is %d GiB, "
                         "the image %d bytes" % (st.st_size, gib, s.length),
                         uri)
        # Smaller than the volume (the in-tree driver truncates the file
        # to the image): the image is intact, the volume is not; reported.
        return {"allocated": st.st_blocks * 512, "file_size": st.st_size,
                "volume_gib": gib,
                "file_is_volume_size": st.st_size == gib * GiB}

    def flush_volume(self, uri: str) -> float:
        """fsync the volume's backing file; the seconds it took."""
        fd = os.open(self.backing_file(uri), os.O_RDONLY)
        try:
            start = time.perf_counter()
            os.fsync(fd)
            return time.perf_counter() - start
        finally:
            os.close(fd)

    # -- read -----------------------------------------------------------
    def read_all(self, uri: str, slice_name: str, exclude_compare: bool
                 ) -> Timed:
        """Timed ``get`` of the whole image, every chunk compared."""
        s = self.data.slices[slice_name]
        meter = Meter(self.devices_of(uri))
        self.phases.take()
        with Expected(self.data.path(s.file), s.offset, s.length) as exp, \
                meter.measure(), self.profiled():
            start = time.perf_counter()
            try:
                store, loc = self.location(uri)
                reader, length = store.get(loc, context=self.context)
            except Exception as exc:
                raise Failed("get raised %s: %s" % (
                    type(exc).__name__, str(exc)[:200])) from exc
            try:
                if length != s.length:
                    raise Failed("get reported %d bytes, the image has %d"
                                 % (length, s.length))
                pos, compare = _compare_chunks(reader, exp)
            finally:
                close = getattr(reader, "close", None)
                if callable(close):
                    close()
            seconds = time.perf_counter() - start
        if pos != s.length:
            raise Failed("get returned %d bytes, the image has %d"
                         % (pos, s.length))
        cpu = dict(meter.seconds, compare_cpu_s=compare[1])
        return Timed(seconds - compare[0] if exclude_compare else seconds,
                     cpu, io=meter.io, phases=self.phases_of_call())


def _compare_chunks(reader: Any, exp: Expected
                    ) -> tuple[int, tuple[float, float]]:
    """Every chunk against the image: bytes read, and the (wall, CPU)
    seconds spent comparing."""
    pos, wall, cpu = 0, 0.0, 0.0
    for chunk in reader:
        w0, c0 = time.perf_counter(), time.thread_time()
        if not exp.matches(pos, chunk):
            raise Failed("get: " + first_difference(exp, pos, chunk))
        pos += len(chunk)
        wall += time.perf_counter() - w0
        cpu += time.thread_time() - c0
    return pos, (wall, cpu)
