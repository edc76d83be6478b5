"""The orchestrator's subprocesses: one worker or baseline at a time."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from bench.common import REPO
from bench.common import write_json

WORKER_TIMEOUT = 20 * 60


@dataclasses.dataclass
class Outcome:
    out: dict[str, Any]
    problem: str | None   # why the process did not end well, if it did not


class Children:
    def __init__(self, workdir: pathlib.Path, logs: pathlib.Path,
                 log: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.logs = logs
        self.log = log
        self.child: subprocess.Popen[bytes] | None = None

    def spawn(self, module: str, spec: dict[str, Any], name: str
              ) -> Outcome:
        """``python -m module SPEC``, waited for; what it wrote."""
        spec_path = self.workdir / ("%s.spec.json" % name)
        spec["out"] = str(self.workdir / ("%s.out.json" % name))
        spec["log"] = str(self.logs / ("%s.log" % name))
        write_json(spec_path, spec)
        stderr_path = self.logs / ("%s.stderr" % name)
        problem = None
        with open(stderr_path, "wb") as err:
            self.child = subprocess.Popen(
                [sys.executable, "-W", "ignore", "-m", module,
                 str(spec_path)], cwd=str(REPO), stdout=err, stderr=err,
                start_new_session=True)
            try:
                rc = self.child.wait(timeout=WORKER_TIMEOUT)
            except subprocess.TimeoutExpired:
                problem = "%s timed out after %d s" % (name, WORKER_TIMEOUT)
                self.stop()
                rc = -1
            # On KeyboardInterrupt the child stays known: stop() ends it.
            self.child = None
        if rc != 0 and problem is None:
            tail = stderr_path.read_text(errors="replace").splitlines()[-5:]
            problem = "%s exited with %s: %s" % (name, rc, " | ".join(tail))
        if problem:
            self.log("bench: " + problem)
        return Outcome(_read_json(spec["out"]), problem)

    def stop(self) -> None:
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return
        self.log("bench: stopping pid %d" % child.pid)
        # The worker cleans up on SIGTERM; its process group (privsep
        # daemon included) is killed if it does not finish in time.
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (OSError, ValueError):
        return {}
