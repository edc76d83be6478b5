"""``glance-store-cinder``: operator commands.

``glance-store-cinder check --config-file /etc/glance/glance-api.conf``
loads the stores of this type the way glance-api does and reports, per
store, whether its options are valid and its volume type exists.

``glance-store-cinder sweep --config-file ... [--apply]`` finds (and
removes) what crashed workers left behind; the logic is in
:mod:`glance_store_cinder.sweep`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import TextIO

from oslo_config import cfg

from glance_store_cinder import sweep_report
from glance_store_cinder.runtime import Collaborators
from glance_store_cinder.store import STORE_TYPE
from glance_store_cinder.store import Store
from glance_store_cinder.sweep import ImageLookup
from glance_store_cinder.sweep import exit_code
from glance_store_cinder.sweep import sweep_for


def _store_groups(conf: cfg.ConfigOpts) -> list[str]:
    backends = dict(conf.enabled_backends or {})
    return [name for name, kind in backends.items() if kind == STORE_TYPE]


def check(config_files: Sequence[str]) -> int:
    conf = _load_conf(config_files)
    groups = _store_groups(conf) or ["glance_store"]
    failures = 0
    for group in groups:
        store = Store(conf, backend=None if group == "glance_store"
                      else group)
        try:
            store.configure_add()
        except Exception as exc:  # reported, then the next store
            failures += 1
            print("%s: FAILED: %s" % (group, exc))
            continue
        refusal = store.refusal
        if refusal:
            failures += 1
            print("%s: REFUSED: %s" % (group, refusal))
        else:
            print("%s: ok" % group)
    return 1 if failures else 0


ImagesFactory = Callable[[Store], ImageLookup | None]

SWEEP_EPILOG = """\
Without --apply nothing is changed: the table says what would be done and
why.  Exit status: 0 nothing found, or everything found removed (--apply);
1 leftovers found (dry run); 2 something could not be removed or a store
could not be loaded.

Image volumes are judged against Glance only when a Glance lookup is
configured; otherwise sweep says so and removes only what the journal and
Cinder alone prove: records of dead workers of this host and attachments
of this host that no record accounts for.
"""


def _load_conf(config_files: Sequence[str]) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf(["--config-file=%s" % f for f in config_files], project="glance",
         default_config_files=[])
    return conf


def sweep(config_files: Sequence[str], apply: bool, older_than: float,
          as_json: bool, images: ImagesFactory | None = None,
          out: TextIO = sys.stdout, err: TextIO = sys.stderr,
          collaborators: Collaborators | None = None) -> int:
    """Sweep every store of this type; the exit status."""
    conf = _load_conf(config_files)
    results = []
    status = 0
    for group in _store_groups(conf) or ["glance_store"]:
        store = Store(conf, backend=None if group == "glance_store"
                      else group, collaborators=collaborators)
        try:
            store.configure_runtime()
            lookup = images(store) if images is not None else None
            job = sweep_for(store.runtime, lookup, older_than)
            progress = None if as_json else _progress_to(err)
            report = job.find(progress)
            if apply and report.findings:
                job.apply(report, progress)
        except Exception as exc:  # reported, then the next store
            err.write("%s: FAILED: %s\n" % (group, exc))
            status = 2
            continue
        status = max(status, exit_code(report, apply))
        if as_json:
            results.append(sweep_report.as_json(group, report, apply))
        else:
            sweep_report.write_table(out, group, report, apply)
    if as_json:
        sweep_report.write_json(out, results)
    return status


def _progress_to(err: TextIO) -> Callable[[str], None]:
    def show(line: str) -> None:
        err.write("  ... %s\n" % line)
        err.flush()
    return show


def _add_sweep_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "sweep", help="find (and with --apply remove) what crashed "
        "workers left behind in Cinder and on this host",
        description="Replay the journal records of dead glance-api\n"
        "workers of this host and find the stores' leftovers in Cinder.",
        epilog=SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", action="append", required=True)
    parser.add_argument("--apply", action="store_true",
                        help="remove what is found (default: dry run)")
    parser.add_argument("--older-than", type=float, default=3600.0,
                        metavar="SECONDS",
                        help="leave alone what is younger (uploads in "
                        "flight); default 3600")
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of a table")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glance-store-cinder")
    sub = parser.add_subparsers(dest="command", required=True)
    check_parser = sub.add_parser(
        "check", help="validate the stores configured in glance-api.conf")
    check_parser.add_argument("--config-file", action="append",
                              required=True)
    _add_sweep_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "sweep":
        return sweep(args.config_file, args.apply, args.older_than,
                     args.json)
    return check(args.config_file)


if __name__ == "__main__":
    sys.exit(main())
