"""What the demo prints: its steps, checks, and progress bars."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

MiB = 1024 * 1024
STEPS = 7


class DemoError(Exception):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


def step(n: int, text: str) -> None:
    say("\n== %d/%d %s" % (n, STEPS, text))


def check(ok: Any, message: str) -> None:
    if not ok:
        raise DemoError(message)


class Progress:
    """A progress bar on a terminal; a line per quarter otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.shown = -1.0
        self.quarter = 0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty:
            if now - self.shown >= 0.1 or self.done >= self.total:
                self.shown = now
                sys.stdout.write("\r   " + self._line(now))
                sys.stdout.flush()
        else:
            while (self.quarter < 4 and self.total
                   and self.done * 4 >= (self.quarter + 1) * self.total):
                self.quarter += 1
                say("   " + self._line(now))

    def _line(self, now: float) -> str:
        frac = self.done / self.total if self.total else 1.0
        width = 30
        fill = int(frac * width)
        rate = self.done / MiB / max(now - self.start, 1e-6)
        return "%-8s [%s%s] %3d%% %4d/%d MiB %6.1f MiB/s" % (
            self.label, "#" * fill, "." * (width - fill), frac * 100,
            self.done // MiB, self.total // MiB, rate)

    def finish(self) -> float:
        elapsed = time.monotonic() - self.start
        if self.tty:
            sys.stdout.write("\r   " + self._line(time.monotonic()) + "\n")
            sys.stdout.flush()
        return elapsed


class UploadFile:
    """The image file as a request body with a length (Content-Length)."""

    def __init__(self, path: str, progress: Progress) -> None:
        self.f = open(path, "rb")
        self.left = os.path.getsize(path)
        self.progress = progress

    def __len__(self) -> int:
        return self.left

    def read(self, n: int = -1) -> bytes:
        chunk = self.f.read(n if n and n > 0 else MiB)
        self.left -= len(chunk)
        self.progress.add(len(chunk))
        return chunk

    def close(self) -> None:
        self.f.close()
