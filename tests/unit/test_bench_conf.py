"""Which stores a bench process warms up before its timed calls."""

from __future__ import annotations

import pytest

from bench import conf
from bench import render
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


ENV = {"volume_types": {"fast": "t-fast", "block": "t-block"},
       "keystone": {"auth_url": "http://keystone.example:5000/v3"},
       "service_user": {"username": "glance", "password": "secret",
                        "project_name": "service",
                        "user_domain_name": "Default",
                        "project_domain_name": "Default"},
       "os_brick": {"lock_path": "/l", "privsep_helper_command": "h"}}


def test_ours_options_reach_every_store_of_ours_only() -> None:
    options = conf.parse_options(["cinder_upload_direct_io=false"])
    ours = conf.conf_text(ENV, conf.OURS, "/w", options)
    in_tree = conf.conf_text(ENV, conf.INTREE, "/w", options)
    groups = ours.split("\n[")
    stores = [g for g in groups if g.split("]")[0] in CONFIGURED]
    assert len(stores) == 4
    assert all("cinder_upload_direct_io = false" in g for g in stores)
    assert "cinder_upload_direct_io" not in in_tree


@pytest.mark.parametrize("item", [
    "direct=false", "cinder_x", "cinder_upload_direct_io=",
    "cinder_upload_direct_io=1\n[DEFAULT]",
    "cinder_upload_direct_i0=false"])
def test_an_option_that_is_not_a_driver_option_is_refused(item: str) -> None:
    with pytest.raises(ValueError):
        conf.parse_options([item])


@pytest.mark.parametrize("options, says", [
    ({}, "direct writes (O_DIRECT"),
    ({"cinder_upload_direct_io": "False"}, "buffered writes")])
def test_the_write_strategy_is_the_run_s(options: dict[str, str],
                                         says: str) -> None:
    summary = {"rows": [{"workload": "add_known", "ours": {
        "phases_median_s": {"fsync": 0.05, "total": 1.8,
                            "transfer": 1.3}}}],
        "limits": {}, "ours_options": options}
    line, = render.strategy_lines(summary)
    assert line.startswith("file on the NFS export: " + says)
