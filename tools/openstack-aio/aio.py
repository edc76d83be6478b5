#!/usr/bin/env python3
"""All-in-one Keystone + Cinder (NFS) + RabbitMQ + Glance for functional tests.

Called through the ``up``, ``down`` and ``status`` wrappers beside this file.
Standard library only: it runs before any virtualenv exists.

Everything lives under ``$GSC_AIO_DIR`` (default
/var/lib/glance-store-cinder-aio).  Services listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STATE = os.path.abspath(
    os.environ.get("GSC_AIO_DIR") or "/var/lib/glance-store-cinder-aio")

HOST = "127.0.0.1"
PORTS = {
    "keystone": 5000,
    "cinder": 8776,
    "glance": 9292,
    "amqp": 5679,
    "rabbit_dist": 25679,
    "epmd": 24369,
}
KEYSTONE_URL = "http://%s:%d" % (HOST, PORTS["keystone"])
AUTH_URL = KEYSTONE_URL + "/v3"
CINDER_URL = "http://%s:%d" % (HOST, PORTS["cinder"])
CINDER_TEMPLATE = CINDER_URL + "/v3/%(project_id)s"
GLANCE_URL = "http://%s:%d" % (HOST, PORTS["glance"])
REGION = "RegionOne"
CINDER_HOST = "gsc-aio"          # fixed [DEFAULT] host of the cinder services
BACKEND = "nfs"                  # cinder backend section and backend name
VOLUME_TYPES = {"fast": "glance-fast", "slow": "glance-slow",
                "missing": "glance-missing"}
DEMOS = ("demo-a", "demo-b")
QUOTA_VOLUMES = 1000
QUOTA_GIGABYTES = 10000
EXPORT_SIZE = os.environ.get("GSC_AIO_EXPORT_SIZE", "64G")
DEBUG = os.environ.get("GSC_AIO_DEBUG", "1") not in ("0", "false", "no", "")
WAIT = int(os.environ.get("GSC_AIO_TIMEOUT", "180"))   # per readiness wait
MOUNT_HELPER = "/sbin/fs.d/mount.nfs"
HELPER_MARK = "glance-store-cinder-aio mount.nfs stand-in"
APT_PACKAGES = ("rabbitmq-server", "qemu-utils", "e2fsprogs", "util-linux")
RABBIT_BIN = "/usr/lib/rabbitmq/bin"

# Versions that are known to run together on this kind of machine; the
# constraints file beside this script pins the rest of the dependency tree.
PINS = {
    "keystone": ["keystone==30.0.0", "gunicorn==27.0.1"],
    "cinder": ["cinder==29.0.0", "python-cinderclient==9.10.0",
               "os-brick==7.1.1", "keystonemiddleware==13.0.1",
               "python-glanceclient==4.13.0"],
    "glance": ["glance==33.0.0", "glance-store==5.7.0", "gunicorn==27.0.1",
               "python-cinderclient==9.10.0", "os-brick==7.1.1",
               "keystonemiddleware==13.0.1", "python-glanceclient==4.13.0",
               "setuptools>=68", "wheel"],
}
CONSTRAINTS = os.path.join(HERE, "constraints.txt")


class AioError(Exception):
    def __init__(self, msg, logs=()):
        super().__init__(msg)
        self.logs = [log for log in logs if log]


def say(msg):
    print("aio: " + msg, flush=True)


# --------------------------------------------------------------------------
# paths


class P:
    state = STATE
    venv = os.path.join(STATE, "venv")
    etc = os.path.join(STATE, "etc")
    db = os.path.join(STATE, "db")
    log = os.path.join(STATE, "log")
    run = os.path.join(STATE, "run")
    locks = os.path.join(STATE, "locks")
    brick_locks = os.path.join(STATE, "locks", "os-brick")
    export_img = os.path.join(STATE, "export.img")
    export_dir = os.path.join(STATE, "export")
    cinder_mnt = os.path.join(STATE, "cinder-mnt")
    glance_mnt = os.path.join(STATE, "glance-mnt")
    client_mnt = os.path.join(STATE, "client-mnt")
    rabbit = os.path.join(STATE, "rabbitmq")
    secrets = os.path.join(STATE, "secrets.json")
    env_json = os.path.join(STATE, "env.json")
    helper_src = os.path.join(STATE, "bin", "mount.nfs")

    @staticmethod
    def vbin(venv, prog):
        return os.path.join(STATE, "venv", venv, "bin", prog)

    @staticmethod
    def conf(*parts):
        return os.path.join(STATE, "etc", *parts)


MOUNT_BASES = (P.cinder_mnt, P.glance_mnt, P.client_mnt)
SHARE = "%s:%s" % (HOST, P.export_dir)


# --------------------------------------------------------------------------
# small helpers


TIMINGS: dict[str, float] = {}


@contextlib.contextmanager
def phase(name):
    t0 = time.monotonic()
    yield
    dt = time.monotonic() - t0
    TIMINGS[name] = round(dt, 2)
    say("phase %s %.2fs" % (name, dt))


def run(argv, log=None, env=None, check=True, timeout=900, input=None):
    """Run a command; on failure raise AioError with its output."""
    out = subprocess.run(argv, env=env, input=input, capture_output=True,
                         text=True, timeout=timeout)
    if log:
        with open(log, "a") as f:
            f.write("$ %s\n%s%s" % (" ".join(argv), out.stdout, out.stderr))
    if check and out.returncode != 0:
        tail = (out.stdout + out.stderr).strip().splitlines()[-40:]
        raise AioError("command failed (exit %d): %s\n%s" % (
            out.returncode, " ".join(argv), "\n".join(tail)), [log])
    return out


def tail(path, n=60):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        return "(cannot read %s: %s)" % (path, exc)
    return "\n".join(lines[-n:])


def write_if_changed(path, text, mode=0o644):
    """Write a file; return True when its content changed."""
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def ini(sections):
    """Render {section: {key: value}} as an ini file."""
    out = []
    for name, opts in sections.items():
        out.append("[%s]" % name)
        for key, value in opts.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            out.append("%s = %s" % (key, value))
        out.append("")
    return "\n".join(out)


def port_open(port, host=HOST, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http(method, url, body=None, token=None, headers=None, timeout=30):
    """Return (status, headers, parsed json or text)."""
    hdrs = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["X-Auth-Token"] = token
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, rh, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, rh, raw = exc.code, exc.headers, exc.read()
    text = raw.decode("utf-8", "replace")
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = text
    return status, rh, payload


def api(method, url, body=None, token=None, ok=(200, 201, 202, 204),
        headers=None):
    status, rh, payload = http(method, url, body, token, headers)
    if status not in ok:
        raise AioError("%s %s -> %d: %s" % (method, url, status,
                                            str(payload)[:800]))
    return payload, rh


def mkdirs(*dirs):
    for d in dirs:
        os.makedirs(d, exist_ok=True)


# --------------------------------------------------------------------------
# processes: each service runs in its own session; its pid file holds the
# pid and the kernel start time so that a stale file never matches a reused
# pid after a reboot.


def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # fields after comm: state ppid pgrp session ... starttime is field 22
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]),
            "session": int(rest[3]), "start": rest[19]}


def pidfile(name):
    return os.path.join(P.run, name + ".pid")


def read_pidfile(name):
    """Return the pid of a live process that we started, else None."""
    try:
        with open(pidfile(name)) as f:
            pid_s, start = f.read().split()[:2]
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    st = proc_stat(pid)
    if st is None or st["start"] != start or st["state"] == "Z":
        return None
    return pid


def session_members(sid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st and st["session"] == sid and st["state"] != "Z":
            pids.append(int(entry))
    return pids


class Service:
    def __init__(self, name, argv, env=None, cwd=None, log=None,
                 health=None, confs=(), stop_timeout=30, ports=()):
        self.name = name
        self.argv = argv
        self.env = env
        # Never the caller's directory: gunicorn puts its working directory
        # on sys.path, which would shadow the installed driver with the work
        # tree's copy.
        self.cwd = cwd or os.path.join(STATE, "state", name)
        self.log = log or os.path.join(P.log, name + ".out")
        self.health = health        # callable -> bool
        self.confs = confs          # config files the process reads
        self.stop_timeout = stop_timeout
        self.ports = ports          # must be free before a start
        self.proc = None
        self.started_at = None

    def pid(self):
        return read_pidfile(self.name)

    def spec(self):
        """Hash of how the process is started (not of the caller's env)."""
        keep = ("OS_", "RABBITMQ_", "ERL_", "HOME", "PATH", "VIRTUAL_ENV",
                "GSC_")
        env = sorted((k, v) for k, v in (self.env or {}).items()
                     if k.startswith(keep))
        return hashlib.sha256(json.dumps(
            [self.argv, self.cwd, env]).encode()).hexdigest()[:16]

    def spec_changed(self):
        try:
            with open(pidfile(self.name)) as f:
                fields = f.read().split()
        except OSError:
            return True
        return len(fields) < 3 or fields[2] != self.spec()

    def running(self):
        return self.pid() is not None

    def healthy(self):
        if not self.running():
            return False
        try:
            return bool(self.health()) if self.health else True
        except Exception:
            return False

    def start(self):
        busy = [p for p in self.ports if port_open(p)]
        if busy:
            raise AioError("cannot start %s: port %s on %s is already in use "
                           "by a process that this state directory did not "
                           "start (another stack? see ss -ltnp)" % (
                               self.name, busy, HOST))
        mkdirs(os.path.dirname(self.log), P.run, self.cwd)
        logf = open(self.log, "a")
        logf.write("\n==== aio: starting %s at %s\n$ %s\n" % (
            self.name, time.strftime("%Y-%m-%d %H:%M:%S"),
            " ".join(self.argv)))
        logf.flush()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
            close_fds=True)
        logf.close()
        self.started_at = time.monotonic()
        st = proc_stat(self.proc.pid)
        with open(pidfile(self.name), "w") as f:
            f.write("%d %s %s\n" % (self.proc.pid,
                                      st["start"] if st else "0",
                                      self.spec()))

    def wait_healthy(self, timeout=WAIT, logs=()):
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

    def signal_stop(self):
        pid = self.pid()
        if pid is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pidfile(self.name))
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        return pid

    def wait_stopped(self, pid):
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

    def stop(self):
        self.wait_stopped(self.signal_stop())


