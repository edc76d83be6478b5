"""Medians, ratios, targets; the table, JSON, Markdown and chart."""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import subprocess
from typing import Any

from bench.common import INTREE
from bench.common import OURS
from bench.common import REPO
from bench.common import GiB
from bench.common import MiB


@dataclasses.dataclass(frozen=True)
class Row:
    workload: str
    label: str
    floor: str              # how its floor is made of the limits
    intree: str = ""        # in-tree workload compared with (default same)


# The floor of a workload: what the machine and Cinder need at least for
# it, from the limits measured in the same run (one stream; the
# concurrent rows use the same single-stream floor for all their bytes):
#   add    hash + write of its bytes (both at once, measured together)
#          + Cinder's own cycle (create .. available, attach, detach)
#   thin   max(hash of all bytes, device write of the data bytes) + cycle
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
    "device_read": "read that file, cold cache",
    "hash_write": "md5 and sha512 in two threads while writing the same "
                  "{known} into a pre-sized file on the export, + fsync",
    "cinder_cycle": "Cinder: create 1 GiB volume .. available, attach "
                    "(create/update/connect/complete), detach "
                    "(disconnect/unmount/delete)",
}


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
                              and k not in ("rounds", "small_count",
                                            "concurrency", "cinder_cycles",
                                            "large_rounds", "reads") else v
                              for k, v in values.items()})


