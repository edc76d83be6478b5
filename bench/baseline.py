"""The limits, one round: ``python -m bench.baseline SPEC.json``.

hashing
    md5 and sha512 of the known-size image's bytes, already in memory in
    4 MiB chunks: one after the other ("serial") and in two threads at once
    ("overlapped").  No driver can add faster than it can hash.
device
    The same bytes copied into a fresh file on the Cinder export with
    16 MiB writes and one fsync; then, page cache dropped, that file read
    back with 16 MiB reads.  What the storage under the volumes can do.
hash + write
    Both at once, as an add must do them: md5 and sha512 in two threads
    while the main thread writes the same 4 MiB chunks into a pre-sized
    file on the export, then fsync.  What a driver could reach on this
    machine without Cinder.
cinder
    Cinder's own time for what every image costs, whatever the driver:
    create a 1 GiB volume and poll it (every 20 ms) until available;
    attachment create, update (with this host's connector), os-brick
    connect (mounts the share), attachment complete; os-brick disconnect,
    unmount, attachment delete.  One untimed cycle first (privsep start).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from bench import cleanup
from bench import common
from bench.common import MiB
from bench.common import drop_caches
from bench.common import unmount_all_under
from bench.common import write_json
from bench.data import FULL
from bench.data import QUICK
from bench.data import DataSet
from bench.data import new_hash

LOG = logging.getLogger("bench.baseline")

CHUNK = 4 * MiB
DEVICE_IO = 16 * MiB
POLL = 0.02


class Baseline:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.env = spec["env"]
        self.round = spec["round"]
        self.profile = QUICK if spec["profile"] == "quick" else FULL
        self.data = DataSet(spec["data_dir"], self.profile)
        self.data.prepare(log=lambda *_: None)
        self.samples: list[dict[str, Any]] = []

    def record(self, name: str, seconds: float | None, nbytes: int,
               ok: bool = True, error: str | None = None,
               **extra: Any) -> None:
        sample = {"workload": name, "contender": "limit",
                  "round": self.round, "seconds": seconds,
                  "bytes": nbytes, "ok": ok, "error": error}
        if extra.pop("outage", False):
            sample["outage"] = True
        if extra:
            sample["extra"] = extra
        self.samples.append(sample)
        LOG.info("%s round %d: %s", name, self.round,
                 "%.3fs" % seconds if seconds is not None else error)
        write_json(self.spec["out"], {"samples": self.samples})

    # -- hashing ----------------------------------------------------------
    def hashing(self) -> None:
        s = self.data.slices["known"]
        chunks = self._chunks()
        want = self.data.digests["known"]

        def digest(algorithm: str) -> str:
            h = new_hash(algorithm)
            for c in chunks:
                h.update(c)
            return h.hexdigest()

        serial = {}
        for algorithm in ("md5", "sha512"):
            start = time.perf_counter()
            got = digest(algorithm)
            serial[algorithm] = time.perf_counter() - start
            assert got == want[algorithm], "hashing is broken"
        self.record("hash_md5", serial["md5"], s.length)
        self.record("hash_sha512", serial["sha512"], s.length)
        self.record("hash_serial", serial["md5"] + serial["sha512"],
                    s.length)

        results: dict[str, str] = {}
        threads = [threading.Thread(
            target=lambda a=a: results.__setitem__(a, digest(a)))
            for a in ("md5", "sha512")]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        assert results == {a: want[a] for a in results}
        self.record("hash_overlapped", seconds, s.length)

    # -- device -----------------------------------------------------------
    def _chunks(self) -> list[bytes]:
        s = self.data.slices["known"]
        fd = os.open(self.data.path(s.file), os.O_RDONLY)
        try:
            return [os.pread(fd, min(CHUNK, s.length - pos), s.offset + pos)
                    for pos in range(0, s.length, CHUNK)]
        finally:
            os.close(fd)

    def device(self) -> None:
        s = self.data.slices["known"]
        path = os.path.join(self.env["nfs"]["export_dir"],
                            "%sdevice-%d.tmp" % (self.spec["name_prefix"],
                                                 self.round))
        src = os.open(self.data.path(s.file), os.O_RDONLY)
        try:
            os.sync()
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                start = time.perf_counter()
                pos = 0
                while pos < s.length:
                    buf = os.pread(src, min(DEVICE_IO, s.length - pos),
                                   s.offset + pos)
                    view = memoryview(buf)
                    while view:
                        view = view[os.write(out, view):]
                    pos += len(buf)
                os.fsync(out)
                seconds = time.perf_counter() - start
            finally:
                os.close(out)
            self.record("device_write", seconds, s.length)
            drop_caches()
            fd = os.open(path, os.O_RDONLY)
            try:
                start = time.perf_counter()
                got = 0
                while True:
                    buf = os.read(fd, DEVICE_IO)
                    if not buf:
                        break
                    got += len(buf)
                seconds = time.perf_counter() - start
            finally:
                os.close(fd)
            assert got == s.length
            self.record("device_read", seconds, s.length)
        finally:
            os.close(src)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self.hash_and_write(path)

    def hash_and_write(self, path: str) -> None:
        """What an add must do, without Cinder: md5 and sha512 in two
        threads while this thread writes the same 4 MiB chunks into a
        pre-sized (sparse, like a Cinder NFS volume) file; then fsync."""
        s = self.data.slices["known"]
        chunks = self._chunks()
        want = self.data.digests["known"]
        got: dict[str, str] = {}

        def digest(algorithm: str) -> None:
            h = new_hash(algorithm)
            for c in chunks:
                h.update(c)
            got[algorithm] = h.hexdigest()

        os.sync()
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(out, s.length)
            threads = [threading.Thread(target=digest, args=(a,))
                       for a in ("md5", "sha512")]
            start = time.perf_counter()
            for t in threads:
                t.start()
            pos = 0
            for c in chunks:
                view = memoryview(c)
                while view:
                    n = os.pwrite(out, view, pos)
                    view = view[n:]
                    pos += n
            os.fsync(out)
            for t in threads:
                t.join()
            seconds = time.perf_counter() - start
        finally:
            os.close(out)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        assert got == {a: want[a] for a in got}, "hashing is broken"
        self.record("hash_write", seconds, s.length)

    # -- cinder -----------------------------------------------------------
    def _setup_brick(self) -> None:
        from oslo_config import cfg
        workdir = self.spec["workdir"]
        os.makedirs(workdir, exist_ok=True)
        conf_path = os.path.join(workdir, "os-brick.conf")
        with open(conf_path, "w", encoding="utf-8") as f:
            f.write("[os_brick]\nlock_path = %s\n\n"
                    "[oslo_concurrency]\nlock_path = %s\n\n"
                    "[privsep_osbrick]\nhelper_command = %s\n"
                    % (self.env["os_brick"]["lock_path"],
                       os.path.join(workdir, "locks"),
                       self.env["os_brick"]["privsep_helper_command"]))
        import os_brick
        from os_brick.initiator import connector
        cfg.CONF(["--config-file", conf_path], project="bench")
        os_brick.setup(cfg.CONF)
        self.mount_base = os.path.join(workdir, "mnt")
        try:
            ip = socket.gethostbyname(socket.gethostname())
        except OSError:
            ip = "127.0.0.1"
        self.connector_props = connector.get_connector_properties(
            "sudo", ip, False, False, host=socket.gethostname())
        self.brick = connector.InitiatorConnector.factory(
            "NFS", "sudo", conn={"mount_point_base": self.mount_base})

    def _service_client(self) -> Any:
        from cinderclient import api_versions
        from cinderclient.v3 import client as cinder_v3
        from keystoneauth1 import identity
        from keystoneauth1 import session as ks_session
        svc = self.env["service_user"]
        auth = identity.V3Password(
            auth_url=self.env["keystone"]["auth_url"],
            username=svc["username"], password=svc["password"],
            project_name=svc["project_name"],
            user_domain_name=svc["user_domain_name"],
            project_domain_name=svc["project_domain_name"])
        return cinder_v3.Client(session=ks_session.Session(auth=auth),
                                service_type="volumev3",
                                api_version=api_versions.APIVersion("3.54"))

    def _cycle(self, client: Any, index: int) -> dict[str, float]:
        steps: dict[str, float] = {}
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            steps[name] = now - t
            t = now

        volume = client.volumes.create(
            1, name="%s%d-%d" % (self.spec["name_prefix"], self.round,
                                 index),
            volume_type=self.env["volume_types"]["fast"])
        self._volumes.append(volume.id)
        while True:
            status = client.volumes.get(volume.id).status
            if status == "available":
                break
            if status not in ("creating", "downloading"):
                raise RuntimeError("volume %s is %s" % (volume.id, status))
            time.sleep(POLL)
        lap("create")
        att = client.attachments.create(volume.id, None, mode="rw")
        lap("attachment_create")
        updated = client.attachments.update(att["id"],
                                            self.connector_props)
        lap("attachment_update")
        info = dict(updated.connection_info)
        device = self.brick.connect_volume(info)
        lap("connect")
        client.attachments.complete(att["id"])
        lap("attachment_complete")
        self.brick.disconnect_volume(info, device)
        lap("disconnect")
        unmount_all_under(self.mount_base)
        lap("unmount")
        client.attachments.delete(att["id"])
        lap("attachment_delete")
        return steps

    def cinder(self) -> None:
        self._setup_brick()
        client = self._service_client()
        admin = cleanup.admin_client(self.env)
        self._volumes: list[str] = []
        try:
            for i in range(self.profile.cinder_cycles + 1):
                steps = self._cycle(client, i)
                if i == 0:
                    continue  # warm-up: privsep daemon, sessions
                total = sum(steps.values())
                self.record("cinder_cycle", total, 0, **steps)
        finally:
            unmount_all_under(self.mount_base)
            for vid in self._volumes:
                try:
                    cleanup.remove_volume(admin, admin.volumes.get(vid))
                except Exception as exc:
                    LOG.info("volume %s: %s", vid, exc)
            cleanup.wait_gone(admin, self._volumes)

    def run(self) -> int:
        rc = 0
        for part in self.spec["parts"]:
            try:
                getattr(self, part)()
            except Exception as exc:
                LOG.exception("baseline %s failed", part)
                outage = cleanup.is_outage(exc)
                if not outage:
                    try:
                        cleanup.admin_client(self.env).volume_types.list()
                    except Exception:
                        outage = True
                self.record(part, None, 0, ok=False,
                            error="%s: %s" % (type(exc).__name__, exc),
                            **({"outage": True} if outage else {}))
                rc = 1
        return rc


def main(argv: list[str]) -> int:
    return common.run_process(argv, Baseline, quiet=())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
