"""ReadAhead: the first chunks of an upload, taken in by a thread."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator

import pytest
from glance_store import exceptions as gs_exc

from glance_store_cinder.transfer.read_ahead import ReadAhead
from glance_store_cinder.transfer.writer import ImageIntake
from glance_store_cinder.transfer.writer import iter_chunks
from tests.unit.harness import BrokenSource
from tests.unit.harness import pattern

CHUNK = 64
# Long enough never to end a passing test; only a broken one waits it out.
GIVE_UP = 10.0


class CountingSource(io.BytesIO):
    """Counts reads; tells when it has been read to the end."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0
        self.at_end = threading.Event()

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        data = super().read(size)
        if not data:
            self.at_end.set()
        return data


def intake(expected_size: int = 0) -> ImageIntake:
    return ImageIntake(expected_size=expected_size, hashing_algo="sha512",
                       verifier=None)


@pytest.fixture
def intakes() -> Iterator[list[ImageIntake]]:
    """Intakes made by a test; their hashing threads end with it."""
    made: list[ImageIntake] = []
    yield made
    for each in made:
        each.abort()


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name.startswith("read-ahead-")]


def test_reads_without_being_asked(intakes: list[ImageIntake]) -> None:
    data = pattern(5 * CHUNK + 3)
    source = CountingSource(data)
    intakes.append(taken := intake(len(data)))
    early = ReadAhead(iter_chunks(source, CHUNK), taken, 1 << 20)
    early.start()
    # Nobody consumes: the thread alone reads the source to its end.
    assert source.at_end.wait(GIVE_UP)
    assert b"".join(early.chunks()) == data
    result = taken.finish()
    assert result.size == len(data)
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert not read_ahead_threads()


def test_stops_at_its_limit_and_the_rest_is_read_on_demand(
        intakes: list[ImageIntake]) -> None:
    data = pattern(10 * CHUNK)
    source = CountingSource(data)
    intakes.append(taken := intake())
    early = ReadAhead(iter_chunks(source, CHUNK), taken, 3 * CHUNK - 1)
    early.start()
    chunks = early.chunks()
    first = next(chunks)  # waits for the thread to end
    assert source.reads == 3  # the chunk that crossed the limit, no more
    assert taken.size == 3 * CHUNK
    assert first + b"".join(chunks) == data
    assert taken.finish().multihash == hashlib.sha512(data).hexdigest()


def test_limit_zero_reads_nothing_ahead(intakes: list[ImageIntake]) -> None:
    data = pattern(4 * CHUNK)
    source = CountingSource(data)
    intakes.append(taken := intake())
    early = ReadAhead(iter_chunks(source, CHUNK), taken, 0)
    early.start()
    assert not read_ahead_threads()
    chunks = early.chunks()
    assert source.reads == 0
    assert b"".join(chunks) == data
    assert taken.size == len(data)


def test_source_error_comes_out_as_it_went_in(
        intakes: list[ImageIntake]) -> None:
    source = BrokenSource(pattern(4 * CHUNK), CHUNK + 5)
    intakes.append(taken := intake())
    early = ReadAhead(iter_chunks(source, CHUNK), taken, 1 << 20)
    early.start()
    with pytest.raises(OSError) as raised:
        list(early.chunks())
    assert raised.value is source.error
    assert not read_ahead_threads()


def test_error_is_visible_before_the_chunks_are_asked_for(
        intakes: list[ImageIntake]) -> None:
    intakes.append(taken := intake(expected_size=CHUNK))
    early = ReadAhead(iter_chunks(io.BytesIO(pattern(3 * CHUNK)), CHUNK),
                      taken, 1 << 20)
    early.start()
    early.stop()  # joins: the thread has met the size check by now
    assert isinstance(early.failed(), gs_exc.Invalid)


def test_stop_lets_the_read_in_flight_finish_then_reads_no_more(
        intakes: list[ImageIntake]) -> None:
    reading = threading.Event()
    go_on = threading.Event()

    class SlowSecondRead(CountingSource):
        def read(self, size: int | None = -1) -> bytes:
            if self.reads == 1:
                reading.set()
                assert go_on.wait(GIVE_UP)
            return super().read(size)

    source = SlowSecondRead(pattern(10 * CHUNK))
    intakes.append(taken := intake())
    early = ReadAhead(iter_chunks(source, CHUNK), taken, 1 << 20)
    early.start()
    assert reading.wait(GIVE_UP)
    early.cancel()
    go_on.set()
    early.stop()
    assert source.reads == 2
    assert not read_ahead_threads()
    assert early.failed() is None