def stats(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not samples:
        return None
    # Lost to an outage of the environment: nobody's failure, no time.
    outages = [s for s in samples if s.get("outage")]
    samples = [s for s in samples if not s.get("outage")]
    if not samples:
        return {"n": 0, "failed": 0, "outages": len(outages),
                "status": "not measured"}
    failed = [s for s in samples if not s["ok"]]
    out: dict[str, Any] = {"n": len(samples), "failed": len(failed)}
    if failed:
        out["status"] = "FAILED"
        out["error"] = failed[0]["error"]
        out["failed_rounds"] = sorted({s["round"] for s in failed})
        return out
    secs = sorted(s["seconds"] for s in samples)
    med = statistics.median(secs)
    nbytes = samples[0]["bytes"]
    out.update({
        "status": "ok",
        "median_s": med,
        "min_s": secs[0],
        "max_s": secs[-1],
        "spread_pct": 100.0 * (secs[-1] - secs[0]) / med if med else 0.0,
        "bytes": nbytes,
        "mib_s": nbytes / MiB / med if med and nbytes else None,
    })
    alloc = [s["extra"]["allocated"] for s in samples
             if s.get("extra", {}).get("allocated") is not None]
    if alloc:
        out["allocated_median"] = statistics.median(alloc)
    steps = [s["extra"] for s in samples if s.get("extra")
             and "create" in s["extra"]]
    if steps:
        out["steps_median_s"] = {k: statistics.median(x[k] for x in steps)
                                 for k in steps[0]}
    return out


def _ok(s: dict[str, Any] | None) -> bool:
    return bool(s and s.get("status") == "ok")


def floor(kind: str, nbytes: int, data: int | None,
          limits: dict[str, Any]) -> tuple[float, str] | None:
    """Seconds the machine and Cinder need at least; what bounds it."""
    def secs(name: str, n: int) -> float | None:
        lim = limits.get(name)
        if not _ok(lim) or not lim.get("mib_s"):
            return None
        return n / MiB / lim["mib_s"]

    cycle = limits.get("cinder_cycle")
    if not _ok(cycle):
        return None
    steps = cycle.get("steps_median_s", {})
    if kind == "cinder":
        return cycle["median_s"], "Cinder"
    if kind == "get":
        read = secs("device_read", nbytes)
        if read is None:
            return None
        return (read + sum(steps.get(k, 0.0) for k in ATTACH_STEPS
                           + DETACH_STEPS), "read+attach")
    if kind == "add":
        both = secs("hash_write", nbytes)
        if both is None:
            return None
        return both + cycle["median_s"], "hash+write+Cinder"
    hashing = secs("hash_overlapped", nbytes)
    writing = secs("device_write", data or nbytes)
    if hashing is None or writing is None:
        return None
    bound = "hash" if hashing >= writing else "write"
    return max(hashing, writing) + cycle["median_s"], bound + "+Cinder"


def summarize(samples: list[dict[str, Any]], profile: Any,
              data_bytes: dict[str, int]) -> dict[str, Any]:
    def pick(workload: str, contender: str) -> list[dict[str, Any]]:
        return [s for s in samples if s["workload"] == workload
                and s["contender"] == contender]

    limits = {name: stats(pick(name, "limit")) for name in LIMIT_LABELS}
    rows = []
    for row in ROWS:
        ours = stats(pick(row.workload, OURS))
        if ours is None:
            continue
        intree = stats(pick(row.intree or row.workload, INTREE))
        nbytes = (ours.get("bytes") or (intree or {}).get("bytes")
                  or 0)
        entry: dict[str, Any] = {
            "workload": row.workload,
            "label": label_of(row.label, profile),
            "ours": ours, "in_tree": intree,
            "in_tree_workload": row.intree or row.workload,
            "floor_kind": row.floor,
        }
        if row.workload in data_bytes:
            entry["data_bytes"] = data_bytes[row.workload]
        fl = floor(row.floor, nbytes, entry.get("data_bytes"), limits)
        if fl is not None:
            entry["floor_s"], entry["floor_bound"] = fl
        entry["ratio_in_tree"] = _ratio(ours, intree)
        if _ok(ours) and fl is not None:
            entry["ratio_floor"] = fl[0] / ours["median_s"]
            entry["overhead_s"] = ours["median_s"] - fl[0]
        # The pure limits the targets of issue 5 name.
        if row.floor in ("add", "thin"):
            entry["ratio_hash"] = _rate_ratio(ours,
                                              limits.get("hash_overlapped"))
            entry["ratio_device_write"] = _rate_ratio(
                ours, limits.get("device_write"))
        if row.floor == "get":
            entry["ratio_read"] = _rate_ratio(ours,
                                              limits.get("device_read"))
        if row.floor == "cinder" and _ok(ours) and \
                _ok(limits.get("cinder_cycle")):
            entry["overhead_ms"] = 1000 * (
                ours["median_s"] - limits["cinder_cycle"]["median_s"])
        rows.append(entry)
    return {"rows": rows, "limits": limits,
            "targets": targets(rows)}


def _ratio(ours: dict[str, Any] | None, other: dict[str, Any] | None
           ) -> float | None:
    """Throughput of ours over the other's (same bytes): >1 is faster."""
    if not ours or not other or ours.get("status") != "ok" \
            or other.get("status") != "ok":
        return None
    return other["median_s"] / ours["median_s"]


def _rate_ratio(ours: dict[str, Any] | None, limit: dict[str, Any] | None
                ) -> float | None:
    if not ours or not limit or ours.get("status") != "ok" \
            or limit.get("status") != "ok" or not limit.get("mib_s"):
        return None
    return ours["mib_s"] / limit["mib_s"]


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["workload"]: r for r in rows}
    out = []

    def add(name: str, value: float | None, op: str, goal: float,
            text: str, note: str = "") -> None:
        met = None if value is None else (value >= goal if op == ">="
                                          else value <= goal)
        out.append({"target": name, "value": value, "goal": goal,
                    "op": op, "met": met, "text": text, "note": note})

    def ok(w: str, who: str) -> bool:
        r = by.get(w)
        return bool(r and r.get(who) and r[who].get("status") == "ok")

    if "add_known" in by:
        add("known-size add vs in-tree", by["add_known"]["ratio_in_tree"],
            ">=", 2.0, "ours/in-tree throughput")
        add("known-size add vs hashing limit",
            by["add_known"].get("ratio_hash"), ">=", 0.8,
            "ours / md5+sha512 in two threads")
    for w in ("add_unknown_small", "add_unknown_large"):
        if w not in by:
            continue
        r = by[w]
        note = ""
        value = r["ratio_in_tree"]
        if ok(w, "ours") and r.get("in_tree") and \
                r["in_tree"].get("status") == "FAILED":
            note = "in-tree FAILED (wrong data); ours correct"
            value = float("inf")
        add("unknown-size add vs in-tree (%s)" % r["label"], value, ">=",
            5.0, "ours/in-tree throughput", note)
    if "add_small" in by:
        r = by["add_small"]
        lat = None if r["ratio_in_tree"] is None else 1 / r["ratio_in_tree"]
        add("1 MiB add latency vs in-tree", lat, "<=", 0.5,
            "ours/in-tree latency")
        add("1 MiB add overhead over Cinder's own time",
            r.get("overhead_ms"), "<=", 150.0,
            "ms, ours minus create+attach+detach")
    if "get" in by:
        add("get vs in-tree", by["get"]["ratio_in_tree"], ">=", 1.5,
            "ours/in-tree throughput")
        add("get vs device read", by["get"].get("ratio_read"), ">=", 0.8,
            "ours / cold read of a file on the export")
    for w in ("concurrent_add", "concurrent_get"):
        if w in by:
            add("%s vs in-tree" % w.replace("_", " "),
                by[w]["ratio_in_tree"], ">=", 1.5,
                "aggregate throughput, all bytes checked")
    if ok("sparse_thin", "ours") and ok("sparse_dense", "ours"):
        thin, dense = by["sparse_thin"]["ours"], by["sparse_dense"]["ours"]
        add("sparse add, thin vs dense", dense["median_s"]
            / thin["median_s"], ">=", 3.0, "ours thin / ours dense "
            "throughput")
        data = by["sparse_thin"].get("data_bytes")
        alloc = thin.get("allocated_median")
        if data and alloc is not None:
            add("sparse add, allocated / data (thin)", alloc / data, "<=",
                1.1, "backing file's allocated bytes / data bytes")
    return out


