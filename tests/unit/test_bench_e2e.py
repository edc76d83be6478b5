"""The bench's end-to-end rows: the pieces that need no stack."""

from __future__ import annotations

import base64
import configparser
import hashlib
import os
import pathlib

from bench import cpu
from bench import e2e
from bench import summary
from bench import targets
from bench.data import QUICK
from testing_support import second_api


def test_tree_between_counts_new_processes_whole() -> None:
    start = {1: (1.0, 0.5), 2: (2.0, 1.0)}
    end = {1: (1.5, 0.75), 2: (2.0, 1.25), 3: (0.25, 0.25)}
    assert cpu.tree_between(start, end) == {"api_user_s": 0.75,
                                            "api_sys_s": 0.75}


def test_tree_times_of_this_process() -> None:
    tree = cpu.tree_times(os.getpid())
    assert os.getpid() in tree
    assert all(u >= 0 and s >= 0 for u, s in tree.values())


def test_tree_times_of_no_process() -> None:
    assert cpu.tree_times(2 ** 22 + 1) == {}


def test_content_md5_hex_or_base64() -> None:
    digest = hashlib.md5(b"x", usedforsecurity=False)
    assert e2e._md5_hex(digest.hexdigest()) == digest.hexdigest()
    assert e2e._md5_hex(base64.b64encode(digest.digest()).decode()) \
        == digest.hexdigest()


def _row(workload: str, ratios: list[float]) -> dict[str, object]:
    ok = {"status": "ok", "median_s": 1.0}
    return {"workload": workload, "label": workload, "ours": ok,
            "in_tree": ok, "paired_in_tree": {"median": sorted(ratios)[
                len(ratios) // 2]}}


def test_upload_target_is_one_and_a_half_times_in_tree() -> None:
    got = targets.evaluate([_row("e2e_upload", [1.4, 1.7, 1.8]),
                            _row("e2e_download", [0.5])])
    [upload] = [t for t in got if t["target"].startswith("e2e_upload")]
    assert (upload["goal"], upload["op"], upload["met"]) == (1.5, ">=",
                                                             True)
    assert not [t for t in got if "e2e_download" in t["target"]]


def test_rows_have_labels_without_floor() -> None:
    samples = [{"workload": w, "contender": c, "round": 0, "seconds": s,
                "bytes": QUICK.known, "ok": True, "error": None}
               for w in e2e.E2E_WORKLOADS
               for c, s in (("ours", 2.0), ("in-tree", 4.0))]
    out = summary.summarize(samples, QUICK, {}, 2)
    rows = {r["workload"]: r for r in out["rows"]}
    assert rows["e2e_upload"]["label"].startswith("glance-api: upload "
                                                  "256 MiB")
    assert rows["e2e_upload"]["paired_in_tree"]["median"] == 2.0
    assert "floor_s" not in rows["e2e_download"]


def test_second_conf_in_tree_keeps_the_stack_stores(
        tmp_path: pathlib.Path) -> None:
    stack = tmp_path / "glance-api.conf"
    stack.write_text(
        "[DEFAULT]\nenabled_backends = fast:volume,slow:volume\n"
        "bind_port = 9292\n"
        "[os_glance_staging_store]\nfilesystem_store_datadir = /s\n"
        "[os_glance_tasks_store]\nfilesystem_store_datadir = /t\n"
        "[fast]\ncinder_volume_type = glance-fast\n"
        "[slow]\ncinder_volume_type = glance-slow\n")
    text = second_api.second_conf(str(stack), second_api.Driver.IN_TREE,
                                  tmp_path, "/log")
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    assert conf["DEFAULT"]["enabled_backends"] == "fast:cinder,slow:cinder"
    assert conf["DEFAULT"]["public_endpoint"] == second_api.URL
    assert conf["fast"]["cinder_volume_type"] == "glance-fast"
    assert conf["os_glance_staging_store"]["filesystem_store_datadir"] \
        == str(tmp_path / "staging")
