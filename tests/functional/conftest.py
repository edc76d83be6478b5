"""Functional tier: the driver against the real services of
tools/openstack-aio/up (Keystone, Cinder with its NFS backend and its
loop-device ``block`` backend, RabbitMQ).

Tests that hold for every device family take the ``family_store`` fixture:
they run once on an NFS store (a file on a share) and once on a block store
(a loop device standing in for a SAN LUN, growing online).

Stores are configured by a glance-api.conf-style file and loaded through
glance_store's own ``register_store_opts`` / ``create_multi_stores``.
A missing environment fails the run: it is never skipped.
"""

from __future__ import annotations

import glob
import json
import pathlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

import pytest
from cinderclient import api_versions
from cinderclient.v3 import client as cinder_v3
from glance_store import location as gs_location
from glance_store import multi_backend
from oslo_config import cfg
from oslo_context import context as oslo_context

from testing_support import stack

STORES = ("fast", "slow", "missing", "tenant", "appcred", "block",
          "blockoff")
# The store each device family is tested through.
FAMILY_STORES = {"nfs": "fast", "block": "block"}

if TYPE_CHECKING:
    from tests.functional.test_glance_api import Cleanup
    from tests.functional.test_glance_api import Glance


def load_env() -> dict[str, Any]:
    try:
        return stack.read_env()
    except stack.StackNotUp as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def aio() -> dict[str, Any]:
    return load_env()


def _conf_text(env: dict[str, Any], base: pathlib.Path) -> str:
    types = env["volume_types"]
    appcred = env["app_credential"]
    return f"""
[DEFAULT]
enabled_backends = {", ".join("%s:volume" % s for s in STORES)}

[glance_store]
default_backend = fast

[backend_defaults]
{stack.service_user_options(env)}cinder_mount_point_base = {base}/mnt
cinder_state_transition_timeout = 120

[fast]
cinder_volume_type = {types["fast"]}
cinder_bootable_volume_formats = raw

[slow]
cinder_volume_type = {types["slow"]}

[missing]
cinder_volume_type = {types["missing"]}

[tenant]
cinder_volume_type = {types["fast"]}
cinder_store_multitenant = true
cinder_endpoint_template = {env["cinder"]["endpoint_template"]}

[block]
cinder_volume_type = {types["block"]}
cinder_do_extend_attached = true

[blockoff]
cinder_volume_type = {types["block"]}

[appcred]
cinder_volume_type = {types["fast"]}
cinder_store_user_name =
cinder_store_password =
cinder_store_project_name =
cinder_store_application_credential_id = {appcred["id"]}
cinder_store_application_credential_secret = {appcred["secret"]}

[oslo_concurrency]
lock_path = {base}/locks

[os_brick]
lock_path = {env["os_brick"]["lock_path"]}

[privsep_osbrick]
helper_command = {env["os_brick"]["privsep_helper_command"]}
"""


@pytest.fixture(scope="session")
def stores(aio: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
           ) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("glance")
    conf_file = base / "glance-api.conf"
    conf_file.write_text(_conf_text(aio, base))
    conf = cfg.CONF
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf(["--config-file", str(conf_file)], project="glance")
    multi_backend.register_store_opts(conf)
    multi_backend.create_multi_stores(conf)
    found = {name: multi_backend.get_store_from_store_identifier(name)
             for name in STORES}
    found["_mount_base"] = base / "mnt"
    return found


@pytest.fixture(scope="session")
def admin_cinder(aio: dict[str, Any]) -> Any:
    return cinder_v3.Client(session=stack.session(aio, aio["service_user"]),
                            service_type="volumev3",
                            api_version=api_versions.APIVersion("3.54"))


@pytest.fixture(scope="session")
def demo_contexts(aio: dict[str, Any]
                  ) -> dict[str, oslo_context.RequestContext]:
    """Request contexts of two users in two projects (multitenant)."""
    out = {}
    for key, user in zip("ab", aio["demo"][:2], strict=True):
        session = stack.session(aio, user)
        out[key] = oslo_context.RequestContext(
            auth_token=session.get_token(),
            user_id=session.get_user_id(),
            project_id=session.get_project_id())
    return out


