"""The journal: atomic records, owners judged by pid and start time."""

import json
import logging
import os
import pathlib
import stat

import pytest

from glance_store_cinder import journal as jr
from glance_store_cinder.owners import Owner
from glance_store_cinder.owners import Owners
from glance_store_cinder.owners import ProcFs
from glance_store_cinder.owners import parse_start_time
from tests.unit.fakes.processes import FakeProcessTable


@pytest.fixture
def table() -> FakeProcessTable:
    return FakeProcessTable()


@pytest.fixture
def journal(tmp_path: pathlib.Path, table: FakeProcessTable) -> jr.Journal:
    return jr.Journal(str(tmp_path / "journal"), "fast",
                      Owners(table, lambda: "host-1"),
                      wall_clock=lambda: 1234.5)


def test_record_is_written_whole_private_and_read_back(
        journal: jr.Journal, table: FakeProcessTable) -> None:
    record = journal.begin(jr.VOLUME, image_id="i-1", name="image-i-1")
    path = os.path.join(journal.directory, record.filename)
    assert stat.S_IMODE(os.stat(journal.directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = json.loads(open(path).read())
    assert raw["owner"] == {"host": "host-1", "boot_id": table.boot,
                            "pid_namespace": table.namespace,
                            "pid": table.pid,
                            "start_time": table.running[table.pid]}
    assert raw["created"] == 1234.5 and raw["store"] == "fast"
    assert journal.records() == [record]
    assert os.listdir(journal.directory) == [record.filename]


def test_update_and_remove(journal: jr.Journal) -> None:
    record = journal.begin(jr.ATTACHMENT, volume_id="v", mode="ro")
    child = journal.begin(jr.CONNECTION, record, volume_id="v")
    record = journal.update(record, attachment_id="a")
    assert journal.records(jr.ATTACHMENT) == [record]
    assert record.get("attachment_id") == "a"
    assert journal.children(record) == [child]
    journal.remove(child)
    journal.remove(child)  # idempotent
    assert journal.children(record) == []


def test_other_stores_records_are_not_this_stores(
        journal: jr.Journal, tmp_path: pathlib.Path,
        table: FakeProcessTable) -> None:
    other = jr.Journal(journal.directory, "slow",
                       Owners(table, lambda: "host-1"))
    other.begin(jr.VOLUME, image_id="i")
    assert journal.records() == []
    assert len(journal.all_records()) == 1


@pytest.mark.parametrize("content", ["", "{", "[]", '{"id": "x"}',
                                     "\x00\xff"])
def test_damaged_file_is_moved_aside_with_one_warning(
        journal: jr.Journal, content: str,
        caplog: pytest.LogCaptureFixture) -> None:
    good = journal.begin(jr.VOLUME, image_id="i")
    bad = os.path.join(journal.directory, "connection-damaged.json")
    with open(bad, "w", errors="surrogateescape") as f:
        f.write(content)
    with caplog.at_level(logging.WARNING):
        assert journal.records() == [good]
        assert journal.records() == [good]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "damaged" in warnings[0].getMessage()
    assert os.path.exists(bad + ".corrupt") and not os.path.exists(bad)


def test_undo_failure_keeps_the_record_marked_released(
        journal: jr.Journal) -> None:
    record = journal.begin(jr.ATTACHMENT, volume_id="v")

    def refuse() -> None:
        raise OSError("refused")

    with pytest.raises(OSError):
        journal.undo(record, refuse)
    [kept] = journal.records()
    assert kept.released and kept.id == record.id
    journal.undo(kept, lambda: None)
    assert journal.records() == []


def test_recorded_is_forgotten_when_creation_fails(
        journal: jr.Journal) -> None:
    with pytest.raises(ZeroDivisionError):
        with jr.recorded(journal, jr.ATTACHMENT, volume_id="v"):
            raise ZeroDivisionError
    assert journal.records() == []


def test_stale_temporary_files_are_removed(journal: jr.Journal) -> None:
    journal.begin(jr.VOLUME, image_id="i")
    tmp = os.path.join(journal.directory, jr.TMP_PREFIX + "1-x")
    open(tmp, "w").close()
    os.utime(tmp, (1000.0, 1000.0))
    assert journal.remove_stale_temporaries(older_than=60) == 1
    assert len(journal.records()) == 1


# -- owners -------------------------------------------------------------------
def owner(table: FakeProcessTable, pid: int, host: str = "host-1") -> Owner:
    return Owner(host, table.boot, table.namespace, pid,
                 table.running.get(pid, 1))


def test_owner_judged_by_pid_and_start_time(table: FakeProcessTable) -> None:
    owners = Owners(table, lambda: "host-1")
    me = owners.me()
    assert owners.judge(me).alive
    worker = owner(table, table.spawn(77))
    assert owners.judge(worker).alive
    table.kill(77)
    assert not owners.judge(worker).alive
    table.spawn(77)  # the pid is reused by an unrelated process
    verdict = owners.judge(worker)
    assert not verdict.alive and "another process" in verdict.reason


def test_unknown_owners_count_as_alive(table: FakeProcessTable) -> None:
    owners = Owners(table, lambda: "host-1")
    other_host = owner(table, 9999, host="host-2")
    assert owners.judge(other_host).alive
    other_ns = Owner("host-1", table.boot, "4026532000", 9999, 5)
    assert owners.judge(other_ns).alive


def test_owner_of_an_earlier_boot_is_dead(table: FakeProcessTable) -> None:
    owners = Owners(table, lambda: "host-1")
    before = owners.me()
    table.reboot()
    table.become(6000)
    assert not owners.judge(before).alive
    assert owners.judge(owners.me()).alive


def test_forked_worker_is_a_new_owner(table: FakeProcessTable) -> None:
    owners = Owners(table, lambda: "host-1")
    parent = owners.me()
    table.become(5001)
    assert owners.me().pid == 5001 and owners.me() != parent


def test_start_time_parsed_after_the_command_name() -> None:
    line = ("123 (we ird) (x) S 1 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 "
            "20 0 1 0 987654 0 0")
    assert parse_start_time(line) == 987654


def test_this_process_in_proc() -> None:
    procfs = ProcFs()
    me = Owners(procfs, lambda: "h").me()
    assert me.pid == os.getpid() and me.start_time > 0
    assert procfs.start_time(2 ** 22 + 1) is None
    assert Owners(procfs, lambda: "h").judge(me).alive
