"""A FamilyContext for testing a connector family on its own."""

import contextlib

from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.polling import Poller
from tests.unit.harness import FakeMounts
from tests.unit.harness import FakeTime


class RecordingFactory:
    def __init__(self):
        self.requests = []

    def __call__(self, protocol, root_helper, *args, **kwargs):
        self.requests.append((protocol, root_helper, kwargs))
        return object()


def context(tmp_path, time=None, factory=None):
    time = time or FakeTime()
    return FamilyContext(
        connector_factory=factory or RecordingFactory(),
        root_helper="sudo glance-rootwrap /etc/glance/rootwrap.conf",
        use_multipath=True, mount_point_base=str(tmp_path / "mnt"),
        lock=lambda name: contextlib.nullcontext(),
        refs_dir=str(tmp_path / "refs"), mounts=FakeMounts(),
        poller=Poller(5, clock=time.clock()))
