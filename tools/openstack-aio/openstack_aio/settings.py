"""Fixed ports, names, versions and the knobs read from the environment."""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
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
# A second, small share with its own backend, so that a write hits ENOSPC
# for real (the fault-matrix tests).
SMALL_BACKEND = "nfs-small"
# The loop-device backend (block.py): volumes seen as block devices.
BLOCK_BACKEND = "block"
# An NFS share whose ext4 image lives in RAM (a tmpfs): the benchmark's
# ``--export tmpfs`` mode, where the driver rather than the disk is the
# limit.  RAM is only used for what its volumes hold.
TMPFS_BACKEND = "nfs-tmpfs"
BACKENDS = (BACKEND, BLOCK_BACKEND, SMALL_BACKEND, TMPFS_BACKEND)
VOLUME_TYPES = {"fast": "glance-fast", "slow": "glance-slow",
                "block": "glance-block", "small": "glance-small",
                "tmpfs": "glance-tmpfs", "missing": "glance-missing",
                # The multitenant stores' (tests/functional/test_multitenant)
                "tenant": "glance-tenant", "tokenonly": "glance-tenant",
                # Multiattach, on the loop-device backend
                "multi": "glance-block-multi"}
# The backend of each volume type that exists.
TYPE_BACKENDS = {"fast": BACKEND, "slow": BACKEND, "block": BLOCK_BACKEND,
                 "small": SMALL_BACKEND, "tmpfs": TMPFS_BACKEND,
                 "tenant": BACKEND, "multi": BLOCK_BACKEND}
# Volume types whose volumes Cinder lets several hosts attach at once.
MULTIATTACH_TYPES = ("multi",)
# Projects (with a user of the same name, member and reader there) of the
# multitenant tests: two that share images, one that is never given any.
DEMOS = ("demo-a", "demo-b", "demo-c")
QUOTA_VOLUMES = 1000
QUOTA_GIGABYTES = 10000
EXPORT_SIZE = os.environ.get("GSC_AIO_EXPORT_SIZE", "64G")
SMALL_EXPORT_SIZE = os.environ.get("GSC_AIO_SMALL_EXPORT_SIZE", "2G")
# The tmpfs holding the RAM-backed export's image, and that image: a few
# GiB of ext4 metadata headroom below the tmpfs's own limit.
TMPFS_SIZE = os.environ.get("GSC_AIO_TMPFS_SIZE", "10G")
TMPFS_EXPORT_SIZE = os.environ.get("GSC_AIO_TMPFS_EXPORT_SIZE", "9G")
DEBUG = os.environ.get("GSC_AIO_DEBUG", "1") not in ("0", "false", "no", "")
WAIT = int(os.environ.get("GSC_AIO_TIMEOUT", "180"))   # per readiness wait
# Several workers, as in production: the shared-reads tests need downloads
# to land in different processes.
GLANCE_WORKERS = os.environ.get("GSC_AIO_GLANCE_WORKERS", "4")
MOUNT_HELPER = "/sbin/fs.d/mount.nfs"
HELPER_MARK = "glance-store-cinder-aio mount.nfs stand-in"
APT_PACKAGES = ("rabbitmq-server", "qemu-utils", "e2fsprogs", "util-linux",
                "sudo", "python3-venv")
RABBIT_BIN = "/usr/lib/rabbitmq/bin"
RABBIT_NODE = "gscaio@localhost"

# glance-api runs as this system user, as in production, and reaches root
# only through sudo and glance-rootwrap.
GLANCE_USER = "glance"
# The default python3 here may live under root's home, which other users
# cannot read: the glance venv is made from Debian's python (python3-venv).
SYSTEM_PYTHON = "/usr/bin/python3"
SUDOERS_FILE = "/etc/sudoers.d/glance-store-cinder-aio"
# sudo looks commands up in its secure_path, which has no venv in it; a
# packaged glance has /usr/bin/glance-rootwrap there.
ROOTWRAP_LINK = "/usr/local/bin/glance-rootwrap"

# Versions that are known to run together on this kind of machine; the
# constraints file beside this package pins the rest of the dependency tree.
PINS = {
    "keystone": ["keystone==30.0.0", "gunicorn==27.0.1"],
    "cinder": ["cinder==29.0.0", "python-cinderclient==9.10.0",
               "os-brick==7.1.1", "keystonemiddleware==13.0.1",
               "python-glanceclient==4.13.0"],
    "glance": ["glance==33.0.0", "glance-store==5.7.0", "gunicorn==27.0.1",
               "python-cinderclient==9.10.0", "os-brick==7.1.1",
               "keystonemiddleware==13.0.1", "python-glanceclient==4.13.0",
               # glance-rootwrap (the root helper of an unprivileged
               # glance-api) is oslo.rootwrap's; glance does not require it.
               "oslo.rootwrap",
               "setuptools>=68", "wheel"],
}
CONSTRAINTS = os.path.join(HERE, "constraints.txt")


class AioError(Exception):
    """A failure of the stack script, with the logs that explain it."""

    def __init__(self, msg: str, logs: tuple[str | None, ...] | list[
            str | None] = ()) -> None:
        super().__init__(msg)
        self.logs = [log for log in logs if log]


def say(msg: str) -> None:
    print("aio: " + msg, flush=True)
