"""Phase timings at DEBUG: what an add and a get spend where."""

from __future__ import annotations

import io
import logging

import pytest

from glance_store_cinder import phases
from tests.unit.harness import CHUNK
from tests.unit.harness import GIB
from tests.unit.harness import Env
from tests.unit.harness import new_image_id
from tests.unit.harness import pattern
from tests.unit.harness import read_all

LOGGER = "glance_store_cinder.phases"


class Ticks:
    """A clock that advances by the given steps, one per reading."""

    def __init__(self, *steps: float) -> None:
        self.now = 0.0
        self.steps = list(steps)

    def __call__(self) -> float:
        self.now += self.steps.pop(0) if self.steps else 0.0
        return self.now


def phase_records(caplog: pytest.LogCaptureFixture, operation: str
                  ) -> list[dict[str, float]]:
    return [vars(r)["gsc_phases"] for r in caplog.records
            if r.name == LOGGER
            and vars(r)["gsc_operation"] == operation]


def test_marks_end_the_running_phase_and_repeats_add_up(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    # start, then one reading per mark, then finish's two readings
    clock = Ticks(0.0, 1.0, 2.0, 3.0, 4.0, 0.5, 0.0)
    with phases.recording("add", "image x", clock=clock):
        phases.mark("create")      # t=1: nothing running before
        phases.mark("transfer")    # t=3: create 2
        phases.mark("create")      # t=6: transfer 3
        phases.mark("fsync")       # t=10: create +4
    # finish at t=10.5: fsync 0.5
    [seen] = phase_records(caplog, "add")
    assert seen == {"create": 6.0, "transfer": 3.0, "fsync": 0.5,
                    "total": 10.5}
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage() == (
        "add of image x: create 6.000 transfer 3.000 fsync 0.500 "
        "total 10.500 s")


def test_a_failed_operation_is_logged_with_its_error(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with pytest.raises(KeyError), phases.recording("add", "image y"):
        phases.mark("create")
        raise KeyError("boom")
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert "(failed: KeyError)" in record.getMessage()
    assert set(vars(record)["gsc_phases"]) == {"create", "total"}


def test_marks_outside_an_operation_do_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    phases.mark("create")
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_nothing_is_formatted_above_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with phases.recording("add", "image z"):
        phases.mark("create")
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_an_add_logs_each_phase_of_its_volume(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    store = env.store("fast")
    image_id = new_image_id()
    store.add(image_id, io.BytesIO(pattern(3 * CHUNK)), 3 * CHUNK,
              "sha512")
    [seen] = phase_records(caplog, "add")
    assert set(seen) == {"journal", "create", "wait", "attach", "transfer",
                         "fsync", "detach", "metadata", "total"}
    assert all(v >= 0 for v in seen.values())
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage().startswith("add of image %s: " % image_id)


def test_an_unknown_size_add_that_grows_logs_its_extends(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    store = env.store("fast")
    store.add(new_image_id(), io.BytesIO(pattern(GIB + 1)), 0, "sha512")
    [seen] = phase_records(caplog, "add")
    assert "extend" in seen and "transfer" in seen


def test_a_get_logs_lookup_attach_read_and_detach_when_released(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    store = env.store("fast")
    uri = store.add(new_image_id(), io.BytesIO(pattern(2 * CHUNK)),
                    2 * CHUNK, "sha512")[0]
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    location = env.location(store, uri)
    read_all(store, location)
    [seen] = phase_records(caplog, "get")
    assert set(seen) == {"lookup", "attach", "read", "detach", "total"}
