import pytest

from glance_store_cinder import errors
from glance_store_cinder.polling import Clock
from glance_store_cinder.polling import Poller


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep)


def test_first_interval_is_tens_of_milliseconds_and_grows_to_a_cap() -> None:
    fake = FakeClock()
    states = iter(["creating"] * 30 + ["available"])
    poller = Poller(timeout=300, clock=fake.clock())
    assert poller.wait(lambda: next(states), lambda s: s == "available",
                       "v") == "available"
    assert fake.sleeps[0] <= 0.05
    assert fake.sleeps == sorted(fake.sleeps)
    assert max(fake.sleeps) <= 1.0


def test_returns_without_sleeping_when_already_done() -> None:
    fake = FakeClock()
    Poller(timeout=1, clock=fake.clock()).wait(lambda: 1, bool, "x")
    assert fake.sleeps == []


def test_times_out_within_the_bound() -> None:
    fake = FakeClock()
    poller = Poller(timeout=5, clock=fake.clock())
    with pytest.raises(errors.StateTimeout, match="volume v"):
        poller.wait(lambda: "creating", lambda s: False, "volume v")
    assert fake.now <= 5.0 + 1e-9


def test_error_state_stops_the_wait_at_once() -> None:
    fake = FakeClock()
    poller = Poller(timeout=5, clock=fake.clock())
    with pytest.raises(errors.VolumeInErrorState, match="went bad"):
        poller.wait(lambda: "error", lambda s: False, "v",
                    failed=lambda s: "went bad" if s == "error" else None)
    assert fake.sleeps == []


def test_store_waits_look_steadily_at_first_then_back_off() -> None:
    fake = FakeClock()
    states = iter(["creating"] * 40 + ["available"])
    poller = Poller(timeout=300, clock=fake.clock(), steady_interval=0.05,
                    steady_for=1.0)
    poller.wait(lambda: next(states), lambda s: s == "available", "v")
    assert fake.sleeps[:20] == [0.05] * 20
    assert fake.sleeps[20] > 0.05
    assert fake.sleeps[20:] == sorted(fake.sleeps[20:])
    assert max(fake.sleeps) <= 1.0


def test_retry_pauses_keep_growing_from_the_first() -> None:
    poller = Poller(timeout=300, steady_interval=0.05, steady_for=1.0)
    pauses = poller.intervals()
    assert [round(next(pauses), 4) for _ in range(3)] == [0.02, 0.026,
                                                          0.0338]
