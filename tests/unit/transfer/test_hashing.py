import hashlib
import threading
from collections.abc import Callable

import pytest

from glance_store_cinder.transfer.hashing import QUEUE_DEPTH
from glance_store_cinder.transfer.hashing import OverlappedHashes
from glance_store_cinder.transfer.hashing import _HashThread
from tests.unit.harness import pattern


def test_digests_equal_serial_hashing() -> None:
    chunks = [pattern(n, seed) for seed, n in enumerate((1, 4096, 1 << 20, 3))]
    hashes = OverlappedHashes(["md5", "sha512"])
    for c in chunks:
        hashes.update(c)
    out = hashes.finish()
    data = b"".join(chunks)
    assert out["md5"] == hashlib.md5(data).hexdigest()
    assert out["sha512"] == hashlib.sha512(data).hexdigest()


def test_same_algorithm_twice_is_hashed_once() -> None:
    hashes = OverlappedHashes(["md5", "md5"])
    hashes.update(b"abc")
    assert hashes.finish() == {"md5": hashlib.md5(b"abc").hexdigest()}


def test_unknown_algorithm_fails_before_any_thread_starts() -> None:
    with pytest.raises(ValueError):
        OverlappedHashes(["md5", "no-such-hash"])


def test_abort_with_full_queues_does_not_block() -> None:
    hashes = OverlappedHashes(["sha512"])
    for _ in range(20):
        hashes.update(b"x" * 1024)
    hashes.abort()


def run_bounded(fn: Callable[[], object]) -> tuple[str, object]:
    """Run ``fn`` in a thread; a deadlock fails the test instead of hanging.
    """
    outcome: list[tuple[str, object]] = []

    def target() -> None:
        try:
            outcome.append(("returned", fn()))
        except BaseException as exc:
            outcome.append(("raised", exc))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "deadlocked"
    return outcome[0]


class DiesAtOnce(_HashThread):
    """A hash thread that ends without a word (killed by an error outside
    its update, say MemoryError while taking a chunk)."""

    def run(self) -> None:
        return


def test_a_dead_hash_thread_with_a_full_queue_never_blocks_the_writer(
        ) -> None:
    hashes = OverlappedHashes(["md5", "sha512"], thread_factory=DiesAtOnce)

    def write() -> None:
        for _ in range(3 * QUEUE_DEPTH):
            hashes.update(b"x" * 1024)

    kind, result = run_bounded(write)
    assert kind == "raised" and isinstance(result, RuntimeError)
    hashes.abort()


def test_a_failing_hash_thread_never_blocks_the_writer() -> None:
    hashes = OverlappedHashes(["md5", "sha512"])

    def write() -> dict[str, str]:
        hashes.update("not bytes")  # type: ignore[arg-type]  # both fail
        for _ in range(10 * QUEUE_DEPTH):
            hashes.update(b"x" * 1024)
        return hashes.finish()

    kind, result = run_bounded(write)
    assert kind == "raised" and isinstance(result, RuntimeError)
    hashes.abort()


class CannotStart(_HashThread):
    """As when the process is out of threads."""

    def start(self) -> None:
        raise RuntimeError("can't start new thread")


class FailingSecondStart:
    """A thread factory whose second thread cannot start."""

    def __init__(self) -> None:
        self.started: list[_HashThread] = []

    def __call__(self, algorithm: str) -> _HashThread:
        if self.started:
            return CannotStart(algorithm)
        thread = _HashThread(algorithm)
        self.started.append(thread)
        return thread


def test_a_hash_thread_failing_to_start_leaks_no_other() -> None:
    factory = FailingSecondStart()
    with pytest.raises(RuntimeError, match="start"):
        OverlappedHashes(["md5", "sha512"], thread_factory=factory)
    [first] = factory.started
    first.join(60)
    assert not first.is_alive()
