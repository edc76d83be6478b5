"""Where a run's time went: the timed calls are a part of it only.

The run's length is a target of its own (both export modes in under 30
minutes on the 2-CPU machine), and most of it is spent around the timed
calls: starting processes and their privsep daemons, warming stores up,
reading every image back to check it, deleting volumes, dropping the page
cache.  The orchestrator records each process here (its wall time, the
tidying before and after it) and each worker reports the wall time of
every workload it ran; :func:`account` adds them up for ``latest.md``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# Samples derived from other samples' calls (the "... until on disk"
# rows add the fsync to the add; md5 then sha512 is the sum of the two):
# not time of their own.
_DERIVED_SUFFIX = "_durable"
_DERIVED = ("hash_serial",)
# The contender of the limits' samples (bench/baseline.py), whose
# process is one part, "limits".
LIMIT = "limit"


@dataclasses.dataclass
class Process:
    """One child process of the run, as the orchestrator saw it."""

    who: str
    round: int
    wall_s: float
    tidy_s: float
    info: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"who": self.who, "round": self.round, "wall_s": self.wall_s,
                "tidy_s": self.tidy_s,
                "setup_s": self.setup_s(),
                "workloads_s": dict(self.info.get("wall", {}))}

    def setup_s(self) -> float:
        """Configuring the stores and the untimed warm-up calls (the
        end-to-end warm-up has its own key in runs recorded before the
        warm-ups ran together)."""
        return sum(float(self.info.get(k, 0.0)) for k in (
            "configure_s", "warm_up_s", "e2e_warm_up_s"))


def _family(workload: str) -> str:
    """A curve sample ``curve_known@<bytes>`` belongs to ``curve_known``."""
    return workload.split("@", 1)[0]


def timed_by_workload(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds inside timed calls, per workload (derived rows excluded)."""
    out: dict[str, float] = {}
    for s in samples:
        name = ("limits" if s.get("contender") == LIMIT
                else _family(s["workload"]))
        if (name.endswith(_DERIVED_SUFFIX) or s["workload"] in _DERIVED
                or not s.get("seconds")):
            continue
        out[name] = out.get(name, 0.0) + float(s["seconds"])
    return out


def account(processes: list[dict[str, Any]], samples: list[dict[str, Any]],
            duration_s: float, before_rounds_s: float) -> dict[str, Any]:
    """The run's time by part; every figure is a sum over the run."""
    timed = timed_by_workload(samples)
    by_workload: dict[str, dict[str, float]] = {}
    parts = {"before the rounds (environment, data, glance-api)":
             before_rounds_s, "process start and exit": 0.0,
             "stores configured and warmed up": 0.0,
             "tidying between processes": 0.0}
    for p in processes:
        parts["tidying between processes"] += p["tidy_s"]
        parts["stores configured and warmed up"] += p["setup_s"]
        inside = sum(p["workloads_s"].values())
        parts["process start and exit"] += max(
            0.0, p["wall_s"] - p["setup_s"] - inside)
        for name, wall in p["workloads_s"].items():
            row = by_workload.setdefault(name, {"wall_s": 0.0,
                                                "timed_s": 0.0})
            row["wall_s"] += wall
    for name, row in by_workload.items():
        row["timed_s"] = timed.get(name, 0.0)
    accounted = sum(parts.values()) + sum(
        r["wall_s"] for r in by_workload.values())
    parts["not accounted"] = max(0.0, duration_s - accounted)
    return {"duration_s": duration_s, "parts": parts,
            "workloads": by_workload}


def lines(spent: dict[str, Any] | None) -> list[str]:
    """``latest.md``'s list: the largest workloads first."""
    if not spent:
        return []
    total = spent["duration_s"]

    def share(s: float) -> str:
        return "%.1f min (%.0f %%)" % (s / 60, 100 * s / total if total
                                       else 0)

    out = ["the whole run: %.1f min" % (total / 60)]
    rows = sorted(spent["workloads"].items(),
                  key=lambda kv: -kv[1]["wall_s"])
    for name, row in rows:
        out.append("%s: %s, of which %.1f min inside the timed calls"
                   % (name, share(row["wall_s"]), row["timed_s"] / 60))
    for name, secs in spent["parts"].items():
        out.append("%s: %s" % (name, share(secs)))
    return out
