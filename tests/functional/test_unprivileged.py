"""glance-api runs as production runs it: unprivileged, reaching root only
through sudo and glance-rootwrap (the one standard sudoers line)."""

from __future__ import annotations

import os
import pwd
import subprocess
from typing import Any


def _children(ppid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _uids(pid: int) -> list[int]:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(u) for u in line.split()[1:]]
    raise AssertionError("no Uid line for pid %d" % pid)


def test_glance_api_processes_are_not_root(aio: dict[str, Any]) -> None:
    glance = aio["glance"]
    with open(glance["pid_file"]) as f:
        master = int(f.read().split()[0])
    # gunicorn's master and its workers (a worker's privsep daemon, started
    # through sudo, is root by design and is not a child of the master)
    members = [master, *_children(master)]
    assert len(members) >= 2, members
    uid = pwd.getpwnam(glance["user"]).pw_uid
    assert uid != 0
    for pid in members:
        assert _uids(pid) == [uid] * 4, (pid, _uids(pid))


def test_glance_may_run_only_glance_rootwrap(aio: dict[str, Any]) -> None:
    out = subprocess.run(["sudo", "-l", "-U", aio["glance"]["user"]],
                         capture_output=True, text=True, check=True,
                         timeout=30).stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if "may run the following commands" in line)
    allowed = [line.strip() for line in lines[start + 1:] if line.strip()]
    glance = aio["glance"]
    assert allowed == ["(root) NOPASSWD: %s %s *" % (
        glance["rootwrap"], glance["rootwrap_config"])]
