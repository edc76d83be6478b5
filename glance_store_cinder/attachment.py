"""Attaching a volume to this host, with every step undone on exit.

The steps are Cinder's attachment API (microversion 3.54) and os-brick:

    attachment create -> attachment update (our connector) -> connect
    -> attachment complete

Each step is written to the host's journal before it is taken and
registers its undo the moment it succeeds (disconnect, delete the
attachment), in an :class:`contextlib.ExitStack`, so any failure, and any
way of leaving the ``with`` block, leaves nothing attached; a process that
dies instead leaves journal records that recovery replays.  Attaching and
detaching one volume is serialised across processes by an external lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from glance_store import exceptions as gs_exc

from glance_store_cinder import errors
from glance_store_cinder import journal as jr
from glance_store_cinder.connectors import ConnectedDevice
from glance_store_cinder.connectors import DeviceFamily
from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors import family_for
from glance_store_cinder.connectors.base import UnsupportedVolume
from glance_store_cinder.undo import release_on_exit
from glance_store_cinder.volumes import VolumeInfo
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)

READ_ONLY = "ro"
READ_WRITE = "rw"

LockFactory = Callable[[str], contextlib.AbstractContextManager[Any]]
# Replays dead owners' records of one volume; returns how many it undid.
VolumeRecovery = Callable[[str], int]
# Ends this host's shared read attachment of a volume before it is
# attached for writing (see sharing.py).
ShareEnder = Callable[[Volumes, str], None]

__all__ = ["READ_ONLY", "READ_WRITE", "Attacher", "Attachment",
           "release_on_exit", "volume_lock_name"]


def volume_lock_name(volume_id: str) -> str:
    return "volume-%s" % volume_id


@dataclasses.dataclass
class Attachment:
    """A volume attached and connected to this host."""

    volume: VolumeInfo
    attachment_id: str
    device: ConnectedDevice
    family: DeviceFamily
    connection_data: dict[str, Any]

    def refresh_size(self) -> None:
        self.family.refresh_size(self.connection_data)


class ConnectionStillOpen(gs_exc.BackendException):
    """The attachment is kept: its connection could not be undone."""


class Attacher:
    """Attaches volumes of one store to this host."""

    def __init__(self, host_properties: Callable[[], dict[str, Any]],
                 family_context: FamilyContext, lock: LockFactory,
                 retry_attempts: int, gib: int,
                 recover_volume: VolumeRecovery | None = None) -> None:
        self._host_properties = host_properties
        self._family_context = family_context
        self._journal = family_context.journal
        self._lock = lock
        self._retry_attempts = max(1, retry_attempts)
        self._gib = gib
        self.recover_volume = recover_volume
        self.end_share: ShareEnder | None = None

    @contextlib.contextmanager
    def attach(self, volumes: Volumes, volume: VolumeInfo, mode: str,
               parent: jr.Record | None = None) -> Iterator[Attachment]:
        """Attach and connect; ``parent``: the add's volume record."""
        if volume.encrypted:
            raise UnsupportedVolume(
                "Volume %s is encrypted; the store would read and write "
                "ciphertext without its key, refusing it" % volume.id)
        if mode != READ_ONLY and self.end_share is not None:
            # Write attachments stay exclusive.
            self.end_share(volumes, volume.id)
        connector = self._host_properties()
        lock_name = volume_lock_name(volume.id)
        steps = contextlib.ExitStack()
        with contextlib.ExitStack() as outer:
            outer.push(lambda *exc: self._locked(
                lock_name, lambda: steps.__exit__(*exc)))
            # Not under the lock: creating may wait for a reader of this
            # host to detach, and that reader needs the lock to do it.
            with jr.recorded(self._journal, jr.ATTACHMENT, parent,
                             volume_id=volume.id, mode=mode) as record:
                attachment_id = self._create(volumes, volume, mode)
            self._journal.update(record, attachment_id=attachment_id)
            steps.push(release_on_exit(
                lambda: self._journal.undo(
                    record, lambda: self.delete_recorded(volumes, record)),
                "Deleting attachment %s" % attachment_id))
            # Under the lock: connecting and disconnecting one volume on
            # this host must not interleave (multiattach, shared exports).
            # Every Cinder call has a request timeout, so nothing here
            # can hold the lock forever.
            with self._lock(lock_name):
                updated = volumes.attachments.update(
                    attachment_id, volume.id, connector)
                info = _connection_info(updated)
                family = family_for(str(info["driver_volume_type"]),
                                    self._family_context)
                # The attachment API returns the connection properties
                # flat, next to driver_volume_type (no "data" sub-dict).
                data = dict(info)
                family.check(volume.id, data)
                device = steps.enter_context(family.connected(
                    volume.id, data, volume.size_gib * self._gib,
                    parent=record, shared=volume.multiattach))
            volumes.attachments.complete(attachment_id)
            yield Attachment(volume=volume, attachment_id=attachment_id,
                             device=device, family=family,
                             connection_data=data)

    def attach_shared(self, volumes: Volumes, volume: VolumeInfo,
                      record: jr.Record, deadline: float | None = None
                      ) -> tuple[jr.Record, ConnectedDevice, dict[str, Any]]:
        """Attach read-only for this host's shared ``record``.

        The caller holds the volume's lock.  On success nothing is left
        to undo here: the host-owned records (``record`` and the returned
        connection record) say what to release, and whoever ends the
        share releases it from them.  Returns the connection record, the
        device and os-brick's device info.  ``deadline`` (monotonic)
        bounds the wait for another holder of the volume.
        """
        connector = self._host_properties()
        with contextlib.ExitStack() as steps:
            attachment_id = self._create(volumes, volume, READ_ONLY,
                                         deadline)
            self._journal.update(record, attachment_id=attachment_id)
            steps.push(release_on_exit(
                lambda: self._journal.undo(
                    record, lambda: self.delete_recorded(volumes, record)),
                "Deleting attachment %s" % attachment_id))
            info = _connection_info(volumes.attachments.update(
                attachment_id, volume.id, connector))
            family = family_for(str(info["driver_volume_type"]),
                                self._family_context)
            data = dict(info)
            family.check(volume.id, data)
            connection, device, device_info = family.open_connection(
                volume.id, data, volume.size_gib * self._gib,
                parent=record, owned=False, shared=volume.multiattach)
            steps.push(release_on_exit(
                lambda: family.close(connection, volume.multiattach,
                                     device_info),
                "Disconnecting volume %s" % volume.id))
            volumes.attachments.complete(attachment_id)
            steps.pop_all()
        return connection, device, device_info

    def _locked(self, name: str, fn: Callable[[], Any]) -> Any:
        with self._lock(name):
            return fn()

    def delete_recorded(self, volumes: Volumes, record: jr.Record) -> None:
        """Delete the attachment, unless its connection is still open.

        Deleting the attachment removes the export; a device still
        connected to it would then point at nothing.  Both stay, recorded,
        for recovery to undo in order (connection, then attachment).
        """
        if any(child.kind == jr.CONNECTION
               for child in self._journal.children(record)):
            raise ConnectionStillOpen(
                "Attachment %s of volume %s kept: its connection on this "
                "host could not be closed; recovery will retry both"
                % (record.get("attachment_id"), record.volume_id))
        volumes.attachments.delete(str(record.get("attachment_id")),
                                   ask_again=True)

    def _create(self, volumes: Volumes, volume: VolumeInfo, mode: str,
                deadline: float | None = None) -> str:
        """Create the attachment, waiting out a detach in progress.

        Cinder answers 400 while another user (a reader that just went
        away, another worker) still holds a non-multiattach volume.  A
        user of this host that died is recovered at once; a live one is
        waited for.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return volumes.attachments.create(volume.id, mode)
            except gs_exc.BackendException as exc:
                if errors.status_of(exc.__cause__ or exc) != 400:
                    raise
                if attempt >= self._retry_attempts:
                    raise self.held_error(volumes, volume.id, exc) from exc
                if self._recovered(volume.id):
                    continue
                LOG.info("Volume %s is busy (attempt %d of %d); waiting "
                         "up to %.0fs for it to be free", volume.id, attempt,
                         self._retry_attempts, volumes.timeout)
                try:
                    volumes.wait_until_free(volume.id, self._remaining(
                        deadline))
                except errors.StateTimeout as timeout:
                    raise self.held_error(volumes, volume.id,
                                     timeout) from timeout

    def _remaining(self, deadline: float | None) -> float | None:
        if deadline is None:
            return None
        return deadline - self._family_context.poller.clock.monotonic()

    def held_error(self, volumes: Volumes, volume_id: str,
                   last: Exception | str) -> errors.VolumeHeld:
        """The retryable error for a volume another host keeps attached."""
        try:
            holders = sorted({str(a.get("host_name") or "")
                              for a in volumes.get(volume_id).attachments})
        except gs_exc.GlanceStoreException:
            holders = []
        named = [h for h in holders if h]
        who = ("host(s) %s" % ", ".join(named) if named
               else "another user (Cinder does not say which host)")
        return errors.VolumeHeld(
            message="Volume %s is attached to %s and is not multiattach; "
            "it stayed so while waiting (at most %.0fs, "
            "cinder_state_transition_timeout). "
            "Try again later. Last: %s" % (volume_id, who, volumes.timeout,
                                           last))

    def _recovered(self, volume_id: str) -> bool:
        if self.recover_volume is None:
            return False
        try:
            undone = self.recover_volume(volume_id)
        except Exception:
            LOG.exception("Recovering dead users of volume %s failed",
                          volume_id)
            return False
        if undone:
            LOG.info("Volume %s was held by a process that died on this "
                     "host; released %d of its resources", volume_id,
                     undone)
        return undone > 0


def _connection_info(attachment: Any) -> dict[str, Any]:
    info = getattr(attachment, "connection_info", None)
    if not isinstance(info, dict) or "driver_volume_type" not in info:
        raise gs_exc.BackendException(
            "Cinder returned no connection info for attachment %s"
            % getattr(attachment, "id", "?"))
    return info
