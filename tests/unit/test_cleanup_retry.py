"""A cleanup that failed because Cinder was away is tried again, in the
background, until it succeeds: nothing stays behind once Cinder is back,
although the worker that failed lives on."""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests
from glance_store import exceptions as gs_exc

from glance_store_cinder.cleanup_retry import RETRY_FIRST
from tests.unit.harness import CHUNK
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.transports import Outage


def cinder_goes_away_at_detach(outage: Outage) -> None:
    """Cinder becomes unreachable at the first attachment DELETE."""
    def tap(request: Any) -> None:
        if request.method == "DELETE" and "/attachments/" in request.url:
            outage.down = True
            outage.tap = None
            raise requests.exceptions.ConnectionError(
                "Connection refused", request=request)
    outage.tap = tap


def records(env: Env) -> list[str]:
    return sorted(p.name.split("-")[0]
                  for p in (env.lock_path / "journal").glob("*.json"))


def test_failed_cleanup_of_an_upload_is_retried_until_cinder_is_back(
        env: Env) -> None:
    outage = env.outage(down=False)
    store = env.store(collaborators=env.collaborators(
        http_session_factory=outage.session))
    cinder_goes_away_at_detach(outage)
    data = pattern(2 * CHUNK)
    with pytest.raises(gs_exc.RemoteServiceUnavailable):
        store.add(new_image_id(), io.BytesIO(data), len(data), "sha512")
    # Left for now: the volume, its attachment, and their records.
    assert records(env) == ["attachment", "volume"]
    assert env.cloud.leftovers()

    # Still away at the first retry: kept, and the next one comes later.
    env.time.now += RETRY_FIRST
    assert env.ring_alarms() == 1
    assert records(env) == ["attachment", "volume"]
    assert env.ring_alarms() == 0
    env.time.now += RETRY_FIRST
    assert env.ring_alarms() == 0       # backed off: twice as long
    outage.down = False

    env.time.now += RETRY_FIRST
    assert env.ring_alarms() == 1
    assert records(env) == []
    env.cloud.settle()
    env.assert_clean()
    # Nothing left to retry: the alarm is not set again.
    env.time.now += 10 * RETRY_FIRST
    assert env.ring_alarms() == 0


def test_refused_detach_fails_the_upload_at_once_then_is_retried(
        env: Env) -> None:
    """An attachment DELETE refused (Cinder's policy) at the end of an
    upload: the add fails with the refusal, without waiting a transition
    timeout for a detach that nobody does; the retry deletes both."""
    store = env.store()
    env.cloud.fail_next("DELETE", r"/attachments/", 403)
    data = pattern(2 * CHUNK)
    with pytest.raises(gs_exc.Forbidden):
        store.add(new_image_id(), io.BytesIO(data), len(data), "sha512")
    timeout = store.runtime.settings.state_transition_timeout
    assert sum(env.time.sleeps) < timeout
    assert records(env) == ["attachment", "volume"]
    env.time.now += RETRY_FIRST
    assert env.ring_alarms() == 1
    assert records(env) == []
    env.cloud.settle()
    env.assert_clean()
