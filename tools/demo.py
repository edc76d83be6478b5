"""The README's main job, after tools/openstack-aio/up (see tools/demo).

As user ``demo-a`` (project demo-a, role member): upload a generated raw
disk image through glance-api into the store ``fast`` (this driver), show
the Cinder volume that holds it (as the glance service user: the volume
lives in the service project), download it back and verify it, create a
volume from it through Cinder and check that cinder-volume cloned the image
volume instead of downloading the image, then delete everything.

Runs with the glance venv's python (keystoneauth1, python-cinderclient)
and the checkout on its path (tools/demo sets PYTHONPATH: testing_support);
everything else comes from ``$GSC_AIO_DIR/env.json``.  Exit status 0 only
when every step passed and everything created was deleted.  The steps are
in ``demo_job/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time

from demo_job.output import DemoError
from demo_job.output import MiB
from demo_job.output import check
from demo_job.output import say
from demo_job.output import step
from demo_job.steps import Demo

from testing_support import stack


def summary(demo: Demo, up_seconds: float, total: float) -> None:
    say("\n== Summary")
    v = demo.facts.get("image_volume")
    say("   image %s (%d MiB raw) stored by glance_store_cinder in "
        "Cinder volume %s (%s, bootable %s)" % (
            demo.image_id, demo.size // MiB, demo.image_volume_id,
            getattr(v, "volume_type", "?"), getattr(v, "bootable", "?")))
    say("   read back bit-exact; volume from image cloned by Cinder: %s"
        % ("yes" if demo.facts.get("cloned") else "no"))
    rows = [("stack up", up_seconds)] + demo.timings
    for name, seconds in rows:
        extra = ""
        if name == "upload":
            extra = "  (%.0f MiB/s)" % demo.facts.get("upload_rate", 0)
        elif name == "download":
            extra = "  (%.0f MiB/s)" % demo.facts.get("download_rate", 0)
        say("   %-18s %7.2f s%s" % (name, seconds, extra))
    say("   %-18s %7.2f s" % ("total", total))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--started", type=float, default=time.time(),
                        help="epoch seconds when tools/demo started")
    parser.add_argument("--up-seconds", type=float, default=0.0)
    args = parser.parse_args()
    check(args.size_mib >= 2, "--size-mib must be at least 2")
    env = stack.read_env()
    check(env["glance"]["enabled"], "glance-api is not part of the stack")
    tmp = tempfile.mkdtemp(prefix="demo-", dir=stack.AIO_DIR)
    demo = Demo(env, args.size_mib * MiB, tmp)
    failure = None
    try:
        demo.generate()
        demo.upload()
        demo.show_volume()
        demo.download()
        demo.clone()
    except Exception as exc:
        failure = exc
        say("\ndemo: FAILED: %s: %s" % (type(exc).__name__, exc))
    step(7, "Clean up: delete the volume, the image (and so its volume)")
    start = time.monotonic()
    problems = demo.cleanup()
    demo.timings.append(("clean up", time.monotonic() - start))
    shutil.rmtree(tmp, ignore_errors=True)
    for p in problems:
        say("demo: clean-up FAILED: %s" % p)
    if failure is None and not problems:
        summary(demo, args.up_seconds, time.time() - args.started)
    say("\nThe stack keeps running. Stop it with:  tools/openstack-aio/down"
        "\n(state kept in %s; 'tools/openstack-aio/down --purge' deletes "
        "it)" % stack.AIO_DIR)
    return 1 if failure is not None or problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DemoError as exc:
        sys.exit("demo: %s" % exc)
