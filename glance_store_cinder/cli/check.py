"""``glance-store-cinder check``: are the stores' options valid?

Each store of this driver is configured the way glance-api configures it
at start: its options are validated and its volume type is looked up in
Cinder.  One line per store: ``ok``, ``FAILED`` (glance-api would disable
the store) or ``REFUSED`` (its volume type does not exist: glance-api
would refuse adds and deletes).
"""

from __future__ import annotations

import argparse

from glance_store_cinder.cli import common

NAME = "check"
HELP = "validate the stores configured in glance-api.conf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def run(invocation: common.Invocation) -> int:
    results: list[tuple[str, str, str | None]] = []
    for loaded in invocation.open_stores():
        if loaded.error is not None:
            results.append((loaded.name, "FAILED", str(loaded.error)))
        elif loaded.store.refusal:
            results.append((loaded.name, "REFUSED", loaded.store.refusal))
        else:
            results.append((loaded.name, "ok", None))
    if invocation.args.json:
        common.print_json({"stores": [
            {"store": name, "result": result, "reason": reason}
            for name, result, reason in results]}, invocation.out)
    else:
        for name, result, reason in results:
            line = "%s: %s" % (name, result)
            invocation.out.write(line + (": %s" % reason if reason else "")
                                 + "\n")
    failed = any(result != "ok" for _, result, _ in results)
    return common.EXIT_FOUND if failed else common.EXIT_OK
