"""Byte-level access to a connected volume: a path or a file object.

Paths are opened without ``O_TRUNC`` and without ``O_CREAT``: a volume is
a fixed-size device or a pre-sized file, and truncating a file-backed
volume (as ``open(path, 'wb')`` does) shrinks it, so volumes later cloned
from it come out short.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import Protocol

from glance_store import exceptions as gs_exc

from glance_store_cinder.connectors import ConnectedDevice
from glance_store_cinder.privileged import RootCommands
from glance_store_cinder.transfer.direct import DirectFdDevice
from glance_store_cinder.transfer.direct import open_direct
from glance_store_cinder.transfer.drop_behind import DropBehind
from glance_store_cinder.transfer.positional import read_fully
from glance_store_cinder.transfer.positional import write_fully
from glance_store_cinder.transfer.writeback import WritebackPacer

LOG = logging.getLogger(__name__)


class DeviceIO(Protocol):
    def write_at(self, offset: int, data: bytes | memoryview) -> None: ...

    def read_at(self, offset: int, size: int) -> bytes: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class FdDevice:
    """A device node or volume file, used through one file descriptor."""

    def __init__(
            self, path: str, writable: bool,
            pacer: Callable[[int], WritebackPacer] | None = WritebackPacer,
            dropper: Callable[[int], DropBehind] | None = None) -> None:
        """``dropper``: for a reader, what drops the pages it has read."""
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC
        self.path = path
        self._fd: int | None = os.open(path, flags)
        self._pacer = pacer(self._fd) if writable and pacer else None
        self._dropper = (dropper(self._fd) if not writable and dropper
                         else None)
        if not writable:
            # Readers stream the volume front to back: ask for readahead.
            with contextlib.suppress(OSError, AttributeError):
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise ValueError("device %s is closed" % self.path)
        return self._fd

    def write_at(self, offset: int, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        write_fully(self.fd, view, offset, self.path)
        if self._pacer is not None:
            self._pacer.wrote(offset, len(view))

    def read_at(self, offset: int, size: int) -> bytes:
        data = read_fully(self.fd, size, offset)
        if self._dropper is not None:
            self._dropper.read(offset, len(data))
        return data

    def sync(self) -> None:
        os.fsync(self.fd)
        if self._pacer is not None:
            self._pacer.flushed()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class FileObjectDevice:
    """A volume opened by os-brick as a file object (librbd)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write_at(self, offset: int, data: bytes | memoryview) -> None:
        self._handle.seek(offset)
        self._handle.write(bytes(data))

    def read_at(self, offset: int, size: int) -> bytes:
        self._handle.seek(offset)
        return bytes(self._handle.read(size))

    def sync(self) -> None:
        flush = getattr(self._handle, "flush", None)
        if callable(flush):
            flush()
        fsync = getattr(self._handle, "fsync", None)
        if callable(fsync):
            fsync()

    def close(self) -> None:
        # os-brick closes the librbd handle when it disconnects.
        pass


def open_device(device: ConnectedDevice, writable: bool,
                drop_behind: bool = False) -> DeviceIO:
    """``drop_behind``: a reader drops what it has read from the cache."""
    if device.path is not None:
        return FdDevice(device.path, writable,
                        dropper=DropBehind if drop_behind else None)
    if device.file_object is not None:
        return FileObjectDevice(device.file_object)
    raise gs_exc.BackendException("connected volume has no path or handle")


@contextlib.contextmanager
def borrowed(path: str, commands: RootCommands) -> Iterator[str]:
    """Own ``path`` while the block runs, when glance-api is not root.

    Device nodes that os-brick creates belong to root; an unprivileged
    glance-api takes them over with the root helper and gives them back.
    Yields the resolved path, the one that was handed over.
    """
    if not commands.needed:
        yield path
        return
    real = commands.borrowable(path)
    owner = os.stat(real).st_uid
    if owner == commands.uid:
        yield real
        return
    commands.chown(commands.uid, real)
    failed = False
    try:
        yield real
    except BaseException:
        failed = True
        raise
    finally:
        try:
            commands.chown(owner, real)
        except Exception:
            if not failed:
                raise
            LOG.exception("Giving %s back to uid %d failed", real, owner)


def open_path(path: str, writable: bool, direct: bool = False) -> DeviceIO:
    """``direct``: write with ``O_DIRECT`` where the path takes it."""
    if writable and direct:
        direct_fd = open_direct(path)
        if direct_fd is not None:
            return DirectFdDevice(path, direct_fd)
    return FdDevice(path, writable)


@contextlib.contextmanager
def opened(device: ConnectedDevice, writable: bool,
           commands: RootCommands, direct: bool = False
           ) -> Iterator[DeviceIO]:
    """The connected volume, accessible and open for the block's length.

    ``direct``: a writable path is written with direct I/O
    (:mod:`glance_store_cinder.transfer.direct`) where it takes it.
    """
    with contextlib.ExitStack() as stack:
        if device.path is not None:
            path = stack.enter_context(borrowed(device.path, commands))
            io: DeviceIO = open_path(path, writable, direct)
        else:
            io = open_device(device, writable)
        stack.callback(io.close)
        yield io


def storage_error(exc: OSError, what: str) -> Exception:
    """The glance_store error for an OSError on the volume."""
    message = "%s: %s" % (what, exc)
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return gs_exc.StorageFull(message=message)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return gs_exc.StorageWriteDenied(message=message)
    return gs_exc.BackendException(message)
