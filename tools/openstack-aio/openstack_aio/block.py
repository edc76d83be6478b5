"""The ``block`` backend: loop devices standing in for SAN LUNs.

Its Cinder driver is ``loop_volume_driver.py`` beside this package, copied
into the cinder venv as the module ``gsc_aio_loop_driver`` (a test-tier
driver, not part of the product).  Volumes are sparse files under
``$GSC_AIO_DIR/block``; each connected volume is bound to a loop device,
which ``down`` detaches.
"""

from __future__ import annotations

import contextlib
import glob
import os

from openstack_aio.paths import P
from openstack_aio.settings import BLOCK_BACKEND
from openstack_aio.settings import HERE
from openstack_aio.settings import AioError
from openstack_aio.util import run
from openstack_aio.util import write_if_changed

BLOCK_DIR = os.path.join(P.state, "block")
DRIVER_MODULE = "gsc_aio_loop_driver"
DRIVER_CLASS = DRIVER_MODULE + ".LoopDeviceDriver"
DIRECT_IO = True


def block_backend_section() -> dict[str, object]:
    """cinder.conf section of the block backend."""
    return {
        "volume_driver": DRIVER_CLASS,
        "volume_backend_name": BLOCK_BACKEND,
        "gsc_loop_volumes_dir": BLOCK_DIR,
        "gsc_loop_direct_io": DIRECT_IO,
        "max_over_subscription_ratio": 20.0,
        "reserved_percentage": 0,
    }


def install_block_driver() -> bool:
    """Copy the driver into the cinder venv; True when it changed."""
    sp = glob.glob(os.path.join(P.venv, "cinder", "lib", "python3*",
                                "site-packages"))
    if not sp:
        raise AioError("no site-packages in the cinder venv")
    with open(os.path.join(HERE, "loop_volume_driver.py")) as f:
        code = f.read()
    os.makedirs(BLOCK_DIR, exist_ok=True)
    return write_if_changed(os.path.join(sp[0], DRIVER_MODULE + ".py"),
                            code)


def block_loop_devices() -> list[str]:
    """Loop devices bound to a file under the block backend's directory."""
    prefix = BLOCK_DIR + "/"
    found = []
    for backing in glob.glob("/sys/block/loop*/loop/backing_file"):
        with contextlib.suppress(OSError), open(backing) as f:
            if f.read().startswith(prefix):
                found.append("/dev/" + backing.split("/")[3])
    return sorted(found)


def detach_block_devices(log: str) -> list[str]:
    """Detach every loop device of the block backend; those that stay.

    The holder counts go too: they only mean something while a device is
    bound (the driver starts from zero when none is)."""
    for dev in block_loop_devices():
        run(["losetup", "--detach", dev], log=log, check=False)
    # The driver's /dev/sd* names of its loop devices (loop_volume_driver).
    for node in glob.glob("/dev/sdgsc*"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(node)
    for count in glob.glob(os.path.join(BLOCK_DIR, "volume-*",
                                        "connections")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(count)
    return block_loop_devices()


def block_env() -> dict[str, object]:
    return {
        "backend": BLOCK_BACKEND,
        "volume_driver": DRIVER_CLASS,
        "volumes_dir": BLOCK_DIR,
        "direct_io": DIRECT_IO,
        "driver_source": os.path.join(HERE, "loop_volume_driver.py"),
    }
