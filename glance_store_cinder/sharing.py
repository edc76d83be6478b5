"""One read-only attachment per image volume per host, shared by readers.

Without this every download attaches the image's volume on its own, and
for a volume that is not multiattach Cinder lets one attachment exist at
a time: concurrent downloads of one image (a boot storm) run one after
another.  Here the first reader on the host attaches read-only and every
later reader, in any glance-api worker of the host, joins that attachment
and reads the same device or file through its own file descriptor.

The share lives in the host's journal, so that it belongs to no single
process: a host-owned ``attachment`` record (``owner`` null, ``shared``
true, with the device ``path``) and its host-owned ``connection`` record,
and one ``reader`` record per reader, owned by the reader's process, with
the attachment record as parent.  Joining, leaving and releasing run under
the volume's external lock.  The last live reader out releases the share
(disconnect, delete the attachment, forget the records), or, with
``cinder_read_attachment_linger``, marks it to linger until a deadline,
when the store's alarm (or any later request of the volume, or recovery)
releases it; a reader that comes meanwhile joins it without attaching.

A reader that dies leaves a record whose owner is dead; it never keeps a
share alive, and recovery (see :mod:`recovery`) drops it, releasing the
share once no live reader and no linger remains.

Write attachments stay exclusive: before a write attach or a delete of the
volume from this host the share is closed (no new reader joins, no linger
after the last one) and released as soon as no live reader is left.

An unprivileged glance-api takes the device node (or volume file) over
once per share, when the first reader attaches, and gives it back when the
share is released: readers opening and closing in any order never find it
given back under them.

A device that os-brick hands over as a file object (librbd without a
local attach) exists only in the process that connected it: such a share
is not joined by other readers, which wait for it to end.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable

from glance_store import exceptions as gs_exc

from glance_store_cinder import errors
from glance_store_cinder import journal as jr
from glance_store_cinder.alarm import AlarmFactory
from glance_store_cinder.attachment import Attacher
from glance_store_cinder.attachment import LockFactory
from glance_store_cinder.attachment import volume_lock_name
from glance_store_cinder.connectors import ConnectedDevice
from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors import family_for
from glance_store_cinder.polling import Poller
from glance_store_cinder.privileged import RootCommands
from glance_store_cinder.recovery import Recovery
from glance_store_cinder.recovery import linger_pending
from glance_store_cinder.undo import release_on_exit
from glance_store_cinder.volumes import VolumeInfo
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)

Joined = tuple[jr.Record, ConnectedDevice]
"""A reader's record and the device it reads."""