# -- machine --------------------------------------------------------------
def machine() -> dict[str, Any]:
    def read(path: str) -> str:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return ""

    cpu = ""
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    distro = ""
    for line in read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            distro = line.split("=", 1)[1].strip('"')
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gib": round(mem / GiB, 1),
        "kernel": platform.release(),
        "os": distro,
        "python": platform.python_version(),
    }


def versions(env: dict[str, Any]) -> dict[str, Any]:
    from importlib import metadata
    out: dict[str, Any] = {}
    for dist in ("glance-store", "glance-store-cinder", "os-brick",
                 "python-cinderclient"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse",
                               "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain",
             "glance_store_cinder"], capture_output=True,
            text=True).stdout.strip()
        out["glance_store_cinder_commit"] = head + ("+dirty" if dirty
                                                    else "")
    except OSError:
        pass
    out["cinder"] = env.get("versions", {}).get("cinder")
    return out


# -- text -------------------------------------------------------------------
def _secs(s: dict[str, Any] | None) -> str:
    if not s:
        return "-"
    if s.get("status") == "not measured":
        return "n/a"
    if s.get("status") != "ok":
        return "FAILED"
    return "%.2f" % s["median_s"]


def _rate(s: dict[str, Any] | None) -> str:
    if not s or s.get("status") != "ok" or not s.get("mib_s"):
        return "FAILED" if s and s.get("status") == "FAILED" else "-"
    return "%.0f" % s["mib_s"]


def _spread(s: dict[str, Any] | None) -> str:
    if not s or s.get("status") != "ok":
        return ""
    return "%d%%" % round(s["spread_pct"])


def _x(v: float | None) -> str:
    if v is None:
        return "-"
    if v == float("inf"):
        return "inf"
    return "%.2fx" % v


