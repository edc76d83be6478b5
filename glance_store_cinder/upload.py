"""The add path: one image into a new volume of its own.

The volume is recorded in the host's journal before Cinder is asked for
it; its cleanup is registered the moment the record exists and is handed
off (``pop_all``) only once the image is complete, when Glance owns the
volume and the record goes.  A worker that dies in between leaves the
record, and recovery deletes the volume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

from glance_store import exceptions as gs_exc

from glance_store_cinder import errors
from glance_store_cinder import formats
from glance_store_cinder import journal as jr
from glance_store_cinder import phases
from glance_store_cinder import recovery
from glance_store_cinder.runtime import StoreRuntime
from glance_store_cinder.transfer import growth
from glance_store_cinder.transfer.volume_target import VolumeWriteTarget
from glance_store_cinder.transfer.writer import WriteResult
from glance_store_cinder.transfer.writer import write_image
from glance_store_cinder.undo import release_on_exit
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Image:
    """What Glance hands over for one add."""

    image_id: str
    data: Any
    size: int
    """0 when unknown."""
    hashing_algo: str
    verifier: Any
    owner: str | None
    chunk_size: int


@dataclasses.dataclass(frozen=True)
class Stored:
    volume_id: str
    result: WriteResult
    extends: int


class Upload:
    """One add, with the store's runtime and the requester's volumes."""

    def __init__(self, runtime: StoreRuntime, volumes: Volumes) -> None:
        self._runtime = runtime
        self._volumes = volumes

    def run(self, image: Image) -> Stored:
        name = "image-%s" % image.image_id
        metadata = {"glance_image_id": image.image_id,
                    "image_size": str(image.size)}
        if image.owner:
            metadata["image_owner"] = image.owner
        with phases.recording("add", "image %s" % image.image_id):
            return self._run(image, name, metadata)

    def _run(self, image: Image, name: str,
             metadata: dict[str, str]) -> Stored:
        runtime = self._runtime
        phases.mark("journal")
        record = runtime.journal.begin(jr.VOLUME, image_id=image.image_id,
                                       name=name)
        with contextlib.ExitStack() as undo:
            undo.push(release_on_exit(
                lambda: self._discard(record),
                "Deleting the volume of image %s" % image.image_id))
            phases.mark("create")
            volume_id = self._create(record, growth.initial_size_gib(
                image.size, runtime.gib), metadata)
            runtime.journal.update(record, volume_id=volume_id)
            result, extends = self._fill(volume_id, record, image)
            # Glance owns the volume from here on: nothing to undo.
            undo.pop_all()
        phases.mark("journal")
        runtime.journal.remove(record)
        return Stored(volume_id, result, extends)

    def _create(self, record: jr.Record, size_gib: int,
                metadata: dict[str, str]) -> str:
        try:
            return self._volumes.create(
                str(record.get("name")), size_gib,
                self._runtime.settings.volume_type, metadata)
        except Exception as exc:
            status = errors.status_of(exc.__cause__ or exc)
            if status is None or status >= 500:
                # Cinder may have created it all the same (a timeout, a
                # 5xx after the fact): look for it by name on cleanup.
                self._runtime.journal.update(record, create_unsure=True)
            raise

    def _fill(self, volume_id: str, record: jr.Record,
              image: Image) -> tuple[WriteResult, int]:
        """Write the image into the new volume and finish it."""
        runtime, volumes = self._runtime, self._volumes
        settings = runtime.settings
        phases.mark("wait")
        try:
            volume = volumes.wait_status(volume_id, "available")
        except errors.StateTimeout:
            # Cinder has not created it within the timeout: do not wait
            # as long again to delete it (the journal keeps it).
            runtime.journal.update(record, stuck=True)
            raise
        target = VolumeWriteTarget(
            runtime.attacher, volumes, volume_id,
            extend_attached=settings.do_extend_attached,
            gib=runtime.gib, root_commands=runtime.root_commands,
            volume=volume, parent=record,
            direct_io=settings.upload_direct_io)
        with target:
            result = write_image(
                image.data, target, expected_size=image.size,
                hashing_algo=image.hashing_algo, verifier=image.verifier,
                chunk_size=image.chunk_size,
                skip_zeros=settings.thin_provisioning,
                keep_head=bool(settings.bootable_volume_formats))
        phases.mark("metadata")
        if result.size != image.size:
            volumes.set_metadata(volume_id,
                                 {"image_size": str(result.size)})
        volumes.set_readonly(volume_id)
        if settings.bootable_volume_formats:
            found = formats.detected_formats(result.head)
            if found & set(settings.bootable_volume_formats):
                volumes.set_bootable(volume_id)
        return result, target.extends

    def _discard(self, record: jr.Record) -> None:
        """Delete the volume of a failed add, then forget its record.

        Only called while the add's own error propagates: a volume that
        cannot be deleted now (Cinder still creating it, refusing) stays
        recorded, released, and recovery deletes it later.
        """
        volumes = self._volumes
        journal = self._runtime.journal

        def delete() -> None:
            # The add's own attachment is still recorded when its DELETE
            # failed (refused, Cinder away): nobody detaches the volume
            # now, waiting for that would only hold the client.
            detaching = not journal.children(record)
            for found in recovery.volumes_of(volumes, record):
                try:
                    volumes.delete(found,
                                   wait_for_work=not record.get("stuck"),
                                   wait_for_detach=detaching)
                except gs_exc.NotFound:
                    pass
                self._runtime.remove_volume_lock(found)

        try:
            self._runtime.journal.undo(record, delete)
        except Exception as exc:
            LOG.warning("Volume %s of a failed upload is not deleted yet "
                        "(%s); it stays in the journal and is retried in the "
                        "background (and at the next start, or by "
                        "'glance-store-cinder sweep')", record.volume_id,
                        exc)
