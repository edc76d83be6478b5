"""Sweep: the journal's leftovers plus what only Cinder and Glance know."""

import datetime
import io
import json
import pathlib
from typing import Any

import pytest

from glance_store_cinder import cli
from glance_store_cinder.sweep import sweep_for
from tests.unit.cli_harness import CliEnv
from tests.unit.harness import CHUNK
from tests.unit.harness import HOST
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern


@pytest.fixture
def protocol() -> str:
    """What sweep judges is Cinder's and the journal's: one family."""
    return "local"


class FakeImages:
    """Glance as far as sweep asks: image id -> location URIs."""

    def __init__(self) -> None:
        self.images: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def locations(self, image_id: str) -> list[str] | None:
        self.asked.append(image_id)
        return self.images.get(image_id)


def image_volume(env: Env, image_id: str | None = None,
                 hours_old: float = 2, **kwargs: Any) -> tuple[str, str]:
    image_id = image_id or new_image_id()
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, name="image-%s" % image_id,
        metadata={"glance_image_id": image_id}, **kwargs)
    env.cloud.volume(vid).created_at -= datetime.timedelta(hours=hours_old)
    return image_id, vid


@pytest.fixture
def images() -> FakeImages:
    return FakeImages()


# a dry run: the other hosts' and the stale attachments stay
@pytest.mark.keeps_resources("attachments")
def test_finds_only_what_is_proven_left_over(env: Env,
                                             images: FakeImages) -> None:
    store = env.store()
    gone_image, orphan = image_volume(env)
    unlisted_image, unlisted = image_volume(env)
    images.images[unlisted_image] = ["cinder://fast/%s" % new_image_id()]
    kept_image, kept = image_volume(env)
    images.images[kept_image] = ["cinder://fast/%s" % kept]
    legacy_image, legacy = image_volume(env)
    images.images[legacy_image] = ["cinder://%s" % legacy]
    _, young = image_volume(env, hours_old=0)
    _, other_type = image_volume(env, volume_type="glance-slow")
    _, elsewhere = image_volume(env)
    env.foreign_attachment(elsewhere, host="glance-host-2")
    _, stale = image_volume(env)
    images.images[_] = ["cinder://fast/%s" % stale]
    _, stale_attachment = env.foreign_attachment(stale, host=HOST)

    report = sweep_for(store.runtime, images, older_than=3600).find()
    found = {(f.source, f.volume_id or "", f.reason.split(" ")[-1])
             for f in report.findings}
    assert found == {
        ("volume", orphan, "exist"),
        ("volume", unlisted, "volume"),
        ("attachment", stale, "it"),
    }
    assert not report.done and len(env.cloud.volumes) == 8


def test_apply_removes_and_a_second_run_finds_nothing(
        env: Env, images: FakeImages) -> None:
    store = env.store()
    _, orphan = image_volume(env)
    data = pattern(2 * CHUNK)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    location = env.location(store, uri)
    reader, _ = store.get(location)
    next(reader)
    env.processes.kill(env.processes.pid)
    env.processes.become(5555)
    # the live image is listed by Glance; its reader's worker died
    image_id = env.cloud.volume(uri.rsplit("/", 1)[1]).metadata[
        "glance_image_id"]
    images.images[image_id] = [uri]
    # and an attachment of this host that the journal lost
    listed_image, listed = image_volume(env)
    images.images[listed_image] = ["cinder://fast/%s" % listed]
    env.foreign_attachment(listed, host=HOST)
    job = sweep_for(env.store(cinder_recover_at_start=False).runtime,
                    images, older_than=3600)
    report = job.find()
    assert sorted(f.source for f in report.findings) == [
        "attachment", "journal", "journal", "journal", "volume"]
    job.apply(report)
    assert len(report.done) == 5 and not report.failed
    assert env.cloud.volume(listed).attachments == {}
    assert job.find().findings == []
    env.cloud.settle()
    env.assert_clean(keep=[uri.rsplit("/", 1)[1], listed])
    assert orphan in env.cloud.deleted_volume_ids
    reader.close()


def test_without_glance_image_volumes_are_not_judged(env: Env) -> None:
    store = env.store()
    image_volume(env)
    report = sweep_for(store.runtime, None, older_than=0).find()
    assert report.findings == []
    assert any("no Glance" in n for n in report.notes)


@pytest.fixture
def cli_env(tmp_path: pathlib.Path) -> CliEnv:
    return CliEnv(tmp_path, protocol="local")


