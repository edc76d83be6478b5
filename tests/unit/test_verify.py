"""``glance-store-cinder verify`` against the fakes."""

import io
import pathlib
from typing import Any

import pytest

from glance_store_cinder import cli
from tests.unit import harness
from tests.unit.cli_harness import CliEnv
from tests.unit.cli_harness import Ran
from tests.unit.harness import GIB


@pytest.fixture
def cli_env(tmp_path: pathlib.Path) -> CliEnv:
    return CliEnv(tmp_path)


def _rows(ran: Ran) -> dict[str, dict[str, Any]]:
    return {r["image_id"]: r for r in ran.json()["results"]}


def test_clean_stores_verify_ok_and_exit_zero(cli_env: CliEnv) -> None:
    first, vol1 = cli_env.upload(harness.pattern(3 * GIB + 100))
    second, vol2 = cli_env.upload(harness.pattern(500, seed=1), "slow")
    ran = cli_env.run("verify")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split() == ["IMAGE", "STORE", "VOLUME", "RESULT",
                                "DETAIL"]
    body = "\n".join(lines[2:4])
    assert "%s  fast   %s  ok" % (first, vol1) in body
    assert "%s  slow   %s  ok" % (second, vol2) in body
    assert lines[4].startswith("2 images listed; 2 ok; ")
    assert "MiB/s" in lines[4]
    cli_env.env.assert_clean(keep=[vol1, vol2])


def test_leading_zeros_are_found_as_mismatch(cli_env: CliEnv) -> None:
    """The in-tree driver's unknown-size loss: the first GiBs are zeros."""
    good, _ = cli_env.upload(harness.pattern(GIB, seed=2))
    bad, bad_volume = cli_env.upload(harness.pattern(3 * GIB, seed=3))
    cli_env.overwrite(bad_volume, 0, bytes(2 * GIB))
    ran = cli_env.run("verify", "--json")
    assert ran.code == 1
    rows = _rows(ran)
    assert rows[good]["result"] == "ok"
    assert rows[bad]["result"] == "MISMATCH"
    assert rows[bad]["leading_zeros"] == 2 * GIB
    assert "first %d bytes are zeros" % (2 * GIB) in rows[bad]["detail"]
    assert rows[bad]["bytes_read"] == 3 * GIB
    summary = ran.json()["summary"]
    assert summary["results"] == {"MISMATCH": 1, "ok": 1}
    assert summary["bytes_read"] == 4 * GIB


def test_missing_volume_fails(cli_env: CliEnv) -> None:
    image_id, volume_id = cli_env.upload(harness.pattern(100))
    store = cli_env.store()
    store.delete(cli_env.env.location(store, "cinder://fast/" + volume_id))
    ran = cli_env.run("verify", "--json")
    assert ran.code == 1
    assert _rows(ran)[image_id]["result"] == "missing volume"
    assert volume_id in _rows(ran)[image_id]["detail"]


def _multitenant_image(cli_env: CliEnv,
                       **image: Any) -> tuple[str, pathlib.Path]:
    """An image a user stored through a multitenant store (their project).
    """
    data = harness.pattern(300, seed=5)
    context = cli_env.env.user_context("alice", "alice-project")
    store = cli_env.env.store(
        "fast", cinder_store_multitenant=True,
        cinder_endpoint_template=harness.ENDPOINT_TEMPLATE)
    image_id = harness.new_image_id()
    uri = store.add(image_id, io.BytesIO(data), len(data), "sha512",
                    context=context)[0]
    cli_env.glance.add_image(context.project_id, data=data,
                             image_id=image_id, locations=((uri, "fast"),),
                             **image)
    conf = cli_env.write_conf(cli_env.multi_groups(
        cinder_store_multitenant=True), "multitenant.conf")
    return image_id, conf


def test_multitenant_store_is_read_with_the_service_user(
        tmp_path: pathlib.Path) -> None:
    cli_env = CliEnv(tmp_path)
    image_id, conf = _multitenant_image(cli_env)
    cli_env.cloud.add_user("glance", harness.PASSWORD, "service",
                           roles=("member", "service", "admin"))
    ran = cli_env.run("verify", "--json", conf=conf)
    assert ran.code == 0, ran.err
    row = _rows(ran)[image_id]
    assert (row["result"], row["bytes_read"]) == ("ok", 300)
    cli_env.env.assert_clean(keep=[row["volume_id"]])


def test_multitenant_volume_hidden_from_a_non_admin_says_why(
        tmp_path: pathlib.Path) -> None:
    cli_env = CliEnv(tmp_path)
    # Public: Glance lists it to anyone; Cinder still hides the volume.
    image_id, conf = _multitenant_image(cli_env, visibility="public")
    ran = cli_env.run("verify", "--json", conf=conf)
    assert ran.code == 1
    row = _rows(ran)[image_id]
    assert row["result"] == "missing volume"
    assert "needs Cinder's admin role" in row["detail"]


def test_unreadable_volume_fails_and_leaves_nothing_attached(
        cli_env: CliEnv) -> None:
    image_id, volume_id = cli_env.upload(harness.pattern(100))
    cli_env.env.factory.fail_on("connect")
    ran = cli_env.run("verify", "--json")
    assert ran.code == 1
    row = _rows(ran)[image_id]
    assert row["result"] == "unreadable"
    assert "injected connect failure" in row["detail"]
    cli_env.env.assert_clean(keep=[volume_id])


