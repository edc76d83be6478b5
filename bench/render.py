"""The summary as text: the table (plain and Markdown) and its notes."""

from __future__ import annotations

from typing import Any

from oslo_utils import strutils

from bench.common import CURVE_HEADLINES
from bench.common import MiB
from bench.summary import LIMIT_LABELS
from bench.summary import label_of

HEAD = ["workload", "ours s", "±", "ours MiB/s", "in-tree s", "±",
        "in-tree MiB/s", "floor s", "ours/in-tree [IQR]",
        "ours/floor [IQR]", "ours-floor s"]


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


def _pair(r: dict[str, Any], key: str) -> str:
    """The paired per-round median and quartiles (one round: its ratio,
    as the chart shows it), else the plain ratio."""
    p = r.get("paired_" + key)
    if not p:
        return _x(r.get("ratio_" + key))
    if p["n"] < 2:
        return _x(p["median"])
    return "%.2fx [%.2f-%.2f]" % (p["median"], p["q1"], p["q3"])


def _line(r: dict[str, Any]) -> list[str]:
    ours, intree = r["ours"], r["in_tree"]
    fl = "-"
    if r.get("floor_s") is not None:
        fl = "%.2f (%s)" % (r["floor_s"], r["floor_bound"])
    it_secs = _secs(intree)
    if r["in_tree_workload"] != r["workload"] and intree:
        it_secs += " (dense)"
    over = r.get("overhead_s")
    return [r["label"], _secs(ours), _spread(ours), _rate(ours), it_secs,
            _spread(intree), _rate(intree), fl, _pair(r, "in_tree"),
            _pair(r, "floor"), "-" if over is None else "%+.2f" % over]


def _reference_line(ref: dict[str, Any]) -> list[str]:
    floor_s = ref.get("floor_s")
    return [ref["label"], "%.2f" % ref["seconds"], "", "", "-", "", "",
            "-" if floor_s is None else "%.2f" % floor_s, "-",
            _x(ref.get("ratio_floor")),
            "-" if floor_s is None else "%+.2f" % (ref["seconds"]
                                                   - floor_s)]


def table_rows(summary: dict[str, Any]) -> tuple[list[str],
                                                 list[list[str]]]:
    lines = []
    for r in summary["rows"]:
        lines.append(_line(r))
        if r["workload"] == "add_known" and summary.get("reference"):
            lines.append(_reference_line(summary["reference"]))
    return HEAD, lines


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


def _limit_line(label: str, s: dict[str, Any]) -> str:
    if s.get("status") != "ok":
        return "%s: FAILED (%s)" % (label, s.get("error"))
    cpu = s.get("cpu_median_s", {})
    busy = cpu.get("thread_s", cpu.get("write_busy_s",
                                       cpu.get("machine_busy_s")))
    cpu_text = "" if busy is None else ", %.2f CPU s" % busy
    if s.get("mib_s"):
        return "%s: %.2f s, %.0f MiB/s (±%d%%)%s" % (
            label, s["median_s"], s["mib_s"], round(s["spread_pct"]),
            cpu_text)
    steps = s.get("steps_median_s", {})
    return "%s: %.3f s (±%d%%)%s" % (
        label, s["median_s"], round(s["spread_pct"]),
        "; " + ", ".join("%s %.0f ms" % (k, 1000 * v)
                         for k, v in steps.items()) if steps else "")


def limits_text(summary: dict[str, Any], profile: Any) -> list[str]:
    return [_limit_line(label_of(LIMIT_LABELS[name], profile), s)
            for name, s in summary["limits"].items() if s]


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
        for who in ("ours", "in_tree"):
            s = r.get(who)
            if who == "in_tree" and r["workload"] == "sparse_thin":
                continue
            if s and s.get("allocated_median") is not None:
                out.append("%s, %s: backing file allocates %.0f MiB for "
                           "%.0f MiB of data" % (
                               r["label"], who.replace("_", "-"),
                               s["allocated_median"] / MiB,
                               (r.get("data_bytes") or 0) / MiB))
    return out


def _cpu_text(s: dict[str, Any] | None) -> str:
    cpu = (s or {}).get("cpu_median_s")
    if not cpu:
        return "-"
    text = "process %.2f user + %.2f sys, machine %.2f busy" % (
        cpu.get("proc_user_s", 0.0), cpu.get("proc_sys_s", 0.0),
        cpu.get("machine_busy_s", 0.0))
    if "api_user_s" in cpu:
        # The end-to-end rows: the process is the client.
        text = "glance-api %.2f user + %.2f sys, client %s" % (
            cpu["api_user_s"], cpu.get("api_sys_s", 0.0), text[8:])
    io = (s or {}).get("io_median_bytes", {})
    if "disk_written_bytes" in io:
        text += ", disk written %.0f MiB" % (io["disk_written_bytes"] / MiB)
    return text