def test_cli_dry_run_then_apply_then_nothing(cli_env: CliEnv) -> None:
    env = cli_env.env
    kept_image, kept = cli_env.upload(pattern(CHUNK))
    _, orphan = image_volume(env)
    ran = cli_env.run("sweep", "--store", "fast")
    assert ran.code == 1, ran.err
    assert "delete the volume" in ran.out and orphan in ran.out
    assert "does not exist" in ran.out and "dry run" in ran.out
    assert env.cloud.volume(orphan).status == "available"
    ran = cli_env.run("sweep", "--store", "fast", "--apply", "--json")
    assert ran.code == 0, ran.err
    [fast] = ran.json()["stores"]
    assert [f["action"] for f in fast["done"]] == ["delete the volume"]
    ran = cli_env.run("sweep", "--store", "fast")
    assert ran.code == 0 and "nothing to clean up" in ran.out
    env.cloud.settle()
    assert orphan in env.cloud.deleted_volume_ids
    assert env.cloud.volume(kept).status == "available"


def test_cli_failure_to_remove_is_exit_4(cli_env: CliEnv) -> None:
    env = cli_env.env
    env.store()  # glance-api ran on this host: its lock path exists
    image_volume(env)
    env.cloud.fail_next("DELETE", r"/volumes/", 400)
    ran = cli_env.run("sweep", "--store", "fast", "--apply")
    assert ran.code == 4
    assert "FAILED" in ran.err
    env.cloud.settle()
    assert cli_env.run("sweep", "--store", "fast", "--apply").code == 0


def test_cli_help_states_the_exit_codes(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    text = capsys.readouterr().out
    assert "1 leftovers found (dry run)" in " ".join(text.split())
    assert "--apply" in text and "--older-than" in text


def test_cli_glance_not_telling_locations_judges_no_image_volume(
        cli_env: CliEnv) -> None:
    env = cli_env.env
    image_id, volume = cli_env.upload(pattern(CHUNK))
    env.cloud.volume(volume).created_at -= datetime.timedelta(hours=2)
    cli_env.glance.fail_next("GET", r"/locations$", 403)
    ran = cli_env.run("sweep", "--store", "fast", "--apply")
    assert ran.code == 0, ran.err
    assert "image volumes were not judged" in ran.err
    assert env.cloud.volume(volume).status == "available"


def test_cli_refuses_to_run_as_another_user_than_glance_api(
        cli_env: CliEnv) -> None:
    env = cli_env.env
    _, orphan = image_volume(env)
    env.store()  # glance-api made the lock path
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["sweep", "--config-file", str(cli_env.conf_path),
                     "--apply"],
                    collaborators=env.collaborators(euid=lambda: 4321),
                    out=out, err=err)
    assert code == 2
    assert "run sweep as the user glance-api runs as" in err.getvalue()
    assert env.cloud.volume(orphan).status == "available"


def test_cli_uses_the_lock_path_of_glance_api_conf(cli_env: CliEnv) -> None:
    """The journal and locks are where ``[oslo_concurrency] lock_path``
    of glance-api.conf says, although the command's own configuration
    never registered oslo.concurrency's options (glance-api's has them):
    a dead worker's records there are found and replayed."""
    env = cli_env.env
    groups = cli_env.multi_groups()
    groups["oslo_concurrency"] = {"lock_path": str(env.lock_path)}
    conf = cli_env.write_conf(groups, "glance-api-locks.conf")
    store = env.store()
    data = pattern(2 * CHUNK)
    uri, *_ = store.add(new_image_id(), io.BytesIO(data), len(data),
                        "sha512")
    reader, _ = store.get(env.location(store, uri))
    next(reader)
    env.processes.kill(env.processes.pid)
    env.processes.become(5555)
    # Only the configuration file says where the lock path is.
    without_lock_path = env.collaborators(lock_path=None)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["sweep", "--config-file", str(conf), "--store", "fast",
                     "--apply", "--json"],
                    collaborators=without_lock_path, out=out, err=err)
    assert code == 0, err.getvalue()
    [fast] = json.loads(out.getvalue())["stores"]
    assert {f["source"] for f in fast["done"]} == {"journal"}
    assert not list((env.lock_path / "journal").glob("*.json"))
    assert not (env.mount_base / ".glance_store_cinder").exists()
    reader.close()
    env.cloud.settle()
    env.assert_clean(keep=[uri.rsplit("/", 1)[1]])
