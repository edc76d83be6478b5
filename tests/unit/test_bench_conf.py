"""Which stores a bench process warms up before its timed calls."""

from __future__ import annotations

from bench import conf
from bench.hot import HOT_WORKLOADS
from bench.worker import Worker

CONFIGURED = [conf.STORE, conf.BLOCK_STORE, conf.THIN_STORE,
              conf.LINGER_STORE]


def test_headline_rounds_warm_only_the_main_store() -> None:
    assert conf.stores_used(["add_known", "get", "add_small"],
                            CONFIGURED) == [conf.STORE]


def test_each_other_store_is_warmed_with_its_workloads() -> None:
    assert conf.stores_used(["add_known", "sparse_thin", "block_get"],
                            CONFIGURED) == [conf.STORE, conf.BLOCK_STORE,
                                            conf.THIN_STORE]
    assert conf.stores_used(list(HOT_WORKLOADS), CONFIGURED) == [
        conf.STORE, conf.LINGER_STORE]


def test_a_store_the_contender_lacks_is_not_warmed() -> None:
    assert conf.stores_used(["sparse_thin"], [conf.STORE, conf.BLOCK_STORE]
                            ) == [conf.STORE]


def test_every_workload_named_there_exists() -> None:
    named = {w for ws in conf.OTHER_STORE_WORKLOADS.values() for w in ws}
    assert all(hasattr(Worker, "w_" + w) for w in named)
