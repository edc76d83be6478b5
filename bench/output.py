"""Writing a run's results: the console, ``<stem>.{json,md,png}``.

All three are written to temporary files first and renamed together only
when the run is accepted, so a rejected run never replaces the previous
results; its JSON is kept as ``<stem>.rejected.json`` for a look.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Callable
from typing import Any

from bench import chart
from bench import markdown
from bench import render
from bench.common import write_json

Log = Callable[[str], None]


def finite(obj: Any) -> Any:
    """JSON has no Infinity: write it as a string."""
    if isinstance(obj, float) and obj == float("inf"):
        return "inf"
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def console(summary: dict[str, Any], profile: Any, findings: list[str],
            log: Log) -> None:
    log("")
    log(render.text_table(summary))
    log("")
    for prefix, lines in (("limit", render.limits_text(summary, profile)),
                          ("cpu", render.cpu_lines(summary)),
                          ("phases", render.phase_lines(summary)),
                          ("curve", render.curve_lines(summary)),
                          ("strategy", render.strategy_lines(summary)),
                          ("sparse", render.sparse_lines(summary)),
                          ("target", render.target_lines(summary)),
                          ("finding", findings)):
        for line in lines:
            log("%s: %s" % (prefix, line))


def _chart(summary: dict[str, Any], run: dict[str, Any], path: str,
           log: Log) -> str | None:
    """Draw the chart; None when done, else why not (for the Markdown)."""
    title = "glance_store_cinder vs in-tree cinder driver (%s, %d " \
        "round(s), %d CPUs)" % (run["profile"], run["rounds"],
                                run["machine"]["nproc"])
    try:
        chart.chart(summary, path, title)
    except Exception as exc:
        log("bench: no chart: %s" % exc)
        return "(no chart: %s)" % exc
    return None


def publish(results: pathlib.Path, stem: str, doc: dict[str, Any],
            profile: Any, accepted: bool, log: Log) -> None:
    results.mkdir(parents=True, exist_ok=True)
    final = {ext: results / ("%s.%s" % (stem, ext))
             for ext in ("json", "md", "png")}
    tmp = {ext: p.with_name(p.name + ".tmp") for ext, p in final.items()}
    write_json(tmp["json"], finite(doc))
    if not accepted:
        os.replace(tmp["json"], results / ("%s.rejected.json" % stem))
        log("bench: run REJECTED (%s); %s.* kept, this run's JSON in "
            "%s/%s.rejected.json" % ("; ".join(doc["lost"]), stem,
                                     results, stem))
        return
    note = _chart(doc["summary"], doc["run"], str(tmp["png"]), log)
    md = markdown.markdown(doc["summary"], doc["run"], profile,
                           note or final["png"].name)
    tmp["md"].write_text(md + "\n", encoding="utf-8")
    for ext in ("png", "md", "json"):
        if tmp[ext].exists():
            os.replace(tmp[ext], final[ext])
        elif ext == "png":
            with contextlib.suppress(FileNotFoundError):
                final[ext].unlink()
    log("")
    log("bench: results in %s/%s.{json,md%s} (%.1f min)" % (
        results, stem, "" if note else ",png",
        doc["run"]["duration_s"] / 60))
