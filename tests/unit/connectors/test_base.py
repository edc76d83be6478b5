"""What every family shares, and which family handles an export."""


import pathlib
from typing import Any

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.connectors import DeviceFamily
from glance_store_cinder.connectors import family_for
from glance_store_cinder.connectors.block import BlockFamily
from glance_store_cinder.connectors.nfs import NfsFamily
from glance_store_cinder.connectors.rbd import RbdFamily
from glance_store_cinder.connectors.scaleio import ScaleIOFamily
from tests.unit.connectors.family_context import RecordingFactory
from tests.unit.connectors.family_context import context


@pytest.mark.parametrize("protocol,family", [
    ("nfs", NfsFamily), ("NFS", NfsFamily), ("rbd", RbdFamily),
    ("scaleio", ScaleIOFamily), ("iscsi", BlockFamily),
    ("fibre_channel", BlockFamily), ("local", BlockFamily),
    ("nvmeof", BlockFamily),
])
def test_family_for_protocol(tmp_path: pathlib.Path, protocol: str,
                             family: type[DeviceFamily]) -> None:
    assert type(family_for(protocol, context(tmp_path))) is family


def test_connector_built_once_with_the_store_settings(
        tmp_path: pathlib.Path) -> None:
    factory = RecordingFactory()
    family = family_for("nfs", context(tmp_path, factory=factory))
    assert family.connector is family.connector
    [(protocol, root_helper, kwargs)] = factory.requests
    assert protocol == "nfs"
    assert root_helper == "sudo glance-rootwrap /etc/glance/rootwrap.conf"
    assert kwargs["use_multipath"] is True
    assert kwargs["conn"] == {"mount_point_base": str(tmp_path / "mnt")}


def test_unknown_protocol_is_a_backend_error_on_connect(
        tmp_path: pathlib.Path) -> None:
    def factory(protocol: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Invalid InitiatorConnector protocol %s" % protocol)

    family = family_for("weird", context(tmp_path, factory=factory))
    with pytest.raises(gs_exc.BackendException, match="weird"):
        with family.connected("vol-1", {}, 1):
            pass


def test_block_device_without_a_path_is_a_backend_error(
        tmp_path: pathlib.Path) -> None:
    family = family_for("iscsi", context(tmp_path))
    with pytest.raises(gs_exc.BackendException, match="no device path"):
        family.device_from("vol-1", {"type": "block"}, 1)
