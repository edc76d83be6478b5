"""The worker's warm-up: every store its workloads use and its glance-api
at once, and a failed call fails the warm-up."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from bench import conf as bench_conf
from bench.worker import Worker


@dataclasses.dataclass
class WarmUpOnly:
    """What ``Worker.warm_up`` uses of a worker."""

    workloads: list[str]
    broken: set[str] = dataclasses.field(default_factory=set)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    called: list[str] = dataclasses.field(default_factory=list)
    stores: dict[str, Any] = dataclasses.field(default_factory=lambda: {
        s: object() for s in (bench_conf.STORE, bench_conf.BLOCK_STORE,
                              bench_conf.THIN_STORE,
                              bench_conf.LINGER_STORE)})

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: set[int] = set()

    @property
    def spec(self) -> dict[str, Any]:
        return {"workloads": self.workloads}

    def _call(self, name: str) -> None:
        with self.lock:
            self.called.append(name)
            self.threads.add(threading.get_ident())
        if name in self.broken:
            raise OSError("%s is broken" % name)

    def warm_up_store(self, store: str) -> None:
        self._call(store)

    def e2e_warm_up(self) -> None:
        self._call("glance-api")


def test_each_store_used_and_the_glance_api_once_each_in_threads() -> None:
    w = WarmUpOnly(["add_known", "block_get", "e2e_upload"])
    Worker.warm_up(w, stores=True, glance_api=True)  # type: ignore[arg-type]
    assert sorted(w.called) == sorted([bench_conf.STORE,
                                       bench_conf.BLOCK_STORE, "glance-api"])
    assert threading.get_ident() not in w.threads
    assert w.info["warm_up_s"] >= 0


def test_no_stores_no_store_warm_up() -> None:
    w = WarmUpOnly(["e2e_upload"])
    Worker.warm_up(w, stores=False, glance_api=True)  # type: ignore[arg-type]
    assert w.called == ["glance-api"]


def test_a_failed_call_fails_the_warm_up_after_the_others_ran() -> None:
    w = WarmUpOnly(["add_known", "sparse_thin"], broken={bench_conf.STORE})
    with pytest.raises(RuntimeError, match="1 of 2 warm-up calls failed"):
        Worker.warm_up(w, stores=True,  # type: ignore[arg-type]
                       glance_api=False)
    assert sorted(w.called) == sorted([bench_conf.STORE,
                                       bench_conf.THIN_STORE])
    assert "warm_up_s" not in w.info
