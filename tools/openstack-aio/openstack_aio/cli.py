"""Command line: up, down, status, service, second-host (one at a time,
but status)."""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager

from openstack_aio.control import ACTIONS
from openstack_aio.control import cmd_service
from openstack_aio.down import cmd_down
from openstack_aio.paths import P
from openstack_aio.second_host import ACTIONS as SECOND_HOST_ACTIONS
from openstack_aio.second_host import cmd_second_host
from openstack_aio.settings import AioError
from openstack_aio.settings import say
from openstack_aio.status import cmd_status
from openstack_aio.up import cmd_up
from openstack_aio.util import tail


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aio")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--no-glance", action="store_true",
                    help="start only RabbitMQ, Keystone and Cinder")
    down = sub.add_parser("down")
    down.add_argument("--purge", action="store_true",
                      help="also delete the state directory")
    sub.add_parser("status")
    service = sub.add_parser(
        "service", help="stop, start or restart one service, or SIGKILL "
        "one worker of a gunicorn service (gunicorn starts another)")
    service.add_argument("action", choices=ACTIONS)
    service.add_argument("name", help="e.g. cinder-api, cinder-volume, "
                         "keystone, rabbitmq, glance-api")
    service.add_argument(
        "items", nargs="*", metavar="ITEM",
        help="set: SECTION.OPTION=VALUE of glance-api.conf; policy: "
        "RULE=CHECK of cinder's policy file (none: the defaults)")
    second = sub.add_parser(
        "second-host", help="start or stop a second glance-api host (own "
        "hostname, mount namespace, lock path, port) for two-host tests")
    second.add_argument("action", choices=SECOND_HOST_ACTIONS)
    return p


@contextmanager
def exclusive() -> Iterator[None]:
    """Hold the state directory's lock: one up or down at a time."""
    os.makedirs(P.run, exist_ok=True)
    with open(os.path.join(P.run, "aio.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            say("another up/down holds %s; waiting" % lock.name)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def report_failure(cmd: str, exc: AioError) -> None:
    print("aio: ERROR: %s" % exc, file=sys.stderr)
    for log in exc.logs:
        print("aio: ---- last lines of %s" % log, file=sys.stderr)
        print(tail(log), file=sys.stderr)
    print("aio: %s FAILED" % cmd, file=sys.stderr)
    if cmd == "up":
        print("aio: what did start is left running for inspection "
              "(logs in %s); tools/openstack-aio/down stops it" % P.log,
              file=sys.stderr)


def run_locked(cmd: str, action: Callable[[], None]) -> int:
    try:
        with exclusive():
            action()
    except AioError as exc:
        report_failure(cmd, exc)
        return 1
    except subprocess.TimeoutExpired as exc:
        print("aio: ERROR: timed out: %s" % exc, file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("aio: must run as root", file=sys.stderr)
        return 2
    if args.cmd == "status":
        return cmd_status()
    if args.cmd == "down" and not os.path.isdir(P.state):
        say("nothing at %s" % P.state)
        say("down total 0.00s")
        return 0
    if args.cmd == "up":
        return run_locked("up", lambda: cmd_up(args.no_glance))
    if args.cmd == "service":
        return run_locked("service", lambda: cmd_service(
            args.action, args.name, args.items))
    if args.cmd == "second-host":
        return run_locked("second-host",
                          lambda: cmd_second_host(args.action))
    return run_locked("down", lambda: cmd_down(args.purge))