def table_rows(summary: dict[str, Any]) -> tuple[list[str],
                                                 list[list[str]]]:
    head = ["workload", "ours s", "±", "ours MiB/s", "in-tree s", "±",
            "in-tree MiB/s", "floor s", "ours/in-tree", "ours/floor",
            "ours-floor s"]
    lines = []
    for r in summary["rows"]:
        ours, intree = r["ours"], r["in_tree"]
        fl = "-"
        if r.get("floor_s") is not None:
            fl = "%.2f (%s)" % (r["floor_s"], r["floor_bound"])
        it_secs = _secs(intree)
        if r["in_tree_workload"] != r["workload"] and intree:
            it_secs += " (dense)"
        over = r.get("overhead_s")
        lines.append([r["label"], _secs(ours), _spread(ours), _rate(ours),
                      it_secs, _spread(intree), _rate(intree), fl,
                      _x(r.get("ratio_in_tree")),
                      _x(r.get("ratio_floor")),
                      "-" if over is None else "%+.2f" % over])
    return head, lines


def text_table(summary: dict[str, Any]) -> str:
    head, lines = table_rows(summary)
    widths = [max(len(x) for x in col)
              for col in zip(head, *lines, strict=True)]
    fmt = "  ".join("%%-%ds" % w if i == 0 else "%%%ds" % w
                    for i, w in enumerate(widths))
    out = [fmt % tuple(head), fmt % tuple("-" * w for w in widths)]
    out += [fmt % tuple(line) for line in lines]
    return "\n".join(out)


def md_table(summary: dict[str, Any]) -> str:
    head, lines = table_rows(summary)
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i == 0 else "---:"
                          for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(x.replace("|", "\\|") for x in line) + " |"
            for line in lines]
    return "\n".join(out)


def limits_text(summary: dict[str, Any], profile: Any) -> list[str]:
    out = []
    for name, s in summary["limits"].items():
        if not s:
            continue
        label = label_of(LIMIT_LABELS[name], profile)
        if s.get("status") != "ok":
            out.append("%s: FAILED (%s)" % (label, s.get("error")))
            continue
        if s.get("mib_s"):
            out.append("%s: %.2f s, %.0f MiB/s (±%d%%)" % (
                label, s["median_s"], s["mib_s"], round(s["spread_pct"])))
        else:
            steps = s.get("steps_median_s", {})
            out.append("%s: %.3f s (±%d%%)%s" % (
                label, s["median_s"], round(s["spread_pct"]),
                "; " + ", ".join("%s %.0f ms" % (k, 1000 * v)
                                 for k, v in steps.items()) if steps
                else ""))
    return out


def target_lines(summary: dict[str, Any]) -> list[str]:
    out = []
    for t in summary["targets"]:
        v = t["value"]
        if v is None:
            shown = "n/a"
        elif v == float("inf"):
            shown = "inf"
        elif "ms" in t["text"]:
            shown = "%.0f" % v
        else:
            shown = "%.2f" % v
        mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        out.append("%-6s %s: %s %s %g (%s)%s" % (
            mark, t["target"], shown, t["op"], t["goal"], t["text"],
            "; " + t["note"] if t["note"] else ""))
    return out


def sparse_lines(summary: dict[str, Any]) -> list[str]:
    out = []
    for r in summary["rows"]:
        if not r["workload"].startswith("sparse"):
            continue
        data = r.get("data_bytes")
        for who in ("ours", "in_tree"):
            s = r.get(who)
            if who == "in_tree" and r["workload"] == "sparse_thin":
                continue
            if s and s.get("allocated_median") is not None:
                out.append("%s, %s: backing file allocates %.0f MiB for "
                           "%.0f MiB of data" % (
                               r["label"], who.replace("_", "-"),
                               s["allocated_median"] / MiB,
                               (data or 0) / MiB))
    return out


