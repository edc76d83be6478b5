"""``glance-store-cinder``: operator commands.

``glance-store-cinder check --config-file /etc/glance/glance-api.conf``
loads the stores of this type the way glance-api does and reports, per
store, whether its options are valid and its volume type exists.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from oslo_config import cfg

from glance_store_cinder.store import STORE_TYPE
from glance_store_cinder.store import Store


def _store_groups(conf: cfg.ConfigOpts) -> list[str]:
    backends = dict(conf.enabled_backends or {})
    return [name for name, kind in backends.items() if kind == STORE_TYPE]


def check(config_files: Sequence[str]) -> int:
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf(["--config-file=%s" % f for f in config_files], project="glance",
         default_config_files=[])
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glance-store-cinder")
    sub = parser.add_subparsers(dest="command", required=True)
    check_parser = sub.add_parser(
        "check", help="validate the stores configured in glance-api.conf")
    check_parser.add_argument("--config-file", action="append",
                              required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return check(args.config_file)


if __name__ == "__main__":
    sys.exit(main())
