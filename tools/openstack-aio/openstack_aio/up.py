"""up: an ordered list of phases, each idempotent.

Installation runs in parallel with apt; services are spawned as soon as
their configuration exists and waited for only when something needs them,
so that RabbitMQ, Keystone, Cinder and glance-api start side by side."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from openstack_aio.block import install_block_driver
from openstack_aio.cinder_config import cinder_conf_path
from openstack_aio.cinder_config import write_cinder_conf
from openstack_aio.cinder_resources import cinder_pools
from openstack_aio.cinder_resources import cinder_services_up
from openstack_aio.cinder_resources import setup_cinder
from openstack_aio.configs import base_env
from openstack_aio.configs import rabbit_env
from openstack_aio.configs import write_client_conf
from openstack_aio.configs import write_keystone_conf
from openstack_aio.configs import write_rabbit_conf
from openstack_aio.credentials import Secrets
from openstack_aio.credentials import load_secrets
from openstack_aio.envfile import glance_store_report
from openstack_aio.envfile import write_env
from openstack_aio.export import ensure_exports
from openstack_aio.export import ensure_mount_helper
from openstack_aio.glance_config import glance_conf_path
from openstack_aio.glance_config import write_glance_conf
from openstack_aio.install import PipJob
from openstack_aio.install import base_pythons
from openstack_aio.install import ensure_apt
from openstack_aio.install import finish_venv_install
from openstack_aio.install import install_project
from openstack_aio.install import install_sqlite_hook
from openstack_aio.install import start_venv_install
from openstack_aio.install import venv_needs_install
from openstack_aio.keystone_resources import KeystoneInfo
from openstack_aio.keystone_resources import admin_token
from openstack_aio.keystone_resources import setup_keystone
from openstack_aio.paths import P
from openstack_aio.processes import Service
from openstack_aio.services import glance_env
from openstack_aio.services import services
from openstack_aio.settings import AUTH_URL
from openstack_aio.settings import BACKENDS
from openstack_aio.settings import GLANCE_URL
from openstack_aio.settings import GLANCE_USER
from openstack_aio.settings import HOST
from openstack_aio.settings import RABBIT_BIN
from openstack_aio.settings import REGION
from openstack_aio.settings import STATE
from openstack_aio.settings import WAIT
from openstack_aio.settings import AioError
from openstack_aio.settings import say
from openstack_aio.unprivileged import ensure_unprivileged
from openstack_aio.unprivileged import own_glance_state
from openstack_aio.util import TIMINGS
from openstack_aio.util import http
from openstack_aio.util import mark
from openstack_aio.util import mkdirs
from openstack_aio.util import phase
from openstack_aio.util import port_open
from openstack_aio.util import run
from openstack_aio.util import wait_for

CINDER_DAEMONS = ("cinder-api", "cinder-scheduler", "cinder-volume")


@dataclass
class UpRun:
    """What one ``up`` learnt so far, handed from phase to phase."""

    glance: bool
    sec: Secrets = field(default_factory=dict)
    svc: dict[str, Service] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    venvs: list[str] = field(default_factory=list)
    pip_jobs: dict[str, PipJob] = field(default_factory=dict)
    hook_changed: dict[str, bool] = field(default_factory=dict)
    project_changed: bool = False
    cinder_changed: bool = False
    glance_changed: bool = False
    loopdevs: dict[str, str] = field(default_factory=dict)
    client_conf: str = ""
    restarted: set[str] = field(default_factory=set)
    spawned_at: dict[str, float] = field(default_factory=dict)
    ks_info: KeystoneInfo | None = None
    pools: dict[str, list[str]] = field(default_factory=dict)
    stores: dict[str, Any] | None = None

    def venv_changed(self, name: str) -> bool:
        return name in self.pip_jobs or self.hook_changed[name]

    def spawn(self, name: str, changed: bool) -> None:
        """Start ``name`` unless it runs healthy with the same config."""
        if ensure_service(self.svc[name], changed):
            self.restarted.add(name)

    def keystone(self) -> KeystoneInfo:
        if self.ks_info is None:
            raise AioError("keystone resources were not set up")
        return self.ks_info


def ensure_service(s: Service, changed: bool) -> bool:
    """Start a service unless it already runs healthy with unchanged config.

    Returns True when a process was (re)started."""
    if s.running():
        reason = ""
        if s.spec_changed():
            reason = "command line changed"
        elif changed:
            reason = "config changed"
        if not reason and s.healthy():
            return False
        say("restarting %s (%s)" % (s.name, reason or "not healthy"))
        s.stop()
    s.start()
    return True


def run_once(marker: str, steps: Sequence[Sequence[str]], log: str,
             env: dict[str, str], user: str | None = None) -> None:
    """Run database set-up commands unless ``marker`` says they ran."""
    path = os.path.join(P.db, marker)
    if os.path.exists(path):
        return
    for argv in steps:
        run(argv, log=log, env=env, user=user)
    open(path, "w").close()


def prepare(r: UpRun) -> None:
    mkdirs(P.state, P.venv, P.etc, P.db, P.log, P.run, P.locks, P.rabbit,
           P.logfile("rabbitmq"), P.service_state("cinder"),
           P.service_state("coordination"), P.service_state("glance"))
    os.chmod(P.state, 0o755)
    r.sec = load_secrets()
    r.svc = services()
    # Refuse early when another stack holds our ports.
    for s in r.svc.values():
        if not s.running():
            busy = [p for p in s.ports if port_open(p)]
            if busy:
                raise AioError(
                    "port %s of %s on %s is in use by a process that %s did "
                    "not start (another stack running? run its down first)"
                    % (busy, s.name, HOST, STATE))


def install_venvs(r: UpRun) -> None:
    """apt and the venvs' pip installs in parallel."""
    r.venvs = ["keystone", "cinder"] + (["glance"] if r.glance else [])
    pending = [n for n in r.venvs if venv_needs_install(n)]
    base = base_pythons(pending)
    t0 = time.monotonic()
    r.pip_jobs = {n: start_venv_install(n, base[n]) for n in pending}
    with phase("apt"):
        ensure_apt()
    for n in r.venvs:
        if n in r.pip_jobs:
            finish_venv_install(n, r.pip_jobs[n])
            mark("pip-" + n, t0)
        else:
            TIMINGS["pip-" + n] = 0.0
            say("phase pip-%s 0.00s (installed)" % n)
    r.hook_changed = {n: install_sqlite_hook(n) for n in r.venvs}
    r.hook_changed["cinder"] |= install_block_driver()


