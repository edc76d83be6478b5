"""An os-brick-shaped connector that "attaches" FakeCloud volumes.

``FakeConnectorFactory`` has the signature of os-brick's
``InitiatorConnector.factory`` and builds :class:`FakeConnector` objects
whose methods match os-brick's connectors (``connect_volume``,
``disconnect_volume``, ``extend_volume``, ``get_volume_paths``,
``check_valid_device``).  A connection resolves to the volume's backing
file (``exports.py`` has what each protocol adds); it only succeeds for a
volume Cinder exported (an attachment got a connector), as with real
storage.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import pathlib
import threading
from typing import Any

from os_brick import exception as brick_exc

from tests.unit.fakes.cloud import FakeCloud
from tests.unit.fakes.cloud import FakeVolume
from tests.unit.fakes.exports import EXPORTS
from tests.unit.fakes.exports import HostState
from tests.unit.fakes.exports import ShareMounts

OPERATIONS = ("connect", "disconnect", "extend", "get_volume_paths",
              "check_valid_device")


@dataclasses.dataclass(frozen=True)
class FactoryRequest:
    """One call of the factory."""

    protocol: str
    root_helper: str
    use_multipath: bool
    device_scan_attempts: int
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Connection:
    """A volume connected on this host (one connect_volume call)."""

    serial: int
    protocol: str
    volume_id: str
    path: str


@dataclasses.dataclass(frozen=True)
class ConnectorCall:
    """One connector method call, failed or not."""

    operation: str
    protocol: str
    volume_id: str | None
    path: str | None
    error: BaseException | None = None
    force: bool | None = None
    ignore_errors: bool | None = None


@dataclasses.dataclass
class _Failure:
    exc: BaseException
    times: int


class FakeConnector:
    """Connects FakeCloud volumes of one protocol (see ``exports.py``)."""

    def __init__(self, factory: FakeConnectorFactory, protocol: str,
                 root_helper: str, use_multipath: bool = False,
                 device_scan_attempts: int = 3,
                 **kwargs: Any) -> None:
        self.factory = factory
        self.protocol = protocol.upper()
        self.root_helper = root_helper
        self.use_multipath = use_multipath
        self.device_scan_attempts = device_scan_attempts
        self.kwargs = kwargs
        self.export = EXPORTS[self.protocol](factory.cloud, factory.host)

    # -- resolution -------------------------------------------------------
    def _volume(self, props: dict[str, Any]) -> FakeVolume:
        missing = [k for k in self.export.required if k not in props]
        if missing and self.protocol == "LOCAL":
            raise ValueError("Invalid connection_properties specified "
                             "no device_path attribute")
        if missing:
            raise KeyError(missing[0])
        vol = self.export.find(props)
        if vol is None:
            raise brick_exc.VolumeDeviceNotFound(
                device=self.export.where(props))
        return vol

    def _fail(self, operation: str, vol: FakeVolume | None,
              **details: Any) -> None:
        exc = self.factory.take_failure(operation)
        if exc is not None:
            self.factory.record(ConnectorCall(
                operation, self.protocol, vol.id if vol else None,
                str(vol.backing_path) if vol else None, error=exc,
                **details))
            raise exc

    # -- os-brick API -------------------------------------------------------
    def connect_volume(self, connection_properties: dict[str, Any]
                       ) -> dict[str, Any]:
        vol = self._volume(connection_properties)
        self._fail("connect", vol)
        if not self.factory.cloud.is_exported(vol.id):
            # No export/mapping to this host: nothing shows up.
            error = brick_exc.VolumeDeviceNotFound(
                device=str(vol.backing_path))
            self.factory.record(ConnectorCall(
                "connect", self.protocol, vol.id, None, error=error))
            raise error
        path = str(vol.backing_path)
        info = self.export.attach(vol, connection_properties, self.kwargs)
        self.factory.open(self.protocol, vol.id, path)
        self.factory.record(ConnectorCall("connect", self.protocol, vol.id,
                                          path))
        return info

    def disconnect_volume(self, connection_properties: dict[str, Any],
                          device_info: dict[str, Any] | None,
                          force: bool = False,
                          ignore_errors: bool = False) -> None:
        vol = self._volume(connection_properties)
        exc = self.factory.take_failure("disconnect")
        if exc is not None and not (force and ignore_errors):
            self.factory.record(ConnectorCall(
                "disconnect", self.protocol, vol.id, str(vol.backing_path),
                error=exc, force=force, ignore_errors=ignore_errors))
            raise exc
        self.export.detach(vol, device_info)
        self.factory.close(self.protocol, vol.id)
        self.factory.record(ConnectorCall(
            "disconnect", self.protocol, vol.id, str(vol.backing_path),
            error=exc, force=force, ignore_errors=ignore_errors))

    def extend_volume(self, connection_properties: dict[str, Any]) -> int:
        vol = self._volume(connection_properties)
        self._fail("extend", vol)
        self.factory.record(ConnectorCall("extend", self.protocol, vol.id,
                                          str(vol.backing_path)))
        return os.path.getsize(vol.backing_path)

    def get_volume_paths(self, connection_properties: dict[str, Any]
                         ) -> list[str]:
        vol = self._volume(connection_properties)
        self._fail("get_volume_paths", vol)
        self.factory.record(ConnectorCall("get_volume_paths", self.protocol,
                                          vol.id, str(vol.backing_path)))
        return [str(vol.backing_path)]

    def check_valid_device(self, path: str, run_as_root: bool = True) -> bool:
        vol = self.factory.cloud.volume_by_backing_path(path)
        self._fail("check_valid_device", vol)
        self.factory.record(ConnectorCall(
            "check_valid_device", self.protocol, vol.id if vol else None,
            path))
        return vol is not None and os.access(path, os.R_OK)

    def get_search_path(self) -> str | None:
        return None

    def get_all_available_volumes(
            self, connection_properties: dict[str, Any] | None = None
    ) -> list[str]:
        return []


class FakeConnectorFactory:
    """Callable like ``os_brick.initiator.connector.InitiatorConnector
    .factory``; records what it was asked for and every open connection.
    """

    protocols = tuple(EXPORTS)

    def __init__(self, cloud: FakeCloud, mounts: ShareMounts | None = None,
                 device_dir: pathlib.Path | None = None) -> None:
        """:param mounts: told of shares NFS connections mount.
        :param device_dir: where SCALEIO device nodes appear.
        """
        self.cloud = cloud
        self.host = HostState(device_dir or cloud.backing_dir.parent / "dev",
                              mounts)
        self.requests: list[FactoryRequest] = []
        self.calls: list[ConnectorCall] = []
        self.connections: set[Connection] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, protocol: str, root_helper: str,
                 driver: Any = None, use_multipath: bool = False,
                 device_scan_attempts: int = 3, arch: str | None = None,
                 *args: Any, **kwargs: Any) -> FakeConnector:
        with self._lock:
            self.requests.append(FactoryRequest(
                protocol, root_helper, use_multipath, device_scan_attempts,
                dict(kwargs)))
        if protocol.upper() not in self.protocols:
            raise brick_exc.InvalidConnectorProtocol(
                "Invalid InitiatorConnector protocol specified %s"
                % protocol)
        return FakeConnector(self, protocol, root_helper,
                             use_multipath=use_multipath,
                             device_scan_attempts=device_scan_attempts,
                             **kwargs)

    # -- test-facing ------------------------------------------------------
    @property
    def protocols_requested(self) -> list[str]:
        return [r.protocol for r in self.requests]

    def fail_on(self, operation: str, exc: BaseException | None = None,
                times: int = 1) -> None:
        """Make the next ``times`` calls of an operation raise ``exc``.

        ``operation``: connect, disconnect, extend, get_volume_paths or
        check_valid_device.  A disconnect with ``force`` and
        ``ignore_errors`` swallows the error, as os-brick does.
        """
        if operation not in OPERATIONS:
            raise ValueError("operation must be one of %s" % (OPERATIONS,))
        with self._lock:
            self._failures.setdefault(operation, []).append(_Failure(
                exc if exc is not None
                else OSError("injected %s failure" % operation), times))

    def open_volume_ids(self) -> list[str]:
        with self._lock:
            return sorted(c.volume_id for c in self.connections)

    def leftovers(self) -> list[str]:
        """Open connections, handles and device nodes."""
        with self._lock:
            problems = ["connection %s %s (%s)"
                        % (c.protocol, c.volume_id, c.path)
                        for c in sorted(self.connections,
                                        key=lambda c: c.serial)]
            return problems + self.host.leftovers()

    def assert_clean(self) -> None:
        problems = self.leftovers()
        if problems:
            raise AssertionError("connections still open: %s"
                                 % ", ".join(problems))

    def time_passes(self) -> None:
        """What the host's kernel does meanwhile (device nodes grow)."""
        with self._lock:
            self.host.tick()

    # -- for FakeConnector --------------------------------------------------
    def take_failure(self, operation: str) -> BaseException | None:
        with self._lock:
            pending = self._failures.get(operation)
            if not pending:
                return None
            failure = pending[0]
            failure.times -= 1
            if failure.times <= 0:
                pending.pop(0)
            return failure.exc

    def record(self, call: ConnectorCall) -> None:
        with self._lock:
            self.calls.append(call)

    def open(self, protocol: str, volume_id: str, path: str) -> None:
        with self._lock:
            self.connections.add(Connection(next(self._serial), protocol,
                                            volume_id, path))

    def close(self, protocol: str, volume_id: str) -> None:
        """Drop one connection of the volume (disconnect is idempotent)."""
        with self._lock:
            mine = sorted((c for c in self.connections
                           if c.protocol == protocol
                           and c.volume_id == volume_id),
                          key=lambda c: c.serial)
            if mine:
                self.connections.discard(mine[0])


def fake_connector_properties(root_helper: str, my_ip: str, multipath: bool,
                              enforce_multipath: bool,
                              host: str | None = None,
                              execute: Any = None) -> dict[str, Any]:
    """What ``os_brick.initiator.connector.get_connector_properties``
    returns on a Linux host with iSCSI and NVMe-oF tools installed.
    """
    return {
        "platform": "x86_64",
        "os_type": "linux",
        "ip": my_ip,
        "host": host or "glance-host-1",
        "multipath": multipath,
        "enforce_multipath": enforce_multipath,
        "initiator": "iqn.2004-10.com.ubuntu:01:fake0c1de5",
        "do_local_attach": False,
        "uuid": "5a1e7c1d-0000-4000-8000-00000000fa4e",
        "system uuid": "5a1e7c1d-0000-4000-8000-00000000fa4e",
        "nqn": "nqn.2014-08.org.nvmexpress:uuid:"
               "5a1e7c1d-0000-4000-8000-00000000fa4e",
        "nvme_native_multipath": True,
    }
