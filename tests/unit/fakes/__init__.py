"""Fakes for unit tests: an OpenStack at the HTTP layer, os-brick connectors.
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
