"""The shipped rootwrap filters, through oslo.rootwrap's own matcher.

Every command line the store issues (built by glance_store_cinder.
privileged) is admitted; every probe of an escape is refused.
"""

import configparser
import hashlib
import pathlib

import pytest
from oslo_rootwrap import filters as rw_filters
from oslo_rootwrap import wrapper

from glance_store_cinder import privileged

ETC = pathlib.Path(__file__).resolve().parents[2] / "etc"
FILTERS_DIR = ETC / "rootwrap.d"
BASE = "/var/lib/glance/mnt"  # the shipped default mount base
SHARE = hashlib.md5(b"192.0.2.5:/srv/nfs/cinder").hexdigest()
VOLUME_FILE = "volume-0b9f1c0e-6a1d-4c3e-9d7a-2f3c4b5a6978"


def exec_dirs() -> list[str]:
    conf = configparser.RawConfigParser()
    conf.read(ETC / "rootwrap.conf")
    return conf.get("DEFAULT", "exec_dirs").split(",")


@pytest.fixture(scope="module")
def filters() -> list[rw_filters.CommandFilter]:
    return wrapper.load_filters([str(FILTERS_DIR)])


def matched(filters: list[rw_filters.CommandFilter], argv: list[str]
            ) -> str | None:
    """The name of the filter admitting argv, or None.

    A filter that admits argv but finds no executable here still admits
    it (on another host the executable is there).
    """
    try:
        matched = wrapper.match_filter(filters, argv, exec_dirs=exec_dirs())
        return str(matched.name) if matched is not None else None
    except wrapper.FilterMatchNotExecutable as exc:
        return str(exc.match.name) if exc.match is not None else None
    except wrapper.NoFilterMatched:
        return None


def issued_command_lines() -> list[list[str]]:
    """What the store sends, from privileged.py's own argv builders.

    (test_privileged checks that RootCommands sends exactly these, with
    the path resolved; the devices need not exist here.)
    """
    lines = [privileged.umount_argv("%s/%s" % (BASE, SHARE))]
    for path in ("/dev/sdb", "/dev/sdaa", "/dev/vdc", "/dev/xvdf",
                 "/dev/dm-3", "/dev/nvme0n1", "/dev/nvme12n3", "/dev/rbd0",
                 "/dev/scinia", "/dev/nbd2",
                 "%s/%s/%s" % (BASE, SHARE, VOLUME_FILE)):
        lines.append(privileged.chown_argv(161, path))  # take over
        lines.append(privileged.chown_argv(0, path))    # give back to root
    return lines


@pytest.mark.parametrize("argv", issued_command_lines(),
                         ids=lambda argv: " ".join(argv))
def test_every_command_the_store_issues_is_admitted(
        filters: list[rw_filters.CommandFilter], argv: list[str]) -> None:
    assert matched(filters, argv) in ("glance_store_cinder_umount",
                                      "glance_store_cinder_chown_device",
                                      "glance_store_cinder_chown_file")


