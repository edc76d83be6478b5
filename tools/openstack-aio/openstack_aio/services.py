"""The services of the stack: how each one is started and probed."""

from __future__ import annotations

import os

from openstack_aio.cinder_config import cinder_conf_path
from openstack_aio.configs import base_env
from openstack_aio.configs import rabbit_env
from openstack_aio.glance_config import glance_conf_path
from openstack_aio.paths import P
from openstack_aio.processes import Service
from openstack_aio.settings import AUTH_URL
from openstack_aio.settings import CINDER_URL
from openstack_aio.settings import GLANCE_URL
from openstack_aio.settings import GLANCE_USER
from openstack_aio.settings import GLANCE_WORKERS
from openstack_aio.settings import HOST
from openstack_aio.settings import PORTS
from openstack_aio.settings import RABBIT_BIN
from openstack_aio.unprivileged import glance_home
from openstack_aio.util import http
from openstack_aio.util import port_open

STOP_ORDER = (("glance-api",), ("cinder-api", "cinder-volume",
                                "cinder-scheduler"),
              ("keystone",), ("rabbitmq",), ("epmd",))


def keystone_health() -> bool:
    status, _, _ = http("GET", AUTH_URL, timeout=5)
    return status == 200


def cinder_api_health() -> bool:
    status, _, _ = http("GET", CINDER_URL + "/", timeout=5)
    return status in (200, 300)


def glance_health() -> bool:
    status, _, _ = http("GET", GLANCE_URL + "/healthcheck", timeout=5)
    return status == 200


def rabbit_health() -> bool:
    return port_open(PORTS["amqp"])


def epmd_health() -> bool:
    return port_open(PORTS["epmd"])


def rabbit_services() -> list[Service]:
    return [
        Service("epmd", ["epmd", "-address", HOST, "-port",
                         str(PORTS["epmd"])],
                env=rabbit_env(), health=epmd_health,
                ports=[PORTS["epmd"]]),
        Service("rabbitmq", [os.path.join(RABBIT_BIN, "rabbitmq-server")],
                env=rabbit_env(), cwd=P.rabbit, health=rabbit_health,
                confs=[P.conf("rabbitmq", "rabbitmq.conf")], stop_timeout=60,
                ports=[PORTS["amqp"], PORTS["rabbit_dist"]]),
    ]


def keystone_service() -> Service:
    kconf = P.conf("keystone", "keystone.conf")
    kenv = base_env("keystone")
    kenv["OS_KEYSTONE_CONFIG_FILES"] = kconf
    return Service("keystone", [
        P.vbin("keystone", "gunicorn"),
        "--bind", "%s:%d" % (HOST, PORTS["keystone"]),
        "--workers", "2", "--timeout", "120",
        "--no-control-socket",
        "--chdir", P.conf("keystone"),
        "--pythonpath", P.conf("keystone"),
        "--pid", os.path.join(P.run, "keystone-gunicorn.pid"),
        "keystone_wsgi:application"],
        env=kenv, health=keystone_health, confs=[kconf],
        ports=[PORTS["keystone"]])


def cinder_services() -> list[Service]:
    cconf = cinder_conf_path()
    cenv = base_env("cinder")
    return [
        Service("cinder-api", [P.vbin("cinder", "cinder-api"),
                               "--config-file", cconf],
                env=cenv, health=cinder_api_health, confs=[cconf],
                ports=[PORTS["cinder"]]),
        Service("cinder-scheduler", [P.vbin("cinder", "cinder-scheduler"),
                                     "--config-file", cconf],
                env=cenv, confs=[cconf]),
        Service("cinder-volume", [P.vbin("cinder", "cinder-volume"),
                                  "--config-file", cconf],
                env=cenv, confs=[cconf], stop_timeout=40),
    ]


def glance_env() -> dict[str, str]:
    genv = base_env("glance")
    genv["HOME"] = glance_home()
    genv["OS_GLANCE_CONFIG_DIR"] = P.conf("glance")
    return genv


def glance_service() -> Service:
    return Service("glance-api", [
        P.vbin("glance", "gunicorn"),
        "--bind", "%s:%d" % (HOST, PORTS["glance"]),
        "--workers", GLANCE_WORKERS,
        "--worker-class", "gthread", "--threads", "8",
        "--timeout", "900", "--graceful-timeout", "10",
        "--no-control-socket",
        "--pid", glance_gunicorn_pidfile(),
        "glance.wsgi.api:application"],
        env=glance_env(), health=glance_health, confs=[glance_conf_path()],
        ports=[PORTS["glance"]], user=GLANCE_USER)


def glance_gunicorn_pidfile() -> str:
    """gunicorn's own pid file (the master), written as the glance user."""
    return os.path.join(glance_home(), "gunicorn.pid")


def services() -> dict[str, Service]:
    """Every service by name, in start order."""
    found = [*rabbit_services(), keystone_service(), *cinder_services(),
             glance_service()]
    return {s.name: s for s in found}
