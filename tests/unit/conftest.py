"""Fixtures: a fake cloud per test, for both connector families."""

import pytest

from tests.unit.harness import Env


@pytest.fixture(params=["local", "nfs"])
def protocol(request):
    return request.param


@pytest.fixture
def env(tmp_path, protocol):
    return Env(tmp_path, protocol)


@pytest.fixture
def local_env(tmp_path):
    return Env(tmp_path, "local")


@pytest.fixture
def nfs_env(tmp_path):
    return Env(tmp_path, "nfs")
