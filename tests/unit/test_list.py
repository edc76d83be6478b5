"""``glance-store-cinder list`` against the fakes."""

import pathlib
from typing import Any

import pytest

from tests.unit import harness
from tests.unit.cli_harness import CliEnv
from tests.unit.cli_harness import Ran
from tests.unit.harness import GIB


@pytest.fixture
def cli_env(tmp_path: pathlib.Path) -> CliEnv:
    return CliEnv(tmp_path)


def _by_volume(ran: Ran) -> dict[str, dict[str, Any]]:
    return {r["volume_id"]: r for r in ran.json()["volumes"]}


def test_lists_image_volumes_of_each_store_with_glance_status(
        cli_env: CliEnv) -> None:
    fast_image, fast_volume = cli_env.upload(harness.pattern(GIB + 10))
    slow_image, slow_volume = cli_env.upload(harness.pattern(10), "slow")
    cli_env.glance.images[slow_image].status = "deactivated"
    ran = cli_env.run("list", "--json")
    assert ran.code == 0, ran.err
    rows = _by_volume(ran)
    assert set(rows) == {fast_volume, slow_volume}
    assert rows[fast_volume] == {
        "store": "fast", "volume_id": fast_volume, "image_id": fast_image,
        "image_status": "active", "image_size": GIB + 10,
        "volume_size_gib": 2, "volume_status": "available",
        "project_id": cli_env.env.service_project, "attachments": []}
    assert rows[slow_volume]["store"] == "slow"
    assert rows[slow_volume]["image_status"] == "deactivated"


def test_only_real_image_volumes_of_the_store_type(cli_env: CliEnv) -> None:
    image_id, volume_id = cli_env.upload(harness.pattern(10))
    project = cli_env.env.service_project
    other = harness.new_image_id()
    cli_env.cloud.create_volume_directly(project, 1, name="image-" + other)
    cli_env.cloud.create_volume_directly(
        project, 1, name="image-" + other,
        metadata={"glance_image_id": harness.new_image_id()})
    cli_env.cloud.add_volume_type("other-type")
    cli_env.cloud.create_volume_directly(
        project, 1, name="image-" + other, volume_type="other-type",
        metadata={"glance_image_id": other})
    ran = cli_env.run("list", "--json", "--store", "fast")
    assert ran.code == 0
    assert list(_by_volume(ran)) == [volume_id]


def test_volume_without_glance_image_and_attachments_are_shown(
        cli_env: CliEnv) -> None:
    image_id, volume_id = cli_env.upload(harness.pattern(10))
    del cli_env.glance.images[image_id]
    _client, attachment_id = cli_env.env.foreign_attachment(
        volume_id, host="compute-7")
    ran = cli_env.run("list")
    assert ran.code == 0
    [header, _rule, row] = ran.out.splitlines()
    assert header.split()[:4] == ["STORE", "VOLUME", "IMAGE", "IMAGE"]
    assert row.split() == ["fast", volume_id, image_id, "missing", "10",
                           "B", "in", "1", "GiB", "in-use", "compute-7"]
    ran = cli_env.run("list", "--json")
    [attachment] = _by_volume(ran)[volume_id]["attachments"]
    assert attachment["attachment_id"] == attachment_id
    assert attachment["host_name"] == "compute-7"


def test_no_glance_does_not_ask_glance(cli_env: CliEnv) -> None:
    _image, volume_id = cli_env.upload(harness.pattern(10))
    ran = cli_env.run("list", "--json", "--no-glance")
    assert ran.code == 0
    assert _by_volume(ran)[volume_id]["image_status"] == "?"
    assert cli_env.glance.requests == []


def test_glance_failing_leaves_status_unknown_and_exit_3(
        cli_env: CliEnv) -> None:
    image_id, volume_id = cli_env.upload(harness.pattern(10))
    cli_env.glance.fail_next("GET", "^/v2/images/%s$" % image_id, 503)
    ran = cli_env.run("list", "--json")
    assert ran.code == 3
    assert _by_volume(ran)[volume_id]["image_status"] == "?"


def test_cinder_failing_is_exit_3(cli_env: CliEnv) -> None:
    cli_env.upload(harness.pattern(10))
    cli_env.cloud.fail_next("GET", "/volumes/detail", 503)
    ran = cli_env.run("list", "--store", "fast")
    assert ran.code == 3
    assert "Listing the image volumes" in ran.err


def test_progress_goes_to_stderr(cli_env: CliEnv) -> None:
    cli_env.upload(harness.pattern(10))
    ran = cli_env.run("list")
    assert "list: store fast: 1 image volumes" in ran.err
    assert "list: store slow: 0 image volumes" in ran.err
    assert "list:" not in ran.out
