"""The README's Performance table, made from the two modes' results.

``python -m bench.readme_table`` prints the table of
``bench/results/latest.json`` (disk export) and ``latest-tmpfs.json``;
``--write README.rst`` puts it between the file's ``.. table-start`` and
``.. table-end`` comments.  A unit test checks that the README's table is
this module's output for the committed results, so no figure in it is
copied by hand.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
from typing import Any

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
START, END = ".. table-start", ".. table-end"
DISK, TMPFS = "disk", "tmpfs"

# (mode, workload, label); a label ending in ", tmpfs export" names the
# mode, the others are the disk export's (the header says so).
ROWS: tuple[tuple[str, str, str], ...] = (
    (DISK, "add_known", "add 1 GiB, known size"),
    (TMPFS, "add_known", "add 1 GiB, known size, tmpfs export"),
    (DISK, "block_add_known", "add 1 GiB, known size, block backend"),
    (DISK, "add_unknown_small", "add 1 GiB, unknown size"),
    (TMPFS, "add_unknown_small", "add 1 GiB, unknown size, tmpfs export"),
    (DISK, "add_unknown_large", "add 1.5 GiB, unknown size"),
    (DISK, "add_small", "add 1 MiB ({count} images, per image)"),
    (TMPFS, "add_small", "add 1 MiB, tmpfs export"),
    (DISK, "get", "get 1 GiB, cold cache"),
    (TMPFS, "get", "get 1 GiB, cold cache, tmpfs export"),
    (DISK, "block_get", "get 1 GiB, cold cache, block backend"),
    (DISK, "concurrent_add", "4 concurrent adds of 256 MiB"),
    (TMPFS, "concurrent_add", "4 concurrent adds, tmpfs export"),
    (DISK, "concurrent_get", "4 concurrent gets of 256 MiB"),
    (TMPFS, "concurrent_get", "4 concurrent gets, tmpfs export"),
    (DISK, "sparse_thin", "1 GiB sparse raw, thin provisioning"),
    (DISK, "e2e_upload", "glance-api upload 1 GiB, Content-Length"),
    (DISK, "e2e_download", "glance-api download 1 GiB, cold cache"),
)
HEAD = ("workload (disk export unless named)", "ours s", "in-tree", "ratio",
        "floor")
NONE = "\\-"  # an empty cell of an RST table must not be a bare "-"


def _seconds(side: dict[str, Any]) -> str:
    if side.get("status") != "ok":
        return "FAILED"
    return "%.2f" % side["median_s"]


def _paired(paired: dict[str, Any] | None, with_quartiles: bool) -> str:
    if not paired:
        return NONE
    if with_quartiles and paired["n"] >= 2:
        return "%.2fx [%.2f-%.2f]" % (paired["median"], paired["q1"],
                                      paired["q3"])
    return "%.2fx" % paired["median"]


def _count(row: dict[str, Any]) -> str:
    found = re.search(r"x(\d+)", row["label"])
    if not found:
        raise ValueError("no image count in the label %r" % row["label"])
    return found.group(1)


def cells(documents: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """One tuple of cells per README row, from each mode's document."""
    out: list[tuple[str, ...]] = []
    for mode, workload, label in ROWS:
        rows = {r["workload"]: r for r in documents[mode]["summary"]["rows"]}
        if workload not in rows:
            raise ValueError("%s results have no %s row" % (mode, workload))
        row = rows[workload]
        if "{count}" in label:
            label = label.format(count=_count(row))
        out.append((label, _seconds(row["ours"]), _seconds(row["in_tree"]),
                    _paired(row.get("paired_in_tree"), True),
                    _paired(row.get("paired_floor"), False)))
    return out


def table(documents: dict[str, dict[str, Any]]) -> str:
    """An RST simple table: the header, the rows, rules sized to fit."""
    body = cells(documents)
    widths = [max(len(c[i]) for c in (HEAD, *body))
              for i in range(len(HEAD))]
    rule = " ".join("=" * w for w in widths)

    def line(row: tuple[str, ...]) -> str:
        return " ".join(c.ljust(w) for c, w in zip(row, widths,
                                                      strict=True)).rstrip()
    return "\n".join([rule, line(HEAD), rule, *map(line, body), rule])


def replaced(text: str, new_table: str) -> str:
    """``text`` with what lies between the markers made ``new_table``."""
    try:
        head, rest = text.split(START + "\n", 1)
        _, tail = rest.split(END + "\n", 1)
    except ValueError:
        raise ValueError("the file has no %r ... %r pair of lines"
                         % (START, END)) from None
    return "%s%s\n\n%s\n\n%s\n%s" % (head, START, new_table, END, tail)


def between(text: str) -> str:
    """The table now between the markers (stripped)."""
    return text.split(START + "\n", 1)[1].split(END + "\n", 1)[0].strip()


def load(results: pathlib.Path) -> dict[str, dict[str, Any]]:
    return {DISK: json.loads((results / "latest.json").read_text()),
            TMPFS: json.loads((results / "latest-tmpfs.json").read_text())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme_table",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS,
                        help="directory of latest.json and latest-tmpfs.json")
    parser.add_argument("--write", type=pathlib.Path, metavar="RST",
                        help="replace the table in this file")
    args = parser.parse_args(argv)
    new_table = table(load(args.results))
    if args.write:
        args.write.write_text(replaced(args.write.read_text(), new_table))
    else:
        sys.stdout.write(new_table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
