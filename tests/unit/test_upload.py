"""The add path reads the image ahead while Cinder makes its volume."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

from tests.unit.harness import CHUNK
from tests.unit.harness import BrokenSource
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

# Long enough never to end a passing test; only a broken one waits it out.
GIVE_UP = 10.0


class WatchedSource(io.BytesIO):
    """Counts reads; tells when it has been read to the end."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0
        self.at_end = threading.Event()

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        data = super().read(size)
        if not data:
            self.at_end.set()
        return data


def connect_watched(env: Env, on_connect: Any) -> Any:
    """A connector factory whose connectors call ``on_connect`` first."""
    def factory(*args: Any, **kwargs: Any) -> Any:
        connector = env.factory(*args, **kwargs)
        connect = connector.connect_volume

        def connect_volume(props: dict[str, Any]) -> Any:
            on_connect()
            return connect(props)
        # Our own fake, wrapped: the harness injects it like any factory.
        connector.connect_volume = connect_volume  # type: ignore
        return connector
    return factory


def test_the_image_is_read_before_its_volume_is_attached(env: Env) -> None:
    data = pattern(5 * CHUNK + 11)
    source = WatchedSource(data)
    read_by_connect: list[bool] = []
    store = env.store(collaborators=env.collaborators(
        connector_factory=connect_watched(
            env, lambda: read_by_connect.append(
                source.at_end.wait(GIVE_UP)))))
    image_id = new_image_id()
    uri, size, *_ = store.add(image_id, source, len(data), "sha512")
    assert read_by_connect == [True]
    assert size == len(data)
    assert read_all(store, env.location(store, uri)) == data


def test_no_read_ahead_reads_after_the_attach(env: Env) -> None:
    data = pattern(3 * CHUNK)
    source = WatchedSource(data)
    reads_at_connect: list[int] = []
    store = env.store(
        collaborators=env.collaborators(connector_factory=connect_watched(
            env, lambda: reads_at_connect.append(source.reads))),
        cinder_upload_read_ahead_size=0)
    uri, *_ = store.add(new_image_id(), source, len(data), "sha512")
    assert reads_at_connect == [0]
    assert read_all(store, env.location(store, uri)) == data


class FailingSource(BrokenSource):
    """Tells when it has raised."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__(data, good)
        self.raised = threading.Event()

    def read(self, size: int = -1) -> bytes:
        try:
            return super().read(size)
        except OSError:
            self.raised.set()
            raise


@pytest.mark.parametrize("protocol", ["local"])
def test_a_client_gone_during_the_create_is_not_attached(env: Env) -> None:
    source = FailingSource(pattern(4 * CHUNK), CHUNK + 5)
    attached: list[bool] = []
    store = env.store(collaborators=env.collaborators(
        connector_factory=connect_watched(env, lambda: attached.append(True))))
    # The client goes away while the store waits for the volume.
    env.cloud.status_polls_before_ready = 1

    def until_the_client_is_gone() -> None:
        assert source.raised.wait(GIVE_UP)
    env.time.on_sleep = until_the_client_is_gone
    with pytest.raises(OSError) as raised:
        store.add(new_image_id(), source, 4 * CHUNK, "sha512")
    assert raised.value is source.error
    assert source.raised.is_set()
    assert attached == []
    env.assert_clean()
