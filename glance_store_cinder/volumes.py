"""The life of an image volume in Cinder: create, wait, extend, delete.

Every call goes through :func:`errors.cinder_errors` and every wait through
the store's :class:`Poller`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from glance_store import exceptions as gs_exc

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
        )

    def attachments_on(self, host: str) -> list[dict[str, Any]]:
        return [a for a in self.attachments if a.get("host_name") == host]


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

    def wait_until_free(self, volume_id: str) -> VolumeInfo:
        """Wait while another user of the volume finishes detaching."""
        return self._poller.wait(
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

    def delete(self, volume_id: str) -> None:
        """Delete and wait until the volume is gone or being deleted.

        A volume that a reader is still detaching, or that Cinder is still
        creating or extending (a cleanup after a failed wait), is waited
        for (within the transition timeout) and then reported as in use.
        """
        volume = self.get(volume_id)
        if volume.status == "deleting":
            # Already going away (a retried delete): Cinder would answer
            # 400, which reads as "in use".
            return
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
        with errors.cinder_errors(
                "Deleting volume %s" % volume_id,
                overrides={400: gs_exc.InUseByStore,
                           409: gs_exc.InUseByStore}):
            self._client.volumes.delete(volume_id)
        try:
            self._poller.wait(
                lambda: self.get(volume_id),
                lambda v: v.status == "deleting",
                "volume %s to be deleted" % volume_id,
                failed=_error_reason)
        except gs_exc.NotFound:
            return

    def delete_quietly_on_failure(self, volume_id: str) -> None:
        """Cleanup of a volume whose image never became available.

        Called while another exception propagates: that exception is what
        the caller must see, so a failure here is logged, with the volume
        id, for the operator to remove it.
        """
        try:
            self.delete(volume_id)
        except gs_exc.NotFound:
            pass
        except Exception:
            LOG.exception("Could not delete volume %s after a failed "
                          "upload; delete it by hand", volume_id)

    def volume_type_exists(self, name: str) -> bool:
        with errors.cinder_errors("Listing volume types"):
            types = self._client.volume_types.list()
        return any(t.name == name or t.id == name for t in types)

    def default_volume_type(self) -> str | None:
        with errors.cinder_errors("Reading the default volume type"):
            return str(self._client.volume_types.default().name)
