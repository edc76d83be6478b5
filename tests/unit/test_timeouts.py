"""Nothing waits forever on Keystone or Cinder: every request has a timeout.

A transport that would hang when no timeout is given fails the test
instead; given one, it answers as a server that never replied would make
requests answer (ReadTimeout), at once.
"""

import io
from collections.abc import Callable
from typing import Any

import pytest
import requests
from glance_store import exceptions as gs_exc
from requests.adapters import BaseAdapter

from tests.unit.fakes.cloud import FakeCloud
from tests.unit.harness import CHUNK
from tests.unit.harness import ENDPOINT_TEMPLATE
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern

pytestmark = pytest.mark.parametrize("protocol", ["local"])


class Silent:
    """Forwards to the fake cloud; requests matching ``hang`` never end."""

    def __init__(self, cloud: FakeCloud,
                 hang: Callable[[requests.PreparedRequest], bool] | None = None
                 ) -> None:
        self.cloud = cloud
        self.hang = hang
        self.timeouts: list[float | None] = []
        self.would_hang: list[str | None] = []
        silent = self

        class _Adapter(BaseAdapter):
            def send(self, request: requests.PreparedRequest, *args: Any,
                     **kwargs: Any) -> requests.Response:
                timeout = kwargs.get("timeout")
                silent.timeouts.append(timeout)
                if silent.hang and silent.hang(request):
                    if timeout is None:
                        silent.would_hang.append(request.url)
                        raise AssertionError(
                            "%s %s without a timeout would hang forever"
                            % (request.method, request.url))
                    raise requests.exceptions.ReadTimeout(
                        "Read timed out. (read timeout=%s)" % timeout,
                        request=request)
                return cloud.adapter.send(request, *args, **kwargs)

            def close(self) -> None:
                """Nothing to release."""

        self._adapter = _Adapter()

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.mount("http://", self._adapter)
        return session


def test_every_request_of_the_service_user_has_the_timeout(env: Env) -> None:
    silent = Silent(env.cloud)
    store = env.store(cinder_http_timeout=7.5,
                      collaborators=env.collaborators(
                          http_session_factory=silent.session))
    data = pattern(CHUNK)
    store.add(new_image_id(), io.BytesIO(data), len(data), "sha512")
    assert silent.timeouts and set(silent.timeouts) == {7.5}


def test_every_request_with_a_requester_token_has_the_timeout(
        env: Env) -> None:
    silent = Silent(env.cloud)
    store = env.store(cinder_store_multitenant=True,
                      cinder_endpoint_template=ENDPOINT_TEMPLATE,
                      collaborators=env.collaborators(
                          http_session_factory=silent.session))
    silent.timeouts.clear()
    context = env.user_context("alice", "alice-project")
    data = pattern(CHUNK)
    store.add(new_image_id(), io.BytesIO(data), len(data), "sha512",
              context=context)
    assert silent.timeouts and set(silent.timeouts) == {90.0}


def test_cinder_never_answering_under_the_volume_lock_does_not_hang(
        env: Env) -> None:
    # attachment update runs under the per-volume lock: a Cinder that
    # accepts and never answers must not keep it (and every other
    # worker attaching that volume) forever
    silent = Silent(env.cloud, hang=lambda r: r.method == "PUT"
                    and "/attachments/" in (r.url or ""))
    store = env.store(collaborators=env.collaborators(
        http_session_factory=silent.session))
    data = pattern(CHUNK)
    with pytest.raises(gs_exc.RemoteServiceUnavailable):
        store.add(new_image_id(), io.BytesIO(data), len(data), "sha512")
    assert not silent.would_hang
    silent.hang = None
    env.assert_clean()
    with store.runtime.lock("volume-anything"):
        pass


def test_keystone_never_answering_at_start_does_not_hang(env: Env) -> None:
    silent = Silent(env.cloud, hang=lambda r: "keystone" in (r.url or ""))
    store = env.store(collaborators=env.collaborators(
        http_session_factory=silent.session))
    # the volume type could not be checked: logged, not fatal
    assert store.refusal is None
    assert silent.timeouts and not silent.would_hang
