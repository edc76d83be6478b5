"""Whether an image's volume still holds what Glance recorded.

The volume is read through the store (``Store.get``: attach read-only,
stream, detach) and its size, md5 and multihash compared with Glance's
``size``, ``checksum`` and ``os_hash_algo``/``os_hash_value``.

Which bytes are wrong cannot be known (Glance keeps digests, not data),
but a corruption with a structure can be recognised.  The one met in the
field: glance_store's in-tree driver, on file-backed (NFS) volumes,
uploads of unknown size past 1 GiB read back with everything written
before the last extend as zeros.  So the length of the leading run of
zero bytes is measured, and reported when the digests differ.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Iterable
from typing import Any

from glance_store import exceptions as gs_exc

# Leading zeros shorter than this are ordinary data (boot sectors, headers
# padded with zeros), not worth a hint.
ZERO_RUN_HINT = 4096
_ZEROS = bytes(4 * 1024 * 1024)


class Result(enum.StrEnum):
    OK = "ok"
    MISMATCH = "MISMATCH"
    UNREADABLE = "unreadable"
    MISSING_VOLUME = "missing volume"
    SKIPPED = "skipped"

    @property
    def failed(self) -> bool:
        return self in (Result.MISMATCH, Result.UNREADABLE,
                        Result.MISSING_VOLUME)


@dataclasses.dataclass(frozen=True)
class Expected:
    """What Glance recorded of the image's data."""

    size: int | None
    checksum: str | None
    hash_algo: str | None
    hash_value: str | None

    @property
    def verifiable(self) -> bool:
        return bool(self.checksum or (self.hash_algo and self.hash_value))


@dataclasses.dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str
    bytes_read: int = 0
    leading_zeros: int | None = None
    """Length of the leading run of zero bytes, when the data was read."""


class DataDigest:
    """md5, the multihash, the size and the leading zeros of a stream."""

    def __init__(self, hash_algo: str | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.multihash = hashlib.new(hash_algo) if hash_algo else None
        self.size = 0
        self.leading_zeros = 0
        self._in_zero_run = True

    def update(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        if self.multihash is not None:
            self.multihash.update(chunk)
        if self._in_zero_run:
            self._count_zeros(chunk)
        self.size += len(chunk)

    def _count_zeros(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        for start in range(0, len(chunk), len(_ZEROS)):
            piece = view[start:start + len(_ZEROS)]
            if piece == _ZEROS[:len(piece)]:
                self.leading_zeros += len(piece)
                continue
            data = bytes(piece)
            self.leading_zeros += len(data) - len(data.lstrip(b"\0"))
            self._in_zero_run = False
            return


def _differences(expected: Expected, digest: DataDigest) -> list[str]:
    found = []
    if expected.size is not None and expected.size != digest.size:
        found.append("size %d, Glance recorded %d"
                     % (digest.size, expected.size))
    if expected.checksum and digest.md5.hexdigest() != expected.checksum:
        found.append("md5 %s, Glance recorded %s"
                     % (digest.md5.hexdigest(), expected.checksum))
    if (expected.hash_value and digest.multihash is not None
            and digest.multihash.hexdigest() != expected.hash_value):
        found.append("%s differs" % expected.hash_algo)
    return found


def _zeros_hint(digest: DataDigest) -> str:
    zeros = digest.leading_zeros
    if digest.size and zeros == digest.size:
        return "all %d bytes are zeros" % zeros
    if zeros >= ZERO_RUN_HINT:
        return ("first %d bytes are zeros (%s); data from offset %d on"
                % (zeros, _human(zeros), zeros))
    return "no leading run of zeros: the data differs somewhere"


def _human(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20),
                         ("KiB", 1 << 10)):
        if size >= factor:
            return "%.2f %s" % (size / factor, unit)
    return "%d bytes" % size


def _supported(algo: str | None) -> bool:
    return algo is None or algo in hashlib.algorithms_available


def _what_matched(expected: Expected, digest: DataDigest) -> str:
    matched = ["size"] if expected.size is not None else []
    if expected.checksum:
        matched.append("md5")
    if expected.hash_value and digest.multihash is not None:
        matched.append(str(expected.hash_algo))
    text = "%s match" % ", ".join(matched)
    if not _supported(expected.hash_algo):
        text += " (%s is not available here)" % expected.hash_algo
    return text


def compare(expected: Expected, chunks: Iterable[bytes]) -> Outcome:
    """Digest ``chunks`` and compare them with ``expected``."""
    digest = DataDigest(expected.hash_algo
                        if _supported(expected.hash_algo) else None)
    for chunk in chunks:
        digest.update(chunk)
    differences = _differences(expected, digest)
    if not differences:
        return Outcome(Result.OK, _what_matched(expected, digest),
                       digest.size, digest.leading_zeros)
    return Outcome(Result.MISMATCH,
                   "; ".join(differences) + "; " + _zeros_hint(digest),
                   digest.size, digest.leading_zeros)


def verify(store: Any, location: Any, expected: Expected,
           context: Any = None) -> Outcome:
    """Read the image at ``location`` through ``store`` and compare it."""
    if not expected.verifiable:
        return Outcome(Result.SKIPPED,
                       "Glance recorded no checksum or multihash")
    try:
        reader, _length = store.get(location, context=context)
    except gs_exc.NotFound as exc:
        return Outcome(Result.MISSING_VOLUME, str(exc))
    except Exception as exc:
        return Outcome(Result.UNREADABLE, "cannot attach: %s" % exc)
    try:
        with reader:
            return compare(expected, reader)
    except Exception as exc:
        return Outcome(Result.UNREADABLE, "read failed: %s" % exc)
