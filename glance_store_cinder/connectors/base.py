"""What every connector family shares."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import stat
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import Protocol

from glance_store import exceptions as gs_exc

from glance_store_cinder.polling import Poller

LOG = logging.getLogger(__name__)


class BrickConnector(Protocol):
    """The subset of an os-brick InitiatorConnector the store uses."""

    def connect_volume(self, connection_properties: dict[str, Any]
                       ) -> dict[str, Any]: ...

    def disconnect_volume(self, connection_properties: dict[str, Any],
                          device_info: dict[str, Any], force: bool = False,
                          ignore_errors: bool = False) -> None: ...

    def extend_volume(self, connection_properties: dict[str, Any]
                      ) -> int: ...


class ConnectorFactory(Protocol):
    """os-brick's ``InitiatorConnector.factory`` signature."""

    def __call__(self, protocol: str, root_helper: str, *args: Any,
                 **kwargs: Any) -> BrickConnector: ...


class Mounts(Protocol):
    """Unmounting shares this store mounted (tests inject a fake)."""

    def unmount(self, mount_point: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class DeviceRules:
    """Where a volume's device may be, and what it may be.

    Cinder's connection info names the device; a path elsewhere (a host
    file, a symlink out of /dev) would have image bytes written over it.
    Tests point ``root`` at a directory of regular files.
    """

    root: str = "/dev"
    accepts: Callable[[int], bool] = stat.S_ISBLK
    """Asked with the resolved path's ``st_mode``."""


@dataclasses.dataclass(frozen=True)
class FamilyContext:
    """What a family needs from the store."""

    connector_factory: ConnectorFactory
    root_helper: str
    use_multipath: bool
    mount_point_base: str
    lock: Callable[[str], contextlib.AbstractContextManager[Any]]
    refs_dir: str
    mounts: Mounts
    poller: Poller
    devices: DeviceRules = DeviceRules()


@dataclasses.dataclass
class ConnectedDevice:
    """A volume reachable on this host: a path or an open file object."""

    path: str | None
    file_object: Any = None


class UnsupportedVolume(gs_exc.BackendException):
    """The volume cannot be read or written safely by this store."""


class DeviceFamily:
    """Default behaviour: os-brick connects, the result is a device path."""

    def __init__(self, protocol: str, context: FamilyContext) -> None:
        self.protocol = protocol
        self.context = context
        self._connector: BrickConnector | None = None

    # -- checks ------------------------------------------------------
    def check(self, volume_id: str, data: dict[str, Any]) -> None:
        """Refuse exports that would be written unsafely."""
        if data.get("encrypted"):
            raise UnsupportedVolume(
                "Volume %s is encrypted; the store would read and write "
                "ciphertext without its key, refusing it" % volume_id)

    # -- connect / disconnect ----------------------------------------
    @property
    def connector(self) -> BrickConnector:
        if self._connector is None:
            self._connector = self.context.connector_factory(
                self.protocol, self.context.root_helper,
                use_multipath=self.context.use_multipath,
                device_scan_attempts=3,
                **self.connector_kwargs())
        return self._connector

    def connector_kwargs(self) -> dict[str, Any]:
        return {}

    @contextlib.contextmanager
    def connected(self, volume_id: str, data: dict[str, Any],
                  expected_size: int,
                  keep_connected: Callable[[], bool] | None = None
                  ) -> Iterator[ConnectedDevice]:
        """Connect; disconnect when the block ends.

        :param keep_connected: asked at the end; True means another user on
            this host still needs the device (multiattach), so it stays.
        """
        info = self.connect(volume_id, data)
        try:
            yield self.device_from(volume_id, info, expected_size)
        finally:
            if keep_connected is None or not keep_connected():
                self.disconnect(volume_id, data, info)

    def connect(self, volume_id: str, data: dict[str, Any]
                ) -> dict[str, Any]:
        """os-brick's connect_volume, its failures as BackendException."""
        try:
            return self.connector.connect_volume(data)
        except Exception as exc:
            raise gs_exc.BackendException(
                "Connecting volume %s (%s) failed: %s"
                % (volume_id, self.protocol, exc)) from exc

    def disconnect(self, volume_id: str, data: dict[str, Any],
                   info: dict[str, Any]) -> None:
        """os-brick's disconnect_volume, leaving nothing behind.

        When it fails, os-brick is asked again to carry on past errors
        (``ignore_errors``) so that the host keeps no device; the first
        failure is then raised as BackendException.
        """
        try:
            self.connector.disconnect_volume(data, info, force=True)
        except Exception as exc:
            try:
                self.connector.disconnect_volume(data, info, force=True,
                                                 ignore_errors=True)
            except Exception:
                LOG.exception("Forced disconnect of volume %s failed too",
                              volume_id)
            raise gs_exc.BackendException(
                "Disconnecting volume %s (%s) failed: %s"
                % (volume_id, self.protocol, exc)) from exc

    def device_from(self, volume_id: str, info: dict[str, Any],
                    expected_size: int) -> ConnectedDevice:
        """The connected device, checked before any byte moves."""
        path = info.get("path")
        if not isinstance(path, str):
            raise gs_exc.BackendException(
                "os-brick returned no device path for %s volume %s"
                % (self.protocol, volume_id))
        return self.checked_device(volume_id, path)

    def checked_device(self, volume_id: str, path: str) -> ConnectedDevice:
        """``path`` resolved, if it is a device under the device root."""
        rules = self.context.devices
        real = os.path.realpath(path)
        if not real.startswith(rules.root.rstrip("/") + "/"):
            raise refused(volume_id, path, real,
                          "it is not under %s" % rules.root)
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            raise refused(volume_id, path, real, str(exc)) from exc
        if not rules.accepts(mode):
            raise refused(volume_id, path, real, "it is not a block device")
        return ConnectedDevice(path=real)

    def refresh_size(self, data: dict[str, Any]) -> None:
        """Make the host see a volume extended while attached."""
        try:
            self.connector.extend_volume(data)
        except Exception as exc:
            raise gs_exc.BackendException(
                "Refreshing the size of an extended %s volume failed: %s"
                % (self.protocol, exc)) from exc


def refused(volume_id: str, path: str, real: str,
            why: str) -> gs_exc.BackendException:
    """The error for a device path from Cinder that is not used."""
    shown = path if path == real else "%s (resolves to %s)" % (path, real)
    return UnsupportedVolume(
        "Volume %s: Cinder's connection points at %s; %s, so it is not "
        "read or written" % (volume_id, shown, why))
