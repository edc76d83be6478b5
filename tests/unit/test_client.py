"""Who the store is to Keystone and Cinder: per store, per request."""

import io
from typing import Any

import pytest
from glance_store import exceptions as gs_exc
from oslo_context import context as oslo_context

from glance_store_cinder.store import Store
from tests.unit.harness import ENDPOINT_TEMPLATE
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

# Who talks to Keystone and Cinder does not depend on the export protocol.
pytestmark = pytest.mark.parametrize("protocol", ["local"])


def add(store: Store, data: bytes = b"image", context: Any = None) -> str:
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512", context=context)
    return uri


def vid_of(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


# -- per-store service users --------------------------------------------------
def test_each_store_uses_its_own_service_user(env: Env) -> None:
    _, fast_project = env.cloud.add_user("svc-fast", "pw-fast", "images-fast",
                                         roles=("member", "service"))
    _, slow_project = env.cloud.add_user("svc-slow", "pw-slow", "images-slow",
                                         roles=("member", "service"))
    conf = env.multi_conf(
        fast={"cinder_store_user_name": "svc-fast",
              "cinder_store_password": "pw-fast",
              "cinder_store_project_name": "images-fast"},
        slow={"cinder_store_user_name": "svc-slow",
              "cinder_store_password": "pw-slow",
              "cinder_store_project_name": "images-slow"})
    fast = env.store("fast", conf)
    slow = env.store("slow", conf)

    fast_uri = add(fast, b"fast image")
    slow_uri = add(slow, b"slow image")

    assert env.cloud.volume(vid_of(fast_uri)).project_id == fast_project
    assert env.cloud.volume(vid_of(slow_uri)).project_id == slow_project
    assert set(env.cloud.auth_log) == {("svc-fast", fast_project),
                                       ("svc-slow", slow_project)}
    # one session per store: one authentication each
    assert len(env.cloud.auth_log) == 2
    creates = {r.project_id: r.body["volume"]["volume_type"]
               for r in env.cloud.requests
               if r.method == "POST" and r.path == "/volumes"}
    assert creates == {fast_project: "glance-fast",
                       slow_project: "glance-slow"}
    # each store reads its own volumes; the other one's are not its own
    assert read_all(fast, env.location(fast, fast_uri)) == b"fast image"
    assert read_all(slow, env.location(slow, slow_uri)) == b"slow image"
    foreign = env.location(fast, "cinder://fast/%s" % vid_of(slow_uri))
    with pytest.raises(gs_exc.NotFound):
        fast.get_size(foreign)


def test_wrong_password_is_not_authenticated(env: Env) -> None:
    store = env.store(cinder_store_password="wrong")
    # configure could not check the type: not a reason to refuse
    assert store.refusal is None
    with pytest.raises(gs_exc.NotAuthenticated):
        add(store)
    env.assert_clean()


# Whether Cinder created the volume is unknown: its record stays, for
# recovery to look it up by name once Keystone answers again.
@pytest.mark.keeps_resources("journal_records")
def test_keystone_unavailable_is_remote_service_unavailable(env: Env) -> None:
    store = env.store(configure=False)
    env.cloud.fail_next("POST", r"/auth/tokens$", 503, times=5)
    store.configure(re_raise_bsc=True)
    with pytest.raises(gs_exc.RemoteServiceUnavailable):
        add(store)
    env.assert_clean()


def test_expired_service_token_is_renewed(env: Env) -> None:
    store = env.store()
    uri = add(store)
    assert len(env.cloud.auth_log) == 1
    env.cloud.revoke_tokens()
    assert read_all(store, env.location(store, uri)) == b"image"
    assert len(env.cloud.auth_log) == 2


def test_application_credential(env: Env) -> None:
    store, cred_id, _ = env.app_credential_store()
    uri = add(store, pattern(100))
    assert env.cloud.volume(vid_of(uri)).project_id == env.service_project
    assert env.cloud.auth_log
    assert set(env.cloud.auth_log) == {(cred_id, env.service_project)}
    assert read_all(store, env.location(store, uri)) == pattern(100)


def test_wrong_application_credential_secret(env: Env) -> None:
    store, _, _ = env.app_credential_store(secret="not-the-secret")
    with pytest.raises(gs_exc.NotAuthenticated):
        add(store)


# -- the requester's token ----------------------------------------------------
@pytest.fixture
def tenant_store(env: Env) -> Store:
    return env.store(cinder_store_multitenant=True,
                     cinder_endpoint_template=ENDPOINT_TEMPLATE)


def test_multitenant_volume_lives_in_the_requesters_project(
        env: Env, tenant_store: Store) -> None:
    alice = env.user_context("alice", "project-a")
    bob = env.user_context("bob", "project-b")
    service_auths = list(env.cloud.auth_log)  # the type check at start
    data = pattern(300)

    uri = add(tenant_store, data, context=alice)
    vol = env.cloud.volume(vid_of(uri))
    assert vol.project_id == alice.project_id
    assert vol.metadata["image_owner"] == alice.project_id
    assert {r.project_id for r in env.cloud.requests
            if r.path.startswith(("/volumes", "/attachments"))} == {
        alice.project_id}
    # requester tokens are used as they are: no new authentication
    assert env.cloud.auth_log == service_auths

    location = env.location(tenant_store, uri)
    assert tenant_store.get_size(location, context=alice) == len(data)
    reader, _ = tenant_store.get(location, context=alice)
    assert b"".join(reader) == data

    for operation in ("get", "get_size", "delete"):
        with pytest.raises(gs_exc.NotFound):
            getattr(tenant_store, operation)(location, context=bob)
    assert env.cloud.volume_exists(vol.id)

    tenant_store.delete(location, context=alice)
    env.assert_clean()


def test_multitenant_without_a_context_is_refused(
        env: Env, tenant_store: Store) -> None:
    with pytest.raises(gs_exc.GlanceStoreException):
        add(tenant_store)
    with pytest.raises(gs_exc.NotAuthenticated):
        add(tenant_store, context=oslo_context.RequestContext(
            auth_token="x", project_id=None))
    env.assert_clean()


def test_multitenant_with_an_expired_token(
        env: Env, tenant_store: Store) -> None:
    alice = env.user_context("alice", "project-a")
    env.cloud.revoke_tokens("alice")
    with pytest.raises(gs_exc.NotAuthenticated):
        add(tenant_store, context=alice)
    env.assert_clean()


def test_multitenant_endpoint_from_the_service_catalog(env: Env) -> None:
    store = env.store(cinder_store_multitenant=True)
    alice = env.user_context("alice", "project-a")
    alice.service_catalog = [{
        "type": "volumev3", "name": "cinderv3",
        "endpoints": [{"region": "RegionOne",
                       "publicURL": env.cloud.cinder_endpoint(
                           alice.project_id)}]}]
    uri = add(store, context=alice)
    assert env.cloud.volume(vid_of(uri)).project_id == alice.project_id

    nowhere = env.user_context("carol", "project-c")
    with pytest.raises(gs_exc.BadStoreConfiguration, match="catalog"):
        add(store, context=nowhere)
    nowhere.service_catalog = [{"type": "image", "name": "glance",
                                "endpoints": []}]
    with pytest.raises(gs_exc.BadStoreConfiguration, match="volumev3"):
        add(store, context=nowhere)


def test_no_service_user_uses_the_requesters_token(env: Env) -> None:
    # the in-tree driver's behaviour without service credentials
    store = env.store(cinder_store_auth_address=None,
                      cinder_store_user_name=None,
                      cinder_store_password=None,
                      cinder_store_project_name=None,
                      cinder_endpoint_template=ENDPOINT_TEMPLATE)
    alice = env.user_context("alice", "project-a")
    uri = add(store, context=alice)
    assert env.cloud.volume(vid_of(uri)).project_id == alice.project_id
    assert env.cloud.auth_log == []


def test_service_endpoint_template(env: Env) -> None:
    store = env.store(cinder_endpoint_template=ENDPOINT_TEMPLATE)
    uri = add(store)
    assert env.cloud.volume(vid_of(uri)).project_id == env.service_project
    assert {r.url_path.split("/")[2] for r in env.cloud.requests} == {
        env.service_project}
