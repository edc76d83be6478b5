"""The rows of the result: medians, floors and ratios per workload."""

from __future__ import annotations

import dataclasses
from typing import Any

from bench import targets
from bench.common import INTREE
from bench.common import OURS
from bench.common import GiB
from bench.common import MiB
from bench.hot import hot_lines
from bench.stats import Sample
from bench.stats import Stats
from bench.stats import is_ok
from bench.stats import paired
from bench.stats import per_round
from bench.stats import stats


@dataclasses.dataclass(frozen=True)
class Row:
    workload: str
    label: str
    floor: str              # how its floor is made of the limits
    intree: str = ""        # in-tree workload compared with (default same)


# The floor of a workload: what the machine and Cinder need at least for
# it, from the physical limits measured in the same round (one stream;
# the concurrent rows use the same single-stream floor for all their
# bytes):
#   add    max(md5 on one core, sha512 on one core (their CPU seconds),
#              device write + fsync, CPU seconds of hashing and writing
#              / cores) + Cinder's cycle
#   thin   the same, writing only the data bytes
#   cinder the cycle alone (1 MiB of data costs nothing next to it)
#   get    cold device read of its bytes + Cinder's attach and detach
ROWS = (
    Row("add_known", "add {known}, known size", "add"),
    Row("add_known_durable", "... until on disk (add + fsync of the file)",
        "add"),
    Row("add_unknown_small", "add {unknown_small}, unknown size", "add"),
    Row("add_unknown_large", "add {unknown_large}, unknown size", "add"),
    Row("add_small", "add {small} x{small_count}, per image", "cinder"),
    Row("get", "get {known}, cold cache", "get"),
    Row("concurrent_add", "{concurrency} concurrent adds of {concurrent}",
        "add"),
    Row("concurrent_get", "{concurrency} concurrent gets of {concurrent}",
        "get"),
    Row("sparse_dense", "add {sparse} sparse raw, known size", "add"),
    Row("sparse_thin", "... with cinder_thin_provisioning", "thin",
        intree="sparse_dense"),
    # The loop-device backend: real block devices (direct I/O to a file on
    # the machine's disk).  The limits are measured on the NFS export, so
    # these rows have no floor.
    Row("block_add_known", "block device: add {known}, known size", "none"),
    Row("block_add_known_durable", "... until on disk (add + fsync of the "
        "backing file)", "none"),
    Row("block_get", "block device: get {known}, cold cache", "none"),
    # Through a glance-api (bench/e2e.py): ours the stack's, in-tree a
    # second one on the same stack.  No floor: glance-api's own work is
    # not among the limits.
    Row("e2e_upload", "glance-api: upload {known}, Content-Length, until "
        "active", "none"),
    Row("e2e_download", "glance-api: download {known}, cold cache",
        "none"),
)

ATTACH_STEPS = ("attachment_create", "attachment_update", "connect",
                "attachment_complete")
DETACH_STEPS = ("disconnect", "unmount", "attachment_delete")

LIMIT_LABELS = {
    "hash_md5": "md5 of {known}, one thread",
    "hash_sha512": "sha512 of {known}, one thread",
    "hash_serial": "md5 then sha512 of {known}",
    "hash_overlapped": "md5 and sha512 of {known}, two threads",
    "device_write": "copy {known} to a new file on the export + fsync",
    "device_write_presized": "write {known} from memory into a pre-sized "
                             "file on the export + fsync",
    "device_write_paced": "the same, starting writeback every 32 MiB "
                          "(POSIX_FADV_DONTNEED) while writing",
    "device_write_direct": "the same, written with O_DIRECT from one "
                           "aligned 4 MiB buffer (past the page cache)",
    "device_read": "read the paced write's file back, cold cache",
    "device_read_drop_behind": "the same, dropping what was read every "
                               "32 MiB (POSIX_FADV_DONTNEED)",
    "hash_write": "reference implementation: md5 and sha512 in two "
                  "threads while writing the same {known} into a "
                  "pre-sized file on the export, + fsync",
    "cinder_cycle": "Cinder: create 1 GiB volume .. available, attach "
                    "(create/update/connect/complete), detach "
                    "(disconnect/unmount/delete)",
}
WRITES = ("device_write", "device_write_presized", "device_write_paced",
          "device_write_direct")
# A host that hands free memory back to its hypervisor reads into fresh
# pages slowly and into reused ones quickly: the device reads as fast as
# the faster of the two ways it was read.
READS = ("device_read", "device_read_drop_behind")
REFERENCE_LABEL = "reference implementation: hash+write {known} + Cinder"
COUNTS = ("rounds", "small_count", "concurrency", "cinder_cycles",
          "secondary_rounds", "reads", "curve_rounds", "hot_rounds",
          "e2e_reads")


