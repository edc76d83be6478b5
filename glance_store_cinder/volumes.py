"""The life of an image volume in Cinder: create, wait, extend, delete.

Every call goes through :func:`errors.cinder_errors` and every wait through
the store's :class:`Poller`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

from glance_store import exceptions as gs_exc
from oslo_utils import timeutils

from glance_store_cinder import errors
from glance_store_cinder.location import is_volume_id
from glance_store_cinder.polling import Poller

LOG = logging.getLogger(__name__)


# Statuses from which a volume will not reach the one awaited by itself.
ERROR_STATUSES = frozenset({"error", "error_extending", "error_deleting",
                            "error_restoring", "error_managing"})
# Statuses a volume passes through while someone attaches or detaches it.
ATTACH_TRANSIENT = frozenset({"in-use", "attaching", "detaching",
                              "reserved"})
# Statuses of work in progress that Cinder refuses to delete a volume in.
WORK_TRANSIENT = frozenset({"creating", "extending"})
# Attempts of a volume DELETE that Cinder fails with a 5xx.
DELETE_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class VolumeInfo:
    """What the store needs to know of a volume, read in one GET."""

    id: str
    status: str
    size_gib: int
    volume_type: str | None
    metadata: dict[str, str]
    attachments: tuple[dict[str, Any], ...]
    multiattach: bool
    encrypted: bool
    bootable: bool
    name: str | None = None
    created_at: float | None = None
    """Seconds since the epoch, when Cinder says."""

    @classmethod
    def from_resource(cls, volume: Any) -> VolumeInfo:
        return cls(
            id=volume.id,
            status=volume.status,
            size_gib=int(volume.size),
            volume_type=getattr(volume, "volume_type", None),
            metadata=dict(getattr(volume, "metadata", None) or {}),
            attachments=tuple(getattr(volume, "attachments", None) or ()),
            multiattach=bool(getattr(volume, "multiattach", False)),
            encrypted=bool(getattr(volume, "encrypted", False)),
            bootable=str(getattr(volume, "bootable", "false")).lower()
            == "true",
            name=getattr(volume, "name", None),
            created_at=_epoch(getattr(volume, "created_at", None)),
        )

    def attachments_on(self, host: str) -> list[dict[str, Any]]:
        return [a for a in self.attachments if a.get("host_name") == host]


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return timeutils.parse_isotime(value).timestamp()
    except ValueError:
        return None


def _error_reason(volume: VolumeInfo) -> str | None:
    if volume.status in ERROR_STATUSES:
        return "volume %s went to status %s" % (volume.id, volume.status)
    return None


class Volumes:
    """Volume operations with one Cinder client."""

    def __init__(self, client: Any, poller: Poller) -> None:
        self._client = client
        self._poller = poller

    @property
    def client(self) -> Any:
        return self._client

    @property
    def timeout(self) -> float:
        """How long one wait for a volume lasts at most."""
        return self._poller.timeout

    @property
    def attachments(self) -> AttachmentCalls:
        return AttachmentCalls(self._client)

    def get(self, volume_id: str) -> VolumeInfo:
        with errors.cinder_errors("Reading volume %s" % volume_id):
            return VolumeInfo.from_resource(
                self._client.volumes.get(volume_id))

    def create(self, name: str, size_gib: int, volume_type: str | None,
               metadata: dict[str, str]) -> str:
        """Ask Cinder for a volume; return its id without waiting.

        The caller registers the volume's cleanup before it waits.
        """
        with errors.cinder_errors(
                "Creating volume %s of %d GiB (type %s)"
                % (name, size_gib, volume_type or "default"),
                overrides={404: gs_exc.BadStoreConfiguration}):
            volume = self._client.volumes.create(
                size_gib, name=name, volume_type=volume_type,
                metadata=metadata)
        volume_id = getattr(volume, "id", None)
        if not is_volume_id(volume_id):
            # Nothing to clean up by: an operator must find it by name.
            raise gs_exc.BackendException(
                "Cinder created volume %s with an id that is not a UUID: "
                "%r" % (name, volume_id))
        return str(volume_id)

    def wait_status(self, volume_id: str, status: str,
                    what: str | None = None,
                    min_size_gib: int = 0) -> VolumeInfo:
        return self._poller.wait(
            lambda: self.get(volume_id),
            lambda v: v.status == status and v.size_gib >= min_size_gib,
            what or "volume %s to become %s" % (volume_id, status),
            failed=_error_reason)

    def wait_until_free(self, volume_id: str,
                        timeout: float | None = None) -> VolumeInfo:
        """Wait while another user of the volume finishes detaching.

        :param timeout: shorter than the transition timeout, when the
            caller has already waited part of it.
        """
        poller = self._poller
        if timeout is not None and timeout < poller.timeout:
            poller = dataclasses.replace(poller, timeout=max(timeout, 0.0))
        return poller.wait(
            lambda: self.get(volume_id),
            lambda v: v.status not in ATTACH_TRANSIENT,
            "volume %s to be detached" % volume_id,
            failed=_error_reason)

    def extend(self, volume_id: str, new_size_gib: int,
               attached: bool) -> VolumeInfo:
        with errors.cinder_errors("Extending volume %s to %d GiB"
                                  % (volume_id, new_size_gib)):
            self._client.volumes.extend(volume_id, new_size_gib)
        return self.wait_status(
            volume_id, "in-use" if attached else "available",
            "volume %s to be extended to %d GiB" % (volume_id, new_size_gib),
            min_size_gib=new_size_gib)

    def set_metadata(self, volume_id: str, metadata: dict[str, str]) -> None:
        with errors.cinder_errors("Setting metadata of volume %s"
                                  % volume_id):
            self._client.volumes.set_metadata(volume_id, metadata)

    def set_readonly(self, volume_id: str) -> None:
        with errors.cinder_errors("Marking volume %s read-only"
                                  % volume_id):
            self._client.volumes.update_readonly_flag(volume_id, True)

    def set_bootable(self, volume_id: str) -> None:
        with errors.cinder_errors("Marking volume %s bootable" % volume_id):
            self._client.volumes.set_bootable(volume_id, True)

    def delete(self, volume_id: str, wait_for_work: bool = True,
               wait_for_detach: bool = True) -> None:
        """Delete and wait until the volume is gone or being deleted.

        A volume that a reader is still detaching, or that Cinder is still
        creating or extending, is waited for (within the transition
        timeout) and then reported as in use.  ``wait_for_work=False``
        reports a volume still being created or extended as in use at
        once: the caller has already waited for that work once.
        ``wait_for_detach=False`` reports a volume with attachments as in
        use at once: the caller knows nobody is detaching it (its own
        attachment DELETE failed).
        """
        volume = self.get(volume_id)
        if volume.status == "deleting":
            # Already going away (a retried delete): Cinder would answer
            # 400, which reads as "in use".
            return
        if volume.status in WORK_TRANSIENT and not wait_for_work:
            raise gs_exc.InUseByStore(
                message="Volume %s is still %s; not deleted"
                % (volume_id, volume.status))
        if volume.attachments and not wait_for_detach:
            raise gs_exc.InUseByStore(
                message="Volume %s is still attached (its attachment could "
                "not be deleted); not deleted" % volume_id)
        busy = ATTACH_TRANSIENT | WORK_TRANSIENT
        if volume.status in busy or volume.attachments:
            try:
                volume = self._poller.wait(
                    lambda: self.get(volume_id),
                    lambda v: (v.status not in busy
                               and not v.attachments),
                    "volume %s to be detached before deletion" % volume_id,
                    failed=_error_reason)
            except errors.StateTimeout as exc:
                raise gs_exc.InUseByStore(
                    message="Volume %s is still attached or busy after "
                    "%.0fs; not deleted" % (volume_id, self._poller.timeout)
                ) from exc
        self._request_delete(volume_id)
        try:
            self._poller.wait(
                lambda: self.get(volume_id),
                lambda v: v.status == "deleting",
                "volume %s to be deleted" % volume_id,
                failed=_error_reason)
        except gs_exc.NotFound:
            return

    def _request_delete(self, volume_id: str) -> None:
        """The DELETE, retried a few times when Cinder fails (5xx)."""
        intervals = self._poller.intervals()
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                with errors.cinder_errors(
                        "Deleting volume %s" % volume_id,
                        overrides={400: gs_exc.InUseByStore,
                                   409: gs_exc.InUseByStore}):
                    self._client.volumes.delete(volume_id)
                return
            except Exception as exc:  # translated: status in its cause
                status = errors.status_of(exc.__cause__ or exc)
                if (status is None or status < 500
                        or attempt == DELETE_ATTEMPTS):
                    raise
                LOG.warning("Deleting volume %s failed (HTTP %d, attempt "
                            "%d of %d); trying again", volume_id, status,
                            attempt, DELETE_ATTEMPTS)
                self._poller.clock.sleep(next(intervals))

    def named(self, name: str) -> list[VolumeInfo]:
        """The project's volumes of that name."""
        with errors.cinder_errors("Listing volumes named %s" % name):
            found = self._client.volumes.list(search_opts={"name": name})
        return [VolumeInfo.from_resource(v) for v in found]

    def iter_all(self, page_size: int = 200) -> Iterator[VolumeInfo]:
        """Every volume of the project, page by page."""
        marker = None
        while True:
            with errors.cinder_errors("Listing volumes"):
                page = self._client.volumes.list(
                    detailed=True, marker=marker, limit=page_size,
                    sort="created_at:asc")
            for volume in page:
                yield VolumeInfo.from_resource(volume)
            if len(page) < page_size:
                return
            marker = page[-1].id

    def volume_type_exists(self, name: str) -> bool:
        with errors.cinder_errors("Listing volume types"):
            types = self._client.volume_types.list()
        return any(t.name == name or t.id == name for t in types)

    def default_volume_type(self) -> str | None:
        with errors.cinder_errors("Reading the default volume type"):
            return str(self._client.volume_types.default().name)


