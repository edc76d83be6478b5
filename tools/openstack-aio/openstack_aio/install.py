"""Install: Debian packages, one virtualenv per service, this repository."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from openstack_aio.paths import P
from openstack_aio.settings import APT_PACKAGES
from openstack_aio.settings import CONSTRAINTS
from openstack_aio.settings import HERE
from openstack_aio.settings import PINS
from openstack_aio.settings import REPO
from openstack_aio.settings import STATE
from openstack_aio.settings import SYSTEM_PYTHON
from openstack_aio.settings import AioError
from openstack_aio.settings import say
from openstack_aio.util import run
from openstack_aio.util import tree_hash
from openstack_aio.util import write_if_changed

PipJob = tuple["subprocess.Popen[bytes]", str]


def usable_python(path: str | None) -> bool:
    """A python >= 3.10 that can make a venv with pip."""
    if not path or not os.path.exists(path):
        return False
    out = subprocess.run([path, "-c", "import sys, venv, ensurepip; "
                          "print(sys.version_info[:2] >= (3, 10))"],
                         capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() == "True"


def find_base_python(name: str) -> str | None:
    """The python the ``name`` venv is made from.

    The glance venv must be runnable by the glance user: always Debian's
    python, never one under root's home."""
    if name == "glance":
        return SYSTEM_PYTHON if usable_python(SYSTEM_PYTHON) else None
    cand = os.environ.get("GSC_AIO_PYTHON")
    cands: list[str | None] = [cand] if cand else []
    cands += [shutil.which("python3.11"), "/usr/bin/python3.11",
              sys.executable]
    return next((c for c in cands if usable_python(c)), None)


def base_pythons(names: Sequence[str]) -> dict[str, str]:
    """A base python for each venv, installing python3-venv if needed."""
    found = {n: find_base_python(n) for n in names}
    if not all(found.values()):
        ensure_apt(["python3-venv"])
        found = {n: find_base_python(n) for n in names}
    missing = [n for n, py in found.items() if py is None]
    if missing:
        raise AioError("no python >= 3.10 with venv/ensurepip for the %s "
                       "venv" % ", ".join(missing))
    return {n: py for n, py in found.items() if py}


def dpkg_installed(pkg: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                         capture_output=True, text=True)
    return out.returncode == 0 and "install ok installed" in out.stdout


def ensure_apt(extra: Sequence[str] = ()) -> None:
    if os.path.exists("/sbin/mount.nfs") or dpkg_installed("nfs-common"):
        raise AioError(
            "a real mount.nfs (Debian's nfs-common) is installed: it cannot "
            "work on this kernel and mount(8) prefers it over the stand-in. "
            "Remove it first: apt-get remove nfs-common")
    missing = [p for p in (*APT_PACKAGES, *extra) if not dpkg_installed(p)]
    if not missing:
        return
    log = P.logfile("apt.log")
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


def venv_spec(name: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(PINS[name]).encode())
    if name == "glance":
        h.update(SYSTEM_PYTHON.encode())
    if os.path.exists(CONSTRAINTS):
        with open(CONSTRAINTS, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def pip_argv(name: str, *args: str) -> list[str]:
    argv = [P.vbin(name, "python"), "-m", "pip", "--disable-pip-version-check",
            "--no-input", "install", *args]
    if os.path.exists(CONSTRAINTS):
        argv += ["-c", CONSTRAINTS]
    return argv


def read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def venv_needs_install(name: str) -> bool:
    marker = os.path.join(P.venv, name, ".aio-installed")
    try:
        with open(marker) as f:
            ok = f.read().strip() == venv_spec(name)
    except OSError:
        ok = False
    return not (ok and os.access(P.vbin(name, "python"), os.X_OK))


def start_venv_install(name: str, base_python: str) -> PipJob:
    """Create the venv if needed and start pip in the background."""
    vdir = os.path.join(P.venv, name)
    log = P.logfile("pip-%s.log" % name)
    py = P.vbin(name, "python")
    base_file = os.path.join(vdir, ".aio-base-python")
    if not os.access(py, os.X_OK) or subprocess.run(
            [py, "-c", "pass"], capture_output=True).returncode != 0 \
            or read_text(base_file) != base_python:
        shutil.rmtree(vdir, ignore_errors=True)
        run([base_python, "-m", "venv", vdir], log=log)
        write_if_changed(base_file, base_python)
    argv = pip_argv(name, *PINS[name])
    with open(log, "a") as logf:
        logf.write("$ %s\n" % " ".join(argv))
        logf.flush()
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    return proc, log


def finish_venv_install(name: str, job: PipJob) -> None:
    proc, log = job
    if proc.wait() != 0:
        raise AioError("pip install into the %s venv failed" % name, [log])
    with open(os.path.join(P.venv, name, ".aio-installed"), "w") as f:
        f.write(venv_spec(name) + "\n")


def install_sqlite_hook(name: str) -> bool:
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


def copy_project() -> str:
    """Copy the work tree so that no build artefact lands in it."""
    src = os.path.join(STATE, "build", "src")
    shutil.rmtree(src, ignore_errors=True)
    ignore = shutil.ignore_patterns(
        ".git", ".aio", ".venv", ".tox", "build", "dist", "*.egg-info",
        "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
        "tests", "bench", "tools", "*.pyc")
    shutil.copytree(REPO, src, ignore=ignore, symlinks=True)
    return src


def install_project() -> bool:
    """(Re)install this repository into the glance venv; True if changed.

    Dependencies are resolved again only when the packaging metadata
    changed."""
    src = copy_project()
    log = P.logfile("pip-project.log")
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
