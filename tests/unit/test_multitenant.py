"""Multitenant mode: images in their owners' projects, read by others.

Glance decides who may read an image; Cinder only shows a volume to its
project.  With service credentials (an admin-capable user), reads fall
back to them, and deletes without a project use them.
"""

import io
import logging
from typing import Any

import pytest
from glance_store import exceptions as gs_exc
from glance_store import location as gs_location
from oslo_context import context as oslo_context

from glance_store_cinder.store import Store
from tests.unit.harness import ENDPOINT_TEMPLATE
from tests.unit.harness import PASSWORD
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

LOCAL = pytest.mark.parametrize("protocol", ["local"])


def admin_service_user(env: Env) -> None:
    # Cinder's default policies let admins reach every project's volumes.
    env.cloud.add_user("glance", PASSWORD, "service",
                       roles=("admin", "member", "service"))


def tenant_store(env: Env, **options: Any) -> Store:
    return env.store(cinder_store_multitenant=True,
                     cinder_endpoint_template=ENDPOINT_TEMPLATE, **options)


def alice_image(env: Env, store: Store
                ) -> tuple[oslo_context.RequestContext, gs_location.Location,
                           str, bytes]:
    alice = env.user_context("alice", "project-a")
    data = pattern(700)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512", context=alice)
    return alice, env.location(store, uri), uri.rsplit("/", 1)[1], data


def test_shared_image_is_read_with_the_service_credentials(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    admin_service_user(env)
    store = tenant_store(env)
    alice, location, vid, data = alice_image(env, store)
    assert env.cloud.volume(vid).project_id == alice.project_id
    assert env.cloud.volume(vid).readonly
    bob = env.user_context("bob", "project-b")
    before = len(env.cloud.requests)

    assert store.get_size(location, context=bob) == len(data)
    assert read_all(store, location, context=bob) == data

    projects = {r.project_id for r in env.cloud.requests[before:]}
    assert projects == {bob.project_id, env.service_project}
    attaches = [r for r in env.cloud.requests[before:]
                if r.method == "POST" and r.path == "/attachments"]
    assert {r.project_id for r in attaches} == {env.service_project}
    assert "not visible to project %s" % bob.project_id in caplog.text
    env.assert_clean(keep=[vid])
    assert store.is_image_associated_with_store(bob, vid) is True


@LOCAL
def test_delete_by_another_project_does_not_fall_back(env: Env) -> None:
    admin_service_user(env)
    store = tenant_store(env)
    _, location, vid, _ = alice_image(env, store)
    bob = env.user_context("bob", "project-b")
    with pytest.raises(gs_exc.NotFound):
        store.delete(location, context=bob)
    assert env.cloud.volume_exists(vid)


@pytest.mark.parametrize("context", [
    None, oslo_context.RequestContext(is_admin=True, project_id=None)])
@LOCAL
def test_delete_without_a_project_uses_the_service_credentials(
        env: Env, context: oslo_context.RequestContext | None) -> None:
    admin_service_user(env)
    store = tenant_store(env)
    _, location, vid, _ = alice_image(env, store)
    store.delete(location, context=context)
    env.cloud.settle()
    assert not env.cloud.volume_exists(vid)
    env.assert_clean()


@LOCAL
def test_without_service_credentials_nothing_falls_back(env: Env) -> None:
    store = tenant_store(env, cinder_store_auth_address=None,
                         cinder_store_user_name=None,
                         cinder_store_password=None,
                         cinder_store_project_name=None)
    _, location, vid, _ = alice_image(env, store)
    bob = env.user_context("bob", "project-b")
    auths = list(env.cloud.auth_log)
    for call in (store.get, store.get_size):
        with pytest.raises(gs_exc.NotFound):
            call(location, context=bob)
    with pytest.raises(gs_exc.NotAuthenticated):
        store.delete(location, context=oslo_context.RequestContext(
            is_admin=True, project_id=None))
    assert env.cloud.auth_log == auths  # no service user was tried
    assert env.cloud.volume_exists(vid)


@LOCAL
def test_service_user_without_admin_rights_cannot_read_it_either(
        env: Env) -> None:
    store = tenant_store(env)
    _, location, _, _ = alice_image(env, store)
    bob = env.user_context("bob", "project-b")
    with pytest.raises(gs_exc.NotFound):
        store.get(location, context=bob)
    env.assert_clean(keep=[v.id for v in env.cloud.volumes])
