"""The glance-apis of the end-to-end rows, for the orchestrator.

``ours`` is the stack's glance-api (this driver, already running; the
bench only checks that it answers).  ``in-tree`` is a second glance-api
on the same stack (testing_support.second_api, port 9393, glance_store's
in-tree driver, multi-store ``fast:cinder,slow:cinder``): started before
the first round that runs an end-to-end row, stopped after the last, and
checked to leave nothing (no process of it, privsep daemons included; no
share of the in-tree driver mounted; its extra rootwrap filter file and
its state directory removed).  Its volumes are the run's
(``image-bece0b0b-<run>-...``): the orchestrator's sweeps find them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from bench.common import INTREE
from bench.common import OURS
from bench.e2e import E2E_WORKLOADS
from glance_store_cinder.errors import StateTimeout
from glance_store_cinder.polling import Poller
from testing_support import second_api

STORE = "fast"     # the stack's NFS store (volume type glance-fast)


def wanted(workloads: list[str]) -> bool:
    return any(w in E2E_WORKLOADS for w in workloads)


class InTreeGlanceApi:
    """The in-tree contender's glance-api, for one run."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.stack: contextlib.ExitStack | None = None
        self.api: second_api.SecondApi | None = None
        self.env: dict[str, Any] = {}

    def start(self, env: dict[str, Any]) -> None:
        self.env = env
        self.stack = contextlib.ExitStack()
        self.api = second_api.start_in(self.stack, env)
        self.api.switch(second_api.Driver.IN_TREE, self.stack)
        self.log("bench: in-tree glance-api at %s (%s), state in %s" % (
            second_api.URL, second_api.Driver.IN_TREE.value, self.api.state))

    def ensure(self) -> None:
        """Started again if it died (after an outage of the stack)."""
        if self.api is not None and self.stack is not None:
            self.api.switch(second_api.Driver.IN_TREE, self.stack)

    def spec(self, env: dict[str, Any], contender: str) -> dict[str, Any]:
        """What a worker needs to reach the contender's glance-api."""
        if contender == OURS:
            return {"url": env["glance"]["url"], "store": STORE,
                    "pid_file": env["glance"]["gunicorn_pid_file"]}
        assert contender == INTREE and self.api is not None
        return {"url": second_api.URL, "store": STORE,
                "pid_file": str(self.api.state / "home" / "gunicorn.pid")}

    def stop(self) -> list[str]:
        """Stop it and undo its setup; what it left (for the findings)."""
        if self.stack is None or self.api is None:
            return []
        left: list[str] = []
        api, stack, self.api, self.stack = self.api, self.stack, None, None
        try:
            api.stop()
            try:
                Poller(timeout=30, first_interval=0.2, growth=1.0).wait(
                    lambda: second_api.processes_using(api.state),
                    lambda pids: not pids, "its processes to exit")
            except StateTimeout:
                left.append("processes %s" % second_api.processes_using(
                    api.state))
            mounts = second_api.in_tree_mounts(self.env)
            if mounts:
                left.append("mounts %s" % mounts)
        finally:
            stack.close()   # leftovers unmounted, filters and state removed
        filters = api.filters_dir / second_api.FILTERS_NAME
        for path in (filters, api.state):
            if os.path.exists(path):
                left.append("%s not removed" % path)
        left += ["%s still mounted" % m
                 for m in second_api.in_tree_mounts(self.env)]
        self.log("bench: in-tree glance-api stopped%s" % (
            "; left: " + "; ".join(left) if left else ", nothing left"))
        return ["in-tree glance-api left %s" % x for x in left]


def sweep_images(env: dict[str, Any], prefix: str,
                 log: Callable[[str], None]) -> None:
    """Delete, through the stack's glance-api, the run's images a worker
    could not (it crashed or was killed)."""
    from bench.glance_http import GlanceHttp
    glance = GlanceHttp(env, env["glance"]["url"])
    left = [i["id"] for i in glance.images() if i["id"].startswith(prefix)]
    for image_id in left:
        glance.delete(image_id)
    if left:
        log("bench: deleted %d image(s) left in Glance: %s"
            % (len(left), ", ".join(left)))
