"""Processes: each service runs in its own session; its pid file holds the
pid, the kernel start time (so that a stale file never matches a reused pid
after a reboot) and a hash of how it was started."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from openstack_aio.paths import P
from openstack_aio.settings import HOST
from openstack_aio.settings import WAIT
from openstack_aio.settings import AioError
from openstack_aio.settings import say
from openstack_aio.util import mkdirs
from openstack_aio.util import port_open

# Environment variables that are part of how a service is started.
SPEC_ENV_PREFIXES = ("OS_", "RABBITMQ_", "ERL_", "HOME", "PATH",
                     "VIRTUAL_ENV", "GSC_")


@dataclass(frozen=True)
class ProcStat:
    state: str
    ppid: int
    pgrp: int
    session: int
    start: str


def proc_stat(pid: int) -> ProcStat | None:
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # fields after comm: state ppid pgrp session ... starttime is field 22
    return ProcStat(state=rest[0], ppid=int(rest[1]), pgrp=int(rest[2]),
                    session=int(rest[3]), start=rest[19])


def pidfile(name: str) -> str:
    return os.path.join(P.run, name + ".pid")


def read_pidfile(name: str) -> int | None:
    """Return the pid of a live process that we started, else None."""
    try:
        with open(pidfile(name)) as f:
            pid_s, start = f.read().split()[:2]
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    st = proc_stat(pid)
    if st is None or st.start != start or st.state == "Z":
        return None
    return pid


def session_members(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st and st.session == sid and st.state != "Z":
            pids.append(int(entry))
    return pids


def children_of(pid: int) -> list[int]:
    """Live direct children of ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st and st.ppid == pid and st.state != "Z":
                found.append(int(entry))
    return sorted(found)


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    # Never the caller's directory: gunicorn puts its working directory on
    # sys.path, which would shadow the installed driver with the work
    # tree's copy.
    cwd: str = ""
    log: str = ""
    health: Callable[[], bool] | None = None
    confs: Sequence[str] = ()           # config files the process reads
    stop_timeout: float = 30
    ports: Sequence[int] = ()           # must be free before a start
    user: str | None = None             # run as this user (default: root)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.cwd = self.cwd or P.service_state(self.name)
        self.log = self.log or P.logfile(self.name + ".out")

    def pid(self) -> int | None:
        return read_pidfile(self.name)

    def spec(self) -> str:
        """Hash of how the process is started (not of the caller's env)."""
        env = sorted((k, v) for k, v in (self.env or {}).items()
                     if k.startswith(SPEC_ENV_PREFIXES))
        parts: list[object] = [self.argv, self.cwd, env]
        if self.user:
            parts.append(self.user)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]

    def spec_changed(self) -> bool:
        try:
            with open(pidfile(self.name)) as f:
                fields = f.read().split()
        except OSError:
            return True
        return len(fields) < 3 or fields[2] != self.spec()

    def running(self) -> bool:
        return self.pid() is not None

    def healthy(self) -> bool:
        if not self.running():
            return False
        try:
            return bool(self.health()) if self.health else True
        except Exception:
            return False

    def start(self) -> None:
        busy = [p for p in self.ports if port_open(p)]
        if busy:
            raise AioError("cannot start %s: port %s on %s is already in use "
                           "by a process that this state directory did not "
                           "start (another stack? see ss -ltnp)" % (
                               self.name, busy, HOST))
        mkdirs(os.path.dirname(self.log), P.run, self.cwd)
        with open(self.log, "a") as logf:
            logf.write("\n==== aio: starting %s at %s\n$ %s\n" % (
                self.name, time.strftime("%Y-%m-%d %H:%M:%S"),
                " ".join(self.argv)))
            logf.flush()
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd,
                stdin=subprocess.DEVNULL, stdout=logf,
                stderr=subprocess.STDOUT, start_new_session=True,
                close_fds=True, user=self.user, group=self.user,
                extra_groups=[] if self.user else None)
        st = proc_stat(self.proc.pid)
        with open(pidfile(self.name), "w") as f:
            f.write("%d %s %s\n" % (self.proc.pid, st.start if st else "0",
                                      self.spec()))

    def wait_healthy(self, timeout: float = WAIT,
                     logs: Sequence[str] = ()) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AioError("%s exited with status %s while starting" % (
                    self.name, self.proc.returncode), [self.log, *logs])
            if self.proc is None and not self.running():
                raise AioError("%s is not running" % self.name,
                               [self.log, *logs])
            if self.healthy():
                return
            if time.monotonic() > deadline:
                raise AioError("%s did not become healthy within %ds" % (
                    self.name, timeout), [self.log, *logs])
            time.sleep(0.3)

    def signal_stop(self) -> int | None:
        pid = self.pid()
        if pid is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pidfile(self.name))
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        return pid

    def wait_stopped(self, pid: int | None) -> None:
        if pid is None:
            return
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            if self.proc is not None:
                self.proc.poll()
            if not session_members(pid):
                break
            time.sleep(0.2)
        else:
            say("%s did not stop within %ds: killing" % (
                self.name, self.stop_timeout))
            for member in session_members(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)
            time.sleep(0.5)
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=1)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pidfile(self.name))

    def stop(self) -> None:
        self.wait_stopped(self.signal_stop())
