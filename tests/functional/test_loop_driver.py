"""The test tier's loop-device Cinder driver, standalone in the cinder venv.

tools/openstack-aio/check_loop_driver.py drives the driver against a
temporary directory (create, two connections sharing one loop device,
online extend, clone, snapshot, delete) and detaches whatever it bound.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from typing import Any

SCRIPT = (pathlib.Path(__file__).resolve().parents[2] / "tools" /
          "openstack-aio" / "check_loop_driver.py")


def test_loop_driver_standalone_leaves_no_loop_device(
        aio: dict[str, Any]) -> None:
    python = os.path.join(aio["cinder"]["venv"], "bin", "python")
    done = subprocess.run([python, str(SCRIPT)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["left_behind"] == []
    assert figures["clone_allocated_mib"] <= 3
