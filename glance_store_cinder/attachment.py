"""Attaching a volume to this host, with every step undone on exit.

The steps are Cinder's attachment API (microversion 3.54) and os-brick:

    attachment create -> attachment update (our connector) -> connect
    -> attachment complete

Each step registers its undo the moment it succeeds (disconnect, delete the
attachment), in an :class:`contextlib.ExitStack`, so any failure, and any
way of leaving the ``with`` block, leaves nothing attached.  Attaching and
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
from glance_store_cinder.connectors import ConnectedDevice
from glance_store_cinder.connectors import DeviceFamily
from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors import family_for
from glance_store_cinder.connectors.base import UnsupportedVolume
from glance_store_cinder.location import is_volume_id
from glance_store_cinder.volumes import VolumeInfo
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)

READ_ONLY = "ro"
READ_WRITE = "rw"

LockFactory = Callable[[str], contextlib.AbstractContextManager[Any]]


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


def release_on_exit(release: Callable[[], None], what: str
                    ) -> Callable[..., bool]:
    """An ExitStack exit callback that keeps the first error visible.

    When the block is already failing, a failure to release is logged and
    the original error goes on; when the block succeeded, it is raised.
    """
    def _exit(exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        try:
            release()
        except Exception:
            if exc is None:
                raise
            LOG.exception("%s failed while handling: %s", what, exc)
        return False
    return _exit


class Attacher:
    """Attaches volumes of one store to this host."""

    def __init__(self, host_properties: Callable[[], dict[str, Any]],
                 family_context: FamilyContext, lock: LockFactory,
                 retry_attempts: int, gib: int) -> None:
        self._host_properties = host_properties
        self._family_context = family_context
        self._lock = lock
        self._retry_attempts = max(1, retry_attempts)
        self._gib = gib

    @contextlib.contextmanager
    def attach(self, volumes: Volumes, volume: VolumeInfo,
               mode: str) -> Iterator[Attachment]:
        if volume.encrypted:
            raise UnsupportedVolume(
                "Volume %s is encrypted; the store would read and write "
                "ciphertext without its key, refusing it" % volume.id)
        connector = self._host_properties()
        lock_name = "volume-%s" % volume.id
        undo = contextlib.ExitStack()
        with contextlib.ExitStack() as outer:
            outer.push(release_on_exit(
                lambda: self._locked(lock_name, undo.close),
                "Detaching volume %s" % volume.id))
            # Not under the lock: creating may wait for a reader of this
            # host to detach, and that reader needs the lock to do it.
            attachment_id = self._create(volumes, volume, mode)
            undo.push(release_on_exit(
                lambda: self._delete_attachment(volumes, attachment_id),
                "Deleting attachment %s" % attachment_id))
            with self._lock(lock_name):
                with errors.cinder_errors("Updating attachment %s of "
                                          "volume %s" % (attachment_id,
                                                         volume.id)):
                    updated = volumes.client.attachments.update(
                        attachment_id, connector)
                info = _connection_info(updated)
                family = family_for(str(info["driver_volume_type"]),
                                    self._family_context)
                # The attachment API returns the connection properties
                # flat, next to driver_volume_type (no "data" sub-dict).
                data = dict(info)
                family.check(volume.id, data)
                host = str(connector.get("host", ""))
                device = undo.enter_context(family.connected(
                    volume.id, data, volume.size_gib * self._gib,
                    keep_connected=self._shared_check(
                        volumes, volume, attachment_id, host)))
                with errors.cinder_errors("Completing attachment %s"
                                          % attachment_id):
                    volumes.client.attachments.complete(attachment_id)
            yield Attachment(volume=volume, attachment_id=attachment_id,
                             device=device, family=family,
                             connection_data=data)

    def _locked(self, name: str, fn: Callable[[], Any]) -> None:
        with self._lock(name):
            fn()

    def _create(self, volumes: Volumes, volume: VolumeInfo,
                mode: str) -> str:
        """Create the attachment, waiting out a detach in progress.

        Cinder answers 400 while another user (a reader that just went
        away, another worker) still holds a non-multiattach volume.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                with errors.cinder_errors(
                        "Attaching volume %s (%s)" % (volume.id, mode)):
                    created = volumes.client.attachments.create(
                        volume.id, None, mode=mode)
                # cinderclient returns a dict here (a resource elsewhere).
                attachment_id = (created.get("id")
                                 if isinstance(created, dict) else None)
                if not is_volume_id(attachment_id):
                    raise gs_exc.BackendException(
                        "Cinder answered the attachment of volume %s with "
                        "no attachment id: %r" % (volume.id, attachment_id))
                return str(attachment_id)
            except gs_exc.BackendException as exc:
                if (attempt >= self._retry_attempts
                        or errors.status_of(exc.__cause__ or exc) != 400):
                    raise
                LOG.info("Volume %s is busy (attempt %d of %d); waiting "
                         "for it to be free", volume.id, attempt,
                         self._retry_attempts)
                volumes.wait_until_free(volume.id)

    def _delete_attachment(self, volumes: Volumes, attachment_id: str) -> None:
        try:
            with errors.cinder_errors("Deleting attachment %s"
                                      % attachment_id):
                volumes.client.attachments.delete(attachment_id)
        except gs_exc.NotFound:
            LOG.debug("Attachment %s was already gone", attachment_id)

    def _shared_check(self, volumes: Volumes, volume: VolumeInfo,
                      attachment_id: str, host: str
                      ) -> Callable[[], bool] | None:
        """For multiattach volumes: is another attachment on this host?

        Then the device is in use by someone else and must stay connected.
        """
        if not volume.multiattach:
            return None

        def others_on_host() -> bool:
            current = volumes.get(volume.id)
            return any(a.get("attachment_id") != attachment_id
                       for a in current.attachments_on(host))
        return others_on_host


def _connection_info(attachment: Any) -> dict[str, Any]:
    info = getattr(attachment, "connection_info", None)
    if not isinstance(info, dict) or "driver_volume_type" not in info:
        raise gs_exc.BackendException(
            "Cinder returned no connection info for attachment %s"
            % getattr(attachment, "id", "?"))
    return info
