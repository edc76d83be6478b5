"""The size curve: which sizes a contender is asked, and its table."""

from __future__ import annotations

import dataclasses
import types
from typing import Any

from bench import chart
from bench import render
from bench.common import GiB
from bench.common import MiB
from bench.data import FULL
from bench.worker import Worker

UNKNOWN_LARGE = 3 * GiB // 2


@dataclasses.dataclass
class CurveOnly:
    """What ``Worker.curve`` uses of a worker: its samples so far, its
    profile, its info, and ``add_checked`` (here: a size that fails)."""

    fails: set[int]
    samples: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    profile: Any = FULL
    asked: list[str] = dataclasses.field(default_factory=list)

    @property
    def data(self) -> Any:
        return types.SimpleNamespace(slices=FULL.slices())

    def add_checked(self, workload: str, slice_name: str,
                    announced: int | None = None) -> bool:
        self.asked.append(workload)
        return int(workload.split("@")[1]) not in self.fails


def sample(workload: str, nbytes: int, ok: bool,
           outage: bool = False) -> dict[str, Any]:
    s = {"workload": workload, "contender": "in-tree", "round": 0,
         "seconds": 1.0 if ok else None, "bytes": nbytes, "ok": ok,
         "error": None if ok else "wrong bytes"}
    if outage:
        s["outage"] = True
    return s


def test_the_unknown_curve_leaves_its_non_whole_size_to_the_headline() -> None:
    assert 5 * GiB // 2 in FULL.curve_sizes("curve_known")
    assert 5 * GiB // 2 not in FULL.curve_sizes("curve_unknown")
    assert 4 * GiB in FULL.curve_sizes("curve_unknown")


def test_a_failed_size_stops_the_larger_ones() -> None:
    w = CurveOnly(fails={256 * MiB})
    Worker.curve(w, "curve_known", None)  # type: ignore[arg-type]
    assert w.asked == ["curve_known@%d" % (64 * MiB),
                       "curve_known@%d" % (256 * MiB)]
    assert w.info["not_asked"] == [
        "curve_known@%d (curve_known@%d failed)" % (n, 256 * MiB)
        for n in (5 * GiB // 2, 4 * GiB, 8 * GiB)]


def test_a_failed_headline_add_stops_the_larger_curve_sizes() -> None:
    w = CurveOnly(fails=set(), samples=[
        sample("add_unknown_small", GiB, ok=True),
        sample("add_unknown_large", UNKNOWN_LARGE, ok=False)])
    Worker.curve(w, "curve_unknown", 0)  # type: ignore[arg-type]
    assert w.asked == ["curve_unknown@%d" % n for n in (64 * MiB, 256 * MiB)]
    assert w.info["not_asked"] == [
        "curve_unknown@%d (add_unknown_large failed)" % n
        for n in (4 * GiB, 8 * GiB)]


def test_a_failed_known_size_headline_stops_the_larger_known_sizes() -> None:
    w = CurveOnly(fails=set(), samples=[sample("add_known", GiB, ok=False)])
    Worker.curve(w, "curve_known", None)  # type: ignore[arg-type]
    assert w.asked == ["curve_known@%d" % n for n in (64 * MiB, 256 * MiB)]
    assert len(w.info["not_asked"]) == 3


def test_a_headline_that_crashed_stops_only_above_its_image_size() -> None:
    # A workload that raised is recorded with 0 bytes: its image's size
    # is what counts, not the sample's.
    w = CurveOnly(fails=set(), samples=[
        sample("add_unknown_large", 0, ok=False)])
    Worker.curve(w, "curve_unknown", 0)  # type: ignore[arg-type]
    assert w.asked == ["curve_unknown@%d" % n for n in (64 * MiB, 256 * MiB)]


def test_an_outage_or_the_other_kind_does_not_stop_a_curve() -> None:
    w = CurveOnly(fails=set(), samples=[
        sample("add_unknown_large", UNKNOWN_LARGE, ok=False, outage=True),
        sample("add_known", GiB, ok=False)])
    Worker.curve(w, "curve_unknown", 0)  # type: ignore[arg-type]
    assert w.asked == ["curve_unknown@%d" % n
                       for n in FULL.curve_sizes("curve_unknown")]
    assert "not_asked" not in w.info


def row(workload: str, nbytes: int, seconds: float) -> dict[str, Any]:
    return {"workload": workload,
            "ours": {"status": "ok", "median_s": seconds, "bytes": nbytes},
            "in_tree": {"status": "ok", "median_s": 2 * seconds,
                        "bytes": nbytes},
            "paired": {}}


def test_the_table_has_the_headline_adds_at_their_sizes() -> None:
    summary = {"rows": [
        row("curve_known@%d" % (64 * MiB), 64 * MiB, 0.5),
        row("curve_unknown@%d" % (64 * MiB), 64 * MiB, 0.6),
        row("add_known", GiB, 4.0),
        row("add_unknown_small", GiB, 4.1),
        row("add_unknown_large", UNKNOWN_LARGE, 6.0)]}
    table = {line[0]: line for line in render.curve_table(summary)}
    assert list(table) == ["64 MiB", "1 GiB", "1.5 GiB"]
    assert table["1.5 GiB"][1:5] == ["-"] * 4      # no known-size add
    assert table["1.5 GiB"][5] != "-"
    assert table["1 GiB"][1] != "-" and table["1 GiB"][5] != "-"


def test_a_point_of_one_round_shows_that_round_s_ratio_as_the_chart() -> None:
    # One sample: the ratio against its own round's floor, not against
    # the floor of every round's limits (the chart's bar shows the same).
    point = row("curve_known@%d" % (64 * MiB), 64 * MiB, 0.5)
    point.update(ratio_floor=0.91, paired_floor={
        "median": 0.85, "q1": 0.85, "q3": 0.85, "n": 1})
    line, = render.curve_table({"rows": [point]})
    assert line[4] == "0.85x"
    assert chart._value(point, "ratio_floor") == 0.85
