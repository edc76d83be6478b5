"""Statistics over samples: medians, spreads, quartiles, paired ratios."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from bench.common import MiB

Sample = dict[str, Any]
Stats = dict[str, Any]


def is_ok(s: Stats | None) -> bool:
    return bool(s and s.get("status") == "ok")


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, quartiles and interquartile range of ``values``."""
    xs = sorted(values)
    med = statistics.median(xs)
    if len(xs) > 1:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1 = q3 = med
    return {"median": med, "q1": q1, "q3": q3, "iqr": q3 - q1,
            "min": xs[0], "max": xs[-1], "n": len(xs)}


def medians_of(dicts: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the median over the dicts that have it."""
    keys: dict[str, None] = {}
    for d in dicts:
        keys.update(dict.fromkeys(d))
    return {k: statistics.median(d[k] for d in dicts if k in d)
            for k in keys}


def stats(samples: list[Sample]) -> Stats | None:
    if not samples:
        return None
    # Lost to an outage of the environment: nobody's failure, no time.
    outages = [s for s in samples if s.get("outage")]
    samples = [s for s in samples if not s.get("outage")]
    if not samples:
        return {"n": 0, "failed": 0, "outages": len(outages),
                "status": "not measured"}
    failed = [s for s in samples if not s["ok"]]
    out: Stats = {"n": len(samples), "failed": len(failed)}
    if failed:
        out["status"] = "FAILED"
        out["error"] = failed[0]["error"]
        out["failed_rounds"] = sorted({s["round"] for s in failed})
        return out
    secs = sorted(s["seconds"] for s in samples)
    med = statistics.median(secs)
    nbytes = samples[0]["bytes"]
    out.update({
        "status": "ok",
        "median_s": med,
        "min_s": secs[0],
        "max_s": secs[-1],
        "spread_pct": 100.0 * (secs[-1] - secs[0]) / med if med else 0.0,
        "bytes": nbytes,
        "mib_s": nbytes / MiB / med if med and nbytes else None,
    })
    out.update(_extras(samples))
    return out


def _extras(samples: list[Sample]) -> Stats:
    out: Stats = {}
    alloc = [s["extra"]["allocated"] for s in samples
             if s.get("extra", {}).get("allocated") is not None]
    if alloc:
        out["allocated_median"] = statistics.median(alloc)
    steps = [s["extra"] for s in samples if s.get("extra")
             and "create" in s["extra"]]
    if steps:
        out["steps_median_s"] = medians_of(steps)
    cpu = [s["cpu"] for s in samples if s.get("cpu")]
    if cpu:
        out["cpu_median_s"] = medians_of(cpu)
    io = [s["io"] for s in samples if s.get("io")]
    if io:
        out["io_median_bytes"] = medians_of(io)
    phases = [s["phases"] for s in samples if s.get("phases")]
    if phases:
        out["phases_median_s"] = medians_of(phases)
    return out


def per_round(samples: list[Sample]) -> dict[int, float]:
    """Median seconds per round, rounds where every sample is good."""
    by: dict[int, list[Sample]] = {}
    for s in samples:
        if not s.get("outage"):
            by.setdefault(s["round"], []).append(s)
    return {r: statistics.median(s["seconds"] for s in ss)
            for r, ss in by.items() if all(s["ok"] for s in ss)}


def paired(numerators: dict[int, float], denominators: dict[int, float]
           ) -> dict[str, Any] | None:
    """Round by round ``numerator / denominator``, and their spread."""
    rounds = sorted(set(numerators) & set(denominators))
    ratios = [numerators[r] / denominators[r] for r in rounds
              if denominators[r]]
    if not ratios:
        return None
    return dict(spread(ratios), rounds=rounds, ratios=ratios)
