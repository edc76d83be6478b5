"""Ids Cinder answers with are checked before they are used."""

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from glance_store import exceptions as gs_exc
from requests.adapters import BaseAdapter

from tests.unit.fakes.cloud import FakeCloud
from tests.unit.harness import Env
from tests.unit.harness import new_image_id

LOCAL = pytest.mark.parametrize("protocol", ["local"])


class Rewriting:
    """A transport to the fake cloud that edits one kind of answer."""

    def __init__(self, cloud: FakeCloud, method: str, path_end: str,
                 edit: Callable[[dict[str, Any]], None]) -> None:
        outer = self

        class _Adapter(BaseAdapter):
            def send(self, request: requests.PreparedRequest, *args: Any,
                     **kwargs: Any) -> requests.Response:
                response = cloud.adapter.send(request, *args, **kwargs)
                if (request.method == method
                        and request.path_url.endswith(path_end)
                        and response.status_code < 300):
                    body = json.loads(response.content)
                    edit(body)
                    response._content = json.dumps(body).encode()
                    outer.edited += 1
                return response

            def close(self) -> None:
                """Nothing to release."""

        self.edited = 0
        self._adapter = _Adapter()

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.mount("http://", self._adapter)
        return session


@pytest.mark.parametrize("bad_id", ["../volumes/x", "", "{%s}", None])
@LOCAL
# The store never learns the real id, so it cannot delete that volume.
@pytest.mark.keeps_resources("volumes")
def test_volume_created_with_a_bad_id_is_refused(env: Env,
                                                 bad_id: str | None) -> None:
    def edit(body: dict[str, Any]) -> None:
        good = body["volume"]["id"]
        body["volume"]["id"] = (bad_id % good if bad_id and "%s" in bad_id
                                else bad_id)

    transport = Rewriting(env.cloud, "POST", "/volumes", edit)
    store = env.store(collaborators=env.collaborators(
        http_session_factory=transport.session))
    with pytest.raises(gs_exc.BackendException, match="not a UUID"):
        store.add(new_image_id(), io.BytesIO(b"abc"), 3, "sha512")
    assert transport.edited == 1
    assert env.requests_of("os-complete") == []


@LOCAL
# Without the attachment's id the store can undo neither it nor the volume;
# the volume's journal record stays for recovery (and sweep) to retry.
@pytest.mark.keeps_resources("volumes", "attachments", "journal_records")
def test_attachment_without_an_id_is_refused(env: Env) -> None:
    transport = Rewriting(env.cloud, "POST", "/attachments",
                          lambda body: body["attachment"].pop("id"))
    store = env.store(collaborators=env.collaborators(
        http_session_factory=transport.session))
    with pytest.raises(gs_exc.BackendException,
                       match="no attachment id"):
        store.add(new_image_id(), io.BytesIO(b"abc"), 3, "sha512")
    assert transport.edited == 1
