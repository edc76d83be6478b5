"""What every connector family shares."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import stat
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import Protocol

from glance_store import exceptions as gs_exc

from glance_store_cinder import journal as jr
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
    journal: jr.Journal
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


class DisconnectFailed(gs_exc.BackendException):
    """os-brick failed to disconnect.

    ``forced_through``: a forced second attempt went through, so the host
    keeps no device and only the first failure is reported.
    """

    def __init__(self, message: str, forced_through: bool) -> None:
        super().__init__(message)
        self.forced_through = forced_through


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
                  expected_size: int, parent: jr.Record | None = None,
                  shared: bool = False) -> Iterator[ConnectedDevice]:
        """Connect; disconnect when the block ends.

        :param shared: the volume is multiattach: another user on this
            host (a live connection record of the same volume) keeps the
            device connected at the end.
        """
        record, device, info = self.open_connection(
            volume_id, data, expected_size, parent, shared=shared)
        try:
            yield device
        except BaseException as exc:
            self._close_logged(record, exc, shared, info)
            raise
        self.close(record, shared, info)

    def open_connection(self, volume_id: str, data: dict[str, Any],
                        expected_size: int, parent: jr.Record | None = None,
                        *, owned: bool = True, shared: bool = False
                        ) -> tuple[jr.Record, ConnectedDevice,
                                   dict[str, Any]]:
        """Connect and check the device; the caller closes the record.

        The connection is recorded in the journal (``parent``: its
        attachment's record) before os-brick connects; ``owned=False``
        makes it a host-owned record (a shared read attachment's, which
        outlives the process that connected it).  Returns the record,
        the device and os-brick's device info.
        """
        journal = self.context.journal
        with jr.recorded(journal, jr.CONNECTION, parent, owned=owned,
                         volume_id=volume_id, protocol=self.protocol,
                         properties=data) as record:
            info = self.connect(volume_id, data)
        journal.update(record, device=jsonable(info))
        try:
            device = self.device_from(volume_id, info, expected_size)
        except BaseException as exc:
            self._close_logged(record, exc, shared, info)
            raise
        return record, device, info

    def close(self, record: jr.Record, shared: bool = False,
              info: dict[str, Any] | None = None) -> None:
        """Disconnect a recorded connection, then forget the record.

        :param info: os-brick's device info as connect returned it (with
            what the journal cannot hold, a librbd handle); recovery has
            only the recorded copy.
        """
        if shared and self._others_connected(record):
            LOG.debug("Volume %s stays connected for another user on this "
                      "host", record.volume_id)
            self.context.journal.remove(record)
            return
        self.release(record, info)

    def _close_logged(self, record: jr.Record, exc: BaseException,
                      shared: bool, info: dict[str, Any]) -> None:
        """Close while ``exc`` propagates: that error is the one to see."""
        try:
            self.close(record, shared, info)
        except Exception:
            LOG.exception("Disconnecting volume %s failed while handling: "
                          "%s", record.volume_id, exc)

    def _others_connected(self, record: jr.Record) -> bool:
        """Whether a live user on this host still has the volume connected.

        Asked of this host's journal, not of Cinder: with a requester's
        token Cinder hides the attachments' host names.  A journal that
        cannot be read raises: the device stays and so does the record,
        and with it the attachment (see Attacher), for recovery.
        """
        journal = self.context.journal
        return any(other.id != record.id
                   and other.volume_id == record.volume_id
                   and journal.in_use(other)
                   for other in journal.records(jr.CONNECTION))

    def release(self, record: jr.Record,
                info: dict[str, Any] | None = None) -> None:
        """os-brick disconnect of a recorded connection, record removed.

        A disconnect that went through only when forced still leaves no
        device: the record goes, and the first failure is reported.
        """
        journal = self.context.journal
        try:
            self.disconnect(str(record.volume_id), record.get("properties"),
                            info if info is not None
                            else record.get("device") or {})
        except DisconnectFailed as exc:
            if exc.forced_through:
                journal.remove(record)
            else:
                journal.mark_released(record)
            raise
        journal.remove(record)

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
        failure is then raised as :class:`DisconnectFailed`.
        """
        try:
            self.connector.disconnect_volume(data, info, force=True)
        except Exception as exc:
            forced = True
            try:
                self.connector.disconnect_volume(data, info, force=True,
                                                 ignore_errors=True)
            except Exception:
                forced = False
                LOG.exception("Forced disconnect of volume %s failed too",
                              volume_id)
            raise DisconnectFailed(
                "Disconnecting volume %s (%s) failed: %s"
                % (volume_id, self.protocol, exc), forced) from exc

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
        return resolved_device(volume_id, path, real, rules.accepts,
                               "a block device")

    def refresh_size(self, data: dict[str, Any]) -> None:
        """Make the host see a volume extended while attached."""
        try:
            self.connector.extend_volume(data)
        except Exception as exc:
            raise gs_exc.BackendException(
                "Refreshing the size of an extended %s volume failed: %s"
                % (self.protocol, exc)) from exc


def jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """os-brick's device info without what cannot be journaled.

    librbd hands back an open image object as the "path"; after a crash it
    is gone anyway, and os-brick disconnects without it.
    """
    out: dict[str, Any] = {}
    for key, value in info.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


def resolved_device(volume_id: str, path: str, real: str,
                    accepts: Callable[[int], bool],
                    kind: str) -> ConnectedDevice:
    """``real`` (what ``path`` resolves to) if its file type is ``kind``."""
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise refused(volume_id, path, real, str(exc)) from exc
    if not accepts(mode):
        raise refused(volume_id, path, real, "it is not %s" % kind)
    return ConnectedDevice(path=real)


def refused(volume_id: str, path: str, real: str,
            why: str) -> gs_exc.BackendException:
    """The error for a device path from Cinder that is not used."""
    shown = path if path == real else "%s (resolves to %s)" % (path, real)
    return UnsupportedVolume(
        "Volume %s: Cinder's connection points at %s; %s, so it is not "
        "read or written" % (volume_id, shown, why))