# --------------------------------------------------------------------------
# secrets: generated once per state directory


def load_secrets():
    try:
        with open(P.secrets) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {}
    changed = False
    for key in ("admin", "glance", "cinder", "rabbit", *DEMOS):
        if key not in data:
            data[key] = secrets.token_hex(12)
            changed = True
    if changed:
        save_secrets(data)
    return data


def save_secrets(data):
    write_if_changed(P.secrets, json.dumps(data, indent=2) + "\n", 0o600)


# --------------------------------------------------------------------------
# install


def find_base_python():
    cand = os.environ.get("GSC_AIO_PYTHON")
    cands = [cand] if cand else []
    cands += [shutil.which("python3.11"), "/usr/bin/python3.11",
              sys.executable]
    for c in cands:
        if not c or not os.path.exists(c):
            continue
        out = subprocess.run([c, "-c", "import sys, venv, ensurepip; "
                              "print(sys.version_info[:2] >= (3, 10))"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() == "True":
            return c
    return None


def dpkg_installed(pkg):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                         capture_output=True, text=True)
    return out.returncode == 0 and "install ok installed" in out.stdout


def ensure_apt(extra=()):
    if os.path.exists("/sbin/mount.nfs") or dpkg_installed("nfs-common"):
        raise AioError(
            "a real mount.nfs (Debian's nfs-common) is installed: it cannot "
            "work on this kernel and mount(8) prefers it over the stand-in. "
            "Remove it first: apt-get remove nfs-common")
    missing = [p for p in (*APT_PACKAGES, *extra) if not dpkg_installed(p)]
    if not missing:
        return
    log = os.path.join(P.log, "apt.log")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends",
           *missing]
    # Debian's policy-rc.d keeps the package from starting its own node; if
    # a machine lacks one, the package's node would start on 5672: that one
    # is not ours and we leave it alone.
    say("apt-get install %s" % " ".join(missing))
    if run(cmd, log=log, env=env, check=False).returncode != 0:
        run(["apt-get", "update", "-q"], log=log, env=env)
        run(cmd, log=log, env=env)


