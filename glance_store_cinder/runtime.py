"""What one store needs at run time, wired from settings and collaborators.

The collaborators are the seams: tests inject a fake Cinder (as an HTTP
transport under keystoneauth), fake os-brick connectors, a clock that does
not sleep and a small "GiB".  Production uses the defaults: requests,
os-brick, oslo.concurrency locks, the real clock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import shlex
import socket
import threading
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from glance_store import exceptions as gs_exc
from oslo_concurrency import lockutils
from oslo_concurrency import opts as concurrency_opts
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_utils import units

from glance_store_cinder.alarm import AlarmFactory
from glance_store_cinder.alarm import thread_alarm
from glance_store_cinder.attachment import Attacher
from glance_store_cinder.attachment import volume_lock_name
from glance_store_cinder.cleanup_retry import CleanupRetry
from glance_store_cinder.client import CinderClients
from glance_store_cinder.client import HttpSessionFactory
from glance_store_cinder.connectors import ConnectorFactory
from glance_store_cinder.connectors import FamilyContext
from glance_store_cinder.connectors.base import DeviceRules
from glance_store_cinder.connectors.base import Mounts
from glance_store_cinder.journal import Journal
from glance_store_cinder.mounts import MountTable
from glance_store_cinder.mounts import SystemMounts
from glance_store_cinder.options import StoreSettings
from glance_store_cinder.owners import Owners
from glance_store_cinder.owners import ProcessTable
from glance_store_cinder.owners import ProcFs
from glance_store_cinder.polling import STEADY_FOR
from glance_store_cinder.polling import STEADY_INTERVAL
from glance_store_cinder.polling import Clock
from glance_store_cinder.polling import Poller
from glance_store_cinder.privileged import Execute
from glance_store_cinder.privileged import RootCommands
from glance_store_cinder.recovery import Recovery
from glance_store_cinder.sharing import SharedReads
from glance_store_cinder.transfer import releaser
from glance_store_cinder.volumes import VolumeInfo
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)

HostProperties = Callable[[StoreSettings], dict[str, Any]]
# oslo.privsep's priv_context.init: sets the command that privsep-helper
# is prefixed with when ``[<context>] helper_command`` is not set.
PrivsepInit = Callable[[list[str]], None]

LOCK_PREFIX = "glance_store_cinder-"
# The (lock path, name) of the locks each thread holds.
_HELD = threading.local()


@dataclasses.dataclass(frozen=True)
class Collaborators:
    """Replaceable parts; ``None`` means the production default."""

    http_session_factory: HttpSessionFactory | None = None
    connector_factory: ConnectorFactory | None = None
    host_properties: HostProperties | None = None
    mounts: Mounts | None = None
    clock: Clock = dataclasses.field(default_factory=Clock)
    gib: int = units.Gi
    lock_path: str | None = None
    process_table: ProcessTable | None = None
    journal_path: str | None = None
    """Default: ``<lock_path>/journal``."""
    devices: DeviceRules = DeviceRules()
    root_execute: Execute = processutils.execute
    mount_table: MountTable | None = None
    privsep_init: PrivsepInit | None = None
    euid: Callable[[], int] = os.geteuid
    """This process's effective uid: decides borrowing files and privsep."""
    alarm: AlarmFactory = thread_alarm
    """What ends lingering read attachments when no request comes."""


def os_brick_available() -> bool:
    try:
        import os_brick  # noqa: F401
        from os_brick.initiator import connector  # noqa: F401
    except ImportError:
        return False
    return True


_os_brick_setup_done = False
_os_brick_setup_lock = threading.Lock()


def setup_os_brick() -> None:
    """Let os-brick read its lock path and privsep settings.

    os-brick and oslo.privsep read the process-wide ``cfg.CONF`` (which is
    glance-api's configuration), whatever ConfigOpts the store was given.
    """
    global _os_brick_setup_done
    with _os_brick_setup_lock:
        if _os_brick_setup_done:
            return
        import os_brick
        from oslo_concurrency import lockutils  # noqa: F401 (registers opts)

        os_brick.setup(cfg.CONF)
        _os_brick_setup_done = True


def privsep_root_helper(root_helper: str, euid: int) -> list[str] | None:
    """What os-brick's privsep daemon is started through, or None.

    An unprivileged glance-api may run as root only what its sudoers line
    allows, ``glance-rootwrap <rootwrap_config> *``; oslo.privsep's own
    default (``sudo privsep-helper ...``) is not covered by it.  As root,
    oslo.privsep's default is kept: rootwrap would add nothing.
    ``[privsep_osbrick] helper_command``, when an operator sets it, wins
    over both (oslo.privsep ignores the prefix then).
    """
    if euid == 0:
        return None
    return shlex.split(root_helper)