# -- chart ------------------------------------------------------------------
def chart(summary: dict[str, Any], path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    labels = [r["label"] for r in rows]
    n = len(rows)
    fig, ax = plt.subplots(figsize=(10, 0.55 * n + 1.8))
    ys = range(n)
    h = 0.38
    for offset, key, name, color in ((-h / 2, "ratio_in_tree",
                                      "ours / in-tree", "#2b7bba"),
                                     (h / 2, "ratio_floor",
                                      "ours / floor (machine + Cinder)",
                                      "#f28e2b")):
        vals = []
        for r in rows:
            v = r.get(key)
            vals.append(0 if v is None or v == float("inf") else v)
        bars = ax.barh([y + offset for y in ys], vals, height=h,
                       color=color, label=name)
        for bar, r in zip(bars, rows, strict=False):
            v = r.get(key)
            if v is None:
                text = "FAILED" if key == "ratio_in_tree" and \
                    r.get("in_tree") and \
                    r["in_tree"].get("status") == "FAILED" else "n/a"
                if key == "ratio_in_tree" and text == "FAILED":
                    text = "in-tree FAILED"
            else:
                text = "%.2f" % v
            ax.text(bar.get_width() + 0.03, bar.get_y() + bar.get_height()
                    / 2, text, va="center", fontsize=8)
    # Targets of ours / in-tree (throughput; 1 MiB row: 1 / 0.5 latency).
    goals = {"add_known": 2.0, "add_unknown_small": 5.0,
             "add_unknown_large": 5.0, "add_small": 2.0, "get": 1.5,
             "concurrent_add": 1.5, "concurrent_get": 1.5}
    marks = [(goals[r["workload"]], y - h / 2) for y, r in zip(
        ys, rows, strict=True) if r["workload"] in goals]
    if marks:
        ax.scatter([m[0] for m in marks], [m[1] for m in marks],
                   marker="D", s=22, color="black", zorder=3,
                   label="target, ours / in-tree")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("throughput ratio, higher is better (the 1 MiB row: "
                  "1/latency).  floor: hash+write or device read, plus "
                  "Cinder's own per-image time", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(summary: dict[str, Any], run: dict[str, Any],
             profile: Any) -> str:
    m = run["machine"]
    v = run["versions"]
    lines = [
        "# glance_store_cinder benchmark (%s)" % run["profile"],
        "",
        "Run %s, %d round(s), contenders alternating ours, in-tree; "
        "total run time %.1f min (environment start %.0f s)." % (
            run["started"], run["rounds"], run["duration_s"] / 60,
            run["env_start_s"]),
        "",
        "Machine: %d CPUs (%s), %.1f GiB RAM, Linux %s, %s, Python %s. "
        "Cinder %s with its NFS driver over a loop-device ext4 export "
        "(bind-mounted), same volume type for both drivers." % (
            m["nproc"], m["cpu"], m["memory_gib"], m["kernel"], m["os"],
            m["python"], _cinder_version(v)),
        "glance_store %s (in-tree `cinder` driver), glance_store_cinder "
        "%s (`volume` driver), os-brick %s.  Load average (1 min) %s at "
        "the start, %s at the end." % (
            v.get("glance-store"), v.get("glance_store_cinder_commit"),
            v.get("os-brick"),
            (run.get("loadavg_start") or ["?"])[0],
            (run.get("loadavg_end") or ["?"])[0]),
        "",
        "Median seconds over the rounds (± is (max-min)/median); MiB/s "
        "from the median; ratios are of throughput, higher is better "
        "(the 1 MiB row: of 1/latency).  *floor*: what the machine and "
        "Cinder need at least for the workload, from the limits below "
        "(adds: md5+sha512 in two threads while writing the bytes to a "
        "file on the export + fsync, plus Cinder's create+attach+detach; "
        "thin-provisioned add: the slower of hashing and writing its "
        "data bytes, plus the same; gets: cold device read plus Cinder's "
        "attach+detach); *ours-floor*: the driver's overhead.  FAILED: "
        "the driver returned wrong data or an error in at least one "
        "round, no time counted.",
        "",
        md_table(summary),
        "",
        "Limits measured in the same run:",
        "",
    ]
    lines += ["* " + x for x in limits_text(summary, profile)]
    lines += ["", "Sparse image:", ""]
    lines += ["* " + x for x in sparse_lines(summary)]
    lines += ["", "Targets:", ""]
    lines += ["* " + x for x in target_lines(summary)]
    lines += ["", "![ratios](latest.png)", ""]
    return "\n".join(lines)


def _cinder_version(v: dict[str, Any]) -> str:
    for item in v.get("cinder") or []:
        if item.startswith("cinder=="):
            return item.split("==", 1)[1]
    return "?"