def cpu_lines(summary: dict[str, Any]) -> list[str]:
    """Median CPU seconds (and disk bytes) per timed call, per contender.
    """
    return ["%s: ours %s; in-tree %s" % (
        r["label"], _cpu_text(r["ours"]), _cpu_text(r["in_tree"]))
        for r in summary["rows"]
        if (r["ours"] or {}).get("cpu_median_s")]


def phase_lines(summary: dict[str, Any]) -> list[str]:
    """This driver's own phase timings per row (median seconds of each
    phase over the samples; the phases need not add up to the median
    total: each is its own median)."""
    out = []
    for r in summary["rows"]:
        med = (r["ours"] or {}).get("phases_median_s")
        if med and r["workload"] != "add_known_durable":
            out.append("%s: %s" % (r["label"], ", ".join(
                "%s %.2f" % kv for kv in med.items())))
    return out


CURVE_HEAD = ["size", "known: ours s", "in-tree s", "ours/in-tree",
              "ours/floor", "unknown: ours s", "in-tree s", "ours/in-tree",
              "ours/floor"]


def curve_table(summary: dict[str, Any]) -> list[list[str]]:
    """One line per image size: known and unknown size, both drivers,
    with the headline adds as the curves' points of their sizes."""
    rows = {r["workload"]: r for r in summary["rows"]}
    sizes: dict[int, dict[str, dict[str, Any]]] = {}
    for name, r in rows.items():
        kind, _, n = name.partition("@")
        if kind in ("curve_known", "curve_unknown") and n:
            sizes.setdefault(int(n), {})[kind] = r
    if not sizes:
        return []
    for kind, headlines in CURVE_HEADLINES.items():
        for r in filter(None, map(rows.get, headlines)):
            if r["ours"] and r["ours"].get("bytes"):
                sizes.setdefault(int(r["ours"]["bytes"]),
                                 {}).setdefault(kind, r)
    out = []
    for n in sorted(sizes):
        line = [_size(n)]
        for kind in ("curve_known", "curve_unknown"):
            r = sizes[n].get(kind)
            line += ([_secs(r["ours"]), _secs(r["in_tree"]),
                      _pair(r, "in_tree"), _pair(r, "floor")]
                     if r else ["-"] * 4)
        out.append(line)
    return out


def _size(n: int) -> str:
    if n >= 1024 * MiB:
        return "%g GiB" % (n / (1024 * MiB))
    return "%g MiB" % (n / MiB)


def curve_md(summary: dict[str, Any]) -> str:
    lines = curve_table(summary)
    if not lines:
        return "(not measured)"
    out = ["| " + " | ".join(CURVE_HEAD) + " |",
           "|" + "|".join("---" if i == 0 else "---:"
                          for i in range(len(CURVE_HEAD))) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def curve_lines(summary: dict[str, Any]) -> list[str]:
    return ["%s: known ours %s, in-tree %s s (%s, floor %s); unknown ours "
            "%s, in-tree %s s (%s, floor %s)" % tuple(line)
            for line in curve_table(summary)]


def _phase(r: dict[str, Any] | None, name: str) -> float | None:
    med = ((r or {}).get("ours") or {}).get("phases_median_s") or {}
    value = med.get(name)
    return None if value is None else float(value)


def strategy_lines(summary: dict[str, Any]) -> list[str]:
    """The write strategy per family, and what this run shows of it.

    The driver writes both families with O_DIRECT from aligned 4 MiB
    buffers unless the run set ``--ours-option
    cinder_upload_direct_io=false``; the lines say how long the final
    fsync took per family and what the fallback's pacing (buffered
    writes, writeback started every 32 MiB) does to a plain write on the
    export, from the figures of the run.
    """
    rows = {r["workload"]: r for r in summary["rows"]}
    limits = summary.get("limits", {})
    direct = strutils.bool_from_string((summary.get("ours_options") or {})
                                       .get("cinder_upload_direct_io"),
                                       default=True)
    how = ("direct writes (O_DIRECT, the default cinder_upload_direct_io) "
           "from aligned 4 MiB buffers" if direct else
           "buffered writes with writeback started every 32 MiB "
           "(cinder_upload_direct_io = false)")
    out = []
    for family, name in (("file on the NFS export", "add_known"),
                         ("block device", "block_add_known")):
        r = rows.get(name)
        fsync, total = _phase(r, "fsync"), _phase(r, "total")
        if fsync is None or total is None:
            continue
        out.append("%s: %s; the final fsync took %.2f s of the %.2f s add "
                   "(median), the transfer %.2f s" % (
                       family, how, fsync, total,
                       _phase(r, "transfer") or 0.0))
    plain = limits.get("device_write_presized") or {}
    paced = limits.get("device_write_paced") or {}
    if plain.get("status") == "ok" and paced.get("status") == "ok":
        out.append("the pacing of the buffered fallback (writeback "
                   "started every 32 MiB) on a plain write of the same "
                   "bytes into a file on the export (limits): %.2f s paced, "
                   "%.2f s without (%.2fx)" % (
                       paced["median_s"], plain["median_s"],
                       plain["median_s"] / paced["median_s"]))
    return out