def install_driver(r: UpRun) -> None:
    if r.glance:
        with phase("pip-project"):
            r.project_changed = install_project()


def export(r: UpRun) -> None:
    with phase("export"):
        r.loopdevs = ensure_exports()
        ensure_mount_helper()


def spawn_rabbitmq(r: UpRun) -> None:
    """Our own epmd on a private port and our own node."""
    changed = write_rabbit_conf(r.sec)
    r.spawned_at["rabbitmq"] = time.monotonic()
    if ensure_service(r.svc["epmd"], False):
        r.svc["epmd"].wait_healthy(30)
        changed = True     # the node must register with the new epmd
    r.spawn("rabbitmq", changed)


def keystone_db_steps(sec: Secrets) -> list[list[str]]:
    km = P.vbin("keystone", "keystone-manage")
    kconf = ["--config-file", P.conf("keystone", "keystone.conf")]
    steps = [[km, *kconf, "db_sync"]]
    for what in ("fernet_setup", "credential_setup"):
        steps.append([km, *kconf, what, "--keystone-user", "root",
                      "--keystone-group", "root"])
    steps.append([km, *kconf, "bootstrap",
                  "--bootstrap-password", sec["admin"],
                  "--bootstrap-username", "admin",
                  "--bootstrap-project-name", "admin",
                  "--bootstrap-role-name", "admin",
                  "--bootstrap-service-name", "keystone",
                  "--bootstrap-region-id", REGION,
                  "--bootstrap-admin-url", AUTH_URL,
                  "--bootstrap-public-url", AUTH_URL,
                  "--bootstrap-internal-url", AUTH_URL])
    return steps


def spawn_keystone(r: UpRun) -> None:
    changed = write_keystone_conf(r.sec) or r.venv_changed("keystone")
    with phase("db-keystone"):
        run_once("keystone.bootstrapped", keystone_db_steps(r.sec),
                 P.logfile("keystone-manage.log"), base_env("keystone"))
    r.spawned_at["keystone"] = time.monotonic()
    r.spawn("keystone", changed)


def prepare_cinder(r: UpRun) -> None:
    """Config and database while Keystone and RabbitMQ start."""
    r.cinder_changed = write_cinder_conf(r.sec) or r.venv_changed("cinder")
    r.client_conf = write_client_conf()
    with phase("db-cinder"):
        run_once("cinder.synced", [[
            P.vbin("cinder", "cinder-manage"), "--config-file",
            cinder_conf_path(), "db", "sync"]],
            P.logfile("cinder-manage.log"), base_env("cinder"))


def prepare_glance(r: UpRun) -> None:
    """The glance user, its sudoers line, config and database."""
    if not r.glance:
        return
    user = ensure_unprivileged()
    r.glance_changed = write_glance_conf(r.sec) or r.venv_changed("glance")
    own_glance_state(user, [glance_conf_path()])
    with phase("db-glance"):
        run_once("glance.synced", [[
            P.vbin("glance", "glance-manage"), "--config-file",
            glance_conf_path(), "db_sync"]],
            P.logfile("glance-manage.log"), glance_env(), user=GLANCE_USER)


