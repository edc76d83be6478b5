"""The fakes' own tests: a cloud with the glance service user."""

import pathlib

import pytest

from tests.unit.fakes.clients import MIB
from tests.unit.fakes.clients import PASSWORD
from tests.unit.fakes.cloud import FakeCloud


@pytest.fixture
def cloud(tmp_path: pathlib.Path) -> FakeCloud:
    c = FakeCloud(gib=MIB, backing_dir=tmp_path / "volumes")
    c.add_user("glance", PASSWORD, "service", roles=("member", "service"))
    return c
