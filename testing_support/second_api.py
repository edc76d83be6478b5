"""A second glance-api beside the stack's own: for the migration test
(tests/functional/test_migration.py) and the benchmark's end-to-end rows
(bench/e2e.py).

It is the stack's glance-api as tools/openstack-aio starts it (the same
glance venv, gunicorn command line, environment and unprivileged ``glance``
user) with three differences: it listens on ``PORT``, it reads its own
configuration directory, and its stores are of the type its user asks for
(glance_store's in-tree ``cinder`` driver, single-store or multi-store, or
this project's ``volume``).  Everything else in its glance-api.conf is the
stack's: the same database, Cinder, service user, volume types, mount base,
rootwrap configuration and lock paths, as a host switching drivers keeps
them.

glance-rootwrap admits only what the stack's filters name.  While this
glance-api is set up, one extra filter file in the stack's ``rootwrap.d``
admits what the in-tree driver runs beyond them: ``mount``, ``umount``
and ``chown`` (it mounts the share itself, at
``<base>/<sha256 of the share>``, and chowns the volume file without
``-h``: neither matches this store's filters).
privsep-helper needs no filter: oslo.rootwrap always admits it.  The file
is removed when its ``ExitStack`` closes (the test's module ends, the
benchmark stops it), and by the stack's next ``up`` if that could not.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import enum
import io
import os
import pathlib
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

_AIO_TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools" / \
    "openstack-aio"
if str(_AIO_TOOLS) not in sys.path:
    # The stack's own package says how its glance-api is started.
    sys.path.insert(0, str(_AIO_TOOLS))

from openstack_aio import processes  # noqa: E402
from openstack_aio import services  # noqa: E402
from openstack_aio import settings  # noqa: E402
from openstack_aio import util  # noqa: E402

# Outside the ephemeral port range (32768-60999) and unused by the stack.
PORT = 9393
HOST = "127.0.0.1"
URL = "http://%s:%d" % (HOST, PORT)
NAME = "glance-second-api"
FILTERS_NAME = "glance_store_cinder_second_api.filters"
# The stack's stores this glance-api enables.
STORES = ("fast", "slow")


class ApiFailed(AssertionError):
    """The second glance-api cannot be set up or does not become healthy
    (an AssertionError: in the migration test, a failed check)."""


class Driver(enum.Enum):
    """What glance-api's stores are."""

    IN_TREE_SINGLE = "glance_store's cinder driver, single-store"
    IN_TREE = "glance_store's cinder driver, multi-store"
    VOLUME = "this project's volume driver, multi-store"


def read_conf(path: str) -> configparser.ConfigParser:
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(path)
    return conf


def own_options(conf: configparser.ConfigParser,
                section: str) -> dict[str, str]:
    """A section's options without the [DEFAULT] ones configparser adds."""
    defaults = conf.defaults()
    return {k: conf.get(section, k, raw=True) for k in conf.options(section)
            if k not in defaults}


def second_conf(stack_conf: str, driver: Driver,
                   state: pathlib.Path, log_file: str) -> str:
    """The stack's glance-api.conf with this glance-api's differences."""
    conf = read_conf(stack_conf)
    default = conf["DEFAULT"]
    default["log_file"] = log_file
    default["worker_self_reference_url"] = URL
    default["public_endpoint"] = URL
    conf["os_glance_staging_store"]["filesystem_store_datadir"] = str(
        state / "staging")
    conf["os_glance_tasks_store"]["filesystem_store_datadir"] = str(
        state / "tasks")
    if driver is Driver.IN_TREE_SINGLE:
        # What a single-store glance-api.conf of the in-tree driver has:
        # the store's options in [glance_store], no enabled_backends.
        del default["enabled_backends"]
        default["enabled_import_methods"] = "[glance-direct,web-download]"
        default["node_staging_uri"] = "file://%s" % (state / "staging")
        store = own_options(conf, STORES[0])
        conf["glance_store"] = {"stores": "cinder",
                                "default_store": "cinder", **store}
    else:
        kind = "cinder" if driver is Driver.IN_TREE else "volume"
        default["enabled_backends"] = ",".join(
            "%s:%s" % (s, kind) for s in STORES)
    out = io.StringIO()
    conf.write(out)
    return out.getvalue()


def filters_text(stack_conf: str, share: str) -> str:
    """The rootwrap filters the in-tree driver needs beyond the stack's."""
    mnt = re.escape(
        read_conf(stack_conf)[STORES[0]]["cinder_mount_point_base"]
        .rstrip("/"))
    share_re = re.escape(share)
    return "\n".join([
        "# Written by testing_support/second_api.py while its second",
        "# glance-api is set up; removed when it is stopped.",
        "[Filters]",
        # fs_mount.mount of the in-tree driver: mount -t nfs [opts] share mp
        "gsc_second_api_in_tree_mount: RegExpFilter, mount, root, mount, "
        "-t, nfs, %s, %s/[0-9a-f]{64}" % (share_re, mnt),
        "gsc_second_api_in_tree_mount_o: RegExpFilter, mount, root, mount, "
        "-t, nfs, -o, [^ ]+, %s, %s/[0-9a-f]{64}" % (share_re, mnt),
        # fs_mount.umount, and temporary_chown of the volume file
        "gsc_second_api_in_tree_umount: RegExpFilter, umount, root, umount, "
        "%s/[0-9a-f]{64}" % mnt,
        "gsc_second_api_in_tree_chown: RegExpFilter, chown, root, chown, "
        "[0-9]+, %s/[0-9a-f]{64}/volume-[0-9a-f-]{36}" % mnt,
        "",
    ])