def configure_privsep(settings: StoreSettings,
                      collaborators: Collaborators) -> None:
    """Point oslo.privsep's default root helper at glance-rootwrap.

    The setting is process-wide: with several stores, the last configured
    store's ``rootwrap_config`` is used (the in-tree driver does the same,
    before every attach).
    """
    init = collaborators.privsep_init
    if init is None:
        if collaborators.connector_factory is not None:
            return      # injected connectors never start privsep
        init = _oslo_privsep_init
    prefix = privsep_root_helper(settings.root_helper, collaborators.euid())
    if prefix is not None:
        init(prefix)


def _oslo_privsep_init(prefix: list[str]) -> None:
    from oslo_privsep import priv_context
    priv_context.init(root_helper=prefix)


def _brick_connector_factory(protocol: str, root_helper: str, *args: Any,
                             **kwargs: Any) -> Any:
    from os_brick.initiator import connector
    return connector.InitiatorConnector.factory(protocol, root_helper,
                                                *args, **kwargs)


def _my_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _brick_host_properties(settings: StoreSettings) -> dict[str, Any]:
    from os_brick.initiator import connector
    props: dict[str, Any] = connector.get_connector_properties(
        settings.root_helper, _my_ip(), settings.use_multipath,
        settings.enforce_multipath, host=socket.gethostname())
    return props


