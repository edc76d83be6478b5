"""The host-local journal: what this host has in flight in Cinder.

Before the store creates a volume, an attachment or a connection, it writes
a record of it here, and it removes the record only once the resource has
been released (or, for a volume, handed to Glance).  A process that dies
in between leaves its records behind, and :mod:`recovery` replays them:
that is how nothing stays attached, connected or mounted after a crash.

One JSON file per record, ``<kind>-<uuid>.json`` in
``<lock_path>/journal`` (mode 0700, files 0600: connection properties may
carry CHAP secrets).  Every write is a temporary file, fsync, rename and
fsync of the directory, so after a power loss a record is whole or absent;
removal is unlink and fsync of the directory.  A file that does not parse
is moved aside (``.corrupt``) with one warning and never fails an attach.

Kinds and their kind-specific ``data``:

``volume``
    an add in progress: ``image_id``, ``name``, then ``volume_id``.
``attachment``
    ``volume_id``, ``mode``, then ``attachment_id``; its ``parent`` is the
    ``volume`` record during an add.  Reserved for shared reads (issue
    10): a host-owned attachment (``owner`` null, ``shared`` true) whose
    readers are ``reader`` records with it as parent; it may carry
    ``linger_until`` (see :mod:`sharing`).
``reader``
    one reader of a shared read attachment: ``volume_id``; its parent is
    that attachment's record.
``connection``
    ``volume_id``, ``protocol``, ``properties`` (os-brick's connection
    properties), then ``device`` (os-brick's device info); NFS adds
    ``share`` and ``mount_point``.  The live NFS connection records of a
    share are its holders: the last one out unmounts.  Parent: its
    ``attachment`` record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from glance_store import exceptions as gs_exc

from glance_store_cinder.owners import Owner
from glance_store_cinder.owners import Owners

LOG = logging.getLogger(__name__)


class JournalError(gs_exc.BackendException):
    """The journal could not be written: nothing is created unrecorded."""


VOLUME = "volume"
ATTACHMENT = "attachment"
CONNECTION = "connection"
READER = "reader"
KINDS = (VOLUME, ATTACHMENT, CONNECTION, READER)

SUFFIX = ".json"
CORRUPT_SUFFIX = ".corrupt"
TMP_PREFIX = ".tmp-"


@dataclasses.dataclass
class Record:
    """One resource in flight, as written in the journal.

    Updates change the object in place (and rewrite its file), so undo
    callbacks registered early see what was learnt later (the ids).
    """

    id: str
    kind: str
    store: str
    host: str
    owner: Owner | None
    created: float
    parent: str | None
    data: dict[str, Any]
    released: bool = False
    """The owner let go of it but its undo failed: replay it even while
    the owner lives."""

    @property
    def filename(self) -> str:
        return "%s-%s%s" % (self.kind, self.id, SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["owner"] = self.owner.to_dict() if self.owner else None
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> Record:
        """A record read back; ValueError when it is not one."""
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        try:
            record = cls(
                id=str(uuid.UUID(str(raw["id"]))), kind=str(raw["kind"]),
                store=str(raw["store"]), host=str(raw["host"]),
                owner=(Owner.from_dict(raw["owner"])
                       if raw["owner"] is not None else None),
                created=float(raw["created"]),
                parent=(str(raw["parent"]) if raw["parent"] is not None
                        else None),
                data=dict(raw["data"]), released=bool(raw.get("released")))
        except (KeyError, TypeError) as exc:
            raise ValueError("missing or malformed field: %s" % exc) from exc
        if record.kind not in KINDS:
            raise ValueError("unknown kind %r" % record.kind)
        return record

    def get(self, key: str) -> Any:
        return self.data.get(key)

    @property
    def volume_id(self) -> str | None:
        value = self.data.get("volume_id")
        return str(value) if value else None


class Journal:
    """The records of one store in the host's journal directory.

    Several stores (and every glance-api worker of the host) share the
    directory; each record names its store.
    """

    def __init__(self, directory: str, store: str, owners: Owners,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.store = store
        self.owners = owners
        self._wall_clock = wall_clock
        self._created = False
        self.on_released: Callable[[Record], None] | None = None
        """Called after a record is marked released (its undo failed)."""

    # -- files ----------------------------------------------------------
    def _ensure_directory(self) -> None:
        if not self._created:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            os.chmod(self.directory, 0o700)
            self._created = True

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write(self, record: Record) -> None:
        try:
            self._write_file(record)
        except OSError as exc:
            raise JournalError(
                "Cannot record %s %s in the journal %s: %s"
                % (record.kind, record.id, self.directory, exc)) from exc

    def _write_file(self, record: Record) -> None:
        self._ensure_directory()
        tmp = os.path.join(self.directory, "%s%d-%s" % (
            TMP_PREFIX, os.getpid(), uuid.uuid4().hex))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record.to_dict(), f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self.directory, record.filename))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._fsync_directory()

    def _read(self, name: str) -> Record | None:
        path = os.path.join(self.directory, name)
        try:
            with open(path, encoding="utf-8") as f:
                record = Record.from_dict(json.load(f))
            if record.filename != name:
                raise ValueError("file name does not match kind and id")
        except FileNotFoundError:
            return None  # removed while we listed
        except (OSError, ValueError) as exc:
            self._quarantine(name, exc)
            return None
        return record

    def _quarantine(self, name: str, why: BaseException) -> None:
        """Move a damaged file aside; it never fails an attach."""
        path = os.path.join(self.directory, name)
        try:
            os.replace(path, path + CORRUPT_SUFFIX)
        except FileNotFoundError:
            return  # another worker moved it first (and warned)
        except OSError as exc:
            LOG.warning("Journal file %s is damaged (%s) and could not be "
                        "moved aside: %s", path, why, exc)
            return
        LOG.warning("Journal file %s is damaged (%s); moved it to %s. "
                    "What it recorded is no longer tracked here; "
                    "'glance-store-cinder sweep' finds what Cinder still "
                    "holds for this host", path, why, path + CORRUPT_SUFFIX)

    # -- records ----------------------------------------------------------
    def begin(self, kind: str, parent: Record | None = None, *,
              owned: bool = True, **data: Any) -> Record:
        """Record a resource about to be created (fsynced on return)."""
        if kind not in KINDS:
            raise ValueError("unknown record kind %r" % kind)
        record = Record(
            id=str(uuid.uuid4()), kind=kind, store=self.store,
            host=self.owners.host,
            owner=self.owners.me() if owned else None,
            created=self._wall_clock(),
            parent=parent.id if parent is not None else None, data=data)
        self._write(record)
        return record

    def update(self, record: Record, **data: Any) -> Record:
        """The same record with more data, rewritten atomically."""
        record.data.update(data)
        self._rewrite(record)
        return record

    def mark_released(self, record: Record) -> Record:
        """The owner is done with it but could not undo it."""
        record.released = True
        self._rewrite(record)
        if self.on_released is not None:
            self.on_released(record)
        return record

    def _rewrite(self, record: Record) -> None:
        # A record recovery has replayed meanwhile stays gone: writing it
        # again would have the same resource undone twice.
        if not self.exists(record):
            LOG.debug("Journal record %s is gone; not rewritten", record.id)
            return
        self._write(record)

    def remove(self, record: Record) -> None:
        try:
            os.unlink(os.path.join(self.directory, record.filename))
        except FileNotFoundError:
            return
        self._fsync_directory()

    def all_records(self) -> list[Record]:
        """Every record in the directory, of every store."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        records = []
        for name in names:
            if name.endswith(SUFFIX) and not name.startswith("."):
                record = self._read(name)
                if record is not None:
                    records.append(record)
        return records

    def records(self, kind: str | None = None) -> list[Record]:
        """This store's records (of one kind)."""
        return [r for r in self.all_records()
                if r.store == self.store and (kind is None
                                              or r.kind == kind)]

    def children(self, record: Record) -> list[Record]:
        return [r for r in self.all_records() if r.parent == record.id]

    def in_use(self, record: Record) -> bool:
        """Whether an owner may still use it: not released, owner alive.

        Host-owned records (no owner) are in use while they are there.
        """
        if record.released:
            return False
        return record.owner is None or self.owners.judge(record.owner).alive

    def exists(self, record: Record) -> bool:
        return os.path.exists(os.path.join(self.directory, record.filename))

    def undo(self, record: Record, release: Callable[[], None]) -> None:
        """Release a resource, then forget its record.

        When the release fails the record stays, marked released, so
        that recovery does it later; the failure goes on to the caller.
        """
        try:
            release()
        except BaseException:
            try:
                self.mark_released(record)
            except JournalError:
                LOG.exception("Could not mark journal record %s released",
                              record.id)
            raise
        self.remove(record)

    def remove_stale_temporaries(self, older_than: float) -> int:
        """Remove temporary files a crashed writer left; return how many."""
        removed = 0
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return 0
        limit = self._wall_clock() - older_than
        for name in names:
            if not name.startswith(TMP_PREFIX):
                continue
            path = os.path.join(self.directory, name)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_mtime < limit:
                    os.unlink(path)
                    removed += 1
        return removed


@contextlib.contextmanager
def recorded(journal: Journal, kind: str, parent: Record | None = None,
             *, owned: bool = True, **data: Any) -> Iterator[Record]:
    """A record that is removed if the block fails before it is handed on.

    For the window between writing a record and registering the undo of
    the resource it describes: if creating the resource fails, there is
    nothing to undo and the record goes.
    """
    record = journal.begin(kind, parent, owned=owned, **data)
    try:
        yield record
    except BaseException:
        journal.remove(record)
        raise
