"""PowerFlex: waiting for the device to show the volume's size."""

import os
import pathlib

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.connectors import family_for
from tests.unit.connectors.family_context import context
from tests.unit.harness import FakeTime


def test_scaleio_waits_for_the_device_to_show_its_size(
        tmp_path: pathlib.Path) -> None:
    time = FakeTime()
    path = tmp_path / "scinia"
    path.write_bytes(b"")

    def kernel_catches_up() -> None:
        with open(path, "ab") as f:
            f.write(bytes(100))

    time.on_sleep = kernel_catches_up
    family = family_for("scaleio", context(tmp_path, time=time))
    device = family.device_from("vol-1", {"path": str(path)}, 250)
    assert device.path == str(path)
    assert os.path.getsize(path) >= 250
    assert len(time.sleeps) == 3


def test_scaleio_device_that_stays_small_times_out(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "scinia"
    path.write_bytes(bytes(10))
    family = family_for("scaleio", context(tmp_path))
    with pytest.raises(gs_exc.BackendException, match="PowerFlex"):
        family.device_from("vol-1", {"path": str(path)}, 250)
