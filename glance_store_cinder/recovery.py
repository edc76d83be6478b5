"""Replaying the journal records of processes that died.

A record whose owner is dead (or that its owner released after a failed
undo) describes something nobody on this host uses any more: a connection
to disconnect, an attachment to delete, a volume whose add never
completed.  :meth:`Recovery.plan` lists them with the action and the
reason; :meth:`Recovery.apply` carries the actions out, children before
parents (connection, then attachment, then volume), and removes a record
only once its undo succeeded.  A record of a live owner, or of another
host, is never touched.

Runs at store start (``configure_add``, unless
``cinder_recover_at_start`` is off), lazily for one volume when Cinder
says that volume is busy, and on demand through ``glance-store-cinder
sweep``.  Two workers never replay at once: apply holds the journal's
``replay`` lock, and each record is judged again and undone under its
volume's lock (recovery of one volume takes only that lock).

A shared read attachment (host-owned, see :mod:`sharing`) is judged as a
whole: a dead reader's record is dropped; the attachment and its
connection are released only when no live reader is left and no linger
is pending, never under a live reader.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from glance_store import exceptions as gs_exc

from glance_store_cinder import journal as jr
from glance_store_cinder.attachment import volume_lock_name
from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors import family_for
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)

REPLAY_LOCK = "journal-replay"
# Temporary files of a writer that died mid-write, removed after this.
STALE_TEMPORARY_SECONDS = 3600.0
# Children first: the order in which kinds are undone.
_ORDER = {jr.READER: 0, jr.CONNECTION: 1, jr.ATTACHMENT: 2, jr.VOLUME: 3}
_ACTIONS = {jr.READER: "forget the reader",
            jr.CONNECTION: "disconnect",
            jr.ATTACHMENT: "delete the attachment",
            jr.VOLUME: "delete the volume"}


@dataclasses.dataclass(frozen=True)
class Step:
    """One record to replay: what it is, what will be done, and why."""

    record: jr.Record
    action: str
    reason: str

    @property
    def subject(self) -> str:
        r = self.record
        if r.kind == jr.ATTACHMENT:
            return "attachment %s of volume %s" % (
                r.get("attachment_id") or "(never created)", r.volume_id)
        if r.kind == jr.VOLUME:
            return "volume %s of image %s" % (
                r.volume_id or r.get("name"), r.get("image_id"))
        if r.kind == jr.CONNECTION:
            return "%s connection of volume %s" % (r.get("protocol"),
                                                   r.volume_id)
        return "%s record %s" % (r.kind, r.id)


@dataclasses.dataclass
class Outcome:
    done: list[Step] = dataclasses.field(default_factory=list)
    failed: list[tuple[Step, str]] = dataclasses.field(default_factory=list)


def volumes_of(volumes: Volumes, record: jr.Record,
               search: bool = False) -> list[str]:
    """The Cinder volume(s) a ``volume`` record stands for.

    With no id the create never returned (or its owner died before it
    could record the id): when that is unsure (``search``, or the create
    failed ambiguously) the volume is looked up by name and by its
    ``glance_image_id``.
    """
    if record.volume_id:
        return [record.volume_id]
    if not (search or record.get("create_unsure")):
        return []
    return [v.id for v in volumes.named(str(record.get("name")))
            if v.metadata.get("glance_image_id") == record.get("image_id")]


class Recovery:
    """Replays this store's records of dead owners."""

    def __init__(self, journal: jr.Journal, family_context: FamilyContext,
                 volumes: Callable[[], Volumes] | None,
                 remove_volume_lock: Callable[[str], None],
                 not_found_is_gone: bool = True,
                 monotonic: Callable[[], float] | None = None) -> None:
        """
        :param volumes: the service user's volume calls; None without
            service credentials (then only local connections are undone).
        :param not_found_is_gone: False when records were made with
            requesters' tokens: a 404 to the service user then means
            "not visible", not "already deleted".
        """
        self._journal = journal
        self._context = family_context
        self._volumes = volumes
        self._remove_volume_lock = remove_volume_lock
        self._not_found_is_gone = not_found_is_gone
        self._monotonic = monotonic or family_context.poller.clock.monotonic
        self.device_infos: dict[str, dict[str, Any]] = {}
        """os-brick's device info of the connections this process made,
        by record id, with what the journal cannot hold (a librbd
        handle)."""

    # -- planning ---------------------------------------------------------
    def plan(self, volume_id: str | None = None) -> list[Step]:
        """What apply would do (for one volume only, if given)."""
        journal = self._journal
        records = journal.records()
        children: dict[str, list[jr.Record]] = {}
        for record in records:
            if record.parent:
                children.setdefault(record.parent, []).append(record)
        by_id = {record.id: record for record in records}
        steps = []
        for record in records:
            if volume_id is not None and record.volume_id != volume_id:
                continue
            share = share_of(record, by_id)
            if share is not None:
                reason = self._why_release(record, share,
                                           children.get(share.id, []))
            else:
                reason = self._why_replay(record,
                                          children.get(record.id, []))
            if reason is not None:
                steps.append(Step(record, _ACTIONS[record.kind], reason))
        steps.sort(key=lambda s: (_ORDER[s.record.kind], s.record.created))
        return steps

    def _why_release(self, record: jr.Record, share: jr.Record,
                     members: list[jr.Record]) -> str | None:
        """Why a record of a shared read attachment goes, or None."""
        journal = self._journal
        if record.kind == jr.READER:
            if record.released:
                return "its reader let go of it"
            verdict = journal.owners.judge(record.owner) if record.owner \
                else None
            return None if verdict is None or verdict.alive \
                else verdict.reason
        if any(m.kind == jr.READER and journal.in_use(m) for m in members):
            return None
        if linger_pending(share, self._monotonic(),
                          journal.owners.boot_id()):
            return None
        if share.get("linger_until") is not None:
            return "shared read attachment: its linger has ended"
        return "shared read attachment with no live reader left"

    def _why_replay(self, record: jr.Record,
                    children: list[jr.Record]) -> str | None:
        journal = self._journal
        if any(journal.in_use(child) for child in children):
            return None  # a live user depends on it
        if record.released:
            return "its owner released it but could not undo it"
        if record.owner is None:
            return "host-owned and no live user is left"
        verdict = journal.owners.judge(record.owner)
        return None if verdict.alive else verdict.reason

    # -- applying ---------------------------------------------------------
    def apply(self, steps: Iterable[Step] | None = None,
              volume_id: str | None = None,
              progress: Callable[[Step], None] | None = None,
              volumes: Volumes | None = None) -> Outcome:
        """Carry out ``steps`` (default: a fresh plan).

        :param volumes: the Volumes to delete attachments with (a
            reader's); default: the service user's.
        """
        outcome = Outcome()
        # One volume: its lock is enough (and is what its readers hold).
        lock = (volume_lock_name(volume_id) if volume_id is not None
                else REPLAY_LOCK)
        with self._context.lock(lock):
            planned = list(steps) if steps is not None else self.plan(
                volume_id)
            for step in planned:
                if progress is not None:
                    progress(step)
                self._apply_one(step, outcome, volumes)
            if volume_id is None:
                self._journal.remove_stale_temporaries(
                    STALE_TEMPORARY_SECONDS)
        return outcome

    def _apply_one(self, step: Step, outcome: Outcome,
                   volumes: Volumes | None) -> None:
        record = step.record
        if record.volume_id is None:
            self._apply_locked(step, outcome, volumes)
            return
        with self._context.lock(volume_lock_name(record.volume_id)):
            # Judged again: a reader may have joined since the plan.
            if record.id not in {s.record.id for s in
                                 self.plan(record.volume_id)}:
                return
            self._apply_locked(step, outcome, volumes)

    def _apply_locked(self, step: Step, outcome: Outcome,
                      volumes: Volumes | None) -> None:
        record = step.record
        if not self._journal.exists(record):
            return  # replayed by someone else meanwhile
        pending = self._journal.children(record)
        if pending:
            outcome.failed.append((step, "kept: %d dependent record(s) "
                                   "could not be undone" % len(pending)))
            return
        try:
            self._undo(record, volumes)
        except Exception as exc:
            LOG.warning("Recovery: could not %s (%s): %s", step.action,
                        step.subject, exc)
            outcome.failed.append((step, str(exc)))
            return
        LOG.info("Recovery: did %s: %s (%s)", step.action, step.subject,
                 step.reason)
        outcome.done.append(step)

    def _undo(self, record: jr.Record, volumes: Volumes | None) -> None:
        if record.kind == jr.CONNECTION:
            family = family_for(str(record.get("protocol")), self._context)
            with self._context.lock(volume_lock_name(str(record.volume_id))):
                # shared: another live user of the volume on this host
                # keeps the device; only this record goes.
                family.close(record, shared=True,
                             info=self.device_infos.get(record.id))
            self.device_infos.pop(record.id, None)
        elif record.kind == jr.ATTACHMENT:
            self._journal.undo(record, lambda: self._delete_attachment(
                record, volumes))
        elif record.kind == jr.VOLUME:
            self._journal.undo(record, lambda: self._delete_volume(record))
        else:
            self._journal.remove(record)

    def _service(self, what: str) -> Volumes:
        if self._volumes is None:
            raise gs_exc.BadStoreConfiguration(
                reason="no service credentials to %s with" % what)
        return self._volumes()

    def _delete_attachment(self, record: jr.Record,
                           volumes: Volumes | None) -> None:
        attachment_id = record.get("attachment_id")
        if not attachment_id:
            return  # never created in Cinder
        if volumes is None:
            volumes = self._service("delete attachment %s" % attachment_id)
        with self._context.lock(volume_lock_name(str(record.volume_id))):
            self._gone_or_raise(
                lambda: volumes.attachments.delete(str(attachment_id),
                                                   missing_ok=False),
                "attachment %s" % attachment_id)

    def _delete_volume(self, record: jr.Record) -> None:
        volumes = self._service("delete volume %s" % record.volume_id)
        # The owner may have died between create and recording the id.
        for volume_id in volumes_of(volumes, record, search=True):
            self._gone_or_raise(functools.partial(
                self._delete_with_attachments, volumes, volume_id),
                "volume %s" % volume_id)
            self._remove_volume_lock(volume_id)

    def _delete_with_attachments(self, volumes: Volumes,
                                 volume_id: str) -> None:
        # An add that never completed: nobody else attaches its volume.
        for attachment in volumes.get(volume_id).attachments:
            volumes.attachments.delete(str(attachment["attachment_id"]))
        volumes.delete(volume_id)

    def _gone_or_raise(self, call: Callable[[], Any], what: str) -> None:
        try:
            call()
        except gs_exc.NotFound:
            if not self._not_found_is_gone:
                raise gs_exc.NotFound(
                    message="%s is not visible to the store's service user "
                    "(made with a requester's token); delete it as an "
                    "admin" % what) from None


def share_of(record: jr.Record, by_id: dict[str, jr.Record]
             ) -> jr.Record | None:
    """The shared read attachment ``record`` belongs to, if any."""
    if record.kind == jr.ATTACHMENT and record.get("shared"):
        return record
    parent = by_id.get(record.parent) if record.parent else None
    if parent is not None and parent.kind == jr.ATTACHMENT and \
            parent.get("shared"):
        return parent
    return None


def linger_pending(share: jr.Record, now: float, boot_id: str) -> bool:
    """Whether a shared attachment's linger still runs.

    The deadline is on the host's monotonic clock, which restarts with
    each boot: a deadline of another boot has passed.
    """
    until = share.get("linger_until")
    return (isinstance(until, (int, float)) and now < until
            and share.get("linger_boot") == boot_id)
