"""The functional environment: started when needed, waited for."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

from bench.common import ENV_JSON
from bench.common import REPO
from glance_store_cinder.errors import StateTimeout
from glance_store_cinder.polling import Poller

AIO = REPO / "tools" / "openstack-aio"


def healthy() -> bool:
    if not ENV_JSON.exists():
        return False
    done = subprocess.run([str(AIO / "status")], capture_output=True,
                          text=True)
    return done.returncode == 0


def glance_answers(env: dict[str, Any]) -> bool:
    """The stack's glance-api answers (the end-to-end rows need it)."""
    import urllib.request
    try:
        with urllib.request.urlopen(env["glance"]["url"] + "/healthcheck",
                                    timeout=5) as resp:
            return bool(resp.status == 200)
    except (OSError, KeyError):
        return False


def start(log: Callable[[str], None], glance: bool = False) -> float:
    """``tools/openstack-aio/up --no-glance`` (``glance``: with it); the
    seconds it took."""
    argv = [str(AIO / "up")] + ([] if glance else ["--no-glance"])
    log("bench: starting the environment: tools/openstack-aio/up%s"
        % ("" if glance else " --no-glance"))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        log("  " + line.rstrip())
    rc = proc.wait()
    if rc != 0:
        raise RuntimeError("%s failed (exit %d)" % (" ".join(argv), rc))
    return time.monotonic() - t0


def cinder_answers(env: dict[str, Any]) -> bool:
    from bench.cleanup import admin_client
    try:
        client = admin_client(env)
        names = {t.name for t in client.volume_types.list()}
        pools = client.pools.list()
    except Exception:
        return False
    return env["volume_types"]["fast"] in names and bool(pools)


def ensure(log: Callable[[str], None], allow_start: bool = True,
           wait: float = 600, glance: bool = False
           ) -> tuple[dict[str, Any], float]:
    """The environment, up (``glance``: with its glance-api); and how long
    starting it took (0 if it ran).

    Another user may be restarting the services: an environment that
    does not answer is waited for (and started again, at most twice)
    until ``wait`` seconds have passed.
    """
    starts = _Starts(log, allowed=2 if allow_start else 0, glance=glance)
    try:
        env = Poller(timeout=wait, first_interval=5, growth=1.0).wait(
            starts.look, lambda found: found is not None,
            "the environment")
    except StateTimeout as exc:
        raise RuntimeError(
            "the environment is not healthy after %d s: see "
            "tools/openstack-aio/status" % wait) from exc
    assert env is not None
    return env, starts.seconds


class _Starts:
    """One look at the environment, starting it when it is down."""

    def __init__(self, log: Callable[[str], None], allowed: int,
                 glance: bool = False) -> None:
        self.log = log
        self.left = allowed
        self.seconds = 0.0
        self.glance = glance

    def healthy(self) -> bool:
        return healthy() and (not self.glance or glance_answers(
            json.loads(ENV_JSON.read_text())))

    def look(self) -> dict[str, Any] | None:
        ok = self.healthy()
        if not ok and self.left:
            self.left -= 1
            self.seconds += start(self.log, self.glance)
            ok = self.healthy()
        if ok:
            env: dict[str, Any] = json.loads(ENV_JSON.read_text())
            if cinder_answers(env):
                return env
        self.log("bench: waiting for the environment (%s)" % (
            "Cinder does not answer yet" if ok else "not healthy"))
        return None