PROBES = [
    # the issue's probes
    ["chown", "1000", "/dev/../etc/shadow"],
    ["chown", "-h", "1000", "/dev/../etc/shadow"],
    ["chown", "-h", "1000", "/dev/sdb/../../etc/shadow"],
    ["umount", "%s/abc\n" % BASE],
    ["umount", "%s/%s\n" % (BASE, SHARE)],
    # symlinks under /dev/shm (world-writable) and the glance-owned base
    ["chown", "-h", "1000", "/dev/shm/link-to-shadow"],
    ["chown", "-h", "1000", "/dev/disk/by-path/link"],
    ["chown", "-h", "1000", "%s/link-to-shadow" % BASE],
    ["chown", "-h", "1000", "%s/%s/dir/link" % (BASE, SHARE)],
    ["chown", "-h", "1000", "%s/%s/.." % (BASE, SHARE)],
    ["chown", "-h", "1000", "%s/%s/../../../../etc/shadow" % (BASE, SHARE)],
    ["chown", "-h", "1000", "%s/%s/.hidden" % (BASE, SHARE)],
    ["chown", "-h", "1000", "%s/%s" % (BASE, SHARE)],
    ["chown", "-h", "1000", "%s/%s/%s\n" % (BASE, SHARE, VOLUME_FILE)],
    # devices that are not a volume's
    ["chown", "-h", "1000", "/dev/mem"],
    ["chown", "-h", "1000", "/dev/kmem"],
    ["chown", "-h", "1000", "/dev/sdb1"],
    ["chown", "-h", "1000", "/dev/sdb\n"],
    ["chown", "-h", "1000", "/dev/shm"],
    ["chown", "-h", "1000", "/etc/shadow"],
    # owners other than a plain uid
    ["chown", "-h", "root", "/dev/sdb"],
    ["chown", "-h", "1000:0", "/dev/sdb"],
    ["chown", "-h", "1000:", "/dev/sdb"],
    ["chown", "-h", ":0", "/dev/sdb"],
    ["chown", "-h", "-1", "/dev/sdb"],
    ["chown", "-h", "01000", "/dev/sdb"],
    ["chown", "-h", "1000\n", "/dev/sdb"],
    ["chown", "-h", "", "/dev/sdb"],
    # other options and shapes of chown
    ["chown", "1000", "/dev/sdb"],
    ["chown", "-R", "1000", "/dev/sdb"],
    ["chown", "-h", "--reference=/etc/passwd", "/dev/sdb"],
    ["chown", "-h", "1000", "/dev/sdb", "/etc/shadow"],
    ["chown", "-h", "1000", "%s/%s/%s" % ("/var/lib/glance/other", SHARE,
                                          VOLUME_FILE)],
    # umount of anything else
    ["umount", "/"],
    ["umount", BASE],
    ["umount", "%s/%s/.." % (BASE, SHARE)],
    ["umount", "%s/../../../.." % BASE],
    ["umount", "-l", "%s/%s" % (BASE, SHARE)],
    ["umount", "%s/%s" % (BASE, SHARE[:-1])],
    ["umount", "%s/%s" % (BASE, SHARE.upper())],
    ["umount", "-a"],
    # arbitrary commands
    ["sh", "-c", "id"],
    ["cat", "/etc/shadow"],
    ["chmod", "777", "/dev/sdb"],
    ["mount", "-t", "nfs", "192.0.2.5:/x", "%s/%s" % (BASE, SHARE)],
    ["dd", "if=/dev/zero", "of=/dev/sda"],
    ["cp", "/bin/sh", "/tmp/sh"],
    ["tee", "/etc/sudoers"],
]


@pytest.mark.parametrize("argv", PROBES, ids=repr)
def test_probe_is_refused(filters: list[rw_filters.CommandFilter],
                          argv: list[str]) -> None:
    assert matched(filters, argv) is None


def test_privsep_helper_is_always_admitted_whatever_this_file_says(
        filters: list[rw_filters.CommandFilter]) -> None:
    # What the filters file documents it cannot prevent.
    argv = ["privsep-helper", "--privsep_context", "anything.at.all"]
    assert matched(filters, argv) == "privsep-helper"


def test_only_the_store_commands_are_listed(
        filters: list[rw_filters.CommandFilter]) -> None:
    assert sorted(f.name for f in filters) == [
        "glance_store_cinder_chown_device", "glance_store_cinder_chown_file",
        "glance_store_cinder_umount", "privsep-helper"]


def test_filters_use_the_shapes_the_store_checks(
        filters: list[rw_filters.CommandFilter]) -> None:
    """The Python checks and the filters accept the same names."""
    by_name = {f.name: f.args for f in filters}
    uid = privileged.UID + r"\Z"
    assert by_name["glance_store_cinder_chown_device"][2:] == (
        uid, "/dev/%s\\Z" % privileged.DEVICE_NAME)
    assert by_name["glance_store_cinder_chown_file"][2:] == (
        uid, "%s/%s/%s\\Z" % (BASE, privileged.MOUNT_POINT_NAME,
                              privileged.VOLUME_FILE_NAME))
    assert by_name["glance_store_cinder_umount"][1:] == (
        "%s/%s\\Z" % (BASE, privileged.MOUNT_POINT_NAME),)


@pytest.mark.parametrize("argv", [
    # the host's own disk is named like a volume's device
    ["chown", "-h", "1000", "/dev/sda"],
    # any uid: a filter cannot know glance's
    ["chown", "-h", "4242", "/dev/sdb"],
    # a glance-made directory named like a mount point (the mount base
    # must be root's); -h only protects the last component
    ["chown", "-h", "1000", "%s/%s/shadow" % (BASE, "0" * 32)],
], ids=repr)
def test_what_the_filters_cannot_refuse(
        filters: list[rw_filters.CommandFilter], argv: list[str]) -> None:
    """Admitted, as the filters file documents (not a wall)."""
    assert matched(filters, argv) is not None