def venv_spec(name):
    h = hashlib.sha256()
    h.update(json.dumps(PINS[name]).encode())
    if os.path.exists(CONSTRAINTS):
        with open(CONSTRAINTS, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def pip_argv(name, *args):
    argv = [P.vbin(name, "python"), "-m", "pip", "--disable-pip-version-check",
            "--no-input", "install", *args]
    if os.path.exists(CONSTRAINTS):
        argv += ["-c", CONSTRAINTS]
    return argv


def venv_needs_install(name):
    marker = os.path.join(P.venv, name, ".aio-installed")
    try:
        with open(marker) as f:
            ok = f.read().strip() == venv_spec(name)
    except OSError:
        ok = False
    return not (ok and os.access(P.vbin(name, "python"), os.X_OK))


def start_venv_install(name, base_python):
    """Create the venv if needed and start pip in the background."""
    vdir = os.path.join(P.venv, name)
    log = os.path.join(P.log, "pip-%s.log" % name)
    py = P.vbin(name, "python")
    if not os.access(py, os.X_OK) or subprocess.run(
            [py, "-c", "pass"], capture_output=True).returncode != 0:
        shutil.rmtree(vdir, ignore_errors=True)
        run([base_python, "-m", "venv", vdir], log=log)
    logf = open(log, "a")
    argv = pip_argv(name, *PINS[name])
    logf.write("$ %s\n" % " ".join(argv))
    logf.flush()
    proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    logf.close()
    return proc, log


def finish_venv_install(name, proc, log):
    if proc.wait() != 0:
        raise AioError("pip install into the %s venv failed" % name, [log])
    with open(os.path.join(P.venv, name, ".aio-installed"), "w") as f:
        f.write(venv_spec(name) + "\n")


def install_sqlite_hook(name):
    """Put sqlite_immediate.py into a venv; True when it changed."""
    sp = glob.glob(os.path.join(P.venv, name, "lib", "python3*",
                                "site-packages"))
    if not sp:
        raise AioError("no site-packages in the %s venv" % name)
    with open(os.path.join(HERE, "sqlite_immediate.py")) as f:
        code = f.read()
    changed = write_if_changed(
        os.path.join(sp[0], "gsc_aio_sqlite_immediate.py"), code)
    changed |= write_if_changed(
        os.path.join(sp[0], "gsc_aio_sqlite_immediate.pth"),
        "import gsc_aio_sqlite_immediate\n")
    return changed


def install_project():
    """(Re)install this repository into the glance venv; True if changed.

    The source is copied first so that no build artefact lands in the work
    tree that other people edit.  Dependencies are resolved again only when
    the packaging metadata changed."""
    src = os.path.join(STATE, "build", "src")
    shutil.rmtree(src, ignore_errors=True)
    ignore = shutil.ignore_patterns(
        ".git", ".aio", ".venv", ".tox", "build", "dist", "*.egg-info",
        "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
        "tests", "bench", "tools", "*.pyc")
    shutil.copytree(REPO, src, ignore=ignore, symlinks=True)
    log = os.path.join(P.log, "pip-project.log")
    meta = [os.path.join(src, f) for f in ("setup.cfg", "setup.py",
                                            "pyproject.toml")
            if os.path.exists(os.path.join(src, f))]
    meta_hash = tree_hash(*meta) + venv_spec("glance")
    code_hash = tree_hash(src)
    stamp = os.path.join(P.venv, "glance", ".aio-project")
    try:
        with open(stamp) as f:
            old_meta, old_code = f.read().split()
    except (OSError, ValueError):
        old_meta = old_code = ""
    if old_meta != meta_hash:
        run(pip_argv("glance", "--no-build-isolation", src), log=log)
    run(pip_argv("glance", "--no-build-isolation", "--no-deps",
                 "--force-reinstall", src), log=log)
    with open(stamp, "w") as f:
        f.write("%s %s\n" % (meta_hash, code_hash))
    out = run([P.vbin("glance", "python"), "-c",
               "from importlib.metadata import entry_points as e;"
               "print(*[x.value for x in e(group='glance_store.drivers')"
               " if x.name == 'volume'] or ['MISSING'])"], log=log)
    say("glance venv: glance_store.drivers volume = %s" % out.stdout.strip())
    return old_code != code_hash


# --------------------------------------------------------------------------
# export: sparse ext4 image on a loop device, mounted with discard


def mountinfo():
    """List of (mount point, source) from /proc/self/mountinfo."""
    result = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            mp = parts[4].encode().decode("unicode_escape")
            result.append((mp, parts[sep + 2]))
    return result


def is_mounted(path):
    return any(mp == path for mp, _ in mountinfo())


def loops_of(img):
    out = subprocess.run(["losetup", "-j", img, "-O", "NAME", "-n"],
                         capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def ensure_export():
    mkdirs(P.export_dir, *MOUNT_BASES, P.brick_locks)
    log = os.path.join(P.log, "export.log")
    if not os.path.exists(P.export_img):
        run(["truncate", "-s", EXPORT_SIZE, P.export_img + ".new"], log=log)
        run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E",
             "nodiscard,lazy_itable_init=1", "-L", "gsc-aio",
             P.export_img + ".new"], log=log)
        os.replace(P.export_img + ".new", P.export_img)
    loops = loops_of(P.export_img)
    if is_mounted(P.export_dir):
        src = [s for mp, s in mountinfo() if mp == P.export_dir][-1]
        if src not in loops:
            raise AioError("%s is mounted from %s, not from %s" % (
                P.export_dir, src, P.export_img))
        dev = src
    else:
        if loops:
            dev = loops[0]
        else:
            dev = run(["losetup", "-f", "--show", P.export_img],
                      log=log).stdout.strip()
        # A previous machine session may have died with the fs mounted.
        fsck = run(["e2fsck", "-p", dev], log=log, check=False)
        if fsck.returncode not in (0, 1):
            raise AioError("e2fsck of the export failed", [log])
        run(["mount", "-t", "ext4", "-o", "discard", dev, P.export_dir],
            log=log)
    for extra in loops_of(P.export_img):
        if extra != dev:
            run(["losetup", "-d", extra], log=log, check=False)
    os.chmod(P.export_dir, 0o755)
    write_if_changed(os.path.join(P.run, "loopdev"), dev + "\n")
    return dev


def ensure_mount_helper():
    with open(os.path.join(HERE, "mount.nfs.in")) as f:
        text = f.read()
    text = text.replace("@EXPORT_DIR@", P.export_dir)
    text = text.replace("@LOCK_FILE@", os.path.join(P.locks, "mount.nfs.lock"))
    mkdirs(P.locks)
    write_if_changed(P.helper_src, text, 0o755)
    if os.path.lexists(MOUNT_HELPER):
        with open(MOUNT_HELPER, errors="replace") as f:
            current = f.read()
        if HELPER_MARK not in current:
            raise AioError("%s exists and is not ours; remove it" %
                           MOUNT_HELPER)
        if current == text:
            return
    mkdirs(os.path.dirname(MOUNT_HELPER))
    write_if_changed(MOUNT_HELPER, text, 0o755)


# --------------------------------------------------------------------------
# configuration files


def base_env(venv=None):
    # Nothing of the caller's that is part of Service.spec(): the same
    # stack started from tools/demo, tools/run-tests (GSC_AIO_DIR exported)
    # or a shell (sudo's HOME) must not look changed and be restarted.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "VIRTUAL_ENV", "PYTHON", "GSC_"))}
    env["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    path = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
            "/sbin", "/bin", os.path.dirname(MOUNT_HELPER)]
    if venv:
        path.insert(0, os.path.dirname(P.vbin(venv, "python")))
        env["VIRTUAL_ENV"] = os.path.join(P.venv, venv)
        env["GSC_AIO_SQLITE_IMMEDIATE"] = "1"   # see sqlite_immediate.py
    env["PATH"] = ":".join(path)
    env["LC_ALL"] = env["LANG"] = "C.UTF-8"
    return env


def sqlite_url(name):
    return "sqlite:///%s?timeout=60" % os.path.join(P.db, name + ".sqlite")


def keystone_authtoken(user, password):
    return {
        "www_authenticate_uri": AUTH_URL,
        "auth_url": AUTH_URL,
        "auth_type": "password",
        "username": user,
        "password": password,
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "service_token_roles_required": True,
    }


