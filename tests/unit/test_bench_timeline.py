"""The bench's account of where a run's time went, and which rows run in
which round."""

from __future__ import annotations

from bench import run
from bench import timeline
from bench.data import FULL


def _sample(workload: str, seconds: float | None) -> dict[str, object]:
    return {"workload": workload, "seconds": seconds}


def test_timed_seconds_by_workload_skip_derived_and_failed_rows() -> None:
    samples = [_sample("add_known", 5.0), _sample("add_known_durable", 5.5),
               _sample("add_known", 6.0), _sample("get", None),
               _sample("curve_known@67108864", 1.0),
               _sample("curve_known@268435456", 2.0),
               dict(_sample("hash_md5", 1.5), contender="limit"),
               dict(_sample("cinder_cycle", 0.5), contender="limit"),
               dict(_sample("hash_serial", 3.0), contender="limit")]
    assert timeline.timed_by_workload(samples) == {
        "add_known": 11.0, "curve_known": 3.0, "limits": 2.0}


def test_account_splits_each_process_into_its_parts() -> None:
    worker = timeline.Process(
        "ours", 0, wall_s=30.0, tidy_s=2.0,
        info={"configure_s": 1.0, "warm_up_s": 4.0,
              "wall": {"add_known": 15.0, "get": 5.0}}).as_dict()
    limits = timeline.Process("limits", 0, wall_s=10.0, tidy_s=1.0,
                              info={"wall": {"limits": 10.0}}).as_dict()
    spent = timeline.account([worker, limits],
                             [_sample("add_known", 6.0),
                              _sample("get", 1.5)],
                             duration_s=60.0, before_rounds_s=7.0)
    assert spent["workloads"] == {
        "add_known": {"wall_s": 15.0, "timed_s": 6.0},
        "get": {"wall_s": 5.0, "timed_s": 1.5},
        "limits": {"wall_s": 10.0, "timed_s": 0.0}}
    parts = spent["parts"]
    assert parts["stores configured and warmed up"] == 5.0
    assert parts["process start and exit"] == 5.0   # 30 - 5 - 20
    assert parts["tidying between processes"] == 3.0
    # 7 + 5 + 5 + 3 + 30 accounted of 60
    assert parts["not accounted"] == 10.0


def test_lines_list_the_largest_workload_first() -> None:
    spent = {"duration_s": 600.0, "parts": {"tidying between processes":
                                            60.0},
             "workloads": {"get": {"wall_s": 60.0, "timed_s": 30.0},
                           "add_known": {"wall_s": 300.0,
                                         "timed_s": 120.0}}}
    got = timeline.lines(spent)
    assert got[0] == "the whole run: 10.0 min"
    assert got[1].startswith("add_known: 5.0 min (50 %), of which 2.0 min")
    assert got[2].startswith("get: 1.0 min (10 %)")
    assert got[3] == "tidying between processes: 1.0 min (10 %)"
    assert timeline.lines(None) == []


def test_rounds_of_each_kind_of_row() -> None:
    assert run.rounds_of("add_known", FULL, 5) == 5
    assert run.rounds_of("concurrent_add", FULL, 5) == FULL.secondary_rounds
    assert run.rounds_of("curve_known", FULL, 5) == FULL.curve_rounds
    assert run.rounds_of("hot_paced_16", FULL, 5) == FULL.hot_rounds
    assert run.rounds_of("concurrent_add", FULL, 2) == 2


class _Volumes:
    """What bench.cleanup asks of cinderclient's volume manager."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.deletes = 0

    def get(self, vid: str) -> object:
        status = self.status
        return type("Volume", (), {"id": vid, "status": status})()

    def delete(self, vid: str) -> None:
        self.deletes += 1
        self.status = "deleting"


def test_a_refused_delete_is_asked_again_while_waiting() -> None:
    from bench import cleanup

    volumes = _Volumes("available")   # its first delete was refused
    client = type("Client", (), {"volumes": volumes})()
    assert cleanup._gone(client, "v") is False
    assert volumes.deletes == 1
    assert cleanup._gone(client, "v") is False   # deleting: left alone
    assert volumes.deletes == 1