def wait_rabbitmq(r: UpRun) -> None:
    if "rabbitmq" in r.restarted:
        renv = rabbit_env()
        run([os.path.join(RABBIT_BIN, "rabbitmqctl"), "-n",
             renv["RABBITMQ_NODENAME"], "wait", "--timeout", str(WAIT),
             renv["RABBITMQ_PID_FILE"]], env=renv,
            log=P.logfile("rabbitmqctl.log"), timeout=WAIT + 30)
    r.svc["rabbitmq"].wait_healthy(
        WAIT, logs=[P.logfile("rabbitmq/gscaio@localhost.log")])
    mark("start-rabbitmq", r.spawned_at["rabbitmq"])


def wait_keystone(r: UpRun) -> None:
    r.svc["keystone"].wait_healthy(WAIT, logs=[P.logfile("keystone.log")])
    mark("start-keystone", r.spawned_at["keystone"])
    with phase("setup-keystone"):
        r.ks_info = setup_keystone(r.sec)
    if r.ks_info.changed:
        # Each Keystone worker caches in its own memory: the one that did
        # not serve a change would hand out catalogs and role lists from
        # before it (a fresh machine: tokens without the volume endpoint)
        # for the cache's expiration time.
        with phase("restart-keystone"):
            keystone = r.svc["keystone"]
            keystone.stop()
            keystone.start()
            keystone.wait_healthy(WAIT, logs=[P.logfile("keystone.log")])
        r.restarted.add("keystone")


def spawn_cinder_and_glance(r: UpRun) -> None:
    r.spawned_at["cinder"] = time.monotonic()
    for name in CINDER_DAEMONS:
        r.spawn(name, r.cinder_changed)
    if r.glance:
        r.spawned_at["glance"] = time.monotonic()
        # Restart glance-api when the driver code or its config changed.
        r.spawn("glance-api", r.glance_changed or r.project_changed)


def cinder_health_of(sec: Secrets, name: str) -> Callable[[], bool]:
    return lambda: cinder_services_up(sec)[name]


def wait_cinder(r: UpRun) -> None:
    t_c = r.spawned_at["cinder"]
    logs = {n: P.logfile(n + ".log") for n in CINDER_DAEMONS}
    r.svc["cinder-api"].wait_healthy(WAIT, logs=[logs["cinder-api"]])
    mark("start-cinder-api", t_c)
    with phase("setup-cinder"):
        setup_cinder(r.sec, r.keystone())
    for name in ("cinder-scheduler", "cinder-volume"):
        r.svc[name].health = cinder_health_of(r.sec, name)
        r.svc[name].wait_healthy(WAIT, logs=[logs[name]])
        mark("start-" + name, t_c)
    for backend in BACKENDS:
        r.pools[backend] = wait_for(
            "cinder pool of backend %s" % backend,
            functools.partial(cinder_pools, r.sec, backend), WAIT,
            [logs["cinder-volume"], logs["cinder-scheduler"]])
    mark("ready-cinder", t_c)


def wait_glance(r: UpRun) -> None:
    if not r.glance:
        return
    glog = P.logfile("glance-api.log")
    api_svc = r.svc["glance-api"]
    api_svc.wait_healthy(WAIT, logs=[glog, api_svc.log])
    mark("start-glance", r.spawned_at["glance"])
    token = admin_token(r.sec)
    wait_for("glance-api GET /v2/images", lambda: http(
        "GET", GLANCE_URL + "/v2/images", token=token)[0] == 200,
        60, [glog])
    mark("ready-glance", r.spawned_at["glance"])
    r.stores = glance_store_report(token)


def finish(r: UpRun) -> None:
    TIMINGS["up-total"] = round(time.monotonic() - r.started, 2)
    write_env(r.sec, r.keystone(), r.loopdevs, r.pools, r.glance, r.stores,
              r.client_conf)
    say("restarted: %s" % (", ".join(sorted(r.restarted)) or "nothing"))
    say("env %s" % P.env_json)
    say("up total %.2fs" % TIMINGS["up-total"])


PHASES: tuple[Callable[[UpRun], None], ...] = (
    prepare, install_venvs, install_driver, export, spawn_rabbitmq,
    spawn_keystone, prepare_cinder, prepare_glance, wait_rabbitmq,
    wait_keystone, spawn_cinder_and_glance, wait_cinder, wait_glance,
    finish,
)


def cmd_up(no_glance: bool) -> None:
    r = UpRun(glance=not no_glance)
    for step in PHASES:
        step(r)