def test_one_image(cli_env: CliEnv) -> None:
    image_id, _ = cli_env.upload(harness.pattern(100))
    cli_env.upload(harness.pattern(100, seed=9))
    ran = cli_env.run("verify", "--image", image_id, "--json")
    assert ran.code == 0
    assert list(_rows(ran)) == [image_id]
    assert not [r for r in cli_env.glance.requests
                if r.path == "/v2/images"]


def test_one_image_unknown_or_malformed(cli_env: CliEnv) -> None:
    ran = cli_env.run("verify", "--image", harness.new_image_id())
    assert ran.code == 1
    assert "does not exist in Glance" in ran.err
    ran = cli_env.run("verify", "--image", "../etc")
    assert ran.code == 2
    assert "is not an image id" in ran.err


def test_images_elsewhere_are_not_ours(cli_env: CliEnv) -> None:
    mine, _ = cli_env.upload(harness.pattern(100))
    owner = cli_env.env.service_project
    cli_env.glance.add_image(owner, data=b"f", locations=(
        ("file:///var/lib/glance/images/x", "local"),))
    cli_env.glance.add_image(owner, data=b"o", locations=(
        ("cinder://other/%s" % harness.new_image_id(), "other"),))
    ran = cli_env.run("verify", "--json")
    assert ran.code == 0
    assert list(_rows(ran)) == [mine]
    assert ran.json()["summary"]["images_listed"] == 3


def test_legacy_location_is_read_by_the_store_glance_names(
        cli_env: CliEnv) -> None:
    data = harness.pattern(200)
    image_id, volume_id = cli_env.upload(data)
    cli_env.glance.images[image_id].locations = [
        {"url": "cinder://%s" % volume_id, "metadata": {"store": "fast"}}]
    ran = cli_env.run("verify", "--json")
    assert ran.code == 0
    assert _rows(ran)[image_id]["store"] == "fast"


def test_image_without_checksum_is_skipped(cli_env: CliEnv) -> None:
    image_id, _ = cli_env.upload(harness.pattern(100))
    record = cli_env.glance.images[image_id]
    record.checksum = record.os_hash_algo = record.os_hash_value = None
    ran = cli_env.run("verify", "--json")
    assert ran.code == 0
    assert _rows(ran)[image_id]["result"] == "skipped"
    assert _rows(ran)[image_id]["bytes_read"] == 0


def test_locations_hidden_from_the_store_user_is_exit_3(
        cli_env: CliEnv) -> None:
    cli_env.upload(harness.pattern(100))
    cli_env.cloud.add_user("glance", harness.PASSWORD, "service",
                           roles=("member",))
    ran = cli_env.run("verify")
    assert ran.code == 3
    assert "'service' role" in ran.err


def test_shown_locations_need_no_locations_api(tmp_path: pathlib.Path) -> None:
    cli_env = CliEnv(tmp_path, glance={"show_multiple_locations": True})
    image_id, _ = cli_env.upload(harness.pattern(100))
    ran = cli_env.run("verify", "--json")
    assert ran.code == 0
    assert _rows(ran)[image_id]["result"] == "ok"
    assert not [r for r in cli_env.glance.requests
                if r.path.endswith("/locations")]


def test_glance_unreachable_is_exit_3(cli_env: CliEnv) -> None:
    cli_env.glance.fail_next("GET", "^/v2/images$", 503)
    ran = cli_env.run("verify")
    assert ran.code == 3
    assert "HTTP 503" in ran.err


def test_progress_goes_to_stderr(cli_env: CliEnv) -> None:
    image_id, _ = cli_env.upload(harness.pattern(100))
    ran = cli_env.run("verify")
    assert "verify: [1/1] image %s in fast: ok" % image_id in ran.err
    assert image_id not in ran.err.replace(
        "verify: [1/1] image %s" % image_id, "")


@pytest.mark.parametrize("workers", ["0", "33", "x"])
def test_workers_are_bounded(workers: str, cli_env: CliEnv,
                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["verify", "--config-file", str(cli_env.conf_path),
                  "--workers", workers])
    assert caught.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_throughput_is_bytes_read_over_the_clock() -> None:
    from glance_store_cinder.cli.verify import Check
    from glance_store_cinder.cli.verify import _Tally
    from glance_store_cinder.glance_images import GlanceImage
    from glance_store_cinder.polling import Clock
    from glance_store_cinder.verification import Outcome
    from glance_store_cinder.verification import Result

    now = [100.0]
    tally = _Tally(Clock(monotonic=lambda: now[0]), images=3)
    assert tally.throughput() == "- MiB/s"
    image = GlanceImage.from_view({"id": "i", "status": "active"})
    tally.add([Check(image, "fast", "cinder://fast/v", "v",
                     Outcome(Result.OK, "", bytes_read=3 << 20))])
    tally.add([])
    now[0] = 102.0
    assert tally.throughput() == "1.5 MiB/s"
    assert tally.summary() == {
        "images_listed": 3, "results": {"ok": 1}, "bytes_read": 3 << 20,
        "seconds": 2.0, "mib_per_second": 1.5}
    assert tally.line() == ("3 images listed; 1 ok; 3.0 MiB read in 2.0 s "
                            "(1.5 MiB/s)")