def rabbit_env():
    env = base_env()
    env.update({
        "HOME": P.rabbit,
        "RABBITMQ_NODENAME": "gscaio@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(PORTS["amqp"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbit_dist"]),
        "ERL_EPMD_ADDRESS": HOST,
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
        "RABBITMQ_MNESIA_BASE": os.path.join(P.rabbit, "mnesia"),
        "RABBITMQ_LOG_BASE": os.path.join(P.log, "rabbitmq"),
        "RABBITMQ_CONFIG_FILE": P.conf("rabbitmq", "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": P.conf("rabbitmq",
                                                "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": P.conf("rabbitmq", "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": P.conf("rabbitmq",
                                                "enabled_plugins"),
        "RABBITMQ_PID_FILE": os.path.join(P.run, "rabbitmq-beam.pid"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(P.rabbit, "plugins"),
    })
    return env


def write_rabbit_conf(sec):
    changed = write_if_changed(P.conf("rabbitmq", "rabbitmq.conf"), "\n".join([
        "listeners.tcp.default = %s:%d" % (HOST, PORTS["amqp"]),
        "loopback_users = none",
        "default_user = aio",
        "default_pass = %s" % sec["rabbit"],
        "log.console = false",
        "log.file.level = info",
        "disk_free_limit.absolute = 50MB",
        ""]))
    changed |= write_if_changed(P.conf("rabbitmq", "advanced.config"), "[].\n")
    changed |= write_if_changed(P.conf("rabbitmq", "rabbitmq-env.conf"), "")
    changed |= write_if_changed(P.conf("rabbitmq", "enabled_plugins"), "[].\n")
    return changed


def transport_url(sec):
    return "rabbit://aio:%s@%s:%d/" % (sec["rabbit"], HOST, PORTS["amqp"])


def write_keystone_conf(sec):
    kdir = P.conf("keystone")
    changed = write_if_changed(os.path.join(kdir, "keystone.conf"), ini({
        "DEFAULT": {
            "debug": False,
            "log_file": os.path.join(P.log, "keystone.log"),
            "use_stderr": False,
        },
        "database": {"connection": sqlite_url("keystone")},
        "token": {"provider": "fernet", "expiration": 86400},
        "fernet_tokens": {"key_repository": os.path.join(kdir, "fernet-keys")},
        "credential": {"key_repository": os.path.join(kdir,
                                                      "credential-keys")},
        "identity": {"password_hash_rounds": 4},
        # in-process caches: token validation and role lookups otherwise
        # cost about 0.2 s per request
        "cache": {"enabled": True, "backend": "oslo_cache.dict",
                  "expiration_time": 600},
    }))
    # oslo.config would otherwise parse gunicorn's own command line.
    changed |= write_if_changed(os.path.join(kdir, "keystone_wsgi.py"), (
        "import sys\n"
        "sys.argv = sys.argv[:1]\n"
        "from keystone.server.wsgi import initialize_public_application\n"
        "application = initialize_public_application()\n"))
    return changed


def cinder_conf_path():
    return P.conf("cinder", "cinder.conf")


def glance_conf_path():
    return P.conf("glance", "glance-api.conf")


def write_cinder_conf(sec):
    cdir = P.conf("cinder")
    cetc = os.path.join(P.venv, "cinder", "etc", "cinder")
    conf = cinder_conf_path()
    privsep = "%s --config-file %s" % (P.vbin("cinder", "privsep-helper"),
                                       conf)
    sections = {
        "DEFAULT": {
            "debug": DEBUG,
            "log_dir": P.log,
            "use_stderr": False,
            "state_path": os.path.join(STATE, "state", "cinder"),
            "host": CINDER_HOST,
            "my_ip": HOST,
            "transport_url": transport_url(sec),
            "auth_strategy": "keystone",
            "osapi_volume_listen": HOST,
            "osapi_volume_listen_port": PORTS["cinder"],
            "osapi_volume_workers": 1,
            "api_paste_config": os.path.join(cetc, "api-paste.ini"),
            "resource_query_filters_file": os.path.join(
                cetc, "resource_filters.json"),
            "rootwrap_config": os.path.join(cetc, "rootwrap.conf"),
            "enabled_backends": BACKEND,
            "report_interval": 5,
            "service_down_time": 60,
            "periodic_interval": 30,
            "graceful_shutdown_timeout": 10,
            "scheduler_default_filters":
                "AvailabilityZoneFilter,CapacityFilter,CapabilitiesFilter",
            # Phase 2: Glance.  Present from the start so that adding
            # glance-api later needs no restart of the cinder services.
            "glance_api_servers": GLANCE_URL,
            "allowed_direct_url_schemes": "cinder",
        },
        "database": {"connection": sqlite_url("cinder")},
        "keystone_authtoken": keystone_authtoken("cinder", sec["cinder"]),
        "oslo_concurrency": {"lock_path": os.path.join(P.locks, "cinder")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "coordination": {
            "backend_url": "file://" + os.path.join(STATE, "state",
                                                    "coordination"),
        },
        "os_brick": {"lock_path": P.brick_locks},
        "cinder_sys_admin": {"helper_command": privsep},
        "privsep_osbrick": {"helper_command": privsep},
        # Service user that reads image locations from Glance (needs the
        # "service" role for Glance's service-only locations API).
        "glance": {
            "auth_type": "password",
            "auth_url": AUTH_URL,
            "username": "cinder",
            "password": sec["cinder"],
            "project_name": "service",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        BACKEND: {
            "volume_driver": "cinder.volume.drivers.nfs.NfsDriver",
            "volume_backend_name": BACKEND,
            "nfs_shares_config": os.path.join(cdir, "nfs_shares"),
            "nfs_mount_point_base": P.cinder_mnt,
            "nfs_sparsed_volumes": True,
            "nfs_snapshot_support": True,
            "nas_secure_file_operations": False,
            "nas_secure_file_permissions": False,
            "image_upload_use_cinder_backend": True,
            "max_over_subscription_ratio": 20.0,
            "reserved_percentage": 0,
        },
    }
    changed = write_if_changed(os.path.join(cdir, "nfs_shares"), SHARE + "\n")
    changed |= write_if_changed(conf, ini(sections), 0o640)
    return changed


def write_client_conf():
    """Config for a client-side privsep daemon (os-brick in test code)."""
    path = P.conf("client", "os-brick-client.conf")
    write_if_changed(path, ini({
        "DEFAULT": {"debug": DEBUG,
                    "log_file": os.path.join(P.log, "client-privsep.log")},
        "os_brick": {"lock_path": P.brick_locks},
    }))
    return path


def write_glance_conf(sec):
    gdir = P.conf("glance")
    gvenv_etc = os.path.join(P.venv, "glance", "etc", "glance")
    conf = glance_conf_path()
    paste = os.path.join(gdir, "glance-api-paste.ini")
    with open(os.path.join(gvenv_etc, "glance-api-paste.ini")) as f:
        paste_text = f.read()
    health_disable = os.path.join(STATE, "state", "glance",
                                  "healthcheck_disable")
    paste_text = paste_text.replace("/etc/glance/healthcheck_disable",
                                    health_disable)
    changed = write_if_changed(paste, paste_text)
    rootwrap = os.path.join(gdir, "rootwrap.conf")
    changed |= write_if_changed(rootwrap, ini({"DEFAULT": {
        "filters_path": os.path.join(gvenv_etc, "rootwrap.d"),
        "exec_dirs": ",".join([os.path.dirname(P.vbin("glance", "python")),
                               "/sbin", "/usr/sbin", "/bin", "/usr/bin",
                               "/usr/local/bin", "/usr/local/sbin",
                               os.path.dirname(MOUNT_HELPER)]),
        "use_syslog": False,
    }}))
    staging = os.path.join(STATE, "state", "glance", "staging")
    tasks = os.path.join(STATE, "state", "glance", "tasks")
    mkdirs(staging, tasks)

    def store(vtype):
        return {
            "cinder_volume_type": vtype,
            "cinder_store_auth_address": AUTH_URL,
            "cinder_store_user_name": "glance",
            "cinder_store_password": sec["glance"],
            "cinder_store_project_name": "service",
            "cinder_store_user_domain_name": "Default",
            "cinder_store_project_domain_name": "Default",
            "cinder_catalog_info": "volumev3::publicURL",
            "cinder_os_region_name": REGION,
            "cinder_mount_point_base": P.glance_mnt,
            "rootwrap_config": rootwrap,
        }

    sections = {
        "DEFAULT": {
            "debug": DEBUG,
            "log_file": os.path.join(P.log, "glance-api.log"),
            "use_stderr": False,
            "enabled_backends": "fast:volume,slow:volume",
            "enabled_import_methods":
                "[glance-direct,web-download,copy-image]",
            "worker_self_reference_url": GLANCE_URL,
            "public_endpoint": GLANCE_URL,
            "transport_url": transport_url(sec),
        },
        "database": {"connection": sqlite_url("glance")},
        "keystone_authtoken": keystone_authtoken("glance", sec["glance"]),
        "paste_deploy": {"flavor": "keystone", "config_file": paste},
        "oslo_messaging_notifications": {"driver": "noop"},
        "glance_store": {"default_backend": "fast"},
        "os_glance_staging_store": {"filesystem_store_datadir": staging},
        "os_glance_tasks_store": {"filesystem_store_datadir": tasks},
        # Image volumes of raw images (MBR or not) are marked bootable in
        # fast (the driver's cinder_bootable_volume_formats); slow keeps
        # the default (never).
        "fast": dict(store(VOLUME_TYPES["fast"]),
                     cinder_bootable_volume_formats="raw"),
        "slow": store(VOLUME_TYPES["slow"]),
        "oslo_concurrency": {"lock_path": os.path.join(P.locks, "glance")},
        "os_brick": {"lock_path": P.brick_locks},
        "privsep_osbrick": {"helper_command": "%s --config-file %s" % (
            P.vbin("glance", "privsep-helper"), conf)},
    }
    changed |= write_if_changed(conf, ini(sections), 0o640)
    return changed


# --------------------------------------------------------------------------
# services


def keystone_health():
    status, _, _ = http("GET", AUTH_URL, timeout=5)
    return status == 200


def cinder_api_health():
    status, _, _ = http("GET", CINDER_URL + "/", timeout=5)
    return status in (200, 300)


def glance_health():
    status, _, _ = http("GET", GLANCE_URL + "/healthcheck", timeout=5)
    return status == 200


def rabbit_health():
    return port_open(PORTS["amqp"])


def services(sec):
    kconf = P.conf("keystone", "keystone.conf")
    kenv = base_env("keystone")
    kenv["OS_KEYSTONE_CONFIG_FILES"] = kconf
    cconf = cinder_conf_path()
    cenv = base_env("cinder")
    genv = base_env("glance")
    genv["OS_GLANCE_CONFIG_DIR"] = P.conf("glance")
    workers = os.environ.get("GSC_AIO_GLANCE_WORKERS", "1")
    svc = {
        "epmd": Service(
            "epmd", ["epmd", "-address", HOST, "-port", str(PORTS["epmd"])],
            env=rabbit_env(), health=lambda: port_open(PORTS["epmd"]),
            ports=[PORTS["epmd"]]),
        "rabbitmq": Service(
            "rabbitmq", [os.path.join(RABBIT_BIN, "rabbitmq-server")],
            env=rabbit_env(), cwd=P.rabbit, health=rabbit_health,
            confs=[P.conf("rabbitmq", "rabbitmq.conf")], stop_timeout=60,
            ports=[PORTS["amqp"], PORTS["rabbit_dist"]]),
        "keystone": Service(
            "keystone", [
                P.vbin("keystone", "gunicorn"),
                "--bind", "%s:%d" % (HOST, PORTS["keystone"]),
                "--workers", "2", "--timeout", "120",
                "--no-control-socket",
                "--chdir", P.conf("keystone"),
                "--pythonpath", P.conf("keystone"),
                "--pid", os.path.join(P.run, "keystone-gunicorn.pid"),
                "keystone_wsgi:application"],
            env=kenv, health=keystone_health, confs=[kconf],
            ports=[PORTS["keystone"]]),
        "cinder-api": Service(
            "cinder-api", [P.vbin("cinder", "cinder-api"),
                           "--config-file", cconf],
            env=cenv, health=cinder_api_health, confs=[cconf],
            ports=[PORTS["cinder"]]),
        "cinder-scheduler": Service(
            "cinder-scheduler", [P.vbin("cinder", "cinder-scheduler"),
                                 "--config-file", cconf],
            env=cenv, confs=[cconf]),
        "cinder-volume": Service(
            "cinder-volume", [P.vbin("cinder", "cinder-volume"),
                              "--config-file", cconf],
            env=cenv, confs=[cconf], stop_timeout=40),
        "glance-api": Service(
            "glance-api", [
                P.vbin("glance", "gunicorn"),
                "--bind", "%s:%d" % (HOST, PORTS["glance"]),
                "--workers", workers,
                "--worker-class", "gthread", "--threads", "8",
                "--timeout", "900", "--graceful-timeout", "10",
                "--no-control-socket",
                "--pid", os.path.join(P.run, "glance-gunicorn.pid"),
                "glance.wsgi.api:application"],
            env=genv, health=glance_health, confs=[glance_conf_path()],
            ports=[PORTS["glance"]]),
    }
    return svc


STOP_ORDER = (("glance-api",), ("cinder-api", "cinder-volume",
                                "cinder-scheduler"),
              ("keystone",), ("rabbitmq",), ("epmd",))


# --------------------------------------------------------------------------
# keystone resources


class Keystone:
    def __init__(self, sec):
        self.sec = sec
        self.token, self.body = self.auth("admin", sec["admin"], "admin")

    @staticmethod
    def auth(user, password, project):
        payload, headers = api("POST", AUTH_URL + "/auth/tokens", {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": user, "password": password,
                    "domain": {"id": "default"}}}},
                "scope": {"project": {"name": project,
                                      "domain": {"id": "default"}}},
            }}, ok=(201,))
        return headers["X-Subject-Token"], payload

    def get(self, path):
        return api("GET", AUTH_URL + path, token=self.token)[0]

    def post(self, path, body):
        return api("POST", AUTH_URL + path, body, token=self.token)[0]

    def find(self, kind, name, **query):
        q = "&".join(["name=%s" % name] +
                     ["%s=%s" % kv for kv in query.items()])
        items = self.get("/%s?%s" % (kind, q))[kind]
        return items[0] if items else None

    def project(self, name, description):
        p = self.find("projects", name, domain_id="default")
        if p is None:
            p = self.post("/projects", {"project": {
                "name": name, "domain_id": "default",
                "description": description, "enabled": True}})["project"]
        return p

    def role(self, name):
        r = self.find("roles", name)
        if r is None:
            r = self.post("/roles", {"role": {"name": name}})["role"]
        return r

    def user(self, name, password, project):
        u = self.find("users", name, domain_id="default")
        if u is None:
            u = self.post("/users", {"user": {
                "name": name, "password": password, "domain_id": "default",
                "default_project_id": project["id"], "enabled": True}})["user"]
        else:
            status, _, _ = http("POST", AUTH_URL + "/auth/tokens", {
                "auth": {"identity": {"methods": ["password"], "password": {
                    "user": {"id": u["id"], "password": password}}}}})
            if status != 201:
                api("PATCH", AUTH_URL + "/users/" + u["id"], {"user": {
                    "password": password, "enabled": True}},
                    token=self.token)
        return u

    def grant(self, project, user, role):
        api("PUT", AUTH_URL + "/projects/%s/users/%s/roles/%s" % (
            project["id"], user["id"], role["id"]), token=self.token)

    def endpoint(self, stype, sname, url):
        items = self.get("/services?type=%s" % stype)["services"]
        s = items[0] if items else self.post("/services", {"service": {
            "type": stype, "name": sname, "enabled": True}})["service"]
        eps = self.get("/endpoints?service_id=%s" % s["id"])["endpoints"]
        for iface in ("public", "internal", "admin"):
            mine = [e for e in eps if e["interface"] == iface]
            if not mine:
                self.post("/endpoints", {"endpoint": {
                    "service_id": s["id"], "interface": iface, "url": url,
                    "region_id": REGION, "enabled": True}})
            elif mine[0]["url"] != url:
                api("PATCH", AUTH_URL + "/endpoints/" + mine[0]["id"],
                    {"endpoint": {"url": url}}, token=self.token)


