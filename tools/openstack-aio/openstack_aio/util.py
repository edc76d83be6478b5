"""Small helpers: commands, files, HTTP, bounded waits, phase timings."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from email.message import Message
from typing import Any
from typing import TypeVar

from openstack_aio.settings import HOST
from openstack_aio.settings import AioError
from openstack_aio.settings import say

T = TypeVar("T")
Sections = Mapping[str, Mapping[str, object]]

TIMINGS: dict[str, float] = {}


def mark(name: str, t_start: float) -> None:
    """Record and print how long phase ``name`` took since ``t_start``."""
    dt = time.monotonic() - t_start
    TIMINGS[name] = round(dt, 2)
    say("phase %s %.2fs" % (name, dt))


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    mark(name, t0)


def run(argv: Sequence[str], log: str | None = None,
        env: Mapping[str, str] | None = None, check: bool = True,
        timeout: float = 900, input: str | None = None,
        user: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command (as ``user`` if given); on failure raise AioError."""
    out = subprocess.run(list(argv), env=env, input=input,
                         capture_output=True, text=True, timeout=timeout,
                         user=user, group=user,
                         extra_groups=[] if user else None)
    if log:
        with open(log, "a") as f:
            f.write("$ %s\n%s%s" % (" ".join(argv), out.stdout, out.stderr))
    if check and out.returncode != 0:
        last = (out.stdout + out.stderr).strip().splitlines()[-40:]
        raise AioError("command failed (exit %d): %s\n%s" % (
            out.returncode, " ".join(argv), "\n".join(last)), [log])
    return out


def tail(path: str, n: int = 60) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        return "(cannot read %s: %s)" % (path, exc)
    return "\n".join(lines[-n:])


def write_if_changed(path: str, text: str, mode: int = 0o644) -> bool:
    """Write a file; return True when its content changed."""
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def ini(sections: Sections) -> str:
    """Render {section: {key: value}} as an ini file."""
    out = []
    for name, opts in sections.items():
        out.append("[%s]" % name)
        for key, value in opts.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            out.append("%s = %s" % (key, value))
        out.append("")
    return "\n".join(out)


def port_open(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http(method: str, url: str, body: object = None, token: str | None = None,
         headers: Mapping[str, str] | None = None,
         timeout: float = 30) -> tuple[int, Message, Any]:
    """Return (status, headers, parsed json or text)."""
    hdrs = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["X-Auth-Token"] = token
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, rh, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, rh, raw = exc.code, exc.headers, exc.read()
    text = raw.decode("utf-8", "replace")
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = text
    return status, rh, payload


def api(method: str, url: str, body: object = None, token: str | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        headers: Mapping[str, str] | None = None) -> tuple[Any, Message]:
    status, rh, payload = http(method, url, body, token, headers)
    if status not in ok:
        raise AioError("%s %s -> %d: %s" % (method, url, status,
                                            str(payload)[:800]))
    return payload, rh


def mkdirs(*dirs: str) -> None:
    for d in dirs:
        os.makedirs(d, exist_ok=True)


def wait_for(what: str, predicate: Callable[[], T], timeout: float,
             logs: Sequence[str | None]) -> T:
    """Poll ``predicate`` until it returns something true, at most timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
            last = result
        except AioError as exc:
            last = exc
        time.sleep(0.5)
    raise AioError("%s not reached within %ds (last: %s)" % (
        what, timeout, last), list(logs))


def tree_hash(*paths: str) -> str:
    h = hashlib.sha256()
    for top in paths:
        if os.path.isfile(top):
            files = [top]
        else:
            files = sorted(
                os.path.join(d, f) for d, dirs, fs in os.walk(top)
                for f in fs if "__pycache__" not in d)
        for f in files:
            h.update(os.path.relpath(f, top).encode() + b"\0")
            with open(f, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()
