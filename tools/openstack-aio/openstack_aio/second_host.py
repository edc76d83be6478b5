"""second-host: a second glance-api "host" on this machine, for the
two-host tests of shared reads.

It is the stack's glance-api (same code, database, stores, Cinder and
unprivileged glance user) started in its own UTS and mount namespaces
(``unshare --uts --mount --propagation private``): its own hostname (so
os-brick's connector, Cinder's attachments and the driver's journal see
another host), its own ``/etc/hosts`` line for that name, its own mount
table (its NFS mounts are invisible outside and host A's are invisible
inside), a private tmpfs over the mount base (same path, so the shipped
rootwrap filters apply unchanged, but no directory shared with host A), its
own lock path (hence its own journal) and os-brick lock path, its own log
and port.  Started and stopped on demand (the functional tests' fixture);
``down`` stops it too.  What a test needs is in ``run/second-host.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil

from openstack_aio.credentials import load_secrets
from openstack_aio.glance_config import GLANCE_STORES
from openstack_aio.glance_config import glance_sections
from openstack_aio.glance_config import write_paste
from openstack_aio.paths import P
from openstack_aio.processes import Service
from openstack_aio.services import glance_env
from openstack_aio.settings import GLANCE_USER
from openstack_aio.settings import HOST
from openstack_aio.settings import WAIT
from openstack_aio.settings import AioError
from openstack_aio.settings import say
from openstack_aio.unprivileged import chown_tree
from openstack_aio.unprivileged import glance_home
from openstack_aio.unprivileged import rootwrap_conf
from openstack_aio.util import http
from openstack_aio.util import ini
from openstack_aio.util import mkdirs
from openstack_aio.util import write_if_changed

ACTIONS = ("start", "stop", "restart")
NAME = "glance-api-b"
HOSTNAME = "gsc-aio-b"
PORT = 9293
URL = "http://%s:%d" % (HOST, PORT)
WORKERS = "2"
# Short, so that a test sees a reader on this host give up while host A
# holds the volume; the first host keeps glance_store's default (300 s).
STATE_TRANSITION_TIMEOUT = 20
CONF_DIR = P.conf(NAME)
LOCK_PATH = os.path.join(P.locks, NAME)
BRICK_LOCK_PATH = os.path.join(P.locks, NAME + "-os-brick")
INFO_FILE = os.path.join(P.run, "second-host.json")
HOSTS_FILE = os.path.join(CONF_DIR, "hosts")

# Runs as root inside the new namespaces, then becomes the glance user.
# $1 hostname, $2 hosts file, $3 mount base, $4 uid, $5 gid, then argv.
NAMESPACE_SETUP = r"""set -eu
hostname "$1"
mount --bind "$2" /etc/hosts
# The namespace starts with a copy of host A's mounts: none is this host's.
awk -v base="$3/" 'index($2, base) == 1 {print $2}' /proc/self/mounts |
    sort -r | while read -r m; do umount -l "$m"; done
mount -t tmpfs -o "mode=0755,uid=$4,gid=$5,size=16m" gsc-aio-b-mnt "$3"
uid=$4 gid=$5
shift 5
exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"
"""


def conf_path() -> str:
    return os.path.join(CONF_DIR, "glance-api.conf")


def write_conf() -> None:
    """Host A's glance-api.conf with this host's own paths and port."""
    sec = load_secrets()
    paste = os.path.join(CONF_DIR, "glance-api-paste.ini")
    mkdirs(CONF_DIR)
    write_paste(paste)
    sections = {name: dict(values) for name, values in
                glance_sections(sec, paste, rootwrap_conf()).items()}
    sections["DEFAULT"].update(
        log_file=P.logfile(NAME + ".log"), worker_self_reference_url=URL,
        public_endpoint=URL)
    sections["oslo_concurrency"] = {"lock_path": LOCK_PATH}
    sections["os_brick"] = {"lock_path": BRICK_LOCK_PATH}
    for store in GLANCE_STORES:
        sections[store]["cinder_state_transition_timeout"] = \
            STATE_TRANSITION_TIMEOUT
    write_if_changed(conf_path(), ini(sections), 0o640)
    with open("/etc/hosts") as f:
        hosts = f.read()
    write_if_changed(HOSTS_FILE, hosts.rstrip("\n") + "\n127.0.1.1 %s\n"
                     % HOSTNAME)


def own_state(user: pwd.struct_passwd) -> None:
    for top in (LOCK_PATH, BRICK_LOCK_PATH):
        os.makedirs(top, exist_ok=True)
        chown_tree(top, user)
    log = P.logfile(NAME + ".log")
    if not os.path.exists(log):
        open(log, "a").close()
    os.chown(log, user.pw_uid, user.pw_gid)
    os.chown(conf_path(), 0, user.pw_gid)


def health() -> bool:
    status, _, _ = http("GET", URL + "/healthcheck", timeout=5)
    return status == 200


def service() -> Service:
    user = pwd.getpwnam(GLANCE_USER)
    env = glance_env()
    env["OS_GLANCE_CONFIG_DIR"] = CONF_DIR
    gunicorn = [
        P.vbin("glance", "gunicorn"), "--bind", "%s:%d" % (HOST, PORT),
        "--workers", WORKERS, "--worker-class", "gthread",
        "--threads", "8", "--timeout", "900", "--graceful-timeout", "10",
        "--no-control-socket",
        "--pid", os.path.join(glance_home(), NAME + ".pid"),
        "glance.wsgi.api:application"]
    return Service(NAME, [
        shutil.which("unshare") or "unshare", "--uts", "--mount",
        "--propagation", "private", "--", "/bin/sh", "-c",
        NAMESPACE_SETUP, "second-host", HOSTNAME, HOSTS_FILE, P.glance_mnt,
        str(user.pw_uid), str(user.pw_gid), *gunicorn],
        env=env, health=health, confs=[conf_path()], ports=[PORT])


def info(pid: int | None) -> dict[str, object]:
    return {"url": URL, "hostname": HOSTNAME, "pid": pid,
            "lock_path": LOCK_PATH,
            "journal": os.path.join(LOCK_PATH, "journal"),
            "mount_base": P.glance_mnt,
            "state_transition_timeout": STATE_TRANSITION_TIMEOUT,
            "log": P.logfile(NAME + ".log")}


def start() -> None:
    if not os.path.exists(P.conf("glance", "glance-api.conf")):
        raise AioError("the stack's glance-api is not set up: run up first")
    s = service()
    if s.running() and not s.spec_changed():
        say("%s already runs (pid %s)" % (NAME, s.pid()))
    else:
        if s.running():
            s.stop()
        write_conf()
        own_state(pwd.getpwnam(GLANCE_USER))
        s.start()
        s.wait_healthy(WAIT, logs=[P.logfile(NAME + ".log")])
        say("started %s as host %s on %s (pid %s)" % (NAME, HOSTNAME, URL,
                                                      s.pid()))
    write_if_changed(INFO_FILE, json.dumps(info(s.pid()), indent=2) + "\n")


def stop() -> None:
    s = service() if _glance_user_exists() else None
    if s is not None and s.running():
        pid = s.pid()
        s.stop()
        say("stopped %s (pid %s)" % (NAME, pid))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(INFO_FILE)


def _glance_user_exists() -> bool:
    try:
        pwd.getpwnam(GLANCE_USER)
    except KeyError:
        return False
    return True


def cmd_second_host(action: str) -> None:
    if action == "start":
        start()
    elif action == "stop":
        stop()
    elif action == "restart":
        stop()
        start()