def app_credential(sec, user_id):
    """An application credential of the glance user; kept across ups."""
    cur = sec.get("app_credential") or {}
    if cur.get("id") and cur.get("user_id") == user_id:
        status, _, _ = http("POST", AUTH_URL + "/auth/tokens", {"auth": {
            "identity": {"methods": ["application_credential"],
                         "application_credential": {
                             "id": cur["id"], "secret": cur["secret"]}}}})
        if status == 201:
            return cur
    token, _ = Keystone.auth("glance", sec["glance"], "service")
    base = AUTH_URL + "/users/%s/application_credentials" % user_id
    existing = api("GET", base + "?name=gsc-aio", token=token)[0]
    for ac in existing["application_credentials"]:
        api("DELETE", base + "/" + ac["id"], token=token)
    ac = api("POST", base, {"application_credential": {
        "name": "gsc-aio",
        "description": "glance-store-cinder functional tests",
        "unrestricted": False}}, token=token)[0]["application_credential"]
    cur = {"id": ac["id"], "secret": ac["secret"], "name": ac["name"],
           "user_id": user_id, "project_id": ac["project_id"]}
    sec["app_credential"] = cur
    save_secrets(sec)
    return cur


def setup_keystone(sec):
    ks = Keystone(sec)
    roles = {n: ks.role(n) for n in ("admin", "member", "reader", "service")}
    service = ks.project("service", "service users")
    users = {}
    for name in ("glance", "cinder"):
        u = ks.user(name, sec[name], service)
        ks.grant(service, u, roles["admin"])
        ks.grant(service, u, roles["service"])
        users[name] = u
    demos = []
    for name in DEMOS:
        p = ks.project(name, "multitenant tests")
        u = ks.user(name, sec[name], p)
        ks.grant(p, u, roles["member"])
        ks.grant(p, u, roles["reader"])
        demos.append({"project_name": name, "project_id": p["id"],
                      "username": name, "user_id": u["id"],
                      "password": sec[name],
                      "user_domain_name": "Default",
                      "project_domain_name": "Default"})
    ks.endpoint("block-storage", "cinder", CINDER_TEMPLATE)
    ks.endpoint("volumev3", "cinderv3", CINDER_TEMPLATE)
    ks.endpoint("image", "glance", GLANCE_URL)
    ac = app_credential(sec, users["glance"]["id"])
    admin_project = ks.body["token"]["project"]["id"]
    return {"admin_project_id": admin_project, "service_project_id":
            service["id"], "users": users, "demos": demos, "app_cred": ac}


