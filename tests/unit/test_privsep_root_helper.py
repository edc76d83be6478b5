"""How os-brick's privsep daemon is started: through glance-rootwrap.

A deployment gives an unprivileged glance-api one sudoers line,
``glance-rootwrap <rootwrap_config> *``; oslo.privsep's default command
(``sudo privsep-helper ...``) is not covered by it, so the store must make
oslo.privsep prefix privsep-helper with ``sudo glance-rootwrap <conf>``.
"""

from typing import Any

import pytest

from glance_store_cinder.runtime import privsep_root_helper
from tests.unit.harness import Env


class RecordingInit:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, prefix: list[str]) -> None:
        self.calls.append(list(prefix))


def configured_store(env: Env, euid: int, **options: Any) -> RecordingInit:
    init = RecordingInit()
    env.store(collaborators=env.collaborators(
        privsep_init=init, euid=lambda: euid), **options)
    return init


@pytest.mark.parametrize("protocol", ["local"])
def test_unprivileged_store_starts_privsep_through_rootwrap(env: Env) -> None:
    init = configured_store(env, 1000,
                            rootwrap_config="/etc/glance/rootwrap.conf")
    assert init.calls == [
        ["sudo", "glance-rootwrap", "/etc/glance/rootwrap.conf"]]


@pytest.mark.parametrize("protocol", ["local"])
def test_root_store_keeps_oslo_privsep_default(env: Env) -> None:
    assert configured_store(env, 0).calls == []


def test_choice_by_euid() -> None:
    helper = "sudo glance-rootwrap /srv/rootwrap.conf"
    assert privsep_root_helper(helper, 0) is None
    assert privsep_root_helper(helper, 115) == [
        "sudo", "glance-rootwrap", "/srv/rootwrap.conf"]
