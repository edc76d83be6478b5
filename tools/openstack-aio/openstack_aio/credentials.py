"""Secrets: generated once per state directory, kept in secrets.json."""

from __future__ import annotations

import json
import secrets
from typing import Any

from openstack_aio.paths import P
from openstack_aio.settings import DEMOS
from openstack_aio.util import write_if_changed

Secrets = dict[str, Any]


def load_secrets() -> Secrets:
    try:
        with open(P.secrets) as f:
            data: Secrets = json.load(f)
    except (OSError, ValueError):
        data = {}
    changed = False
    for key in ("admin", "glance", "cinder", "rabbit", *DEMOS):
        if key not in data:
            data[key] = secrets.token_hex(12)
            changed = True
    if changed:
        save_secrets(data)
    return data


def save_secrets(data: Secrets) -> None:
    write_if_changed(P.secrets, json.dumps(data, indent=2) + "\n", 0o600)
