"""A workload a contender failed is not asked of it again."""

from __future__ import annotations

from typing import Any

from bench.failed import Failures

WORKLOADS = ["add_known", "add_unknown_large", "curve_unknown"]


def sample(workload: str, ok: bool, outage: bool = False) -> dict[str, Any]:
    s: dict[str, Any] = {"workload": workload, "ok": ok}
    if outage:
        s["outage"] = True
    return s


def test_a_failed_workload_is_dropped_for_that_contender_only() -> None:
    f = Failures()
    f.take("in-tree", 0, [sample("add_known", True),
                          sample("add_unknown_large", False)])
    assert f.still_asked("in-tree", WORKLOADS, 1) == [
        "add_known", "curve_unknown"]
    assert f.still_asked("ours", WORKLOADS, 1) == WORKLOADS


def test_an_outage_is_not_a_failure() -> None:
    f = Failures()
    f.take("ours", 0, [sample("add_known", False, outage=True)])
    assert f.still_asked("ours", WORKLOADS, 1) == WORKLOADS
    assert f.findings() == []


def test_one_failed_size_of_a_curve_drops_the_curve() -> None:
    f = Failures()
    f.take("in-tree", 0, [sample("curve_unknown@67108864", True),
                          sample("curve_unknown@4294967296", False)])
    assert "curve_unknown" not in f.still_asked("in-tree", WORKLOADS, 1)


def test_findings_name_the_failed_round_and_the_skipped_ones() -> None:
    f = Failures()
    f.take("in-tree", 0, [sample("add_unknown_large", False)])
    f.still_asked("in-tree", WORKLOADS, 1)
    f.take("in-tree", 1, [])
    f.still_asked("in-tree", WORKLOADS, 2)
    assert f.findings() == [
        "in-tree: add_unknown_large FAILED in round 0, not repeated in "
        "round(s) 1, 2"]
