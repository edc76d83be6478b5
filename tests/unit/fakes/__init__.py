"""Fakes for unit tests: an OpenStack at the HTTP layer, os-brick connectors.

Typical use::

    cloud = FakeCloud(gib=1024 * 1024, backing_dir=tmp_path)
    cloud.add_user("glance", "pw", "service", roles=("member", "service"))
    http = requests.Session()
    http.mount("http://", cloud.adapter)      # or cloud.http_session()
    # give ``http`` to the driver: keystoneauth1.session.Session(
    #     auth=v3.Password(auth_url=cloud.keystone_url, ...), session=http)
    factory = FakeConnectorFactory(cloud)     # os-brick's factory signature
    ...
    cloud.assert_clean(); factory.assert_clean()

``protocol`` is one of ``local``, ``nfs``, ``rbd`` (a librbd file object)
and ``scaleio`` (a device node that shows its size only after
``factory.time_passes()``).
"""

from tests.unit.fakes.cloud import FakeAttachment
from tests.unit.fakes.cloud import FakeCloud
from tests.unit.fakes.cloud import FakeVolume
from tests.unit.fakes.cloud import FakeVolumeType
from tests.unit.fakes.cloud import RecordedRequest
from tests.unit.fakes.connector import FakeConnector
from tests.unit.fakes.connector import FakeConnectorFactory
from tests.unit.fakes.connector import fake_connector_properties

__all__ = [
    "FakeAttachment",
    "FakeCloud",
    "FakeConnector",
    "FakeConnectorFactory",
    "FakeVolume",
    "FakeVolumeType",
    "RecordedRequest",
    "fake_connector_properties",
]
