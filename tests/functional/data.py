"""Image data of the functional tests: testing_support.imagedata's bytes
as request bodies and as what a read must give back."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from testing_support.imagedata import random_bytes

# The largest piece the tests hand out or compare at once.
BLOCK = 4 * 1024 * 1024


def expected_bytes(offset: int, size: int) -> bytes:
    return random_bytes(offset, size)


class PatternSource:
    """A file-like image of ``size`` bytes; hashes what it hands out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.md5 = hashlib.md5()
        self.sha512 = hashlib.sha512()

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.position
        n = min(n, self.size - self.position)
        data = expected_bytes(self.position, n)
        self.position += len(data)
        self.md5.update(data)
        self.sha512.update(data)
        return data


def check_stream(chunks: Iterable[bytes], size: int) -> tuple[str, str]:
    """Compare a read-back stream with the pattern; return its digests."""
    md5 = hashlib.md5()
    sha512 = hashlib.sha512()
    pos = 0
    for chunk in chunks:
        assert chunk == expected_bytes(pos, len(chunk)), \
            "bytes differ in [%d, %d)" % (pos, pos + len(chunk))
        md5.update(chunk)
        sha512.update(chunk)
        pos += len(chunk)
    assert pos == size, "read back %d bytes, expected %d" % (pos, size)
    return md5.hexdigest(), sha512.hexdigest()