# --------------------------------------------------------------------------
# cinder resources


def cinder_admin(sec):
    token, body = Keystone.auth("admin", sec["admin"], "admin")
    return token, CINDER_URL + "/v3/" + body["token"]["project"]["id"]


def cinder_services_up(sec):
    token, base = cinder_admin(sec)
    svcs = api("GET", base + "/os-services", token=token)[0]["services"]
    up = {(s["binary"], s["host"]) for s in svcs
          if s["state"] == "up" and s["status"] == "enabled"}
    return {
        "cinder-scheduler": ("cinder-scheduler", CINDER_HOST) in up,
        "cinder-volume": ("cinder-volume",
                          "%s@%s" % (CINDER_HOST, BACKEND)) in up,
    }


def cinder_pools(sec):
    token, base = cinder_admin(sec)
    pools = api("GET", base + "/scheduler-stats/get_pools",
                token=token)[0]["pools"]
    return [p["name"] for p in pools
            if p["name"].startswith("%s@%s#" % (CINDER_HOST, BACKEND))]


def setup_cinder(sec, ks_info):
    token, base = cinder_admin(sec)
    types = api("GET", base + "/types?is_public=None", token=token)[0]
    by_name = {t["name"]: t for t in types["volume_types"]}
    for key in ("fast", "slow"):
        name = VOLUME_TYPES[key]
        t = by_name.get(name)
        if t is None:
            t = api("POST", base + "/types", {"volume_type": {
                "name": name, "description": "glance-store-cinder " + key,
                "os-volume-type-access:is_public": True,
                "extra_specs": {"volume_backend_name": BACKEND}}},
                token=token)[0]["volume_type"]
        elif (t.get("extra_specs") or {}).get("volume_backend_name") \
                != BACKEND:
            api("POST", base + "/types/%s/extra_specs" % t["id"],
                {"extra_specs": {"volume_backend_name": BACKEND}},
                token=token)
    missing = by_name.get(VOLUME_TYPES["missing"])
    if missing is not None:
        api("DELETE", base + "/types/" + missing["id"], token=token)
    quota = {"volumes": QUOTA_VOLUMES, "gigabytes": QUOTA_GIGABYTES,
             "snapshots": QUOTA_VOLUMES, "per_volume_gigabytes": -1}
    for key in ("fast", "slow"):
        name = VOLUME_TYPES[key]
        quota["volumes_" + name] = QUOTA_VOLUMES
        quota["gigabytes_" + name] = QUOTA_GIGABYTES
        quota["snapshots_" + name] = QUOTA_VOLUMES
    projects = [ks_info["service_project_id"], ks_info["admin_project_id"]]
    projects += [d["project_id"] for d in ks_info["demos"]]
    for pid in projects:
        api("PUT", base + "/os-quota-sets/" + pid, {"quota_set": quota},
            token=token)


def wait_for(what, predicate, timeout, logs):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except AioError as exc:
            last = exc
        time.sleep(0.5)
    raise AioError("%s not reached within %ds (last: %s)" % (
        what, timeout, last), logs)


# --------------------------------------------------------------------------
# up


def ensure_service(s, changed):
    """Start a service unless it already runs healthy with unchanged config.

    Returns True when a process was (re)started."""
    if s.running():
        if s.spec_changed():
            changed = "command line changed"
        elif changed:
            changed = "config changed"
        if not changed and s.healthy():
            return False
        say("restarting %s (%s)" % (s.name, changed or "not healthy"))
        s.stop()
    s.start()
    return True


def mark(name, t_start):
    dt = time.monotonic() - t_start
    TIMINGS[name] = round(dt, 2)
    say("phase %s %.2fs" % (name, dt))


