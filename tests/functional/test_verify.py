"""``glance-store-cinder verify`` against the real Keystone, Cinder and Glance.

The image it must find is the one glance_store's in-tree cinder driver
corrupts: an upload of unknown size past 1 GiB on NFS reads back with the
first GiB zeros, while glance-api records the md5 and sha512 of the data
it was sent.  The in-tree driver writes it here from a process of its own
(``tests.functional.intree_upload``, with the bench's in-tree
configuration).

Recording that image in Glance as glance-api on the in-tree driver would
cannot be done through Glance 33's API: ``checksum``, ``os_hash_algo`` and
``os_hash_value`` are read-only in image calls; ``POST
/v2/images/{id}/locations`` (service role) lets Glance read the location
and compute them itself (``do_secure_hash``, the default), and refuses
``validation_data`` that differs from what it computed; and the legacy
``PATCH`` that accepts a caller's ``checksum`` needs
``show_multiple_locations``, which this stack's glance-api (shared by
every test) does not set.  So the location is registered through the API,
Glance computes the digests of what is on the volume (the zeros), and the
test then writes the digests the in-tree driver returned into Glance's
database, as ``test_glance_api.make_legacy_location`` writes the
locations a single-store Glance left behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import sqlite3
import subprocess
import sys
from typing import Any

from bench import conf as bench_conf
from bench.common import INTREE
from bench.common import unmount_all_under
from glance_store_cinder import cli
from tests.functional import test_glance_api as e2e
from tests.functional.data import expected_bytes

GiB, MiB = e2e.GiB, e2e.MiB

# Unknown size past 1 GiB: the in-tree driver extends once, at 1 GiB.
INTREE_SIZE = GiB + 64 * MiB
INTREE_TIMEOUT = 900
REPO = pathlib.Path(__file__).resolve().parents[2]


def run_verify(stores: dict[str, Any], *args: str
               ) -> tuple[int, dict[str, Any], str]:
    """The command, in this process, on the functional tier's stores."""
    conf = stores["_mount_base"].parent / "glance-api.conf"
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["verify", "--config-file", str(conf), "--store", "fast",
                     "--json", *args], out=out, err=err)
    assert out.getvalue(), err.getvalue()
    return code, json.loads(out.getvalue()), err.getvalue()


def rows_of(document: dict[str, Any], *image_ids: str
            ) -> dict[str, dict[str, Any]]:
    return {r["image_id"]: r for r in document["results"]
            if r["image_id"] in image_ids}


def intree_upload(aio: dict[str, Any], workdir: Any, image_id: str,
                  size: int) -> dict[str, Any]:
    (workdir / "locks").mkdir(parents=True)
    svc = aio["service_user"]
    conf = workdir / "glance-api.conf"
    conf.write_text(bench_conf.conf_text(aio, INTREE, str(workdir)))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.functional.intree_upload",
             str(conf), image_id, str(size), svc["user_id"],
             svc["project_id"]],
            capture_output=True, text=True, timeout=INTREE_TIMEOUT,
            cwd=REPO)
    finally:
        # The in-tree driver's own mounts are not what is tested here.
        unmount_all_under(workdir / "mnt")
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def record_digests(aio: dict[str, Any], image_id: str, md5: str,
                   sha512: str) -> None:
    """What glance-api on the in-tree driver records: the store's digests.
    """
    with contextlib.closing(sqlite3.connect(e2e.glance_db(aio), timeout=60,
                                            isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        changed = db.execute(
            "UPDATE images SET checksum = ?, os_hash_algo = 'sha512', "
            "os_hash_value = ? WHERE id = ? AND deleted = 0",
            (md5, sha512, image_id)).rowcount
        db.execute("COMMIT")
    assert changed == 1


def test_verify_finds_the_in_tree_unknown_size_loss_and_passes_the_rest(
        aio: dict[str, Any], stores: dict[str, Any], glance: e2e.Glance,
        glance_service: e2e.Glance, cleanup: e2e.Cleanup,
        tmp_path: pathlib.Path) -> None:
    good = e2e.upload(glance, cleanup, e2e.Content(3 * MiB + 17), store="fast",
                  chunked=True)

    image_id = glance.create()["id"]
    cleanup.image(image_id)
    written = intree_upload(aio, tmp_path / "intree", image_id, INTREE_SIZE)
    assert written["size"] == INTREE_SIZE
    # The in-tree driver hashed what it was sent: glance-api records that.
    assert (written["checksum"], written["multihash"]) == (
        written["sent_md5"], written["sent_sha512"])
    volume_id = written["uri"].rsplit("/", 1)[1]
    glance_service.add_location(image_id, "cinder://fast/%s" % volume_id)
    seen = glance_service.wait_location_import(image_id)
    assert seen["checksum"] != written["checksum"]  # Glance read the zeros
    record_digests(aio, image_id, written["checksum"], written["multihash"])

    code, document, err = run_verify(stores)
    mine = rows_of(document, good["id"], image_id)
    assert mine[good["id"]]["result"] == "ok", err
    bad = mine[image_id]
    assert bad["result"] == "MISMATCH", bad
    # The first GiB is zeros, then the image data from offset 1 GiB (whose
    # first bytes may happen to be zeros too).
    after = expected_bytes(GiB, 64)
    zeros = GiB + len(after) - len(after.lstrip(b"\0"))
    assert bad["leading_zeros"] == zeros, bad
    assert "first %d bytes are zeros" % zeros in bad["detail"]
    assert bad["bytes_read"] == INTREE_SIZE
    assert [r["image_id"] for r in document["results"]
            if r["result"] != "ok" and r["result"] != "skipped"] == [
        image_id], document
    assert code == 1
    assert "verify: [" in err and "MiB/s" in err

    cleanup.stack.close()  # deletes both images and their volumes
    clean = e2e.upload(glance, cleanup, e2e.Content(5 * MiB), store="fast")
    code, document, err = run_verify(stores)
    assert code == 0, document
    assert rows_of(document, clean["id"])[clean["id"]]["result"] == "ok"
    code, document, _err = run_verify(stores, "--image", clean["id"])
    assert (code, [r["result"] for r in document["results"]]) == (0, ["ok"])
