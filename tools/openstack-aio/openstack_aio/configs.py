"""Configuration files and process environments shared by the services,
and those of RabbitMQ, Keystone and client-side os-brick."""

from __future__ import annotations

import os
import pwd

from openstack_aio.credentials import Secrets
from openstack_aio.paths import P
from openstack_aio.settings import AUTH_URL
from openstack_aio.settings import DEBUG
from openstack_aio.settings import HOST
from openstack_aio.settings import MOUNT_HELPER
from openstack_aio.settings import PORTS
from openstack_aio.settings import RABBIT_NODE
from openstack_aio.util import ini
from openstack_aio.util import write_if_changed


def base_env(venv: str | None = None) -> dict[str, str]:
    # Nothing of the caller's that is part of Service.spec(): the same
    # stack started from tools/demo, tools/run-tests (GSC_AIO_DIR exported)
    # or a shell (sudo's HOME) must not look changed and be restarted.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "VIRTUAL_ENV", "PYTHON", "GSC_"))}
    env["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    path = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
            "/sbin", "/bin", os.path.dirname(MOUNT_HELPER)]
    if venv:
        path.insert(0, os.path.dirname(P.vbin(venv, "python")))
        env["VIRTUAL_ENV"] = os.path.join(P.venv, venv)
        env["GSC_AIO_SQLITE_IMMEDIATE"] = "1"   # see sqlite_immediate.py
    env["PATH"] = ":".join(path)
    env["LC_ALL"] = env["LANG"] = "C.UTF-8"
    return env


def sqlite_url(name: str) -> str:
    return "sqlite:///%s?timeout=60" % os.path.join(P.db, name + ".sqlite")


def keystone_authtoken(user: str, password: str) -> dict[str, object]:
    return {
        "www_authenticate_uri": AUTH_URL,
        "auth_url": AUTH_URL,
        "auth_type": "password",
        "username": user,
        "password": password,
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "service_token_roles_required": True,
    }


def rabbit_env() -> dict[str, str]:
    env = base_env()
    env.update({
        "HOME": P.rabbit,
        "RABBITMQ_NODENAME": RABBIT_NODE,
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(PORTS["amqp"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbit_dist"]),
        "ERL_EPMD_ADDRESS": HOST,
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
        "RABBITMQ_MNESIA_BASE": os.path.join(P.rabbit, "mnesia"),
        "RABBITMQ_LOG_BASE": P.logfile("rabbitmq"),
        "RABBITMQ_CONFIG_FILE": P.conf("rabbitmq", "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": P.conf("rabbitmq",
                                                "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": P.conf("rabbitmq", "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": P.conf("rabbitmq",
                                                "enabled_plugins"),
        "RABBITMQ_PID_FILE": os.path.join(P.run, "rabbitmq-beam.pid"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(P.rabbit, "plugins"),
    })
    return env


def write_rabbit_conf(sec: Secrets) -> bool:
    changed = write_if_changed(P.conf("rabbitmq", "rabbitmq.conf"), "\n".join([
        "listeners.tcp.default = %s:%d" % (HOST, PORTS["amqp"]),
        "loopback_users = none",
        "default_user = aio",
        "default_pass = %s" % sec["rabbit"],
        "log.console = false",
        "log.file.level = info",
        "disk_free_limit.absolute = 50MB",
        ""]))
    changed |= write_if_changed(P.conf("rabbitmq", "advanced.config"), "[].\n")
    changed |= write_if_changed(P.conf("rabbitmq", "rabbitmq-env.conf"), "")
    changed |= write_if_changed(P.conf("rabbitmq", "enabled_plugins"), "[].\n")
    return changed


def transport_url(sec: Secrets) -> str:
    return "rabbit://aio:%s@%s:%d/" % (sec["rabbit"], HOST, PORTS["amqp"])


def write_keystone_conf(sec: Secrets) -> bool:
    kdir = P.conf("keystone")
    changed = write_if_changed(os.path.join(kdir, "keystone.conf"), ini({
        "DEFAULT": {
            "debug": False,
            "log_file": P.logfile("keystone.log"),
            "use_stderr": False,
        },
        "database": {"connection": sqlite_url("keystone")},
        "token": {"provider": "fernet", "expiration": 86400},
        "fernet_tokens": {"key_repository": os.path.join(kdir, "fernet-keys")},
        "credential": {"key_repository": os.path.join(kdir,
                                                      "credential-keys")},
        "identity": {"password_hash_rounds": 4},
        # in-process caches: token validation and role lookups otherwise
        # cost about 0.2 s per request
        "cache": {"enabled": True, "backend": "oslo_cache.dict",
                  "expiration_time": 600},
    }))
    # oslo.config would otherwise parse gunicorn's own command line.
    changed |= write_if_changed(os.path.join(kdir, "keystone_wsgi.py"), (
        "import sys\n"
        "sys.argv = sys.argv[:1]\n"
        "from keystone.server.wsgi import initialize_public_application\n"
        "application = initialize_public_application()\n"))
    return changed


def write_client_conf() -> str:
    """Config for a client-side privsep daemon (os-brick in test code)."""
    path = P.conf("client", "os-brick-client.conf")
    write_if_changed(path, ini({
        "DEFAULT": {"debug": DEBUG,
                    "log_file": P.logfile("client-privsep.log")},
        "os_brick": {"lock_path": P.brick_locks},
    }))
    return path