@dataclasses.dataclass
class SecondApi:
    """The second glance-api: started, switched, stopped by its user."""

    stack_conf: str
    state: pathlib.Path
    filters_dir: pathlib.Path
    log_file: str
    service: processes.Service
    driver: Driver | None = None

    @property
    def conf_dir(self) -> pathlib.Path:
        return self.state / "etc"

    @property
    def conf_file(self) -> pathlib.Path:
        return self.conf_dir / "glance-api.conf"

    def switch(self, driver: Driver, stack: contextlib.ExitStack) -> None:
        """Restart with ``driver``'s stores (nothing when already so)."""
        if self.driver is driver and self.service.healthy():
            return
        self.stop()
        self.conf_file.write_text(second_conf(
            self.stack_conf, driver, self.state, self.log_file))
        self.service.start()
        stack.callback(self.stop)
        self.driver = driver
        try:
            self.service.wait_healthy(logs=[self.log_file])
        except settings.AioError as exc:
            raise ApiFailed("%s (%s): %s\n%s" % (
                NAME, driver.value, exc, self.log_tail())) from exc

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in (self.service.log, self.log_file):
            with open(path, errors="replace") as f:
                out.append("== %s\n%s" % (
                    path, "".join(f.readlines()[-lines:])))
        return "\n".join(out)

    def stop(self) -> None:
        self.driver = None
        self.service.stop()


def _healthy() -> bool:
    status, _, _ = util.http("GET", URL + "/healthcheck", timeout=5)
    return status == 200


def _owned_dir(path: pathlib.Path, user: pwd.struct_passwd,
               mode: int) -> pathlib.Path:
    path.mkdir(mode=mode)
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


def start_in(stack: contextlib.ExitStack, env: dict[str, Any]
             ) -> SecondApi:
    """Set up this glance-api's state; every piece is undone by ``stack``.
    Nothing is started yet: ``switch`` starts it."""
    glance = env["glance"]
    user = pwd.getpwnam(glance["user"])
    if util.port_open(PORT):
        raise ApiFailed("port %d is in use" % PORT)
    state = pathlib.Path(tempfile.mkdtemp(prefix="gsc-second-api-"))
    stack.callback(shutil.rmtree, state, ignore_errors=True)
    state.chmod(0o755)
    conf_dir = state / "etc"
    conf_dir.mkdir(mode=0o750)
    os.chown(conf_dir, 0, user.pw_gid)
    home = _owned_dir(state / "home", user, 0o700)
    for sub in ("staging", "tasks"):
        _owned_dir(state / sub, user, 0o700)
    conf_file = conf_dir / "glance-api.conf"
    conf_file.touch(mode=0o640)
    os.chown(conf_file, 0, user.pw_gid)

    log_file = os.path.join(env["logs"]["dir"], NAME + ".log")
    pathlib.Path(log_file).touch()
    os.chown(log_file, user.pw_uid, user.pw_gid)

    mount_base = pathlib.Path(glance["mount_point_base"])
    stack.callback(remove_in_tree_leftovers, mount_base,
                   set(os.listdir(mount_base)))

    filters_dir = pathlib.Path(glance["config_dir"]) / "rootwrap.d"
    filters = filters_dir / FILTERS_NAME
    stack.callback(_unlink, filters)
    filters.write_text(filters_text(glance["api_conf"], env["nfs"]["share"]))

    stock = services.glance_service()
    argv = list(stock.argv)
    argv[argv.index("--bind") + 1] = "%s:%d" % (HOST, PORT)
    argv[argv.index("--pid") + 1] = str(home / "gunicorn.pid")
    service_env = dict(stock.env or {})
    service_env["OS_GLANCE_CONFIG_DIR"] = str(conf_dir)
    service_env["HOME"] = str(home)
    service = dataclasses.replace(
        stock, name=NAME, argv=argv, env=service_env, cwd=str(home),
        log=os.path.join(env["logs"]["dir"], NAME + ".out"),
        health=_healthy, confs=[str(conf_file)], ports=[PORT], proc=None)
    api = SecondApi(stack_conf=glance["api_conf"], state=state,
                       filters_dir=filters_dir, log_file=log_file,
                       service=service)
    stack.callback(api.stop)
    return api


IN_TREE_ENTRY = re.compile(r"[0-9a-f]{64}|_state")
IN_TREE_MOUNT = re.compile(r"[0-9a-f]{64}")   # fs_mount: sha256 of the share


def in_tree_mounts(env: dict[str, Any]) -> list[str]:
    """Shares the in-tree driver has mounted under the stack's glance mount
    point base (this driver's mounts there are named otherwise)."""
    base = env["glance"]["mount_point_base"].rstrip("/") + "/"
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f]
    return [p for p in points if p.startswith(base)
            and IN_TREE_MOUNT.fullmatch(p[len(base):])]


def remove_in_tree_leftovers(mount_base: pathlib.Path,
                             before: set[str]) -> None:
    """The in-tree driver unmounts its share but keeps the mount point
    (``<base>/<sha256 of the share>``) and ``<base>/_state``: remove what
    the second glance-api made, unless something is mounted there."""
    for name in set(os.listdir(mount_base)) - before:
        path = mount_base / name
        if not IN_TREE_ENTRY.fullmatch(name):
            continue
        if os.path.ismount(path):
            # Only when something failed: the migration test and the
            # benchmark check that none is left.
            subprocess.run(["umount", str(path)], check=False, timeout=60)
        if not any(os.path.ismount(p) for p in (path, *path.glob("*"))):
            shutil.rmtree(path, ignore_errors=True)


def _unlink(path: pathlib.Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def processes_using(path: pathlib.Path) -> list[int]:
    """Live processes whose command line names ``path`` (gunicorn, and the
    privsep daemons its workers started through sudo)."""
    found = []
    needle = str(path).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found
