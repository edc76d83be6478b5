"""The README's Performance table is made from the committed results."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest

from bench import readme_table

REPO = pathlib.Path(__file__).resolve().parents[2]


def paired(median: float, q1: float, q3: float, n: int = 5
           ) -> dict[str, Any]:
    return {"median": median, "q1": q1, "q3": q3, "n": n}


def row(workload: str, ours: float | None, in_tree: float | None,
        **extra: Any) -> dict[str, Any]:
    def side(s: float | None) -> dict[str, Any]:
        return ({"status": "ok", "median_s": s} if s is not None
                else {"status": "FAILED"})
    return {"workload": workload, "label": "x", "ours": side(ours),
            "in_tree": side(in_tree), **extra}


def documents() -> dict[str, dict[str, Any]]:
    """Every README row's workload in both modes: 2.0 s against 5.0 s."""
    rows = [row(w, 2.0, 5.0, paired_in_tree=paired(2.5, 2.25, 2.75),
                paired_floor=paired(0.812, 0.7, 0.9))
            for w in {w for _m, w, _l in readme_table.ROWS}]
    for r in rows:
        if r["workload"] == "add_small":
            r["label"] = "add 1 MiB x3, per image"
    doc = {"summary": {"rows": rows}}
    return {readme_table.DISK: doc, readme_table.TMPFS: copy.deepcopy(doc)}


def test_the_readme_table_is_the_committed_results() -> None:
    readme = (REPO / "README.rst").read_text()
    made = readme_table.table(readme_table.load(readme_table.RESULTS))
    assert readme_table.between(readme) == made


def test_a_row_shows_seconds_paired_ratio_and_floor() -> None:
    cells = readme_table.cells(documents())
    assert cells[0] == ("add 1 GiB, known size", "2.00", "5.00",
                        "2.50x [2.25-2.75]", "0.81x")
    assert ("add 1 MiB (3 images, per image)", "2.00", "5.00",
            "2.50x [2.25-2.75]", "0.81x") in cells


def test_a_failed_contender_no_ratio_and_no_floor_are_shown() -> None:
    docs = documents()
    rows = docs[readme_table.DISK]["summary"]["rows"]
    large = next(r for r in rows if r["workload"] == "add_unknown_large")
    large.update(in_tree={"status": "FAILED"}, paired_in_tree=None)
    upload = next(r for r in rows if r["workload"] == "e2e_upload")
    upload["paired_floor"] = None
    upload["paired_in_tree"] = paired(2.58, 2.47, 2.74, n=1)
    by_label = {c[0]: c for c in readme_table.cells(docs)}
    assert by_label["add 1.5 GiB, unknown size"][2:4] == ("FAILED", "\\-")
    assert by_label["glance-api upload 1 GiB, Content-Length"][3:] == (
        "2.58x", "\\-")


def test_a_missing_row_is_an_error_naming_it() -> None:
    docs = documents()
    rows = docs[readme_table.TMPFS]["summary"]["rows"]
    rows[:] = [r for r in rows if r["workload"] != "get"]
    with pytest.raises(ValueError, match="tmpfs results have no get row"):
        readme_table.cells(docs)


def test_write_replaces_only_the_table(tmp_path: pathlib.Path) -> None:
    before = ("Title\n\n%s\n\nold\n\n%s\n\nAfter.\n"
              % (readme_table.START, readme_table.END))
    made = readme_table.table(documents())
    after = readme_table.replaced(before, made)
    assert after.startswith("Title\n\n%s\n\n====" % readme_table.START)
    assert after.endswith("=\n\n%s\n\nAfter.\n" % readme_table.END)
    assert readme_table.between(after) == made
    assert readme_table.replaced(after, made) == after
    rule, header = made.split("\n")[:2]
    assert [len(c) for c in rule.split(" ")] == [39, 6, 7, 17, 5]
    assert header.startswith("workload (disk export unless named) ")


def test_a_file_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="table-start"):
        readme_table.replaced("no table here\n", "t")
