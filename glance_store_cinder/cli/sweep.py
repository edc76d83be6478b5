"""``glance-store-cinder sweep``: what crashed workers left behind.

Replays the journal records of dead glance-api workers of this host
(connections, attachments, volumes of uploads that never completed), then
looks in Cinder for what the journal cannot know: the store's image
volumes that Glance does not list, and attachments of this host that no
record accounts for.  Dry run by default: a table of what would be done
and why; --apply does it.  Run it on each glance-api host.

Exit status of sweep: 0 nothing found, or everything found removed
(--apply); 1 leftovers found (dry run); 2 a usage error; 3 a service
could not be reached; 4 something found could not be removed.  Without Glance
(no service user, or Glance unreachable) sweep says so and does only what
the journal and Cinder alone prove.  The logic is in
glance_store_cinder.sweep.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from glance_store_cinder import sweep as sweeping
from glance_store_cinder.cli import common
from glance_store_cinder.store import Store

NAME = "sweep"
HELP = ("find (--apply: remove) what crashed workers left in Cinder and on "
        "this host")
HEADERS = ("STORE", "ACTION", "WHAT", "WHY", "AGE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apply", action="store_true",
                        help="remove what is found (default: dry run)")
    parser.add_argument(
        "--older-than", type=float, default=3600.0, metavar="SECONDS",
        help="leave alone image volumes younger than this, uploads in "
        "flight on other hosts (default: 3600)")
    common.add_glance_arguments(parser)


def _open(invocation: common.Invocation, name: str) -> Store:
    store = Store(invocation.conf,
                  backend=None if name == common.SINGLE_STORE_GROUP
                  else name, collaborators=invocation.collaborators)
    # Not configure_add: that would already recover, dry run or not.
    store.configure_runtime()
    _check_user(store)
    return store


def _check_user(store: Store) -> None:
    """Refuse to run as another user than the lock path's owner.

    Lock files and journal records sweep creates belong to whoever runs
    it; made by root in glance-api's lock path, they would lock the
    glance-api workers out of every attach.
    """
    runtime = store.runtime
    try:
        owner = os.stat(runtime.lock_path).st_uid
    except FileNotFoundError:
        raise common.CommandError(
            "store %s: the lock path %s does not exist: glance-api has not "
            "run on this host (create it as glance-api's user to sweep "
            "anyway)" % (store.store_name, runtime.lock_path)) from None
    me = runtime.root_commands.uid
    if owner != me:
        raise common.CommandError(
            "store %s: the lock path %s belongs to uid %d, this is uid %d: "
            "run sweep as the user glance-api runs as (files made here by "
            "another user would lock glance-api out)"
            % (store.store_name, runtime.lock_path, owner, me))


def _images(store: Store, args: argparse.Namespace
            ) -> tuple[sweeping.ImageLookup | None, str | None]:
    try:
        return common.glance_for(store, args.glance_endpoint,
                                 args.timeout), None
    except common.CommandError as exc:
        return None, str(exc)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _sweep_store(invocation: common.Invocation, name: str
                 ) -> sweeping.Report:
    args = invocation.args
    store = _open(invocation, name)
    images, why_not = _images(store, args)
    job = sweeping.sweep_for(store.runtime, images, args.older_than)
    report = job.find(lambda line: invocation.progress.say(
        "%s: %s" % (name, line)))
    if why_not:
        report.notes.append("Glance not asked: %s" % why_not)
    if args.apply and report.findings:
        job.apply(report, lambda line: invocation.progress.say(
            "%s: %s" % (name, line)))
    return report


def run(invocation: common.Invocation) -> int:
    applied = bool(invocation.args.apply)
    documents: list[dict[str, Any]] = []
    rows = []
    status = common.EXIT_OK
    for name in invocation.store_names:
        report = _sweep_store(invocation, name)
        status = max(status, sweeping.exit_code(report, applied))
        documents.append(dict(sweeping.report_document(report, applied),
                              store=name))
        rows += [(name, f.action, f.subject, f.reason, _age(f.age))
                 for f in report.findings]
        for note in report.notes:
            invocation.progress.say("%s: note: %s" % (name, note))
        for finding, why in report.failed:
            invocation.progress.say("%s: FAILED to %s (%s): %s" % (
                name, finding.action, finding.subject, why))
    if invocation.args.json:
        common.print_json({"applied": applied, "stores": documents},
                          invocation.out)
        return status
    if rows:
        invocation.out.write(common.format_table(HEADERS, rows) + "\n")
        invocation.out.write(
            ("done: %d, failed: %d\n" % (
                sum(len(d["done"]) for d in documents),
                sum(len(d["failed"]) for d in documents))) if applied
            else "dry run: %d to clean up; again with --apply to do it\n"
            % len(rows))
    else:
        invocation.out.write("nothing to clean up\n")
    return status
