"""The targets (issue 11, disk-backed export), evaluated, never asserted.

Ratios are the paired per-round medians where there are rounds to pair,
else the ratio of the medians.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]

# ours / in-tree throughput goals, also drawn on the chart (the 1 MiB row:
# 1 / latency, so 2.0 is half the latency).
IN_TREE_GOALS = {"add_known": 1.6, "add_unknown_small": 2.0,
                 "add_unknown_large": 2.0, "add_small": 2.0, "get": 1.0,
                 "concurrent_add": 1.5, "concurrent_get": 1.5,
                 "e2e_upload": 1.5}
FLOOR_GOAL = 0.8
SMALL_OVERHEAD_MS = 50.0


def ratio(row: Row, key: str) -> float | None:
    """The paired median of ``key`` ("in_tree", "floor"), else the ratio
    of the medians."""
    pair = row.get("paired_" + key)
    if pair:
        return float(pair["median"])
    value = row.get("ratio_" + key)
    return None if value is None else float(value)


def _ok(row: Row | None, who: str) -> bool:
    return bool(row and row.get(who) and row[who].get("status") == "ok")


class _Targets:
    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []

    def add(self, name: str, value: float | None, op: str, goal: float,
            text: str, note: str = "") -> None:
        met = None if value is None else (value >= goal if op == ">="
                                          else value <= goal)
        self.out.append({"target": name, "value": value, "goal": goal,
                         "op": op, "met": met, "text": text, "note": note})


def evaluate(rows: list[Row]) -> list[dict[str, Any]]:
    by = {r["workload"]: r for r in rows}
    t = _Targets()
    for w in ("add_known", "add_unknown_small", "add_unknown_large",
              "get", "concurrent_add", "concurrent_get", "e2e_upload"):
        r = by.get(w)
        if r is None:
            continue
        value, note = ratio(r, "in_tree"), ""
        if _ok(r, "ours") and r.get("in_tree") and \
                r["in_tree"].get("status") == "FAILED":
            note = "in-tree FAILED (%s); ours correct" % (
                str(r["in_tree"].get("error"))[:60])
            value = float("inf")
        t.add("%s vs in-tree" % r["label"], value, ">=", IN_TREE_GOALS[w],
              "ours/in-tree throughput", note)
        if w in ("add_known", "get"):
            t.add("%s vs the physical floor" % r["label"],
                  ratio(r, "floor"), ">=", FLOOR_GOAL, "floor/ours")
    if "add_small" in by:
        r = by["add_small"]
        lat = ratio(r, "in_tree")
        t.add("1 MiB add latency vs in-tree",
              None if not lat else 1 / lat, "<=", 0.5,
              "ours/in-tree latency")
        t.add("1 MiB add overhead over Cinder's own time",
              r.get("overhead_ms"), "<=", SMALL_OVERHEAD_MS,
              "ms, ours minus create+attach+detach")
    _sparse(by, t)
    return t.out


def _sparse(by: dict[str, Row], t: _Targets) -> None:
    if not (_ok(by.get("sparse_thin"), "ours")
            and _ok(by.get("sparse_dense"), "ours")):
        return
    thin, dense = by["sparse_thin"]["ours"], by["sparse_dense"]["ours"]
    t.add("sparse add, thin vs dense", dense["median_s"]
          / thin["median_s"], ">=", 3.0, "ours thin / ours dense "
          "throughput")
    data = by["sparse_thin"].get("data_bytes")
    alloc = thin.get("allocated_median")
    if data and alloc is not None:
        t.add("sparse add, allocated / data (thin)", alloc / data, "<=",
              1.1, "backing file's allocated bytes / data bytes")