def _all_volumes(cinder: Any) -> dict[str, Any]:
    return {v.id: v for v in cinder.volumes.list(
        search_opts={"all_tenants": 1})}


def _mounts_under(base: pathlib.Path) -> list[str]:
    prefix = str(base) + "/"
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f
                if line.split()[1].startswith(prefix)]


@pytest.fixture(params=sorted(FAMILY_STORES))
def family_store(request: pytest.FixtureRequest) -> str:
    """The name of a store of each device family (nfs, block)."""
    return FAMILY_STORES[request.param]


def block_loop_devices(env: dict[str, Any]) -> list[str]:
    """Loop devices bound to volumes of the block backend."""
    prefix = env["block"]["volumes_dir"].rstrip("/") + "/"
    found = []
    for backing in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(backing) as f:
                if f.read().startswith(prefix):
                    found.append("/dev/" + backing.split("/")[3])
        except OSError:
            continue   # detached meanwhile
    return sorted(found)


@pytest.fixture(autouse=True)
def leaves_nothing_behind(request: pytest.FixtureRequest,
                          aio: dict[str, Any], admin_cinder: Any,
                          stores: dict[str, Any]) -> Iterator[None]:
    """After each test: no new volume, no attachment, no stray mount, no
    loop device of the block backend."""
    before = set(_all_volumes(admin_cinder))
    keep: set[str] = set()
    request.node.keep_volumes = keep
    yield
    deadline = time.monotonic() + 60
    while True:
        now = _all_volumes(admin_cinder)
        leaked = {vid: v.status for vid, v in now.items()
                  if vid not in before and vid not in keep
                  and v.status != "deleting"}
        attached = {vid: v.status for vid, v in now.items()
                    if v.attachments or v.status in ("in-use", "attaching",
                                                      "detaching")}
        loops = block_loop_devices(aio)
        if ((not leaked and not attached and not loops)
                or time.monotonic() > deadline):
            break
        time.sleep(0.5)
    assert not leaked, "volumes left behind: %s" % leaked
    assert not attached, "volumes still attached: %s" % attached
    assert not loops, "loop devices left bound: %s" % loops
    assert _mounts_under(stores["_mount_base"]) == []


def location_for(uri: str, store: str) -> gs_location.Location:
    return gs_location.get_location_from_uri_and_backend(uri, store,
                                                         conf=cfg.CONF)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    env_path = stack.ENV_FILE
    if env_path.exists():
        timings = json.loads(env_path.read_text()).get("timings", {})
        if timings:
            terminalreporter.write_line(
                "environment timings (s): " + ", ".join(
                    "%s=%s" % kv for kv in timings.items()))
    passed = len(terminalreporter.stats.get("passed", []))
    failed = len(terminalreporter.stats.get("failed", []))
    terminalreporter.write_line(
        "functional tests executed: %d" % (passed + failed))


# -- glance-api over HTTP (test_glance_api, test_faults) -----------------
# The classes live in test_glance_api, which imports this module: imported
# when a fixture is first used.
@pytest.fixture(scope="module")
def admin_session(aio: dict[str, Any]) -> Any:
    return stack.session(aio, aio["admin"])


@pytest.fixture(scope="module")
def glance(aio: dict[str, Any], admin_session: Any) -> Glance:
    from tests.functional.test_glance_api import Glance

    assert aio["glance"]["enabled"], "glance-api is not part of the stack"
    return Glance(admin_session, aio["glance"]["url"])


@pytest.fixture(scope="module")
def glance_service(aio: dict[str, Any]) -> Glance:
    from tests.functional.test_glance_api import Glance

    return Glance(stack.session(aio, aio["service_user"]),
                  aio["glance"]["url"])


@pytest.fixture(scope="module")
def cinder(admin_session: Any) -> Any:
    """Cinder as ``admin`` in project ``admin`` (the images' owner)."""
    return cinder_v3.Client(session=admin_session, service_type="volumev3",
                            api_version=api_versions.APIVersion("3.60"))


@pytest.fixture
def cleanup(glance: Glance, glance_service: Glance,
            cinder: Any) -> Iterator[Cleanup]:
    from tests.functional.test_glance_api import Cleanup

    done = Cleanup(glance, glance_service, cinder)
    with done.stack:
        yield done
