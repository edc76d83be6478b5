"""A glance-api that is not root: what it asks rootwrap for, end to end.

The store runs an NFS add and get as uid 1000 with a recording root
helper; every command line it sent must be admitted by the shipped
filters once their mount base is the one configured (as a deployment
adapts it), and name the resolved volume file and mount point.
"""

import hashlib
import io
import os
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
from oslo_rootwrap import filters as rw_filters
from oslo_rootwrap import wrapper

from glance_store_cinder.mounts import MountTable
from glance_store_cinder.store import Store
from tests.unit.fakes.cloud import NFS_EXPORT
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all
from tests.unit.test_rootwrap_filters import FILTERS_DIR
from tests.unit.test_rootwrap_filters import exec_dirs

SHIPPED_BASE = "/var/lib/glance/mnt"


class RootHelper:
    """Records the root commands; refuses those named in ``refused``."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []
        self.refused: set[str] = set()

    def __call__(self, *argv: str, **kwargs: Any) -> tuple[str, str]:
        assert kwargs["run_as_root"] is True
        self.argvs.append(list(argv))
        if argv[0] in self.refused:
            raise OSError("%s refused" % argv[0])
        return "", ""


def unprivileged_nfs(test: Callable[..., None]) -> Callable[..., None]:
    """Runs ``test`` for the NFS family, whose share the store unmounts
    through the recording root helper (which the test asserts), not
    through the fake mounts the leak check reads."""
    keeps_mounts = pytest.mark.keeps_resources("mounts")
    return pytest.mark.parametrize("protocol", ["nfs"])(keeps_mounts(test))


def unprivileged_nfs_store(env: Env, tmp_path: pathlib.Path
                           ) -> tuple[Store, str, RootHelper]:
    """A store running as uid 1000 that sends root commands to a helper.

    Its NFS share reads as mounted (a mountinfo file saying so) at the
    mount point returned, so nothing mounts it and the helper unmounts it.
    """
    helper = RootHelper()
    base = os.path.realpath(env.mount_base)
    mount_point = os.path.join(
        base, hashlib.md5(NFS_EXPORT.encode()).hexdigest())
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "200 27 0:99 / %s rw - nfs %s rw\n" % (mount_point, NFS_EXPORT))
    store = env.store(collaborators=env.collaborators(
        euid=lambda: 1000, root_execute=helper, mounts=None,
        mount_table=MountTable(str(mountinfo))))
    return store, mount_point, helper


def adapted_filters(tmp_path: pathlib.Path, base: str
                    ) -> list[rw_filters.CommandFilter]:
    target = tmp_path / "rootwrap.d"
    target.mkdir()
    text = (FILTERS_DIR / "glance_store_cinder.filters").read_text()
    (target / "glance_store_cinder.filters").write_text(
        text.replace(SHIPPED_BASE, base))
    return wrapper.load_filters([str(target)])


@unprivileged_nfs
def test_unprivileged_add_and_get_ask_only_for_admitted_commands(
        env: Env, tmp_path: pathlib.Path) -> None:
    store, mount_point, helper = unprivileged_nfs_store(env, tmp_path)
    data = pattern(5000)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    assert read_all(store, env.location(store, uri)) == data

    volume_file = os.path.join(mount_point,
                               "volume-%s" % uri.rsplit("/", 1)[1])
    owner = str(os.stat(volume_file).st_uid)
    assert helper.argvs == 2 * [
        ["chown", "-h", "1000", volume_file],
        ["chown", "-h", owner, volume_file],
        ["umount", mount_point],
    ]
    filters = adapted_filters(tmp_path, os.path.dirname(mount_point))
    for argv in helper.argvs:
        assert wrapper.match_filter(filters, argv,
                                    exec_dirs=exec_dirs()).name.startswith(
            "glance_store_cinder_"), argv
