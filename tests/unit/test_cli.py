"""The command line: configuration, store selection, ``check``."""

import pathlib
from importlib import metadata

import pytest

from glance_store_cinder import cli
from tests.unit.cli_harness import CliEnv


@pytest.fixture
def cli_env(tmp_path: pathlib.Path) -> CliEnv:
    return CliEnv(tmp_path)


def test_console_script_runs_cli_main() -> None:
    [entry] = [e for e in metadata.entry_points(group="console_scripts")
               if e.name == "glance-store-cinder"]
    assert entry.load() is cli.main


def test_help_documents_exit_codes() -> None:
    text = cli.build_parser().format_help()
    assert "exit codes:" in text
    for command in ("check", "list", "verify"):
        assert command in text


def test_check_reports_each_store_of_this_driver_only(cli_env: CliEnv) -> None:
    ran = cli_env.run("check")
    assert (ran.code, ran.out) == (0, "fast: ok\nslow: ok\n")


def test_check_refuses_a_store_whose_volume_type_is_missing(
        cli_env: CliEnv) -> None:
    conf = cli_env.write_conf(cli_env.multi_groups(
        cinder_volume_type="no-such-type"))
    ran = cli_env.run("check", conf=conf)
    assert ran.code == 1
    lines = ran.out.splitlines()
    assert lines[0].startswith("fast: REFUSED: ")
    assert "no-such-type" in lines[0]
    assert lines[1] == "slow: ok"


def test_check_fails_a_store_with_invalid_options_and_goes_on(
        cli_env: CliEnv) -> None:
    conf = cli_env.write_conf(cli_env.multi_groups(
        cinder_state_transition_timeout=-1))
    ran = cli_env.run("check", "--json", conf=conf)
    assert ran.code == 1
    by_store = {s["store"]: s for s in ran.json()["stores"]}
    assert by_store["fast"]["result"] == "FAILED"
    assert "cinder_state_transition_timeout" in by_store["fast"]["reason"]
    assert by_store["slow"] == {"store": "slow", "result": "ok",
                                "reason": None}


def test_store_option_selects_stores(cli_env: CliEnv) -> None:
    ran = cli_env.run("check", "--store", "slow")
    assert (ran.code, ran.out) == (0, "slow: ok\n")


def test_unknown_store_is_a_usage_error(cli_env: CliEnv) -> None:
    ran = cli_env.run("check", "--store", "nope")
    assert ran.code == 2
    assert "no store nope" in ran.err
    assert "fast, slow" in ran.err
    assert ran.out == ""


def test_later_config_sources_override_earlier_ones(
        cli_env: CliEnv, tmp_path: pathlib.Path) -> None:
    conf_dir = tmp_path / "glance-api.conf.d"
    conf_dir.mkdir()
    (conf_dir / "50-fast.conf").write_text(
        "[fast]\ncinder_volume_type = no-such-type\n")
    ran = cli_env.run("check", "--config-dir", str(conf_dir))
    assert ran.code == 1
    assert ran.out.startswith("fast: REFUSED")
    later = cli_env.write_conf({"fast": {"cinder_volume_type":
                                         "glance-fast"}}, "late.conf")
    ran = cli_env.run("check", "--config-dir", str(conf_dir),
                      "--config-file", str(later))
    assert (ran.code, ran.out) == (0, "fast: ok\nslow: ok\n")


def test_missing_config_file_is_a_usage_error(cli_env: CliEnv,
                                              tmp_path: pathlib.Path) -> None:
    ran = cli_env.run("check", conf=tmp_path / "absent.conf")
    assert ran.code == 2
    assert "absent.conf" in ran.err


def test_single_store_mode_uses_glance_store_group(cli_env: CliEnv) -> None:
    conf = cli_env.write_conf({"glance_store": {
        "stores": "file, volume", "default_store": "cinder",
        **cli_env.env.store_group()}}, "single.conf")
    ran = cli_env.run("check", conf=conf)
    assert (ran.code, ran.out) == (0, "glance_store: ok\n")


def test_no_store_of_this_driver_is_a_usage_error(cli_env: CliEnv) -> None:
    multi = cli_env.write_conf({"DEFAULT": {"enabled_backends":
                                            "local:file"}}, "multi.conf")
    ran = cli_env.run("check", conf=multi)
    assert ran.code == 2
    assert "no store of type volume" in ran.err
    single = cli_env.write_conf({"glance_store": {"stores": "file"}},
                                "single.conf")
    ran = cli_env.run("check", conf=single)
    assert ran.code == 2
    assert "stores = volume" in ran.err
