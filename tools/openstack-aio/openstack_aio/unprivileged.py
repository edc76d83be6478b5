"""An unprivileged glance-api: the glance user, its one sudoers line and
glance-rootwrap with the project's own rootwrap.conf and filters.

The shipped files name production paths (/etc/glance, /var/lib/glance/mnt);
the stack writes adapted copies under its state directory with only those
paths replaced, so that what runs is what an operator installs."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re

from openstack_aio.paths import P
from openstack_aio.settings import GLANCE_USER
from openstack_aio.settings import REPO
from openstack_aio.settings import ROOTWRAP_LINK
from openstack_aio.settings import SUDOERS_FILE
from openstack_aio.settings import AioError
from openstack_aio.util import run
from openstack_aio.util import write_if_changed

SUDOERS_MARK = "# glance-store-cinder-aio: the standard glance line\n"
# Production paths in the shipped rootwrap files and what they become here.
SHIPPED_MOUNT_BASE = "/var/lib/glance/mnt"
SHIPPED_CONFIG_DIR = "/etc/glance/"
SAFE_PATH = re.compile(r"[A-Za-z0-9_/.-]+")


def rootwrap_conf() -> str:
    return P.conf("glance", "rootwrap.conf")


def rootwrap_bin() -> str:
    return P.vbin("glance", "glance-rootwrap")


def sudoers_line() -> str:
    return "%s ALL = (root) NOPASSWD: %s %s *\n" % (
        GLANCE_USER, rootwrap_bin(), rootwrap_conf())


def glance_home() -> str:
    return P.service_state("glance")


def ensure_glance_user() -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(GLANCE_USER)
    run(["useradd", "--system", "--user-group", "--home-dir", glance_home(),
         "--no-create-home", "--shell", "/usr/sbin/nologin", GLANCE_USER],
        log=P.logfile("useradd.log"))
    return pwd.getpwnam(GLANCE_USER)


def write_sudoers() -> None:
    """Exactly one line, checked by visudo before it is put in place."""
    text = SUDOERS_MARK + sudoers_line()
    if os.path.exists(SUDOERS_FILE):
        with open(SUDOERS_FILE) as f:
            current = f.read()
        if not current.startswith(SUDOERS_MARK):
            raise AioError("%s exists and is not ours; remove it" %
                           SUDOERS_FILE)
        if current == text:
            return
    staged = P.conf("glance", "sudoers.new")
    write_if_changed(staged, text, 0o440)
    run(["visudo", "-c", "-q", "-f", staged], log=P.logfile("sudoers.log"))
    os.replace(staged, SUDOERS_FILE)


def link_rootwrap() -> None:
    if os.path.islink(ROOTWRAP_LINK):
        if os.readlink(ROOTWRAP_LINK) == rootwrap_bin():
            return
        os.unlink(ROOTWRAP_LINK)
    elif os.path.lexists(ROOTWRAP_LINK):
        raise AioError("%s exists and is not ours; remove it" %
                       ROOTWRAP_LINK)
    os.symlink(rootwrap_bin(), ROOTWRAP_LINK)


def adapt_paths(text: str) -> str:
    """Replace the production paths of a shipped rootwrap file."""
    for path in (P.glance_mnt, P.conf("glance")):
        if not SAFE_PATH.fullmatch(path):
            raise AioError("%s has characters that would change the meaning "
                           "of the rootwrap filters; choose another "
                           "GSC_AIO_DIR" % path)
    text = text.replace(SHIPPED_MOUNT_BASE, P.glance_mnt)
    return text.replace(SHIPPED_CONFIG_DIR, P.conf("glance") + "/")


def adapted_conf(shipped: str, filters_dir: str) -> str:
    """rootwrap.conf: our filters; privsep-helper is in the venv's bin."""
    lines = []
    for line in shipped.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "filters_path":
            line = "filters_path=" + filters_dir
        elif key == "exec_dirs":
            line = "exec_dirs=%s,%s" % (os.path.dirname(rootwrap_bin()),
                                        line.split("=", 1)[1].strip())
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_rootwrap() -> bool:
    """Adapted copies of etc/rootwrap.conf and etc/rootwrap.d/*.filters."""
    filters_dir = P.conf("glance", "rootwrap.d")
    with open(os.path.join(REPO, "etc", "rootwrap.conf")) as f:
        changed = write_if_changed(rootwrap_conf(),
                                   adapted_conf(f.read(), filters_dir))
    shipped = sorted(glob.glob(os.path.join(REPO, "etc", "rootwrap.d",
                                            "*.filters")))
    names = {os.path.basename(s) for s in shipped}
    for stale in glob.glob(os.path.join(filters_dir, "*.filters")):
        if os.path.basename(stale) not in names:
            os.unlink(stale)
            changed = True
    for src in shipped:
        with open(src) as f:
            changed |= write_if_changed(
                os.path.join(filters_dir, os.path.basename(src)),
                adapt_paths(f.read()))
    return changed


def chown_tree(top: str, user: pwd.struct_passwd) -> None:
    os.chown(top, user.pw_uid, user.pw_gid)
    for d, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(d, name), user.pw_uid, user.pw_gid)


def own_glance_state(user: pwd.struct_passwd, confs: list[str]) -> None:
    """What glance-api writes is the glance user's; its configs readable."""
    for top in (glance_home(), os.path.join(P.locks, "glance")):
        os.makedirs(top, exist_ok=True)
        chown_tree(top, user)
    # Its mount base, as /var/lib/glance/mnt is in a deployment (the mount
    # points in it are made by os-brick's privsep daemon, as root).
    os.chown(P.glance_mnt, user.pw_uid, user.pw_gid)
    log = P.logfile("glance-api.log")
    if not os.path.exists(log):
        open(log, "a").close()
    os.chown(log, user.pw_uid, user.pw_gid)
    for conf in confs:
        os.chown(conf, 0, user.pw_gid)
    # sqlite writes its journal beside the database: db/ is group glance.
    os.chown(P.db, 0, user.pw_gid)
    os.chmod(P.db, 0o775)
    db = os.path.join(P.db, "glance.sqlite")
    if os.path.exists(db):
        os.chown(db, user.pw_uid, user.pw_gid)
    # Shared with cinder-volume and the client tests (os-brick's external
    # locks): whoever comes first creates a lock file the others must open.
    os.chmod(P.brick_locks, 0o1777)


def ensure_unprivileged() -> pwd.struct_passwd:
    """The glance user, glance-rootwrap on sudo's path, the sudoers line."""
    user = ensure_glance_user()
    link_rootwrap()
    write_sudoers()
    return user


def remove_privileges() -> None:
    """down: no root rights pointing into a stopped stack."""
    for path, mark in ((SUDOERS_FILE, SUDOERS_MARK), ):
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                ours = f.read().startswith(mark)
            if ours:
                os.unlink(path)
    if os.path.islink(ROOTWRAP_LINK) and \
            os.readlink(ROOTWRAP_LINK) == rootwrap_bin():
        os.unlink(ROOTWRAP_LINK)