def tree_hash(*paths):
    h = hashlib.sha256()
    for top in paths:
        if os.path.isfile(top):
            files = [top]
        else:
            files = sorted(
                os.path.join(d, f) for d, dirs, fs in os.walk(top)
                for f in fs if "__pycache__" not in d)
        for f in files:
            h.update(os.path.relpath(f, top).encode() + b"\0")
            with open(f, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def cmd_up(args):
    t_total = time.monotonic()
    glance = not args.no_glance
    mkdirs(P.state, P.venv, P.etc, P.db, P.log, P.run, P.locks, P.rabbit,
           os.path.join(P.log, "rabbitmq"),
           os.path.join(STATE, "state", "cinder"),
           os.path.join(STATE, "state", "coordination"),
           os.path.join(STATE, "state", "glance"))
    os.chmod(P.state, 0o755)
    sec = load_secrets()

    # ---- refuse early when another stack holds our ports
    svc = services(sec)
    for s in svc.values():
        if not s.running():
            busy = [p for p in s.ports if port_open(p)]
            if busy:
                raise AioError(
                    "port %s of %s on %s is in use by a process that %s did "
                    "not start (another stack running? run its down first)"
                    % (busy, s.name, HOST, STATE))
    restarted = set()

    # ---- install: apt and the venvs in parallel
    names = ["keystone", "cinder"] + (["glance"] if glance else [])
    pending = [n for n in names if venv_needs_install(n)]
    base_python = None
    if pending:
        base_python = find_base_python()
        if base_python is None:
            ensure_apt(["python3-venv"])
            base_python = find_base_python()
            if base_python is None:
                raise AioError("no python >= 3.10 with venv/ensurepip")
    t0 = time.monotonic()
    procs = {n: start_venv_install(n, base_python) for n in pending}
    with phase("apt"):
        ensure_apt()
    for n in names:
        if n in procs:
            finish_venv_install(n, *procs[n])
            mark("pip-" + n, t0)
        else:
            TIMINGS["pip-" + n] = 0.0
            say("phase pip-%s 0.00s (installed)" % n)
    hook_changed = {n: install_sqlite_hook(n) for n in names}
    project_changed = False
    if glance:
        with phase("pip-project"):
            project_changed = install_project()

    # ---- export, mount helper
    with phase("export"):
        loopdev = ensure_export()
        ensure_mount_helper()

    # ---- rabbitmq (own epmd on a private port, own node): spawn
    rabbit_changed = write_rabbit_conf(sec)
    t_r = time.monotonic()
    if ensure_service(svc["epmd"], False):
        svc["epmd"].wait_healthy(30)
        rabbit_changed = True     # the node must register with the new epmd
    if ensure_service(svc["rabbitmq"], rabbit_changed):
        restarted.add("rabbitmq")

    # ---- keystone db, then spawn
    kchanged = (write_keystone_conf(sec) or "keystone" in procs
                or hook_changed["keystone"])
    kconf = P.conf("keystone", "keystone.conf")
    klog = os.path.join(P.log, "keystone-manage.log")
    with phase("db-keystone"):
        marker = os.path.join(P.db, "keystone.bootstrapped")
        if not os.path.exists(marker):
            km = P.vbin("keystone", "keystone-manage")
            kenv = base_env("keystone")
            run([km, "--config-file", kconf, "db_sync"], log=klog, env=kenv)
            for what in ("fernet_setup", "credential_setup"):
                run([km, "--config-file", kconf, what, "--keystone-user",
                     "root", "--keystone-group", "root"], log=klog, env=kenv)
            run([km, "--config-file", kconf, "bootstrap",
                 "--bootstrap-password", sec["admin"],
                 "--bootstrap-username", "admin",
                 "--bootstrap-project-name", "admin",
                 "--bootstrap-role-name", "admin",
                 "--bootstrap-service-name", "keystone",
                 "--bootstrap-region-id", REGION,
                 "--bootstrap-admin-url", AUTH_URL,
                 "--bootstrap-public-url", AUTH_URL,
                 "--bootstrap-internal-url", AUTH_URL],
                log=klog, env=kenv)
            open(marker, "w").close()
    t_ks = time.monotonic()
    if ensure_service(svc["keystone"], kchanged):
        restarted.add("keystone")

    # ---- cinder and glance config + db while keystone and rabbit start
    cchanged = (write_cinder_conf(sec) or "cinder" in procs
                or hook_changed["cinder"])
    client_conf = write_client_conf()
    with phase("db-cinder"):
        marker = os.path.join(P.db, "cinder.synced")
        if not os.path.exists(marker):
            run([P.vbin("cinder", "cinder-manage"), "--config-file",
                 cinder_conf_path(), "db", "sync"],
                log=os.path.join(P.log, "cinder-manage.log"),
                env=base_env("cinder"))
            open(marker, "w").close()
    gchanged = False
    if glance:
        gchanged = (write_glance_conf(sec) or "glance" in procs
                    or hook_changed["glance"])
        with phase("db-glance"):
            marker = os.path.join(P.db, "glance.synced")
            if not os.path.exists(marker):
                run([P.vbin("glance", "glance-manage"), "--config-file",
                     glance_conf_path(), "db_sync"],
                    log=os.path.join(P.log, "glance-manage.log"),
                    env=base_env("glance"))
                open(marker, "w").close()

    rlog = os.path.join(P.log, "rabbitmq", "gscaio@localhost.log")
    if "rabbitmq" in restarted:
        renv = rabbit_env()
        run([os.path.join(RABBIT_BIN, "rabbitmqctl"), "-n",
             renv["RABBITMQ_NODENAME"], "wait", "--timeout", str(WAIT),
             renv["RABBITMQ_PID_FILE"]], env=renv,
            log=os.path.join(P.log, "rabbitmqctl.log"), timeout=WAIT + 30)
    svc["rabbitmq"].wait_healthy(WAIT, logs=[rlog])
    mark("start-rabbitmq", t_r)

    svc["keystone"].wait_healthy(WAIT, logs=[os.path.join(P.log,
                                                          "keystone.log")])
    mark("start-keystone", t_ks)
    with phase("setup-keystone"):
        ks_info = setup_keystone(sec)

    # ---- cinder services (and glance-api) in parallel
    t_c = time.monotonic()
    for name in ("cinder-api", "cinder-scheduler", "cinder-volume"):
        if ensure_service(svc[name], cchanged):
            restarted.add(name)
    if glance:
        t_g = time.monotonic()
        # Restart glance-api when the driver code or its config changed.
        if ensure_service(svc["glance-api"], gchanged or project_changed):
            restarted.add("glance-api")

    clogs = {n: os.path.join(P.log, n + ".log") for n in
             ("cinder-api", "cinder-scheduler", "cinder-volume")}
    svc["cinder-api"].wait_healthy(WAIT, logs=[clogs["cinder-api"]])
    mark("start-cinder-api", t_c)
    with phase("setup-cinder"):
        setup_cinder(sec, ks_info)
    for name in ("cinder-scheduler", "cinder-volume"):
        svc[name].health = (lambda n=name: cinder_services_up(sec)[n])
        svc[name].wait_healthy(WAIT, logs=[clogs[name]])
        mark("start-" + name, t_c)
    pools = wait_for("cinder pool of backend %s" % BACKEND,
                     lambda: cinder_pools(sec), WAIT,
                     [clogs["cinder-volume"], clogs["cinder-scheduler"]])
    mark("ready-cinder", t_c)

    stores = None
    if glance:
        glog = os.path.join(P.log, "glance-api.log")
        svc["glance-api"].wait_healthy(
            WAIT, logs=[glog, svc["glance-api"].log])
        mark("start-glance", t_g)
        token, _ = Keystone.auth("admin", sec["admin"], "admin")
        wait_for("glance-api GET /v2/images", lambda: http(
            "GET", GLANCE_URL + "/v2/images", token=token)[0] == 200,
            60, [glog])
        mark("ready-glance", t_g)
        stores = glance_store_report(token)

    TIMINGS["up-total"] = round(time.monotonic() - t_total, 2)
    write_env(sec, ks_info, loopdev, pools, glance, stores, client_conf)
    say("restarted: %s" % (", ".join(sorted(restarted)) or "nothing"))
    say("env %s" % P.env_json)
    say("up total %.2fs" % TIMINGS["up-total"])


def glance_store_report(token):
    """What the glance-api log and /v2/info/stores say about the stores."""
    glog = os.path.join(P.log, "glance-api.log")
    loaded = False
    with contextlib.suppress(OSError), open(glog, errors="replace") as f:
        for line in f:
            if "Attempting to import store volume" in line:
                loaded = True
    status, _, body = http("GET", GLANCE_URL + "/v2/info/stores", token=token)
    ids = [s["id"] for s in body.get("stores", [])] \
        if status == 200 and isinstance(body, dict) else []
    say("glance-api: volume driver import %s; stores %s" % (
        "logged" if loaded else "NOT logged", ids or "(none)"))
    return {"driver_import_logged": loaded, "stores": ids}


def write_env(sec, ks, loopdev, pools, glance, stores, client_conf):
    svc_user = {
        "username": "glance", "password": sec["glance"],
        "user_id": ks["users"]["glance"]["id"],
        "project_name": "service", "project_id": ks["service_project_id"],
        "user_domain_name": "Default", "project_domain_name": "Default",
    }
    privsep_cmd = "%s --config-file %s" % (P.vbin("cinder", "privsep-helper"),
                                           client_conf)
    env = {
        "state_dir": STATE,
        "repo": REPO,
        "region": REGION,
        "keystone": {"url": KEYSTONE_URL, "auth_url": AUTH_URL},
        "auth_url": AUTH_URL,
        "admin": {"username": "admin", "password": sec["admin"],
                  "project_name": "admin",
                  "project_id": ks["admin_project_id"],
                  "user_domain_name": "Default",
                  "project_domain_name": "Default"},
        "service_user": svc_user,
        "cinder_service_user": {
            "username": "cinder", "password": sec["cinder"],
            "project_name": "service", "user_domain_name": "Default",
            "project_domain_name": "Default"},
        "app_credential": {
            "id": ks["app_cred"]["id"], "secret": ks["app_cred"]["secret"],
            "name": ks["app_cred"]["name"], "user": "glance",
            "project_id": ks["app_cred"]["project_id"]},
        "demo": ks["demos"],
        "cinder": {
            "url": CINDER_URL,
            "endpoint_template": CINDER_TEMPLATE,
            "catalog_info": "volumev3::publicURL",
            "max_microversion": "3.71",
            "host": CINDER_HOST,
            "backend": BACKEND,
            "pools": pools,
            "conf": cinder_conf_path(),
            "venv": os.path.join(P.venv, "cinder"),
            "cli": P.vbin("cinder", "cinder"),
        },
        "volume_types": dict(VOLUME_TYPES),
        "quota": {"volumes": QUOTA_VOLUMES, "gigabytes": QUOTA_GIGABYTES},
        "nfs": {
            "share": SHARE,
            "export_dir": P.export_dir,
            "export_image": P.export_img,
            "export_size": EXPORT_SIZE,
            "loop_device": loopdev,
            "mount_helper": MOUNT_HELPER,
            "cinder_mount_point_base": P.cinder_mnt,
        },
        "os_brick": {
            "lock_path": P.brick_locks,
            "privsep_helper_command": privsep_cmd,
            "client_config_file": client_conf,
        },
        "cinder_mount_point_base": P.client_mnt,
        "mount_point_bases": list(MOUNT_BASES),
        "glance": {
            "enabled": glance,
            "url": GLANCE_URL,
            "api_conf": glance_conf_path(),
            "config_dir": P.conf("glance"),
            "venv": os.path.join(P.venv, "glance"),
            "python": P.vbin("glance", "python"),
            "backends": {"fast": VOLUME_TYPES["fast"],
                         "slow": VOLUME_TYPES["slow"]},
            "default_backend": "fast",
            "mount_point_base": P.glance_mnt,
            "stores": stores,
        },
        "rabbitmq": {"transport_url": transport_url(sec)},
        "logs": {
            "dir": P.log,
            "keystone": os.path.join(P.log, "keystone.log"),
            "cinder-api": os.path.join(P.log, "cinder-api.log"),
            "cinder-scheduler": os.path.join(P.log, "cinder-scheduler.log"),
            "cinder-volume": os.path.join(P.log, "cinder-volume.log"),
            "glance-api": os.path.join(P.log, "glance-api.log"),
            "rabbitmq": os.path.join(P.log, "rabbitmq"),
        },
        "versions": {k: [p for p in v if "==" in p] for k, v in PINS.items()},
        "timings": dict(TIMINGS),
    }
    write_if_changed(P.env_json, json.dumps(env, indent=2) + "\n", 0o600)


# --------------------------------------------------------------------------
# down


def umount(path, log):
    out = run(["umount", path], log=log, check=False)
    if out.returncode != 0:
        say("umount %s failed (%s): lazy unmount" % (
            path, out.stderr.strip()))
        run(["umount", "-l", path], log=log, check=False)


def cmd_down(args):
    t0 = time.monotonic()
    if not os.path.isdir(P.state):
        say("nothing at %s" % P.state)
        say("down total %.2fs" % (time.monotonic() - t0))
        return
    mkdirs(P.log, P.run)
    log = os.path.join(P.log, "down.log")
    sec = load_secrets()
    svc = services(sec)
    for group in STOP_ORDER:
        t1 = time.monotonic()
        pids = {n: svc[n].signal_stop() for n in group}
        for n in group:
            svc[n].wait_stopped(pids[n])
        if any(pids.values()):
            say("phase stop-%s %.2fs" % ("+".join(
                n for n in group if pids[n]), time.monotonic() - t1))
    t1 = time.monotonic()
    # share mounts first (deepest first), then the export itself
    prefix = P.state.rstrip("/") + "/"
    mounts = [mp for mp, _ in mountinfo() if mp.startswith(prefix)]
    for mp in sorted(set(mounts), key=len, reverse=True):
        if mp != P.export_dir:
            umount(mp, log)
    while is_mounted(P.export_dir):
        umount(P.export_dir, log)
    for dev in loops_of(P.export_img) if os.path.exists(P.export_img) else []:
        run(["losetup", "-d", dev], log=log, check=False)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(P.run, "loopdev"))
    if os.path.exists(MOUNT_HELPER):
        with open(MOUNT_HELPER, errors="replace") as f:
            ours = HELPER_MARK in f.read()
        if ours:
            os.unlink(MOUNT_HELPER)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(MOUNT_HELPER))
    say("phase unmount %.2fs" % (time.monotonic() - t1))
    left = [mp for mp, _ in mountinfo() if mp.startswith(prefix)]
    if args.purge:
        if left:
            raise AioError("not purging %s: still mounted: %s" % (
                P.state, left))
        shutil.rmtree(P.state)
        say("removed %s" % P.state)
    say("down total %.2fs" % (time.monotonic() - t0))
    if left:
        raise AioError("still mounted: %s" % left)


