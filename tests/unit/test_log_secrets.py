"""No password, token, application credential secret or CHAP secret in
DEBUG logs of a whole add, get and delete."""

import io
import logging
from collections.abc import Callable

import pytest
from oslo_context import context as oslo_context

from glance_store_cinder import logmask
from glance_store_cinder.store import Store
from tests.unit.harness import ENDPOINT_TEMPLATE
from tests.unit.harness import PASSWORD
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern

CHAP = "chap-secret-Zx81Qw"
DISCOVERY_CHAP = "discovery-chap-Pq27Lm"

# A store, the context to use it with, and the secrets it must not log.
StoreCase = tuple[Store, oslo_context.RequestContext | None, list[str]]


def round_trip(env: Env, store: Store,
               context: oslo_context.RequestContext | None = None) -> None:
    data = pattern(5000)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512", context=context)
    location = env.location(store, uri)
    reader, _ = store.get(location, context=context)
    assert b"".join(reader) == data
    store.delete(location, context=context)


def issued_tokens(env: Env) -> list[str]:
    return list(env.cloud.identity.tokens)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret(caplog: pytest.LogCaptureFixture,
                     secrets: list[str]) -> None:
    text = caplog.text
    assert "RESP BODY" in text or "RESP:" in text  # keystoneauth did log
    leaked = [s for s in secrets if s in text]
    assert leaked == []


def password_store(env: Env) -> StoreCase:
    return env.store(), None, [PASSWORD]


def app_credential_store(env: Env) -> StoreCase:
    cred_id, secret = env.cloud.add_app_credential("glance", "service")
    store = env.store(
        cinder_store_user_name=None, cinder_store_password=None,
        cinder_store_project_name=None,
        cinder_store_application_credential_id=cred_id,
        cinder_store_application_credential_secret=secret)
    return store, None, [secret]


def multitenant_store(env: Env) -> StoreCase:
    store = env.store(cinder_store_multitenant=True,
                      cinder_endpoint_template=ENDPOINT_TEMPLATE)
    alice = env.user_context("alice", "project-a")
    return store, alice, [alice.auth_token, PASSWORD]


@pytest.mark.parametrize("protocol", ["local"])
@pytest.mark.parametrize("make_store", [
    password_store, app_credential_store, multitenant_store])
def test_no_secret_in_debug_logs_of_add_get_delete(
        env: Env, debug_logs: pytest.LogCaptureFixture,
        make_store: Callable[[Env], StoreCase]) -> None:
    # an iSCSI-like export: Cinder's answer carries CHAP secrets
    env.cloud.override_connection_info(
        auth_method="CHAP", auth_username="chap-user", auth_password=CHAP,
        discovery_auth_method="CHAP", discovery_auth_username="d-user",
        discovery_auth_password=DISCOVERY_CHAP)
    store, context, secrets = make_store(env)
    round_trip(env, store, context)
    # the attachment bodies were logged, with the CHAP secrets masked
    assert '"auth_password": "***"' in debug_logs.text
    assert_no_secret(debug_logs, secrets + [CHAP, DISCOVERY_CHAP]
                     + issued_tokens(env))


def test_filter_masks_messages_arguments_and_tracebacks(
        caplog: pytest.LogCaptureFixture) -> None:
    masking = logmask.SecretMasking()
    masking.add_secret("configured-pw-42")
    logger = logging.getLogger("glance_store_cinder.tests.logmask")
    logger.addFilter(masking)
    caplog.set_level(logging.DEBUG)
    logger.debug("body %s", '{"auth_password": "s3cr3t-chap", "x": 1}')
    logger.debug("the password is configured-pw-42 and token=abcdef")
    try:
        raise ValueError("failed with configured-pw-42")
    except ValueError:
        logger.exception("oops")
    assert "s3cr3t-chap" not in caplog.text
    assert "configured-pw-42" not in caplog.text
    assert "token=abcdef" not in caplog.text
    assert "body {" in caplog.text and "ValueError" in caplog.text


def test_install_covers_the_libraries_loggers() -> None:
    logmask.install()
    for name in logmask.KNOWN_LOGGERS:
        assert logmask.SECRETS in logging.getLogger(name).filters
    later = logging.getLogger("os_brick.initiator.connectors.made_later")
    assert logmask.SECRETS not in later.filters
    logmask.install()
    assert logmask.SECRETS in later.filters
    assert logmask.SECRETS not in logging.getLogger("unrelated").filters
