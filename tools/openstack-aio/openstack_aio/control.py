"""service: stop, start or restart one service of a running stack, kill
one glance-api worker, and change a service's configuration for a while
(:mod:`openstack_aio.overrides`), for the fault-matrix tests."""

from __future__ import annotations

import os
import signal
import time

from openstack_aio import overrides
from openstack_aio.cinder_resources import cinder_services_up
from openstack_aio.configs import rabbit_env
from openstack_aio.credentials import load_secrets
from openstack_aio.paths import P
from openstack_aio.processes import Service
from openstack_aio.processes import children_of
from openstack_aio.services import services
from openstack_aio.settings import RABBIT_BIN
from openstack_aio.settings import WAIT
from openstack_aio.settings import AioError
from openstack_aio.settings import say
from openstack_aio.util import run
from openstack_aio.util import wait_for

ACTIONS = ("stop", "start", "restart", "kill-worker", "set", "reset",
           "policy")
# Actions that take SECTION.OPTION=VALUE or RULE=CHECK arguments.
WITH_ITEMS = ("set", "policy")
CINDER_REPORTED = ("cinder-scheduler", "cinder-volume")


def service_named(name: str) -> Service:
    svc = services()
    if name not in svc:
        raise AioError("no service %r; one of: %s" % (
            name, ", ".join(svc)))
    return svc[name]


def start(s: Service) -> None:
    """Start a stopped service and wait until it serves again."""
    if s.running():
        say("%s already runs (pid %s)" % (s.name, s.pid()))
        return
    t0 = time.monotonic()
    s.start()
    if s.name == "rabbitmq":
        renv = rabbit_env()
        run([os.path.join(RABBIT_BIN, "rabbitmqctl"), "-n",
             renv["RABBITMQ_NODENAME"], "wait", "--timeout", str(WAIT),
             renv["RABBITMQ_PID_FILE"]], env=renv,
            log=P.logfile("rabbitmqctl.log"), timeout=WAIT + 30)
    if s.name in CINDER_REPORTED:
        sec = load_secrets()
        name = s.name
        s.health = lambda: cinder_services_up(sec)[name]
    s.wait_healthy(WAIT, logs=[P.logfile(s.name + ".log")])
    say("started %s (pid %s) in %.2fs" % (s.name, s.pid(),
                                          time.monotonic() - t0))


def stop(s: Service) -> None:
    t0 = time.monotonic()
    pid = s.pid()
    s.stop()
    say("stopped %s (pid %s) in %.2fs" % (s.name, pid or "-",
                                          time.monotonic() - t0))


def kill_worker(s: Service) -> None:
    """SIGKILL one worker of a gunicorn service; wait for its successor."""
    master = s.pid()
    if master is None:
        raise AioError("%s is not running" % s.name)
    workers = children_of(master)
    if not workers:
        raise AioError("%s (pid %d) has no worker" % (s.name, master))
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    say("killed %s worker %d" % (s.name, victim))

    def replaced() -> list[int]:
        now = children_of(master)
        fresh = [p for p in now if p not in workers]
        return fresh if len(now) >= len(workers) and fresh else []

    fresh = wait_for("a new %s worker" % s.name, replaced, WAIT,
                     [s.log])
    s.wait_healthy(WAIT, logs=[s.log])
    say("new %s worker %s" % (s.name, " ".join(map(str, fresh))))


def configure(action: str, s: Service, items: list[str]) -> None:
    """set, reset or policy (see :mod:`openstack_aio.overrides`)."""
    if action == "policy":
        if s.name not in overrides.POLICY_SERVICES:
            raise AioError("policy: only for %s" % ", ".join(
                overrides.POLICY_SERVICES))
        overrides.write_cinder_policy(items)
        return
    if s.name not in overrides.CONFIGURABLE:
        raise AioError("%s: only for %s" % (action, ", ".join(
            overrides.CONFIGURABLE)))
    if action == "set":
        if not items:
            raise AioError("set: give SECTION.OPTION=VALUE")
        overrides.set_glance_options(items)
    elif not overrides.reset_glance_conf():
        say("%s already has the configuration up writes" % s.name)
        if not s.running():
            start(s)
        return
    stop(s)
    start(s)


def cmd_service(action: str, name: str, items: list[str] | None = None
                ) -> None:
    s = service_named(name)
    if items and action not in WITH_ITEMS:
        raise AioError("%s takes no arguments after the service name" %
                       action)
    if action in ("set", "reset", "policy"):
        configure(action, s, items or [])
        return
    if action in ("stop", "restart"):
        stop(s)
    if action in ("start", "restart"):
        start(s)
    if action == "kill-worker":
        kill_worker(s)
