"""The volume being written: attached read-write, able to grow.

Growing while attached (``cinder_do_extend_attached``) asks Cinder for an
online extend and has os-brick refresh the device size.  Otherwise the
volume is flushed, detached, extended and attached again; the device is
reopened without truncation and writing resumes at the same offset.
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType

from glance_store_cinder import journal as jr
from glance_store_cinder import phases
from glance_store_cinder.attachment import READ_WRITE
from glance_store_cinder.attachment import Attacher
from glance_store_cinder.attachment import Attachment
from glance_store_cinder.privileged import RootCommands
from glance_store_cinder.transfer import growth
from glance_store_cinder.transfer.device import DeviceIO
from glance_store_cinder.transfer.device import opened
from glance_store_cinder.volumes import VolumeInfo
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)


class VolumeWriteTarget:
    """A context manager: attached on enter, detached on exit."""

    def __init__(self, attacher: Attacher, volumes: Volumes, volume_id: str,
                 extend_attached: bool, gib: int,
                 root_commands: RootCommands,
                 volume: VolumeInfo | None = None,
                 parent: jr.Record | None = None,
                 direct_io: bool = False) -> None:
        self._attacher = attacher
        self._volumes = volumes
        self._volume_id = volume_id
        # The volume as last read; the caller's copy spares a GET.
        self._known: VolumeInfo | None = volume
        self._extend_attached = extend_attached
        self._gib = gib
        self._root_commands = root_commands
        # The add's volume record: the attachments' parent.
        self._parent = parent
        # Write the device with O_DIRECT where it takes it.
        self._direct_io = direct_io
        self._stack: contextlib.ExitStack | None = None
        self._device: DeviceIO | None = None
        self._attachment: Attachment | None = None
        self._size_gib = 0
        self.extends = 0

    @property
    def capacity(self) -> int:
        return self._size_gib * self._gib

    def _attach(self) -> None:
        phases.mark("attach")
        volume, self._known = self._known, None
        if volume is None:
            volume = self._volumes.get(self._volume_id)
        with contextlib.ExitStack() as undo:
            attachment = undo.enter_context(self._attacher.attach(
                self._volumes, volume, READ_WRITE, parent=self._parent))
            device = undo.enter_context(opened(
                attachment.device, writable=True,
                commands=self._root_commands, direct=self._direct_io))
            self._stack = undo.pop_all()
        self._device = device
        self._attachment = attachment
        self._size_gib = volume.size_gib
        phases.mark("transfer")

    def _detach(self, exc_type: type[BaseException] | None = None,
                exc: BaseException | None = None,
                tb: TracebackType | None = None) -> None:
        """Detach; while ``exc`` propagates, a detach failure is logged.

        The stack is exited *with* the exception, so the error that ended
        the upload (a quota, a full export) is what the caller sees.
        """
        stack, self._stack, self._device = self._stack, None, None
        self._attachment = None
        if stack is not None:
            phases.mark("detach")
            stack.__exit__(exc_type, exc, tb)

    def __enter__(self) -> VolumeWriteTarget:
        self._attach()
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._detach(exc_type, exc, tb)

    def write_at(self, offset: int, data: bytes) -> None:
        # For the type checker: writes only happen inside the ``with``
        # block (attached); under -O a misuse fails on None just as loudly.
        assert self._device is not None  # nosec B101
        self._device.write_at(offset, data)

    def sync(self) -> None:
        if self._device is not None:
            phases.mark("fsync")
            self._device.sync()

    def grow(self, written: int, needed: int) -> None:
        new_gib = growth.grown_size_gib(written, needed, self._size_gib,
                                        self._gib)
        LOG.debug("Growing volume %s from %d to %d GiB (%d bytes written)",
                  self._volume_id, self._size_gib, new_gib, written)
        self.extends += 1
        phases.mark("extend")
        if self._extend_attached and self._attachment is not None:
            self._volumes.extend(self._volume_id, new_gib, attached=True)
            self._attachment.refresh_size()
            self._size_gib = new_gib
            phases.mark("transfer")
            return
        self.sync()
        self._detach()
        phases.mark("extend")
        self._known = self._volumes.extend(self._volume_id, new_gib,
                                           attached=False)
        self._attach()
