"""``latest.md``: the table with the machine, the limits and the targets.
"""

from __future__ import annotations

from typing import Any

from bench import render
from bench import timeline

EXPLAINED = (
    "Median seconds over the rounds (± is (max-min)/median); MiB/s from "
    "the median.  Ratios are of throughput, higher is better (the 1 MiB "
    "row: of 1/latency), paired round by round: the median of the "
    "per-round ratios, [first-third quartile].  *floor*: what the machine "
    "and Cinder need at least for the workload, from the physical limits "
    "measured in the same round: for an add the largest of md5 on one "
    "core, sha512 on one core, the device write with fsync and the CPU "
    "seconds of hashing and writing divided by the cores (*cpu*), plus "
    "Cinder's create+attach+detach; a thin-provisioned add writes only "
    "its data bytes; gets: the faster cold device read (plain or "
    "dropping behind) plus Cinder's attach+detach. "
    "The *reference implementation* row is md5+sha512 in two threads "
    "while writing the bytes into a file on the export + fsync, plus "
    "Cinder's cycle: a straightforward driver, not a limit.  "
    "*ours-floor*: the driver's overhead.  FAILED: the driver returned "
    "wrong data or an error in at least one round, no time counted.")


def _cinder_version(v: dict[str, Any]) -> str:
    for item in v.get("cinder") or []:
        if item.startswith("cinder=="):
            return str(item.split("==", 1)[1])
    return "?"


def _header(run: dict[str, Any]) -> list[str]:
    m, v = run["machine"], run["versions"]
    return [
        "# glance_store_cinder benchmark (%s)" % run["profile"],
        "",
        "Run %s, %d round(s), contenders in ABBA order (ours first in "
        "even rounds, in-tree first in odd ones); total run time %.1f min "
        "(environment start %.0f s)." % (
            run["started"], run["rounds"], run["duration_s"] / 60,
            run["env_start_s"]),
        "",
        "Machine: %d CPUs (%s), %.1f GiB RAM, Linux %s, %s, Python %s. "
        "Cinder %s with its NFS driver over a loop-device ext4 export "
        "(bind-mounted) whose image is %s, same volume type for both "
        "drivers (`%s`)." % (
            m["nproc"], m["cpu"], m["memory_gib"], m["kernel"], m["os"],
            m["python"], _cinder_version(v),
            "in RAM (a tmpfs: `--export tmpfs`)"
            if run.get("export") == "tmpfs" else "on the machine's disk",
            run.get("volume_type", "?")),
        "glance_store %s (in-tree `cinder` driver), glance_store_cinder "
        "%s (`volume` driver), os-brick %s.  Load average (1 min) %s at "
        "the start, %s at the end." % (
            v.get("glance-store"), v.get("glance_store_cinder_commit"),
            v.get("os-brick"),
            (run.get("loadavg_start") or ["?"])[0],
            (run.get("loadavg_end") or ["?"])[0]),
        "",
    ] + (["This driver's stores with, for this run: %s." % ", ".join(
        "`%s = %s`" % kv for kv in run["ours_options"].items()), ""]
         if run.get("ours_options") else [])


def markdown(summary: dict[str, Any], run: dict[str, Any], profile: Any,
             chart: str) -> str:
    """The page; ``chart`` is the image's file name or why there is none.
    """
    lines = _header(run) + [EXPLAINED, "", render.md_table(summary), "",
                            "Size curve (seconds, paired ratios):", "",
                            render.curve_md(summary), "",
                            "Limits measured in the same run:", ""]
    lines += ["* " + x for x in render.limits_text(summary, profile)]
    sections = (("CPU seconds per timed call (median):",
                 render.cpu_lines(summary)),
                ("This driver's phases per timed call (median s, from its "
                 "DEBUG log):", render.phase_lines(summary)),
                ("Write strategy per family (from this run):",
                 render.strategy_lines(summary)),
                ("Sparse image:", render.sparse_lines(summary)),
                ("Hot images (one image, many readers; bench/hot.py):",
                 summary.get("hot", [])),
                ("Targets:", render.target_lines(summary)),
                ("Where the run's time went (sums over every process and "
                 "round; bench/timeline.py):",
                 timeline.lines(run.get("time"))))
    for title, items in sections:
        lines += ["", title, ""] + (["* " + x for x in items]
                                    or ["(not measured)"])
    shown = chart if chart.startswith("(") else "![ratios](%s)" % chart
    lines += ["", shown, ""]
    return "\n".join(lines)
