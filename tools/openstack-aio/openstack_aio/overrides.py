"""Temporary changes to a running stack's configuration, for fault tests.

``service set glance-api SECTION.OPTION=VALUE...`` changes options in
glance-api.conf and restarts glance-api; ``service reset glance-api`` puts
back the configuration ``up`` writes (and restarts it when that differs).
``service policy cinder-api RULE=CHECK...`` makes Cinder's policy file hold
exactly those rules (none: Cinder's defaults); cinder-api re-reads the file
when it changes, so no restart is needed.  ``up`` undoes both: it rewrites
glance-api.conf and empties the policy file.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import pwd

from openstack_aio.cinder_config import cinder_policy_path
from openstack_aio.credentials import load_secrets
from openstack_aio.glance_config import glance_conf_path
from openstack_aio.glance_config import write_glance_conf
from openstack_aio.settings import GLANCE_USER
from openstack_aio.settings import AioError
from openstack_aio.settings import say

CONFIGURABLE = ("glance-api",)
POLICY_SERVICES = ("cinder-api",)


def parse_assignments(items: list[str], what: str) -> dict[str, str]:
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AioError("%s: expected %s=VALUE, got %r" % (
                what, what.upper(), item))
        found[key] = value
    return found


def _read_ini(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    with open(path) as f:
        parser.read_file(f)
    return parser


def _write_like(path: str, text: str) -> None:
    """Replace ``path`` keeping its owner and mode (glance reads it)."""
    st = os.stat(path)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)


def set_glance_options(items: list[str]) -> None:
    """Write SECTION.OPTION=VALUE items into glance-api.conf."""
    options = parse_assignments(items, "section.option")
    path = glance_conf_path()
    parser = _read_ini(path)
    for dotted, value in options.items():
        section, sep, option = dotted.rpartition(".")
        if not sep or not section or not option:
            raise AioError("set: expected SECTION.OPTION=VALUE, got %r" %
                           dotted)
        if section != "DEFAULT" and not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, option, value)
        say("glance-api.conf: [%s] %s = %s" % (section, option, value))
    out = io.StringIO()
    parser.write(out)
    _write_like(path, out.getvalue())


def reset_glance_conf() -> bool:
    """The configuration ``up`` writes; True when the file changed."""
    changed = write_glance_conf(load_secrets())
    os.chown(glance_conf_path(), 0, pwd.getpwnam(GLANCE_USER).pw_gid)
    return changed


def write_cinder_policy(items: list[str]) -> None:
    rules = parse_assignments(items, "rule")
    path = cinder_policy_path()
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        # JSON is YAML: oslo.policy reads either.
        f.write(json.dumps(rules, indent=1, sort_keys=True) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    say("%s: %s" % (path, ", ".join("%s=%s" % kv for kv in rules.items())
                    or "no rules (Cinder's defaults)"))
