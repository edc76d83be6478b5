#!/usr/bin/env python3
"""Smoke test of a running openstack-aio stack, from its env.json only.

As the glance service user: create a 1 GiB volume of the fast type, wait for
it, create an attachment (with a connector, no instance), complete it, delete
it, delete the volume; then, when Glance is enabled, list images.  Prints one
line per step with its duration; exits non-zero on the first failure.

    python3 tools/openstack-aio/smoke.py      (GSC_AIO_DIR as for up)
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from openstack_aio.util import http

STATE = os.environ.get("GSC_AIO_DIR") or "/var/lib/glance-store-cinder-aio"


def call(method: str, url: str, body: Any = None, token: str | None = None,
         ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
    status, rh, payload = http(
        method, url, body, token,
        headers={"OpenStack-API-Version": "volume 3.54"}, timeout=60)
    if status not in ok:
        sys.exit("smoke: %s %s -> %d %s" % (method, url, status,
                                            str(payload)[:300]))
    return status, rh, payload


def wait_status(base: str, vid: str, token: str, wanted: str,
                timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = call("GET", base + "/volumes/" + vid, token=token,
                               ok=(200, 404))
        if status == 404:
            if wanted == "gone":
                return
        else:
            st = body["volume"]["status"]
            if st == wanted:
                return
            if st.startswith("error"):
                sys.exit("smoke: volume %s went to %s" % (vid, st))
        time.sleep(0.2)
    sys.exit("smoke: volume %s not %s within %ds" % (vid, wanted, timeout))


def main() -> None:
    with open(os.path.join(STATE, "env.json")) as f:
        env = json.load(f)
    user = env["service_user"]
    steps = []

    def step(name: str, t0: float) -> None:
        steps.append(name)
        print("smoke: %-22s %.2fs" % (name, time.monotonic() - t0))

    t0 = time.monotonic()
    _, rh, body = call("POST", env["auth_url"] + "/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user["username"], "password": user["password"],
            "domain": {"name": user["user_domain_name"]}}}},
        "scope": {"project": {"name": user["project_name"], "domain": {
            "name": user["project_domain_name"]}}}}})
    token = rh["X-Subject-Token"]
    base = env["cinder"]["endpoint_template"] % {
        "project_id": body["token"]["project"]["id"]}
    step("token", t0)

    t0 = time.monotonic()
    vol = call("POST", base + "/volumes", {"volume": {
        "size": 1, "name": "aio-smoke",
        "volume_type": env["volume_types"]["fast"]}}, token)[2]["volume"]
    wait_status(base, vol["id"], token, "available")
    step("volume available", t0)

    t0 = time.monotonic()
    connector = {"platform": "x86_64", "os_type": "linux", "ip": "127.0.0.1",
                 "host": "aio-smoke", "multipath": False}
    att = call("POST", base + "/attachments", {"attachment": {
        "volume_uuid": vol["id"], "connector": connector, "mode": "rw"}},
        token)[2]["attachment"]
    info = att["connection_info"]
    if info.get("export") != env["nfs"]["share"]:
        sys.exit("smoke: unexpected connection_info %s" % info)
    step("attachment create", t0)

    t0 = time.monotonic()
    call("POST", base + "/attachments/%s/action" % att["id"],
         {"os-complete": None}, token)
    wait_status(base, vol["id"], token, "in-use")
    step("attachment complete", t0)

    t0 = time.monotonic()
    call("DELETE", base + "/attachments/" + att["id"], token=token)
    wait_status(base, vol["id"], token, "available")
    step("attachment delete", t0)

    t0 = time.monotonic()
    call("DELETE", base + "/volumes/" + vol["id"], token=token)
    wait_status(base, vol["id"], token, "gone")
    step("volume delete", t0)

    if env["glance"]["enabled"]:
        t0 = time.monotonic()
        call("GET", env["glance"]["url"] + "/v2/images", token=token)
        step("glance list images", t0)
    print("smoke: ok (%d steps)" % len(steps))


if __name__ == "__main__":
    main()
