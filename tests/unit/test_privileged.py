"""Root-only commands: resolved paths, shapes checked, the mount table."""

import logging
import os
import pathlib
import stat
from collections.abc import Callable
from typing import Any

import pytest
from glance_store import exceptions as gs_exc
from oslo_concurrency import processutils

from glance_store_cinder import privileged
from glance_store_cinder.connectors.base import DeviceRules
from glance_store_cinder.mounts import MountTable
from glance_store_cinder.mounts import SystemMounts
from glance_store_cinder.privileged import RootCommands
from glance_store_cinder.transfer.device import borrowed

SHARE = "0123456789abcdef0123456789abcdef"
HELPER = "sudo glance-rootwrap /etc/glance/rootwrap.conf"


class Recorder:
    """Stands in for processutils.execute; optionally fails."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []
        self.kwargs: list[dict[str, Any]] = []
        self.fail_on: Callable[[list[str]], bool] | None = None

    def __call__(self, *argv: str, **kwargs: Any) -> None:
        self.argvs.append(list(argv))
        self.kwargs.append(kwargs)
        if self.fail_on is not None and self.fail_on(list(argv)):
            raise processutils.ProcessExecutionError(
                exit_code=32, stderr="umount: target is busy", cmd=list(argv))


# The mount base, a share in it, the volume file in that share, a canary.
Layout = tuple[pathlib.Path, pathlib.Path, pathlib.Path, pathlib.Path]
# The path handed to chown, made of the mount base, the share, the canary.
PathMaker = Callable[[pathlib.Path, pathlib.Path, pathlib.Path], str]


@pytest.fixture
def layout(tmp_path: pathlib.Path) -> Layout:
    """A mount base with one share holding a volume file; a canary."""
    base = tmp_path / "mnt"
    share = base / SHARE
    share.mkdir(parents=True)
    volume = share / "volume-1"
    volume.write_bytes(b"volume")
    canary = tmp_path / "canary"
    canary.write_bytes(b"host file")
    return base, share, volume, canary


def commands(base: pathlib.Path, recorder: Recorder, uid: int = 1000
             ) -> RootCommands:
    return RootCommands(HELPER, str(base), execute=recorder, uid=uid)


def test_chown_passes_the_resolved_path(layout: Layout) -> None:
    base, share, volume, _ = layout
    (share / "alias").symlink_to(volume)
    rec = Recorder()
    commands(base, rec).chown(1000, str(share / "alias"))
    assert rec.argvs == [privileged.chown_argv(1000, str(volume))]
    assert rec.argvs == [["chown", "-h", "1000", str(volume)]]
    assert rec.kwargs[0]["run_as_root"] is True
    assert rec.kwargs[0]["root_helper"] == HELPER


@pytest.mark.parametrize("make", [
    lambda base, share, canary: str(share / ".." / ".." / "canary"),
    lambda base, share, canary: _link(share / "escape", canary),
    lambda base, share, canary: _link(base / ("f" * 32), canary.parent)
    + "/canary",
    lambda base, share, canary: str(canary),
    lambda base, share, canary: str(share),
    lambda base, share, canary: "/dev/../etc/shadow",
    lambda base, share, canary: "/dev/mem",
], ids=["dotdot", "symlink-file", "symlink-dir", "outside", "mount-point",
        "dev-dotdot", "dev-mem"])
def test_chown_refuses_what_the_filters_refuse(layout: Layout,
                                               make: PathMaker) -> None:
    base, share, _, canary = layout
    rec = Recorder()
    with pytest.raises(gs_exc.BackendException, match="rootwrap filters"):
        commands(base, rec).chown(1000, make(base, share, canary))
    assert rec.argvs == []
    assert canary.read_bytes() == b"host file"


def _link(link: pathlib.Path, target: pathlib.Path) -> str:
    link.symlink_to(target)
    return str(link)


def test_unmount_only_a_share_mount_point(layout: Layout) -> None:
    base, share, volume, _ = layout
    rec = Recorder()
    cmds = commands(base, rec)
    for bad in (str(base), str(volume), str(share / ".."), "/",
                str(share) + "\n"):
        with pytest.raises(gs_exc.BackendException, match="not unmounting"):
            cmds.unmount(bad)
    assert rec.argvs == []
    cmds.unmount(str(share))
    assert rec.argvs == [privileged.umount_argv(str(share))]
    assert rec.argvs == [["umount", str(share)]]


def test_chown_of_a_device_needs_what_the_rules_accept(
        tmp_path: pathlib.Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "sdb").write_bytes(b"")
    (dev / "sdc").mkdir()
    rec = Recorder()
    cmds = RootCommands(HELPER, str(tmp_path / "mnt"), execute=rec,
                        uid=1000, devices=DeviceRules(
                            root=str(dev), accepts=stat.S_ISREG))
    cmds.chown(1000, str(dev / "sdb"))
    for bad in ("sdc", "sdd", "mem"):
        with pytest.raises(gs_exc.BackendException):
            cmds.chown(1000, str(dev / bad))
    assert rec.argvs == [["chown", "-h", "1000", str(dev / "sdb")]]
    # by default: real block devices in /dev only
    with pytest.raises(gs_exc.BackendException):
        RootCommands(HELPER, "/x", execute=rec, uid=1000).chown(
            1000, "/dev/null")


def test_borrowing_takes_over_and_gives_back(layout: Layout) -> None:
    base, _, volume, _ = layout
    rec = Recorder()
    owner = os.stat(volume).st_uid
    with borrowed(str(volume), commands(base, rec, uid=4242)) as path:
        assert path == str(volume)
        assert rec.argvs == [["chown", "-h", "4242", str(volume)]]
    assert rec.argvs[1] == ["chown", "-h", str(owner), str(volume)]


def test_give_back_failure_does_not_hide_the_first_error(
        layout: Layout, caplog: pytest.LogCaptureFixture) -> None:
    base, _, volume, _ = layout
    rec = Recorder()
    rec.fail_on = lambda argv: argv[2] != "4242"
    with pytest.raises(ValueError, match="reading failed"):
        with borrowed(str(volume), commands(base, rec, uid=4242)):
            raise ValueError("reading failed")
    assert "Giving %s back" % volume in caplog.text


def test_root_borrows_nothing(layout: Layout) -> None:
    base, _, volume, _ = layout
    rec = Recorder()
    with borrowed(str(volume), commands(base, rec, uid=0)) as path:
        assert path == str(volume)
    assert rec.argvs == []


# -- unmounting, decided by the mount table -----------------------------------
def mountinfo(tmp_path: pathlib.Path, *mount_points: str) -> MountTable:
    path = tmp_path / "mountinfo"
    lines = ["22 27 0:21 / /proc rw,relatime - proc proc rw"]
    for n, point in enumerate(mount_points):
        escaped = point.replace("\\", "\\134").replace(" ", "\\040")
        lines.append("%d 27 0:%d / %s rw,relatime - nfs 192.0.2.5:/x rw"
                     % (100 + n, 50 + n, escaped))
    path.write_text("\n".join(lines) + "\n")
    return MountTable(str(path))


def test_mount_table_reads_escaped_mount_points(
        tmp_path: pathlib.Path) -> None:
    table = mountinfo(tmp_path, "/var/lib/glance/mnt/with space")
    assert "/var/lib/glance/mnt/with space" in table.mount_points()
    assert table.is_mounted("/proc")
    assert not table.is_mounted("/var/lib/glance/mnt")


def test_share_not_mounted_is_not_unmounted(layout: Layout,
                                            tmp_path: pathlib.Path) -> None:
    base, share, volume, _ = layout
    volume.unlink()
    rec = Recorder()
    SystemMounts(commands(base, rec), mountinfo(tmp_path)).unmount(str(share))
    assert rec.argvs == []
    assert not share.exists()  # the empty mount point is removed


def test_mounted_share_is_unmounted(layout: Layout,
                                    tmp_path: pathlib.Path) -> None:
    base, share, volume, _ = layout
    volume.unlink()
    rec = Recorder()
    table = mountinfo(tmp_path, str(share))
    SystemMounts(commands(base, rec), table).unmount(str(share))
    assert rec.argvs == [["umount", str(share)]]
    assert rec.kwargs[0]["attempts"] == 3


def test_busy_share_stays_mounted_and_is_logged(
        layout: Layout, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    base, share, _, _ = layout
    rec = Recorder()
    rec.fail_on = lambda argv: True
    table = mountinfo(tmp_path, str(share))
    with caplog.at_level(logging.ERROR):
        SystemMounts(commands(base, rec), table).unmount(str(share))
    assert "Could not unmount %s" % share in caplog.text
    assert share.exists()


def test_share_unmounted_meanwhile_is_not_an_error(
        layout: Layout, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    base, share, volume, _ = layout
    volume.unlink()
    rec = Recorder()
    path = tmp_path / "mountinfo"
    table = mountinfo(tmp_path, str(share))

    def someone_else_unmounted(argv: list[str]) -> bool:
        path.write_text("")
        return True

    rec.fail_on = someone_else_unmounted
    with caplog.at_level(logging.ERROR):
        SystemMounts(commands(base, rec), table).unmount(str(share))
    assert "Could not unmount" not in caplog.text
    assert not share.exists()
