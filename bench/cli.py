"""``python -m bench``: the whole benchmark, environment included."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import signal
import sys
from typing import Any

from bench import chart
from bench import conf as bench_conf
from bench import exports
from bench.common import CONTENDERS
from bench.common import REPO
from bench.data import FULL
from bench.data import QUICK
from bench.run import Run
from bench.run import data_bytes
from bench.run import log
from bench.run import profile_of
from bench.run import publish
from bench.worker import WORKLOADS

RESULTS = REPO / "bench" / "results"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark glance_store_cinder against glance_store's "
        "in-tree cinder driver and the machine's limits, on the services "
        "of tools/openstack-aio (started if needed).  Needs root and the "
        "bench extra (pip install -e .[bench]).")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: one round, small images (~3 min)")
    p.add_argument("--rounds", type=int,
                   help="rounds (default: %d, --quick: %d)"
                   % (FULL.rounds, QUICK.rounds))
    p.add_argument("--workloads",
                   help="comma-separated subset of: %s (default: all; "
                   "with --export tmpfs all but %s)"
                   % (", ".join(WORKLOADS), ", ".join(
                       exports.DISK_ONLY + exports.DISK_BY_DEFAULT)))
    p.add_argument("--export", choices=exports.MODES, default="disk",
                   help="the NFS export of the stack to use: its "
                   "disk-backed one (default) or its tmpfs one (the "
                   "driver, not the disk, is the limit); results in "
                   "latest.* and latest-tmpfs.*")
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma-separated subset of: ours, in-tree")
    p.add_argument("--ours-option", action="append", default=[],
                   metavar="NAME=VALUE",
                   help="an option of this driver's stores (all of them) "
                   "for the run, e.g. cinder_upload_direct_io=false to "
                   "measure the buffered write path; repeatable")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the hashing/device/Cinder limits")
    p.add_argument("--no-start", action="store_true",
                   help="never run tools/openstack-aio/up; wait for the "
                   "services instead")
    p.add_argument("--data-dir", default="/dev/shm/gsc-bench-data",
                   help="where the image data is generated (tmpfs)")
    p.add_argument("--keep-data", action="store_true",
                   help="keep the generated data for the next run")
    p.add_argument("--results", default=str(RESULTS),
                   help="directory for latest.{json,md,png} and logs")
    p.add_argument("--from-json", metavar="PATH",
                   help="no run: summarize the samples of a results "
                   "JSON again and rewrite its table, Markdown and chart")
    p.add_argument("--profile", action="store_true",
                   help="after the rounds, one untimed pass of each "
                   "contender under pyinstrument: "
                   "results/profile/<contender>-<workload>.{txt,html} "
                   "(with --rounds 0: only that)")
    args = p.parse_args(argv)
    if args.workloads is None:
        args.workloads = [w for w in WORKLOADS if args.export == "disk"
                          or w not in exports.DISK_ONLY
                          + exports.DISK_BY_DEFAULT]
    else:
        args.workloads = [w for w in args.workloads.split(",") if w]
    try:
        args.ours_options = bench_conf.parse_options(args.ours_option)
    except ValueError as exc:
        p.error("--ours-option: %s" % exc)
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        p.error("unknown workloads: %s" % ", ".join(sorted(unknown)))
    if args.export != "disk" and set(args.workloads) & set(exports.E2E):
        p.error("the end-to-end rows run on the disk-backed export only "
                "(the stack's glance-api has no store on the tmpfs one)")
    if args.ours_options and set(args.workloads) & set(exports.E2E):
        p.error("--ours-option does not reach the stack's glance-api: "
                "leave out the end-to-end rows")
    args.contenders = [c for c in args.contenders.split(",") if c]
    if set(args.contenders) - set(CONTENDERS):
        p.error("contenders are: %s" % ", ".join(CONTENDERS))
    return args


def missing_tools(args: argparse.Namespace) -> str | None:
    """What the bench extra should have installed and is not there."""
    problem = chart.available()
    if problem is None and args.profile and \
            importlib.util.find_spec("pyinstrument") is None:
        problem = "pyinstrument is not installed (--profile): %s" % (
            chart.INSTALL_HINT)
    return problem


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("signal %d" % signum)


def rewrite(args: argparse.Namespace) -> int:
    """Summarize a saved run again (after a change of the report)."""
    with open(args.from_json, encoding="utf-8") as f:
        doc = json.load(f)
    return publish(pathlib.Path(args.from_json).parent, doc["run"],
                   doc["samples"], doc.get("findings", []),
                   doc.get("lost", []), data_bytes(profile_of(doc["run"])))


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    problem = missing_tools(args)
    if problem:
        log("bench: " + problem)
        return 2
    if args.from_json:
        return rewrite(args)
    if os.geteuid() != 0:
        log("bench: must run as root (page cache drops, mounts, "
            "privsep)")
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    # Also when started in the background by a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, _on_signal)
    run = Run(args)
    try:
        return run.main()
    except KeyboardInterrupt:
        log("bench: interrupted; cleaning up")
        return 130
    finally:
        run.cleanup()