class AttachmentCalls:
    """Cinder's attachment API (3.54), every call translated."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def create(self, volume_id: str, mode: str) -> str:
        with errors.cinder_errors("Attaching volume %s (%s)"
                                  % (volume_id, mode)):
            created = self._client.attachments.create(volume_id, None,
                                                      mode=mode)
        # cinderclient returns a dict here (a resource elsewhere).
        attachment_id = (created.get("id") if isinstance(created, dict)
                         else None)
        if not is_volume_id(attachment_id):
            raise gs_exc.BackendException(
                "Cinder answered the attachment of volume %s with no "
                "attachment id: %r" % (volume_id, attachment_id))
        return str(attachment_id)

    def update(self, attachment_id: str, volume_id: str,
               connector: dict[str, Any]) -> Any:
        with errors.cinder_errors("Updating attachment %s of volume %s"
                                  % (attachment_id, volume_id)):
            return self._client.attachments.update(attachment_id,
                                                   connector)

    def complete(self, attachment_id: str) -> None:
        with errors.cinder_errors("Completing attachment %s"
                                  % attachment_id):
            self._client.attachments.complete(attachment_id)

    def delete(self, attachment_id: str, missing_ok: bool = True,
               ask_again: bool = False) -> None:
        """Delete; an attachment already gone is fine (``missing_ok``).

        With ``ask_again`` (the end of a request: an upload's bytes are on
        the volume by then), asked twice when Cinder failed the first
        request inside or did not answer (:func:`errors.failed_inside`): a
        message Cinder lost must not fail the upload.  A refused or timed
        out connection is not repeated: the journal's background retry
        waits for cinder-api to come back.  Recovery and sweep ask once:
        their records stay and are retried anyway.
        """
        action = "Deleting attachment %s" % attachment_id
        for attempt in (1, 2):
            try:
                with errors.cinder_errors(action):
                    self._client.attachments.delete(attachment_id)
                return
            except gs_exc.NotFound:
                # After a first try that failed, the second's 404 may be
                # that try's doing, or an attachment this user cannot see.
                if not missing_ok:
                    raise
                LOG.debug("Attachment %s was already gone", attachment_id)
                return
            except Exception as exc:
                # cinder_errors raises the translation from the client's.
                if (attempt == 2 or not ask_again
                        or not errors.failed_inside(exc.__cause__)):
                    raise
                LOG.warning("%s; asking Cinder once more", exc)
