"""Direct I/O for uploads: image bytes reach the volume past the page cache.

Written through the page cache, a 1 GiB upload makes the kernel find a
gigabyte of fresh pages (on a host that hands free memory back to its
hypervisor each is faulted in from the host), copy the bytes into them,
start their writeback and drop them again: on the project's 2-core test
machine that kernel work competes with the hashing threads for the cores.
With ``O_DIRECT`` the bytes are copied into a few page-aligned buffers,
reused for the whole upload, and a writer thread hands each full buffer
to the device while the caller goes on receiving and hashing.

``O_DIRECT`` needs offsets and lengths aligned to the device's logical
block size; image chunks come in any size.  Whole aligned blocks go
direct; the bytes before the first block boundary of a run of writes and
after the last one (the image's tail, the edges of a skipped all-zero
chunk) go through a second, buffered descriptor of the same file.  The
two never write the same page, and the final ``fsync`` covers both.  A
path that takes ``O_DIRECT`` at open but refuses its first direct write
with EINVAL gets the rest of the upload through the buffered descriptor.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import queue
import threading

from glance_store_cinder.transfer.positional import Pwrite
from glance_store_cinder.transfer.positional import read_fully
from glance_store_cinder.transfer.positional import write_fully

LOG = logging.getLogger(__name__)

# A multiple of every logical block size Linux devices use (512, 4096),
# and of the page size: a buffered edge and a direct block never share a
# page (on a 64 KiB-page host a 4 KiB edge would, and its dirty page could
# be written back over the direct bytes).
ALIGN = max(4096, mmap.PAGESIZE)
BUFFER_SIZE = 4 * 1024 * 1024
# One being filled, one queued, one being written: the caller never waits
# for the device unless the device is slower than the upload.
BUFFERS = 3
# How often a caller waiting for a free buffer checks the writer lives.
LIVENESS_CHECK_SECONDS = 0.1

_STOP = None


def open_direct(path: str) -> int | None:
    """A read-write ``O_DIRECT`` descriptor, None where unsupported."""
    flags = os.O_RDWR | os.O_CLOEXEC | getattr(os, "O_DIRECT", 0)
    if flags == os.O_RDWR | os.O_CLOEXEC:
        return None
    try:
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        # A filesystem without direct I/O (tmpfs before Linux 6.6, some
        # FUSE ones) refuses the flag at open.
        LOG.debug("%s does not take O_DIRECT; writing it buffered", path)
        return None


class _Writer(threading.Thread):
    """Writes queued buffers in order; keeps the first error."""

    def __init__(self, fd: int, buffered_fd: int,
                 free: queue.Queue[mmap.mmap], path: str,
                 pwrite: Pwrite) -> None:
        super().__init__(name="direct-writer", daemon=True)
        self._fd = fd
        self._buffered_fd = buffered_fd
        self._wrote_direct = False
        self._path = path
        self._pwrite = pwrite
        self._free = free
        self.work: queue.Queue[tuple[mmap.mmap, int, int] | None] = (
            queue.Queue())
        self.error: OSError | None = None
        self.failed_at = 0

    def run(self) -> None:
        while True:
            item = self.work.get()
            if item is _STOP:
                return
            buffer, length, offset = item
            try:
                if self.error is None:
                    self._write(buffer, length, offset)
            except Exception as exc:
                # Kept, never raised here: a writer that died would leave
                # the caller waiting for its queue forever.  Without its
                # traceback: the frames would hold views of the buffer,
                # which could then never be unmapped.
                if not isinstance(exc, OSError):
                    exc = OSError(errno.EIO, "direct write failed: %r" % exc)
                # The offset first: the caller reads it once it sees the
                # error.
                self.failed_at = offset
                self.error = exc.with_traceback(None)
            finally:
                self._free.put(buffer)
                self.work.task_done()

    def _write(self, buffer: mmap.mmap, length: int, offset: int) -> None:
        try:
            self._write_to(self._fd, buffer, length, offset)
        except OSError as exc:
            if (exc.errno != errno.EINVAL or self._wrote_direct
                    or self._fd == self._buffered_fd):
                raise
            # Took O_DIRECT at open, refuses the writes (some FUSE
            # filesystems, a device whose blocks are larger than ALIGN):
            # the buffer is intact, the rest of the upload goes buffered.
            LOG.warning("%s refuses direct writes (%s); writing the rest "
                        "of this upload through the page cache",
                        self._path, exc.strerror)
            self._fd = self._buffered_fd
            self._write_to(self._fd, buffer, length, offset)
            return
        self._wrote_direct = True

    def _write_to(self, fd: int, buffer: mmap.mmap, length: int,
                  offset: int) -> None:
        with memoryview(buffer) as whole:
            write_fully(fd, whole[:length], offset, self._path,
                        self._pwrite)


class DirectFdDevice:
    """A writable device or volume file written with ``O_DIRECT``."""

    def __init__(self, path: str, direct_fd: int,
                 pwrite: Pwrite = os.pwrite) -> None:
        """Takes ``direct_fd`` over; ``pwrite``: the writer thread's."""
        self.path = path
        self._direct_fd: int | None = direct_fd
        self._fd: int | None = None
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        self._buffers: list[mmap.mmap] = []
        self._writer: _Writer | None = None
        # The buffer being filled and the file offset of its first byte
        # (always aligned).
        self._current: mmap.mmap | None = None
        self._start = 0
        self._filled = 0
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            for _ in range(BUFFERS):
                buffer = mmap.mmap(-1, BUFFER_SIZE)
                self._buffers.append(buffer)
                self._free.put(buffer)
            self._writer = _Writer(direct_fd, self._fd, self._free, path,
                                   pwrite)
            self._writer.start()
        except BaseException:
            self.close()
            raise

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise ValueError("device %s is closed" % self.path)
        return self._fd

    def write_at(self, offset: int, data: bytes | memoryview) -> None:
        self._raise_writer_error()
        if (self._current is not None
                and offset != self._start + self._filled):
            self._flush_current()
        with memoryview(data) as whole:
            view = whole.cast("B")
            while view:
                taken = self._take(offset, view)
                view = view[taken:]
                offset += taken
            view.release()

    def _take(self, offset: int, view: memoryview) -> int:
        """Place the start of ``view`` at ``offset``; bytes placed."""
        if self._current is None:
            misaligned = offset % ALIGN
            if misaligned:
                head = min(len(view), ALIGN - misaligned)
                self._write_buffered(offset, view[:head])
                return head
            self._current = self._free_buffer()
            self._start, self._filled = offset, 0
        count = min(len(view), BUFFER_SIZE - self._filled)
        self._current[self._filled:self._filled + count] = view[:count]
        self._filled += count
        if self._filled == BUFFER_SIZE:
            self._submit(BUFFER_SIZE)
        return count

    def _free_buffer(self) -> mmap.mmap:
        writer = self._writer
        if writer is None:
            raise ValueError("device %s is closed" % self.path)
        while True:
            try:
                return self._free.get(timeout=LIVENESS_CHECK_SECONDS)
            except queue.Empty:
                if not writer.is_alive():
                    raise OSError(errno.EIO,
                                  "direct writer of %s ended" % self.path
                                  ) from None

    def _submit(self, length: int) -> None:
        buffer, self._current = self._current, None
        assert buffer is not None and self._writer is not None  # nosec B101
        self._writer.work.put((buffer, length, self._start))

    def _flush_current(self) -> None:
        """Send the buffer being filled: its whole blocks direct, the
        rest buffered (the caller's next write is not contiguous)."""
        if self._current is None:
            return
        whole = self._filled - self._filled % ALIGN
        if whole < self._filled:
            with memoryview(self._current) as view:
                self._write_buffered(self._start + whole,
                                     view[whole:self._filled])
        if whole:
            self._submit(whole)
        else:
            buffer, self._current = self._current, None
            self._free.put(buffer)

    def _write_buffered(self, offset: int, view: memoryview) -> None:
        write_fully(self.fd, view, offset, self.path)

    def _drain(self) -> None:
        self._flush_current()
        if self._writer is not None:
            self._writer.work.join()
        self._raise_writer_error()

    def _raise_writer_error(self) -> None:
        writer = self._writer
        if writer is not None and writer.error is not None:
            exc = writer.error
            raise OSError(exc.errno, "%s (direct write at offset %d)" % (
                exc.strerror, writer.failed_at)) from exc

    def read_at(self, offset: int, size: int) -> bytes:
        self._drain()
        return read_fully(self.fd, size, offset)

    def sync(self) -> None:
        self._drain()
        # One inode: this fsync also flushes what the buffered descriptor
        # wrote.
        os.fsync(self.fd)

    def close(self) -> None:
        """Stop the writer and release everything.

        Buffers already queued are written first; the one being filled is
        dropped (only a failed upload closes without :meth:`sync`).
        """
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.work.put(_STOP)
            writer.join()
        self._current = None
        for buffer in self._buffers:
            # A view still held (by a traceback on its way up) keeps its
            # mapping until it goes; the next ones are unmapped now.
            with contextlib.suppress(BufferError):
                buffer.close()
        self._buffers = []
        fds = [fd for fd in (self._fd, self._direct_fd) if fd is not None]
        self._fd = self._direct_fd = None
        failed: OSError | None = None
        for fd in fds:
            try:
                os.close(fd)
            except OSError as exc:
                # Both are released; the first failure is reported.
                failed = failed or exc
        if failed is not None:
            raise failed