class SharedReads:
    """The shared read attachments of one store on this host."""

    def __init__(self, attacher: Attacher, context: FamilyContext,
                 recovery: Recovery, poller: Poller, linger: float,
                 service_volumes: Callable[[], Volumes] | None,
                 alarm: AlarmFactory, root_commands: RootCommands) -> None:
        """
        :param linger: seconds a share stays after its last reader.
        :param service_volumes: what ends a linger with no request
            (None without service credentials: then nothing lingers).
        """
        self._attacher = attacher
        self._context = context
        self._journal = context.journal
        self._lock: LockFactory = context.lock
        self._recovery = recovery
        self._poller = poller
        self._linger = linger if service_volumes is not None else 0.0
        self._service_volumes = service_volumes
        self._commands = root_commands
        self._alarm = alarm(self.end_expired, poller.clock.monotonic)

    @property
    def lingers(self) -> bool:
        """Whether a share outlives its last reader (and so its cache)."""
        return self._linger > 0

    # -- readers ------------------------------------------------------------
    def join(self, volumes: Volumes, volume: VolumeInfo) -> Joined:
        """Become a reader of the volume's share, attaching if first.

        A share that cannot be joined (being closed for a write or a
        delete, or a device of one process) is waited for, within
        ``cinder_state_transition_timeout``.
        """
        # Also bounds the wait for the volume's lock: readers queued
        # behind a first reader that waited out another host's hold must
        # not each wait as long again.
        deadline = self._poller.clock.monotonic() + self._poller.timeout
        try:
            joined = self._poller.wait(
                lambda: self._try_join(volumes, volume, deadline),
                lambda found: found is not None,
                "the read attachment of volume %s on this host to end"
                % volume.id)
        except errors.StateTimeout as exc:
            raise errors.VolumeHeld(
                message="Volume %s is held on this host (closed for a "
                "write or a delete, or read through a device only one "
                "worker can use); gave up after %.0fs. Try again later"
                % (volume.id, self._poller.timeout)) from exc
        assert joined is not None  # nosec B101 (the wait's condition)
        return joined

    def _try_join(self, volumes: Volumes, volume: VolumeInfo,
                  deadline: float) -> Joined | None:
        journal = self._journal
        with self._lock(volume_lock_name(volume.id)):
            share = self._share(volume.id)
            if share is None and self._poller.clock.monotonic() > deadline:
                raise self._attacher.held_error(volumes, volume.id, "waited "
                                                "for this host's first "
                                                "reader of it")
            if share is not None and not _joinable(share) and \
                    self._recovery.plan(volume.id):
                # Its reader died while attaching, say.
                self._recovery.apply(volume_id=volume.id, volumes=volumes)
                share = self._share(volume.id)
            if share is None:
                return self._attach_first(volumes, volume, deadline)
            if not _joinable(share):
                return None
            reader = journal.begin(jr.READER, share, volume_id=volume.id)
            if share.get("linger_until") is not None:
                journal.update(share, linger_until=None, linger_boot=None)
                LOG.debug("Volume %s: a lingering read attachment is "
                          "used again", volume.id)
            return reader, ConnectedDevice(path=str(share.get("path")))

    def _attach_first(self, volumes: Volumes, volume: VolumeInfo,
                      deadline: float) -> Joined:
        """Attach for the host; the caller holds the volume's lock."""
        journal = self._journal
        with contextlib.ExitStack() as undo:
            share = journal.begin(jr.ATTACHMENT, owned=False,
                                  volume_id=volume.id, mode="ro",
                                  shared=True,
                                  multiattach=volume.multiattach)
            undo.push(release_on_exit(
                lambda: self._forget_unattached(share),
                "Forgetting the read attachment record of volume %s"
                % volume.id))
            reader = journal.begin(jr.READER, share, volume_id=volume.id)
            undo.push(release_on_exit(
                lambda: journal.remove(reader),
                "Forgetting a reader of volume %s" % volume.id))
            connection, device, info = self._attacher.attach_shared(
                volumes, volume, share, deadline)
            # From here the share exists in Cinder: its undo is a release.
            undo.pop_all()
        with contextlib.ExitStack() as undo:
            undo.push(release_on_exit(
                lambda: self._release(volumes, share),
                "Releasing the read attachment of volume %s" % volume.id))
            undo.push(release_on_exit(
                lambda: journal.remove(reader),
                "Forgetting a reader of volume %s" % volume.id))
            if device.path is None:
                # Kept for this process's release: a librbd handle is not
                # in the journal, and os-brick closes it only when given it.
                self._recovery.device_infos[connection.id] = info
                undo.pop_all()
                return reader, device
            path, owner = self._borrow(device.path)
            journal.update(share, path=path, owner_uid=owner)
            undo.pop_all()
        return reader, ConnectedDevice(path=path)

    def _forget_unattached(self, share: jr.Record) -> None:
        """Forget a share that failed to attach, unless Cinder has it.

        An attachment that exists in Cinder stays recorded for recovery.
        """
        if not share.get("attachment_id"):
            self._journal.remove(share)

    def _borrow(self, path: str) -> tuple[str, int | None]:
        """The device, owned by this glance-api for the share's life.

        Returns the resolved path and the uid to give it back to (None
        when nothing was taken over).
        """
        commands = self._commands
        if not commands.needed:
            return path, None
        real = commands.borrowable(path)
        owner = os.stat(real).st_uid
        if owner == commands.uid:
            return real, None
        commands.chown(commands.uid, real)
        return real, owner

    def _give_back(self, share: jr.Record) -> None:
        owner, path = share.get("owner_uid"), share.get("path")
        if not isinstance(owner, int) or not isinstance(path, str):
            return
        try:
            self._commands.chown(owner, path)
        except Exception:
            # Not worth keeping the attachment for: the device goes with
            # the disconnect (a share's file stays ours; sweep reports
            # nothing about it).
            LOG.exception("Giving %s of volume %s back to uid %d failed",
                          path, share.volume_id, owner)

    def leave(self, volumes: Volumes, reader: jr.Record) -> None:
        """Stop reading; the last live reader out releases or lingers."""
        journal = self._journal
        with self._lock(volume_lock_name(str(reader.volume_id))):
            journal.remove(reader)
            share = self._share(str(reader.volume_id))
            if share is None or share.id != reader.parent:
                return
            if self._live_readers(share):
                return
            if self._linger > 0 and not share.get("closing"):
                until = self._poller.clock.monotonic() + self._linger
                journal.update(share, linger_until=until,
                               linger_boot=journal.owners.boot_id())
                self._alarm.at(until)
                return
            self._release(volumes, share)

    # -- ending shares ------------------------------------------------------
    def end(self, volumes: Volumes, volume_id: str, wait: bool) -> None:
        """Close the volume's share before a write attach or a delete.

        Released at once when no live reader is left (a linger ends
        here).  Otherwise its last reader releases it; ``wait``: wait
        for that (bounded) and raise InUseByStore when it does not come.
        """
        with self._lock(volume_lock_name(volume_id)):
            share = self._share(volume_id)
            if share is None:
                return
            if not self._live_readers(share):
                self._release(volumes, share)
                return
            self._journal.update(share, closing=True, linger_until=None)
            readers = len(self._live_readers(share))
        LOG.info("Volume %s: %d reader(s) on this host still read it; "
                 "no new reader joins", volume_id, readers)
        if not wait:
            return
        try:
            self._poller.wait(
                lambda: self._share(volume_id), lambda s: s is None,
                "the readers of volume %s on this host to finish"
                % volume_id)
        except errors.StateTimeout as exc:
            raise gs_exc.InUseByStore(
                message="Volume %s is still read on this host after %.0fs"
                % (volume_id, self._poller.timeout)) from exc

    def watch_lingering(self) -> int:
        """Set the alarm for shares lingering on; return how many.

        At start: a worker that set a linger and then died took its
        alarm with it.
        """
        now = self._poller.clock.monotonic()
        boot = self._journal.owners.boot_id()
        pending = [s for s in self._shares()
                   if linger_pending(s, now, boot)]
        for share in pending:
            self._alarm.at(float(share.get("linger_until")))
        return len(pending)

    def end_expired(self) -> None:
        """Release the shares whose linger has run out (the alarm's)."""
        now = self._poller.clock.monotonic()
        boot = self._journal.owners.boot_id()
        for share in self._shares():
            if (share.get("linger_until") is None
                    or linger_pending(share, now, boot)):
                continue
            LOG.debug("Volume %s: its read attachment's linger has ended",
                      share.volume_id)
            self._recovery.apply(volume_id=str(share.volume_id))

    def _release(self, volumes: Volumes, share: jr.Record) -> None:
        """Disconnect and delete a share; the caller holds the lock.

        The first failure is raised, later ones logged.
        """
        journal = self._journal
        self._give_back(share)
        children = journal.children(share)
        for reader in [c for c in children if c.kind == jr.READER]:
            journal.remove(reader)  # dead: live ones were checked
        with contextlib.ExitStack() as steps:
            # Runs last.  Deleting the attachment refuses while its
            # connection is still recorded (not forced through); then
            # both stay for recovery.
            steps.push(release_on_exit(
                lambda: journal.undo(share, lambda: self._attacher
                                     .delete_recorded(volumes, share)),
                "Deleting the read attachment of volume %s"
                % share.volume_id))
            for child in children:
                if child.kind == jr.CONNECTION:
                    steps.push(release_on_exit(
                        functools.partial(self._disconnect, share, child),
                        "Disconnecting the read attachment of volume %s"
                        % share.volume_id))

    def _disconnect(self, share: jr.Record, connection: jr.Record) -> None:
        family = family_for(str(connection.get("protocol")), self._context)
        family.close(connection, bool(share.get("multiattach")),
                     self._recovery.device_infos.pop(connection.id, None))

    # -- the journal ----------------------------------------------------------
    def _shares(self) -> list[jr.Record]:
        host = self._journal.owners.host
        try:
            records = self._journal.records(jr.ATTACHMENT)
        except OSError as exc:
            raise jr.JournalError("Cannot read the journal %s: %s" % (
                self._journal.directory, exc)) from exc
        # A released share (its DELETE failed) is recovery's, not joined.
        return [r for r in records
                if r.get("shared") and r.host == host and not r.released]

    def _share(self, volume_id: str) -> jr.Record | None:
        for share in self._shares():
            if share.volume_id == volume_id:
                return share
        return None

    def _live_readers(self, share: jr.Record) -> list[jr.Record]:
        return [r for r in self._journal.children(share)
                if r.kind == jr.READER and self._journal.in_use(r)]


def _joinable(share: jr.Record) -> bool:
    """Ready (attached, with a path every worker can open), not closing."""
    return bool(share.get("path")) and not share.get("closing")
