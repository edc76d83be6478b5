"""Workloads a contender failed: not asked of it again in later rounds.

A failure (wrong data, an error; not an outage of the environment) makes
its row FAILED whatever the other rounds give, so repeating it only
costs the run time: the in-tree driver's unknown-size adds above 1 GiB
write their whole image before the check finds it wrong.  The row says
in which round it failed and that it was not repeated.
"""

from __future__ import annotations

from typing import Any


def workload_of(sample: dict[str, Any]) -> str:
    # A curve workload reports one sample per size: "<name>@<bytes>".
    return str(sample["workload"]).split("@")[0]


class Failures:
    def __init__(self) -> None:
        self.first: dict[tuple[str, str], int] = {}  # (who, workload): round
        self.skipped: dict[tuple[str, str], list[int]] = {}

    def take(self, who: str, rnd: int, samples: list[dict[str, Any]]
             ) -> None:
        for s in samples:
            if not s["ok"] and not s.get("outage"):
                self.first.setdefault((who, workload_of(s)), rnd)

    def still_asked(self, who: str, workloads: list[str], rnd: int
                    ) -> list[str]:
        """Of round ``rnd``'s ``workloads``, those ``who`` has not failed
        yet (the others are remembered for :meth:`findings`)."""
        for w in workloads:
            if (who, w) in self.first:
                self.skipped.setdefault((who, w), []).append(rnd)
        return [w for w in workloads if (who, w) not in self.first]

    def findings(self) -> list[str]:
        return ["%s: %s FAILED in round %d, not repeated in round(s) %s"
                % (who, w, self.first[(who, w)],
                   ", ".join(str(r) for r in rounds))
                for (who, w), rounds in sorted(self.skipped.items())]
