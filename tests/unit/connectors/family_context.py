"""A FamilyContext for testing a connector family on its own."""

import contextlib
import pathlib
import stat
from typing import Any

from glance_store_cinder.connectors import ConnectorFactory
from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors.base import DeviceRules
from glance_store_cinder.journal import Journal
from glance_store_cinder.owners import Owners
from glance_store_cinder.polling import Poller
from tests.unit.fakes.processes import FakeProcessTable
from tests.unit.harness import FakeMounts
from tests.unit.harness import FakeTime


class RecordingFactory:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, protocol: str, root_helper: str, *args: Any,
                 **kwargs: Any) -> Any:
        self.requests.append((protocol, root_helper, kwargs))
        return object()


def context(tmp_path: pathlib.Path, time: FakeTime | None = None,
            factory: ConnectorFactory | None = None) -> FamilyContext:
    time = time or FakeTime()
    return FamilyContext(
        connector_factory=factory or RecordingFactory(),
        root_helper="sudo glance-rootwrap /etc/glance/rootwrap.conf",
        use_multipath=True, mount_point_base=str(tmp_path / "mnt"),
        lock=lambda name: contextlib.nullcontext(),
        journal=Journal(str(tmp_path / "journal"), "fast",
                        Owners(FakeProcessTable(), lambda: "host-1")),
        mounts=FakeMounts(),
        poller=Poller(5, clock=time.clock()),
        devices=DeviceRules(root=str(tmp_path), accepts=stat.S_ISREG))
