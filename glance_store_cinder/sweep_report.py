"""How ``glance-store-cinder sweep`` shows what it found and did."""

from __future__ import annotations

import json
from typing import Any
from typing import TextIO

from glance_store_cinder.sweep import Finding
from glance_store_cinder.sweep import Report

COLUMNS = ("ACTION", "WHAT", "WHY", "AGE")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _row(finding: Finding) -> tuple[str, ...]:
    return (finding.action, finding.subject, finding.reason,
            _age(finding.age))


def write_table(out: TextIO, store: str, report: Report,
                applied: bool) -> None:
    out.write("store %s:\n" % store)
    for note in report.notes:
        out.write("  note: %s\n" % note)
    if not report.findings:
        out.write("  nothing to clean up\n")
        return
    rows = [COLUMNS] + [_row(f) for f in report.findings]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for row in rows:
        out.write("  " + "  ".join(cell.ljust(width) for cell, width
                                   in zip(row, widths, strict=True)).rstrip()
                  + "\n")
    if not applied:
        out.write("  dry run: %d to clean up; run again with --apply\n"
                  % len(report.findings))
        return
    out.write("  done: %d, failed: %d\n" % (len(report.done),
                                            len(report.failed)))
    for finding, why in report.failed:
        out.write("  FAILED %s (%s): %s\n" % (finding.action,
                                             finding.subject, why))


def as_json(store: str, report: Report, applied: bool) -> dict[str, Any]:
    return {
        "store": store, "applied": applied, "notes": report.notes,
        "found": [f.to_dict() for f in report.findings],
        "done": [f.to_dict() for f in report.done],
        "failed": [dict(f.to_dict(), error=why)
                   for f, why in report.failed],
    }


def write_json(out: TextIO, results: list[dict[str, Any]]) -> None:
    json.dump({"stores": results}, out, indent=2, sort_keys=True)
    out.write("\n")
