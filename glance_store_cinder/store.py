"""The glance_store contract: add, get, get_size, delete.

glance_store loads this class through the ``glance_store.drivers`` entry
point named :data:`STORE_TYPE`, and finds :class:`StoreLocation` in this
module (it looks for ``<Store.__module__>.StoreLocation``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import glance_store.driver
from glance_store import capabilities
from glance_store import exceptions as gs_exc
from oslo_config import cfg
from oslo_utils import units

from glance_store_cinder import location as cinder_location
from glance_store_cinder import logmask
from glance_store_cinder import options
from glance_store_cinder import phases
from glance_store_cinder.client import CinderClients
from glance_store_cinder.location import StoreLocation
from glance_store_cinder.runtime import Collaborators
from glance_store_cinder.runtime import StoreRuntime
from glance_store_cinder.runtime import configure_privsep
from glance_store_cinder.runtime import os_brick_available
from glance_store_cinder.runtime import setup_os_brick
from glance_store_cinder.transfer.device import open_device
from glance_store_cinder.transfer.reader import VolumeReader
from glance_store_cinder.undo import release_on_exit
from glance_store_cinder.upload import Image
from glance_store_cinder.upload import Upload
from glance_store_cinder.volumes import VolumeInfo

LOG = logging.getLogger(__name__)

# The name in ``enabled_backends = <store>:volume``.  Not "cinder": two
# entry points of one name make stevedore fail and glance_store disables
# the store; and no other driver's name may be part of it, because
# glance_store matches option groups to drivers by substring.
STORE_TYPE = "volume"

__all__ = ["STORE_TYPE", "Store", "StoreLocation"]


class Store(glance_store.driver.Store):
    """Keeps each image in its own Cinder volume."""

    _CAPABILITIES = (capabilities.BitMasks.READ_RANDOM
                     | capabilities.BitMasks.WRITE_ACCESS
                     | capabilities.BitMasks.DRIVER_REUSABLE)
    OPTIONS = options.store_options()
    EXAMPLE_URL = "cinder://<store>/<VOLUME_ID>"
    READ_CHUNKSIZE = 4 * units.Mi
    WRITE_CHUNKSIZE = 4 * units.Mi

    def __init__(self, conf: cfg.ConfigOpts, backend: str | None = None,
                 collaborators: Collaborators | None = None) -> None:
        super().__init__(conf, backend=backend)
        options.register(conf, backend or "glance_store")
        self._collaborators = collaborators or Collaborators()
        self._url_prefix = cinder_location.url_prefix(backend)
        self._runtime: StoreRuntime | None = None
        self._refusal: str | None = None

    # -- glance_store plumbing ------------------------------------------
    def get_schemes(self) -> tuple[str, ...]:
        # "cinder" for locations; the type name because glance looks the
        # store up by it (enabled_backends value) as a scheme.
        return (cinder_location.SCHEME, STORE_TYPE)

    @property
    def store_name(self) -> str:
        return self.backend_group or "glance_store"

    @property
    def runtime(self) -> StoreRuntime:
        # Every operation goes through here: mask loggers made since.
        logmask.install()
        if self._runtime is None:
            raise gs_exc.BadStoreConfiguration(
                store_name=self.store_name,
                reason="the store is not configured")
        return self._runtime

    def configure_add(self) -> None:
        """Read and check the options; check the volume type exists.

        Invalid options raise BadStoreConfiguration, which glance_store
        turns into a store with add and delete disabled.  A volume type
        that Cinder does not know is logged once, and add is refused with
        that message; reads and deletes keep working (deleting needs no
        volume type, and Glance drops the image record even when a delete
        is refused, which would leak the volume).  Then what dead workers
        of this host left is recovered (cinder_recover_at_start).
        """
        settings = self.configure_runtime()
        if settings.recover_at_start:
            self._recover()

    def configure_runtime(self) -> options.StoreSettings:
        """configure_add without recovery (for the operator commands)."""
        missing = [name for name, ok in (
            ("python-cinderclient", CinderClients.available()),
            ("os-brick", os_brick_available())) if not ok]
        if missing:
            raise gs_exc.BadStoreConfiguration(
                store_name=self.store_name,
                reason="%s not installed; install it in glance-api's "
                "environment" % " and ".join(missing))
        settings = options.StoreSettings.from_conf(
            self.conf, self.backend_group or "glance_store",
            store_name=self.store_name)
        logmask.SECRETS.add_secret(settings.password)
        logmask.SECRETS.add_secret(settings.application_credential_secret)
        logmask.install()
        if self._collaborators.connector_factory is None:
            setup_os_brick()
        configure_privsep(settings, self._collaborators)
        try:
            self._runtime = StoreRuntime(settings, self.conf,
                                         self._collaborators)
        except OSError as exc:
            raise gs_exc.BadStoreConfiguration(
                store_name=self.store_name,
                reason="cannot create the lock directory: %s" % exc
            ) from exc
        self._refusal = self._check_volume_type(settings)
        return settings

    def _recover(self) -> None:
        """Replay what dead workers of this host left; never fail start."""
        try:
            outcome = self.runtime.recovery.apply()
        except Exception as exc:
            LOG.warning("Store %s: recovery at start failed: %s",
                        self.store_name, exc)
            return
        if outcome.done or outcome.failed:
            LOG.info("Store %s: recovery at start undid %d record(s) of "
                     "dead processes; %d could not be undone yet",
                     self.store_name, len(outcome.done),
                     len(outcome.failed))
        try:
            self.runtime.shared_reads.watch_lingering()
        except Exception as exc:
            LOG.warning("Store %s: cannot look for lingering read "
                        "attachments: %s", self.store_name, exc)

    def _check_volume_type(self, settings: options.StoreSettings
                           ) -> str | None:
        if not settings.volume_type:
            return None
        if not settings.has_service_credentials:
            LOG.info("Store %s: no service user, cinder_volume_type %r is "
                     "checked by Cinder on the first upload",
                     self.store_name, settings.volume_type)
            return None
        try:
            exists = self.runtime.service_volumes().volume_type_exists(
                settings.volume_type)
        except Exception as exc:
            # Cinder not reachable yet: not a configuration fault.
            LOG.warning("Store %s: could not check cinder_volume_type %r "
                        "now (%s); Cinder will check it on upload",
                        self.store_name, settings.volume_type, exc)
            return None
        if exists:
            return None
        reason = ("Store %s: cinder_volume_type %r does not exist in "
                  "Cinder; adding images to this store is refused until "
                  "it is fixed"
                  % (self.store_name, settings.volume_type))
        LOG.error(reason)
        return reason

    @property
    def url_prefix(self) -> str:
        return self._url_prefix

    def is_image_associated_with_store(self, context: Any,
                                       volume_id: str) -> bool:
        """Whether a legacy ``cinder://<id>`` volume belongs to this store.

        It does when its volume type is this store's (or Cinder's default
        type, for a store without ``cinder_volume_type``).  Glance asks
        while reading an image, so failures answer False and are logged.
        """
        if not cinder_location.is_volume_id(volume_id):
            # Never sent to Cinder: it would become part of the URL.
            LOG.warning("Store %s: %r is not a volume id; not asking Cinder",
                        self.store_name, volume_id)
            return False
        try:
            volumes, volume = self.runtime.volume_to_read(context, volume_id)
            wanted = (self.runtime.settings.volume_type
                      or volumes.default_volume_type())
        except gs_exc.NotFound:
            LOG.warning("Store %s: volume %s not found; it may live in "
                        "another project than this store's",
                        self.store_name, volume_id)
            return False
        except Exception as exc:
            LOG.warning("Store %s: cannot tell whether volume %s belongs "
                        "to it: %s", self.store_name, volume_id, exc)
            return False
        return volume.volume_type == wanted

    # -- helpers ------------------------------------------------------
    def _volume_id(self, location: Any) -> str:
        """The location's volume id, if the location is this store's.

        A location naming another store (``cinder://slow/<id>`` handed to
        store ``fast``) would be served with this store's credentials.
        Legacy locations (``cinder://<id>``) name no store.
        """
        store_location = getattr(location, "store_location", location)
        volume_id = getattr(store_location, "volume_id", None)
        if not cinder_location.is_volume_id(volume_id):
            raise gs_exc.BadStoreUri(
                message="location has no valid volume id: %r" % (volume_id,))
        named = getattr(store_location, "store_in_uri", None)
        if named is not None and named != self.backend_group:
            raise gs_exc.BadStoreUri(
                message="location cinder://%s/%s belongs to store %s, not "
                "to store %s" % (named, volume_id, named, self.store_name))
        return str(volume_id)

    def _image_size(self, volume: VolumeInfo) -> int:
        """The image's size: ``image_size`` metadata, else the volume's.

        A recorded size larger than the volume is an error, not a short
        read: the metadata was changed after the upload (the owner project
        can, in multitenant mode) or the volume is not what it claims.
        """
        capacity = volume.size_gib * self.runtime.gib
        recorded = volume.metadata.get("image_size")
        if recorded is not None:
            try:
                size = int(recorded)
            except ValueError:
                LOG.warning("Volume %s has a bad image_size %r; using the "
                            "volume size", volume.id, recorded)
            else:
                if size > capacity:
                    LOG.error("Volume %s claims an image of %d bytes but "
                              "holds only %d; refusing to serve it",
                              volume.id, size, capacity)
                    raise gs_exc.BackendException(
                        "Volume %s: image_size %d is larger than the volume "
                        "(%d bytes)" % (volume.id, size, capacity))
                if size >= 0:
                    return size
        # Volumes Cinder registered itself (upload-to-image, optimized
        # upload) carry no image_size: the image is the whole volume.
        return capacity

    @property
    def refusal(self) -> str | None:
        """Why add is refused, or None."""
        return self._refusal

    def _refuse(self, error: type[gs_exc.GlanceStoreException]) -> None:
        if self._refusal:
            raise error(message=self._refusal)

    # -- the contract ---------------------------------------------------
    @glance_store.driver.back_compat_add
    @capabilities.check
    def add(self, image_id: str, image_file: Any, image_size: int,
            hashing_algo: str, context: Any = None,
            verifier: Any = None) -> tuple[str, int, str, str,
                                           dict[str, str]]:
        self._refuse(gs_exc.StoreAddDisabled)
        image_size = _checked_size(image_size)
        owner = getattr(context, "project_id", None) if context else None
        stored = Upload(self.runtime, self.runtime.volumes_for(context)).run(
            Image(image_id=str(image_id), data=image_file, size=image_size,
                  hashing_algo=hashing_algo, verifier=verifier,
                  owner=str(owner) if owner else None,
                  chunk_size=self.WRITE_CHUNKSIZE))
        result = stored.result
        LOG.info("Stored image %s in volume %s (%d bytes, %d extends)",
                 image_id, stored.volume_id, result.size, stored.extends)
        store_info = ({"store": self.backend_group}
                      if self.backend_group else {})
        return (cinder_location.format_uri(self.backend_group,
                                           stored.volume_id),
                result.size, result.checksum, result.multihash, store_info)

    @capabilities.check
    def get(self, location: Any, offset: int = 0,
            chunk_size: int | None = None,
            context: Any = None) -> tuple[VolumeReader, int]:
        """Attach read-only and stream; ``chunk_size`` is a length limit."""
        volume_id = self._volume_id(location)
        timings = phases.Phases("get", "volume %s" % volume_id)
        timings.mark("lookup")
        volumes, volume = self.runtime.volume_to_read(context, volume_id)
        size = self._image_size(volume)
        if offset < 0 or (offset and offset >= size):
            raise gs_exc.Invalid(
                message="Offset %d is outside image of %d bytes"
                % (offset, size))
        if chunk_size is not None and chunk_size < 0:
            raise gs_exc.Invalid(
                message="chunk_size must not be negative, got %d"
                % chunk_size)
        length = size - offset
        if chunk_size:
            length = min(length, chunk_size)
        shared = self.runtime.shared_reads
        timings.mark("attach")
        with contextlib.ExitStack() as undo:
            # One read-only attachment per volume and host, shared by
            # every reader of the host (sharing.py).
            reader, connected = shared.join(volumes, volume)
            undo.push(release_on_exit(
                lambda: shared.leave(volumes, reader),
                "Leaving the read attachment of volume %s" % volume_id))
            # Each reader its own file descriptor; the share has taken
            # the device over for an unprivileged glance-api already.
            # Pages of a share that goes with its last reader have no
            # later use (transfer/drop_behind.py).
            device = open_device(connected, writable=False,
                                 drop_behind=not shared.lingers)
            undo.callback(device.close)
            # The reads are timed by the reader: between them the
            # caller's own work runs.
            timings.mark(None)
            return (VolumeReader(undo.pop_all(), device, offset, length,
                                 self.READ_CHUNKSIZE,
                                 self.runtime.releaser, timings), length)

    def get_size(self, location: Any, context: Any = None) -> int:
        volume_id = self._volume_id(location)
        _, volume = self.runtime.volume_to_read(context, volume_id)
        return self._image_size(volume)

    @capabilities.check
    def delete(self, location: Any, context: Any = None) -> None:
        volume_id = self._volume_id(location)
        volumes = self.runtime.volumes_to_delete_with(context)
        # A lingering read attachment of this host ends first; live
        # readers of this host release it when they finish (waited for).
        self.runtime.shared_reads.end(volumes, volume_id, wait=False)
        volumes.delete(volume_id)
        self.runtime.remove_volume_lock(volume_id)


def _checked_size(image_size: Any) -> int:
    if image_size is None:
        return 0
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise gs_exc.Invalid(message="Image size must be an integer, got %r"
                             % (image_size,))
    if image_size < 0:
        raise gs_exc.Invalid(message="Image size must not be negative, "
                             "got %d" % image_size)
    return image_size