class StoreRuntime:
    """Clients, poller and attacher of one configured store."""

    def __init__(self, settings: StoreSettings, conf: cfg.ConfigOpts,
                 collaborators: Collaborators) -> None:
        self.settings = settings
        self.gib = collaborators.gib
        self.clients = CinderClients(settings,
                                     collaborators.http_session_factory)
        self.poller = Poller(settings.state_transition_timeout,
                             clock=collaborators.clock,
                             steady_interval=STEADY_INTERVAL,
                             steady_for=STEADY_FOR)
        self.lock_path = collaborators.lock_path or _lock_path(conf,
                                                               settings)
        self.root_commands = RootCommands(
            settings.root_helper, settings.mount_point_base,
            execute=collaborators.root_execute, uid=collaborators.euid(),
            devices=collaborators.devices)
        host_properties = (collaborators.host_properties
                           or _brick_host_properties)
        self._host_properties_fn = host_properties
        self._host_properties: dict[str, Any] | None = None
        self._host_lock = threading.Lock()
        # Detaches readers that garbage collection found abandoned.
        self.releaser = releaser.SHARED
        self.journal = Journal(
            collaborators.journal_path
            or os.path.join(self.lock_path, "journal"),
            settings.store_name,
            Owners(collaborators.process_table or ProcFs(), self.host_name))
        family_context = self._family_context(collaborators)
        self.recovery = Recovery(
            self.journal, family_context,
            self.service_volumes if settings.has_service_credentials
            else None, self.remove_volume_lock,
            not_found_is_gone=not settings.uses_requester_token)
        # An undo that failed (Cinder away) is tried again in background.
        self.cleanup_retry = CleanupRetry(
            self.recovery, settings.store_name, collaborators.alarm,
            self.poller.clock.monotonic)
        self.journal.on_released = self.cleanup_retry.released
        self.attacher = Attacher(self.host_properties, family_context,
                                 self.lock,
                                 settings.attachment_retry_attempts,
                                 self.gib,
                                 recover_volume=self._recover_volume)
        self.shared_reads = SharedReads(
            self.attacher, family_context, self.recovery, self.poller,
            settings.read_attachment_linger,
            self.service_volumes if settings.has_service_credentials
            else None, collaborators.alarm, self.root_commands)
        self.attacher.end_share = functools.partial(
            self.shared_reads.end, wait=True)

    def _family_context(self, collaborators: Collaborators) -> FamilyContext:
        """What every connector family needs from this store."""
        settings = self.settings
        return FamilyContext(
            connector_factory=(collaborators.connector_factory
                               or _brick_connector_factory),
            root_helper=settings.root_helper,
            use_multipath=settings.use_multipath,
            mount_point_base=settings.mount_point_base,
            lock=self.lock,
            journal=self.journal,
            mounts=collaborators.mounts or SystemMounts(
                self.root_commands, collaborators.mount_table),
            poller=self.poller,
            devices=collaborators.devices,
        )

    def _recover_volume(self, volume_id: str) -> int:
        return len(self.recovery.apply(volume_id=volume_id).done)

    def lock(self, name: str) -> contextlib.AbstractContextManager[Any]:
        """The host-wide lock ``name``; reentrant within a thread.

        The first reader of a shared attachment attaches under the
        volume's lock, and what it calls then (the lazy recovery of that
        volume, the connect) takes the same lock again.
        """
        return _held_once((self.lock_path, name), lambda: lockutils.lock(
            name, lock_file_prefix=LOCK_PREFIX, external=True,
            lock_path=self.lock_path))

    def remove_volume_lock(self, volume_id: str) -> None:
        """Remove the lock file of a volume Cinder is deleting.

        Safe although another process may have the file open: the lock
        guards attaching and detaching that volume on this host, and once
        Cinder has accepted the delete (it refuses while any attachment
        exists) every attach of it fails at Cinder.  A process that still
        waits on the old file and one that creates a new file could both
        hold "the lock", but all either can do is fail.  The file is
        unlinked while holding the lock, so nobody is between its steps.
        """
        name = volume_lock_name(volume_id)
        try:
            with self.lock(name):
                os.unlink(os.path.join(self.lock_path, LOCK_PREFIX + name))
        except FileNotFoundError:
            return
        except OSError as exc:
            LOG.warning("Could not remove the lock file of volume %s: %s",
                        volume_id, exc)

    def host_name(self) -> str:
        """This host as Cinder's attachments name it (connector host)."""
        return str(self.host_properties().get("host")
                   or socket.gethostname())

    def host_properties(self) -> dict[str, Any]:
        """This host's connector (cached: os-brick starts privsep for it)."""
        with self._host_lock:
            if self._host_properties is None:
                self._host_properties = self._host_properties_fn(
                    self.settings)
            return dict(self._host_properties)

    def volumes_for(self, context: Any) -> Volumes:
        return Volumes(self.clients.client_for(context), self.poller)

    def service_volumes(self) -> Volumes:
        return Volumes(self.clients.service_client(), self.poller)

    @property
    def _service_fallback(self) -> bool:
        s = self.settings
        return s.multitenant and s.has_service_credentials

    def volume_to_read(self, context: Any,
                       volume_id: str) -> tuple[Volumes, VolumeInfo]:
        """The volume, read as the requester, else as the service user.

        In multitenant mode an image shared with (or public to) other
        projects lives in its owner's project: Glance let the requester
        see the image, Cinder does not show them the volume.  With service
        credentials configured, the read goes on with those.
        """
        volumes = self.volumes_for(context)
        try:
            return volumes, volumes.get(volume_id)
        except gs_exc.NotFound:
            if not self._service_fallback:
                raise
        LOG.info("Store %s: volume %s is not visible to project %s; "
                 "reading it with the service credentials",
                 self.settings.store_name, volume_id,
                 getattr(context, "project_id", None))
        service = self.service_volumes()
        return service, service.get(volume_id)

    def volumes_to_delete_with(self, context: Any) -> Volumes:
        """Deletes by the scrubber or tasks carry no project: service user.
        """
        if self._service_fallback and not getattr(context, "project_id",
                                                  None):
            return self.service_volumes()
        return self.volumes_for(context)


@contextlib.contextmanager
def _held_once(name: tuple[str, str],
               make: Callable[[], contextlib.AbstractContextManager[Any]]
               ) -> Iterator[None]:
    """Take a lock unless this thread already holds it."""
    names: set[tuple[str, str]] = _HELD.__dict__.setdefault("names", set())
    if name in names:
        yield
        return
    with make():
        names.add(name)
        try:
            yield
        finally:
            names.discard(name)


def _lock_path(conf: cfg.ConfigOpts, settings: StoreSettings) -> str:
    """``[oslo_concurrency] lock_path``, else a directory of the store's.

    The options are registered here: glance-api has them already (Glance
    imports lockutils), an operator command's own configuration has not,
    and without them it would read no lock_path and use another journal
    and other locks than glance-api's workers.
    """
    for group, opts in concurrency_opts.list_opts():
        conf.register_opts(opts, group=group)
    configured = conf.oslo_concurrency.lock_path
    path = configured or os.path.join(settings.mount_point_base,
                                      ".glance_store_cinder")
    os.makedirs(path, exist_ok=True)
    return str(path)
