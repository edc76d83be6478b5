"""The gets' floor: the faster of the two cold device reads."""

from __future__ import annotations

from typing import Any

import pytest

from bench import summary
from bench.common import GiB

CYCLE_STEPS = {"create": 0.3, "attachment_create": 0.04,
               "attachment_update": 0.28, "connect": 0.08,
               "attachment_complete": 0.03, "disconnect": 0.0,
               "unmount": 0.01, "attachment_delete": 0.05}
ATTACH_DETACH = sum(v for k, v in CYCLE_STEPS.items() if k != "create")


def limit(workload: str, seconds: float, nbytes: int = GiB,
          **extra: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"workload": workload, "contender": "limit",
                         "round": 0, "seconds": seconds, "bytes": nbytes,
                         "ok": True, "error": None}
    if extra:
        s["extra"] = extra
    return s


def limits(*reads: tuple[str, float]) -> summary.Limits:
    return summary.limits_of([
        limit("cinder_cycle", sum(CYCLE_STEPS.values()), 0, **CYCLE_STEPS),
        *(limit(name, seconds) for name, seconds in reads)])


def test_the_faster_read_is_the_floor() -> None:
    got = summary.floor("get", GiB, None, limits(
        ("device_read", 2.7), ("device_read_drop_behind", 0.9)), 2)
    assert got is not None
    seconds, bound = got
    assert seconds == pytest.approx(0.9 + ATTACH_DETACH)
    assert bound == "read+attach"


def test_one_read_is_enough_for_a_floor() -> None:
    got = summary.floor("get", GiB, None, limits(("device_read", 1.2)), 2)
    assert got is not None
    assert got[0] == pytest.approx(1.2 + ATTACH_DETACH)


def test_no_read_no_floor() -> None:
    assert summary.floor("get", GiB, None, limits(), 2) is None


def test_the_read_ratio_is_against_the_faster_read() -> None:
    ours = {"status": "ok", "median_s": 1.0, "mib_s": 1024.0,
            "bytes": GiB}
    entry: dict[str, Any] = {}
    row = next(r for r in summary.ROWS if r.workload == "get")
    summary._limit_ratios(entry, row, ours, limits(
        ("device_read", 2.0), ("device_read_drop_behind", 0.5)), GiB)
    assert entry["ratio_read"] == pytest.approx(0.5)


def timed_limit(workload: str, seconds: float, **cpu: float
                ) -> dict[str, Any]:
    s = limit(workload, seconds)
    s["cpu"] = cpu
    return s


def test_an_add_is_bound_by_the_cheapest_way_to_write() -> None:
    # The direct write is both the fastest and the one with the fewest
    # CPU seconds: the floor's write and cpu parts are its.
    got = summary.add_bound(GiB, GiB, summary.limits_of([
        timed_limit("hash_md5", 1.0, thread_s=1.0),
        timed_limit("hash_sha512", 1.2, thread_s=1.2),
        timed_limit("device_write_paced", 1.25, write_busy_s=0.7),
        timed_limit("device_write_direct", 0.6, write_busy_s=0.2)]), 2)
    assert got is not None
    assert got["write"] == pytest.approx(0.6)
    assert got["cpu"] == pytest.approx((1.0 + 1.2 + 0.2) / 2)