def curve_rows(profile: Any) -> tuple[Row, ...]:
    """The size curve's rows (its other points are the headline adds:
    bench.common.CURVE_HEADLINES)."""
    return tuple(Row("%s@%d" % (kind, n), "size curve: add %s, %s size"
                     % (size_text(n), kind.split("_")[1]), "add")
                 for kind in ("curve_known", "curve_unknown")
                 for n in profile.curve_sizes(kind))


def size_text(n: int) -> str:
    if n >= GiB and n % (GiB // 4) == 0:
        return ("%g GiB" % (n / GiB))
    if n >= MiB:
        return "%g MiB" % (n / MiB)
    return "%d B" % n


def label_of(template: str, profile: Any) -> str:
    values = {f.name: getattr(profile, f.name)
              for f in dataclasses.fields(profile)}
    return template.format(**{k: size_text(v) if isinstance(v, int)
                              and k not in COUNTS else v
                              for k, v in values.items()})


Limits = dict[str, Stats | None]


def _seconds(limits: Limits, name: str, n: int) -> float | None:
    """Seconds the limit ``name`` needs for ``n`` bytes, at its rate."""
    lim = limits.get(name)
    if not is_ok(lim) or lim is None or not lim.get("mib_s"):
        return None
    return float(n / MiB / lim["mib_s"])


def _cpu(limits: Limits, name: str, key: str, n: int) -> float | None:
    """CPU seconds the limit ``name`` needs for ``n`` bytes."""
    lim = limits.get(name)
    if not is_ok(lim) or lim is None or not lim.get("bytes"):
        return None
    value = lim.get("cpu_median_s", {}).get(key)
    return None if value is None else float(value * n / lim["bytes"])


def add_bound(nbytes: int, written: int, limits: Limits, cores: int
              ) -> dict[str, float] | None:
    """What an add of ``nbytes`` (``written`` of them data) needs at least,
    per physical limit, without Cinder."""
    # A hash on one core takes its thread's CPU seconds: its wall time
    # also counts the time others (on a shared machine) held the core.
    md5 = _cpu(limits, "hash_md5", "thread_s", nbytes)
    sha512 = _cpu(limits, "hash_sha512", "thread_s", nbytes)
    # The device writes as fast as the faster of the two ways it was
    # written to; its CPU seconds (the kernel's write path, the loop
    # device; less what others used meanwhile) as few as the fewer.
    writes = [w for w in (_seconds(limits, name, written)
                          for name in WRITES) if w is not None]
    cpus = [c for c in (_cpu(limits, name, "write_busy_s", written)
                        or _cpu(limits, name, "machine_busy_s", written)
                        for name in WRITES) if c is not None]
    writing = min(cpus) if cpus else None
    parts = {"md5": md5 or _seconds(limits, "hash_md5", nbytes),
             "sha512": sha512 or _seconds(limits, "hash_sha512", nbytes),
             "write": min(writes) if writes else None}
    if md5 is not None and sha512 is not None and writing is not None \
            and cores:
        parts["cpu"] = (md5 + sha512 + writing) / cores
    if any(v is None for v in parts.values()):
        return None
    return {k: v for k, v in parts.items() if v is not None}


def floor(kind: str, nbytes: int, data: int | None, limits: Limits,
          cores: int) -> tuple[float, str] | None:
    """Seconds the machine and Cinder need at least; what bounds it."""
    cycle = limits.get("cinder_cycle")
    if kind == "none" or not is_ok(cycle) or cycle is None:
        return None
    steps = cycle.get("steps_median_s", {})
    if kind == "cinder":
        return cycle["median_s"], "Cinder"
    if kind == "get":
        reads = [r for r in (_seconds(limits, name, nbytes)
                             for name in READS) if r is not None]
        if not reads:
            return None
        read = min(reads)
        return (read + sum(steps.get(k, 0.0) for k in ATTACH_STEPS
                           + DETACH_STEPS), "read+attach")
    written = (data or nbytes) if kind == "thin" else nbytes
    parts = add_bound(nbytes, written, limits, cores)
    if parts is None:
        return None
    bound = max(parts, key=lambda k: parts[k])
    return parts[bound] + cycle["median_s"], bound + "+Cinder"


def reference(nbytes: int, limits: Limits) -> float | None:
    """Today's hash+write re-implementation plus Cinder's cycle."""
    both = _seconds(limits, "hash_write", nbytes)
    cycle = limits.get("cinder_cycle")
    if both is None or not is_ok(cycle) or cycle is None:
        return None
    return float(both + cycle["median_s"])


def limits_of(samples: list[Sample]) -> Limits:
    return {name: stats([s for s in samples if s["workload"] == name
                         and s["contender"] == "limit"])
            for name in LIMIT_LABELS}


def rounds_of(samples: list[Sample]) -> list[int]:
    return sorted({s["round"] for s in samples})


def summarize(samples: list[Sample], profile: Any,
              data_bytes: dict[str, int], cores: int) -> dict[str, Any]:
    limits = limits_of(samples)
    by_round = {r: limits_of([s for s in samples if s["round"] == r])
                for r in rounds_of(samples)}
    rows = [entry for row in ROWS + curve_rows(profile)
            if (entry := _row(row, samples, profile, data_bytes, limits,
                              by_round, cores)) is not None]
    out: dict[str, Any] = {"rows": rows, "limits": limits,
                           "targets": targets.evaluate(rows),
                           "cores": cores, "hot": hot_lines(samples)}
    known = next((r for r in rows if r["workload"] == "add_known"), None)
    if known and known.get("reference_s") is not None:
        out["reference"] = {
            "label": label_of(REFERENCE_LABEL, profile),
            "seconds": known["reference_s"],
            "floor_s": known.get("floor_s"),
            "ratio_floor": (known["floor_s"] / known["reference_s"]
                            if known.get("floor_s") else None)}
    return out


def _row(row: Row, samples: list[Sample], profile: Any,
         data_bytes: dict[str, int], limits: Limits,
         by_round: dict[int, Limits], cores: int) -> dict[str, Any] | None:
    def pick(workload: str, contender: str) -> list[Sample]:
        return [s for s in samples if s["workload"] == workload
                and s["contender"] == contender]

    mine, theirs = pick(row.workload, OURS), pick(row.intree
                                                  or row.workload, INTREE)
    ours, intree = stats(mine), stats(theirs)
    if ours is None:
        return None
    nbytes = ours.get("bytes") or (intree or {}).get("bytes") or 0
    entry: dict[str, Any] = {
        "workload": row.workload, "label": label_of(row.label, profile),
        "ours": ours, "in_tree": intree,
        "in_tree_workload": row.intree or row.workload,
        "floor_kind": row.floor}
    if row.workload in data_bytes:
        entry["data_bytes"] = data_bytes[row.workload]
    fl = floor(row.floor, nbytes, entry.get("data_bytes"), limits, cores)
    if fl is not None:
        entry["floor_s"], entry["floor_bound"] = fl
    entry["ratio_in_tree"] = _ratio(ours, intree)
    if is_ok(ours) and fl is not None:
        entry["ratio_floor"] = fl[0] / ours["median_s"]
        entry["overhead_s"] = ours["median_s"] - fl[0]
    # Paired only when every round passed its checks: a ratio over the
    # rounds a driver got right would hide that it failed the others.
    ours_rounds = per_round(mine) if is_ok(ours) else {}
    entry["paired_in_tree"] = paired(
        per_round(theirs) if is_ok(intree) else {}, ours_rounds)
    floors = {r: f[0] for r, lim in by_round.items() if (f := floor(
        row.floor, nbytes, entry.get("data_bytes"), lim, cores))}
    entry["paired_floor"] = paired(floors, ours_rounds)
    _limit_ratios(entry, row, ours, limits, nbytes)
    return entry


def _limit_ratios(entry: dict[str, Any], row: Row, ours: Stats,
                  limits: Limits, nbytes: int) -> None:
    if row.floor in ("add", "thin"):
        entry["ratio_hash"] = _rate_ratio(ours,
                                          limits.get("hash_overlapped"))
        entry["ratio_device_write"] = _rate_ratio(
            ours, limits.get("device_write"))
        entry["reference_s"] = reference(nbytes, limits)
    if row.floor == "get":
        ratios = [r for r in (_rate_ratio(ours, limits.get(name))
                              for name in READS) if r is not None]
        entry["ratio_read"] = min(ratios) if ratios else None
    cycle = limits.get("cinder_cycle")
    if row.floor == "cinder" and is_ok(ours) and is_ok(cycle) and cycle:
        entry["overhead_ms"] = 1000 * (ours["median_s"]
                                       - cycle["median_s"])


def _ratio(ours: Stats | None, other: Stats | None) -> float | None:
    """Throughput of ours over the other's (same bytes): >1 is faster."""
    if not is_ok(ours) or not is_ok(other) or not ours or not other:
        return None
    return float(other["median_s"] / ours["median_s"])


def _rate_ratio(ours: Stats | None, limit: Stats | None) -> float | None:
    if not is_ok(ours) or not is_ok(limit) or not ours or not limit \
            or not limit.get("mib_s"):
        return None
    return float(ours["mib_s"] / limit["mib_s"])
