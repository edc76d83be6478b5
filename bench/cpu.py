"""CPU seconds around a timed call (this process's and the machine's),
and the bytes of the devices under the export.

The process figures (``getrusage``) cover every thread of the worker: the
drivers hash in threads.  The machine figures (``/proc/stat``) also cover
what the call makes others do: the kernel's writeback and loop-device
threads, the privsep daemon, Cinder's services on this host.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench import disks

_TICK = float(os.sysconf("SC_CLK_TCK"))
# Columns of /proc/stat's "cpu" line, in order.
_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq",
            "steal")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    proc_user: float
    proc_sys: float
    machine: dict[str, float]


def machine_times() -> dict[str, float]:
    """Seconds the machine's CPUs spent in each state since boot."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return {}
    return {name: int(value) / _TICK
            for name, value in zip(_COLUMNS, fields, strict=False)}


def snapshot() -> Snapshot:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Snapshot(usage.ru_utime, usage.ru_stime, machine_times())


def between(start: Snapshot, end: Snapshot) -> dict[str, float]:
    """The CPU seconds spent from ``start`` to ``end``."""
    m = {k: end.machine.get(k, 0.0) - start.machine.get(k, 0.0)
         for k in _COLUMNS}
    out = {"proc_user_s": end.proc_user - start.proc_user,
           "proc_sys_s": end.proc_sys - start.proc_sys}
    if end.machine:
        out.update({
            "machine_user_s": m["user"] + m["nice"],
            "machine_sys_s": m["system"] + m["irq"] + m["softirq"],
            "machine_iowait_s": m["iowait"],
            "machine_idle_s": m["idle"],
            "machine_steal_s": m["steal"],
        })
        out["machine_busy_s"] = out["machine_user_s"] + out["machine_sys_s"]
    return out


def background_rate(seconds: float = 1.0) -> float:
    """Busy CPU seconds per second of the machine while this process
    sleeps: what others (on a shared machine) are using."""
    start = snapshot()
    time.sleep(seconds)
    return between(start, snapshot()).get("machine_busy_s", 0.0) / seconds


def own_share(cpu: dict[str, float], wall: float, background: float
              ) -> float:
    """The machine's busy seconds of a call minus the others' usual
    share, at least the process's own."""
    own = cpu["proc_user_s"] + cpu["proc_sys_s"]
    return max(own, cpu.get("machine_busy_s", own) - background * wall)


class Meter:
    """``with meter.measure(): ...``; then ``meter.seconds`` (CPU) and
    ``meter.io`` (bytes of the devices named in ``devices``, see
    :mod:`bench.disks`)."""

    def __init__(self, devices: dict[str, str] | None = None) -> None:
        self.devices = devices or {}
        self.seconds: dict[str, float] = {}
        self.io: dict[str, int] = {}

    @contextmanager
    def measure(self) -> Iterator[Meter]:
        io_start = disks.counters(self.devices)
        start = snapshot()
        try:
            yield self
        finally:
            self.seconds = between(start, snapshot())
            io_end = disks.counters(self.devices)
            self.io = {k: v - io_start[k] for k, v in io_end.items()
                       if k in io_start}
