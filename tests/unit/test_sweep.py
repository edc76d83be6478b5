"""Sweep: the journal's leftovers plus what only Cinder and Glance know."""

import datetime
import io
import json

import pytest

from glance_store_cinder import cli
from glance_store_cinder.sweep import sweep_for
from tests.unit.harness import CHUNK
from tests.unit.harness import HOST
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern

pytestmark = pytest.mark.parametrize("protocol", ["local"])


class FakeImages:
    """Glance as far as sweep asks: image id -> location URIs."""

    def __init__(self):
        self.images = {}
        self.asked = []

    def locations(self, image_id):
        self.asked.append(image_id)
        return self.images.get(image_id)


def image_volume(env, image_id=None, hours_old=2, **kwargs):
    image_id = image_id or new_image_id()
    vid = env.cloud.create_volume_directly(
        env.service_project, 1, name="image-%s" % image_id,
        metadata={"glance_image_id": image_id}, **kwargs)
    env.cloud.volume(vid).created_at -= datetime.timedelta(hours=hours_old)
    return image_id, vid


@pytest.fixture
def images():
    return FakeImages()


def test_finds_only_what_is_proven_left_over(env, images):
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


def test_apply_removes_and_a_second_run_finds_nothing(env, images):
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
    job = sweep_for(env.store(cinder_recover_at_start=False).runtime,
                    images, older_than=3600)
    report = job.find()
    assert sorted(f.source for f in report.findings) == [
        "journal", "journal", "volume"]
    job.apply(report)
    assert len(report.done) == 3 and not report.failed
    assert job.find().findings == []
    env.cloud.settle()
    env.assert_clean(keep=[uri.rsplit("/", 1)[1]])
    assert orphan in env.cloud.deleted_volume_ids
    reader.close()


def test_without_glance_image_volumes_are_not_judged(env):
    store = env.store()
    image_volume(env)
    report = sweep_for(store.runtime, None, older_than=0).find()
    assert report.findings == []
    assert any("no Glance" in n for n in report.notes)


def write_conf(env):
    path = env.tmp / "sweep.conf"
    path.write_text(open(env.multi_conf().config_file[0]).read())
    return str(path)


def test_cli_dry_run_table_exit_codes_and_json(env, images):
    env.store()
    _, orphan = image_volume(env)
    conf = write_conf(env)
    out, err = io.StringIO(), io.StringIO()
    status = cli.sweep([conf], apply=False, older_than=3600, as_json=False,
                       images=lambda store: images, out=out, err=err,
                       collaborators=env.collaborators())
    assert status == 1
    text = out.getvalue()
    assert "delete the volume" in text and orphan in text
    assert "dry run" in text
    out = io.StringIO()
    status = cli.sweep([conf], apply=True, older_than=3600, as_json=True,
                       images=lambda store: images, out=out, err=err,
                       collaborators=env.collaborators())
    assert status == 0
    result = json.loads(out.getvalue())
    fast = [s for s in result["stores"] if s["store"] == "fast"][0]
    assert [f["action"] for f in fast["done"]] == ["delete the volume"]
    status = cli.sweep([conf], apply=False, older_than=3600, as_json=False,
                       images=lambda store: images, out=io.StringIO(),
                       err=err, collaborators=env.collaborators())
    assert status == 0


def test_cli_failure_exit_code(env, images):
    env.store()
    image_volume(env)
    env.cloud.fail_next("DELETE", r"/volumes/", 400)
    status = cli.sweep([write_conf(env)], apply=True, older_than=3600,
                       as_json=False, images=lambda store: images,
                       out=io.StringIO(), err=io.StringIO(),
                       collaborators=env.collaborators())
    assert status == 2
