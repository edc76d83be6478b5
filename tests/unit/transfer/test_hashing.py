import hashlib
import os

import pytest

from glance_store_cinder.transfer.hashing import OverlappedHashes


def test_digests_equal_serial_hashing() -> None:
    chunks = [os.urandom(n) for n in (1, 4096, 1 << 20, 3)]
    hashes = OverlappedHashes(["md5", "sha512"])
    for c in chunks:
        hashes.update(c)
    out = hashes.finish()
    data = b"".join(chunks)
    assert out["md5"] == hashlib.md5(data).hexdigest()
    assert out["sha512"] == hashlib.sha512(data).hexdigest()


def test_same_algorithm_twice_is_hashed_once() -> None:
    hashes = OverlappedHashes(["md5", "md5"])
    hashes.update(b"abc")
    assert hashes.finish() == {"md5": hashlib.md5(b"abc").hexdigest()}


def test_unknown_algorithm_fails_before_any_thread_starts() -> None:
    with pytest.raises(ValueError):
        OverlappedHashes(["md5", "no-such-hash"])


def test_abort_with_full_queues_does_not_block() -> None:
    hashes = OverlappedHashes(["sha512"])
    for _ in range(20):
        hashes.update(b"x" * 1024)
    hashes.abort()
