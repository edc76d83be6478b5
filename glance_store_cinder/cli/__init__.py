"""``glance-store-cinder``: operator commands for this driver's stores.

One design for every command: a subcommand per module of this package
(``NAME``, ``HELP``, ``add_arguments(parser)``, ``run(invocation)``),
the configuration read like glance-api reads it, human tables by default,
``--json`` for machines, progress on stderr and the exit codes of
:mod:`glance_store_cinder.cli.common`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any
from typing import TextIO

from glance_store_cinder.cli import check
from glance_store_cinder.cli import common
from glance_store_cinder.cli import listing
from glance_store_cinder.cli import sweep
from glance_store_cinder.cli import verify
from glance_store_cinder.runtime import Collaborators

# The subcommands, in the order of --help; each module's logic stays in
# the library (sweep's in glance_store_cinder.sweep and .recovery).
COMMANDS: tuple[Any, ...] = (check, listing, verify, sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glance-store-cinder",
        description="Operator commands for the glance_store_cinder stores "
        "configured in glance-api.conf.",
        epilog=common.EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="COMMAND")
    for command in COMMANDS:
        command_parser = sub.add_parser(
            command.NAME, help=command.HELP,
            description=(command.__doc__ or "").replace("``", "").strip(),
            epilog=common.EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        common.add_common_arguments(command_parser)
        command_parser.add_argument(
            "-v", "--verbose", action="store_true",
            help="log the driver's INFO messages to stderr")
        command.add_arguments(command_parser)
        command_parser.set_defaults(command_module=command)
    return parser


def main(argv: Sequence[str] | None = None,
         collaborators: Collaborators | None = None,
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a command; ``collaborators`` are the store's seams (tests)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose
                        else logging.WARNING, stream=err)
    try:
        conf = common.load_conf(args.config_sources)
        names = common.selected(common.store_groups(conf), args.stores)
        invocation = common.Invocation(
            args=args, conf=conf, store_names=names,
            collaborators=collaborators, out=out,
            progress=common.Progress(err))
        return int(args.command_module.run(invocation))
    except common.CommandError as exc:
        err.write("glance-store-cinder %s: %s\n" % (args.command, exc))
        return exc.exit_code
    except common.UNAVAILABLE_ERRORS as exc:
        err.write("glance-store-cinder %s: %s\n" % (args.command, exc))
        return common.EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
