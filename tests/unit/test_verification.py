"""Comparing data with Glance's record, and the hint about zeros."""

import hashlib
from typing import NoReturn

from glance_store_cinder import verification
from glance_store_cinder.verification import Expected
from glance_store_cinder.verification import Result
from tests.unit import harness


def _expected(data: bytes, algo: str = "sha512") -> Expected:
    return Expected(size=len(data), checksum=hashlib.md5(data).hexdigest(),
                    hash_algo=algo,
                    hash_value=hashlib.new(algo, data).hexdigest())


def _chunks(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_same_data_is_ok() -> None:
    data = harness.pattern(10_000)
    outcome = verification.compare(_expected(data), _chunks(data))
    assert outcome.result is Result.OK
    assert outcome.detail == "size, md5, sha512 match"
    assert (outcome.bytes_read, outcome.leading_zeros) == (10_000, 0)


def test_leading_zeros_are_measured_across_chunks() -> None:
    good = harness.pattern(3 * 8192)
    bad = bytes(2 * 8192 + 5) + good[2 * 8192 + 5:]
    outcome = verification.compare(_expected(good), _chunks(bad, 3000))
    assert outcome.result is Result.MISMATCH
    assert outcome.leading_zeros == 2 * 8192 + 5
    assert "md5 %s, Glance recorded" % hashlib.md5(bad).hexdigest() \
        in outcome.detail
    assert "sha512 differs" in outcome.detail
    assert "first 16389 bytes are zeros" in outcome.detail


def test_all_zeros_is_said_so() -> None:
    good = harness.pattern(9000)
    outcome = verification.compare(_expected(good), _chunks(bytes(9000)))
    assert outcome.result is Result.MISMATCH
    assert "all 9000 bytes are zeros" in outcome.detail


def test_a_difference_without_structure_gets_no_zeros_hint() -> None:
    good = harness.pattern(9000)
    bad = good[:5000] + b"\xff" + good[5001:]
    outcome = verification.compare(_expected(good), _chunks(bad))
    assert outcome.result is Result.MISMATCH
    assert "no leading run of zeros" in outcome.detail
    assert outcome.leading_zeros == 0


def test_short_leading_zeros_are_ordinary_data() -> None:
    good = bytes(512) + harness.pattern(9000)
    bad = good[:-1] + b"\x00"
    outcome = verification.compare(_expected(good), _chunks(bad))
    assert outcome.leading_zeros == 512
    assert "no leading run of zeros" in outcome.detail


def test_size_difference_is_reported() -> None:
    good = harness.pattern(9000)
    outcome = verification.compare(_expected(good), _chunks(good[:8000]))
    assert outcome.result is Result.MISMATCH
    assert "size 8000, Glance recorded 9000" in outcome.detail


def test_md5_only_when_the_multihash_algorithm_is_unknown_here() -> None:
    data = harness.pattern(100)
    expected = Expected(len(data), hashlib.md5(data).hexdigest(),
                        "no-such-hash", "00")
    outcome = verification.compare(expected, [data])
    assert outcome.result is Result.OK
    assert outcome.detail == ("size, md5 match (no-such-hash is not "
                              "available here)")


def test_nothing_recorded_is_skipped_without_reading() -> None:
    class NoStore:
        def get(self, *args: object, **kwargs: object) -> NoReturn:
            raise AssertionError("read although nothing can be compared")

    outcome = verification.verify(NoStore(), None,
                                  Expected(10, None, None, None))
    assert outcome.result is Result.SKIPPED
    assert not outcome.result.failed
