"""The first chunks of an upload, taken in while its volume is made.

Creating, waiting for and attaching a volume takes Cinder most of a second
in which the host's cores are idle, and the client's bytes wait in its
socket.  A :class:`ReadAhead` thread reads and hashes up to a bound of the
image meanwhile (the digests, the verifier and the size check all run in
the intake), so that the transfer starts with those bytes already hashed
and in memory.  The bound (``cinder_upload_read_ahead_size``) caps the
memory; beyond it the client waits, as it would without read-ahead.

The thread is the only user of the source and the intake until it is
joined: :meth:`ReadAhead.chunks` joins it before anything else reads, and
:meth:`ReadAhead.stop` (the add's undo) joins it before the intake is
aborted, so no reader is left behind whatever fails.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterator

from glance_store_cinder.transfer.writer import ImageIntake

LOG = logging.getLogger(__name__)


class ReadAhead:
    """Reads up to ``limit`` bytes of ``chunks`` in a thread of its own."""

    def __init__(self, chunks: Iterator[bytes], intake: ImageIntake,
                 limit: int, name: str = "upload") -> None:
        self._chunks = chunks
        self._intake = intake
        self._limit = limit
        self._name = name
        self._buffer: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._exhausted = False
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start reading; nothing happens when the limit is 0."""
        if self._limit <= 0:
            return
        self._thread = threading.Thread(target=self._read,
                                        name="read-ahead-%s" % self._name,
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while self._buffered < self._limit:
                if self._stopping.is_set():
                    return
                chunk = next(self._chunks, None)
                if chunk is None:
                    self._exhausted = True
                    return
                self._intake.take(chunk)
                self._buffer.append(chunk)
                self._buffered += len(chunk)
        except BaseException as exc:  # handed to the add's thread
            self._error = exc

    @property
    def intake(self) -> ImageIntake:
        return self._intake

    def failed(self) -> BaseException | None:
        """The error that ended the reading so far, if any (no wait)."""
        return self._error

    def chunks(self) -> Iterator[bytes]:
        """Every chunk of the image, taken in: read ahead, then the rest.

        Waits for the thread first (it has at most one chunk to read);
        an error of the source or of the intake is raised here as it was.
        """
        self._join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._thread is not None:
            LOG.debug("Read %d bytes of %s ahead%s", self._buffered,
                      self._name, " (all of it)" if self._exhausted else "")
        while self._buffer:
            yield self._buffer.popleft()
        if not self._exhausted:
            yield from self._intake.taking(self._chunks)

    def cancel(self) -> None:
        """Ask the thread to read no chunk after the one in flight."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop reading and drop what was read: the add failed.

        Waits for the chunk being read, which the source's own timeout
        bounds (glance-api's client socket timeout).
        """
        self.cancel()
        self._join()
        self._buffer.clear()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