# --------------------------------------------------------------------------
# status


def cmd_status(args):
    if not os.path.isdir(P.state):
        say("nothing at %s" % P.state)
        return 1
    sec = load_secrets()
    svc = services(sec)
    try:
        with open(P.env_json) as f:
            glance = json.load(f)["glance"]["enabled"]
    except (OSError, ValueError, KeyError):
        glance = True
    wanted = [n for n in svc if glance or n != "glance-api"]
    ok = True
    cinder_up = {}
    if svc["cinder-api"].healthy() and svc["keystone"].healthy():
        with contextlib.suppress(Exception):
            cinder_up = cinder_services_up(sec)
    for name in svc:
        s = svc[name]
        pid = s.pid()
        if name in cinder_up:
            healthy = pid is not None and cinder_up[name]
        else:
            healthy = s.healthy()
        state = ("healthy" if healthy else "UNHEALTHY") if pid else "stopped"
        if name in wanted and not healthy:
            ok = False
        print("%-17s %-9s pid=%s" % (name, state, pid or "-"))
    exp = is_mounted(P.export_dir)
    print("%-17s %s" % ("export", "mounted at %s" % P.export_dir if exp
                        else "NOT mounted"))
    helper = os.path.exists(MOUNT_HELPER)
    print("%-17s %s" % ("mount.nfs helper", MOUNT_HELPER if helper
                        else "NOT installed"))
    prefix = P.state.rstrip("/") + "/"
    shares = [mp for mp, _ in mountinfo()
              if mp.startswith(prefix) and mp != P.export_dir]
    print("%-17s %d" % ("share mounts", len(shares)))
    ok = ok and exp and helper
    print("all healthy" if ok else "NOT all healthy")
    return 0 if ok else 1


# --------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(prog="aio")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--no-glance", action="store_true",
                    help="start only RabbitMQ, Keystone and Cinder")
    down = sub.add_parser("down")
    down.add_argument("--purge", action="store_true",
                      help="also delete the state directory")
    sub.add_parser("status")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("aio: must run as root", file=sys.stderr)
        return 2
    if args.cmd == "status":
        return cmd_status(args)
    if args.cmd == "down" and not os.path.isdir(P.state):
        say("nothing at %s" % P.state)
        say("down total 0.00s")
        return 0
    os.makedirs(P.run, exist_ok=True)
    lock = open(os.path.join(P.run, "aio.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        say("another up/down holds %s; waiting" % lock.name)
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        if args.cmd == "up":
            cmd_up(args)
        else:
            cmd_down(args)
    except AioError as exc:
        print("aio: ERROR: %s" % exc, file=sys.stderr)
        for log in exc.logs:
            print("aio: ---- last lines of %s" % log, file=sys.stderr)
            print(tail(log), file=sys.stderr)
        print("aio: %s FAILED" % args.cmd, file=sys.stderr)
        if args.cmd == "up":
            print("aio: what did start is left running for inspection "
                  "(logs in %s); tools/openstack-aio/down stops it" % P.log,
                  file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as exc:
        print("aio: ERROR: timed out: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
