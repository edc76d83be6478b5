"""A Store wired to the fakes: config file, collaborators, helpers.

No patching: the Store gets a fake Cinder and Keystone (over HTTP), fake
os-brick connectors, fake mounts and a clock that advances on sleep, all
through :class:`glance_store_cinder.runtime.Collaborators`.
"""

from __future__ import annotations

import hashlib
import io
import pathlib
import stat
import threading
import uuid
from collections.abc import Callable
from typing import Any

import requests
from cinderclient import api_versions
from cinderclient.v3 import client as cinder_client
from glance_store import location as gs_location
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from oslo_config import cfg
from oslo_context import context as oslo_context

from glance_store_cinder.attachment import Attacher
from glance_store_cinder.connectors.base import DeviceRules
from glance_store_cinder.polling import Clock
from glance_store_cinder.runtime import Collaborators
from glance_store_cinder.store import Store
from glance_store_cinder.store import StoreLocation
from glance_store_cinder.transfer import releaser
from glance_store_cinder.volumes import Volumes
from testing_support.imagedata import random_bytes
from tests.unit.fakes import FakeCloud
from tests.unit.fakes import FakeConnectorFactory
from tests.unit.fakes import fake_connector_properties
from tests.unit.fakes.processes import FakeProcessTable
from tests.unit.transports import Outage

StoredImage = tuple[Store, gs_location.Location, bytes, str]
"""A store, an image's location in it, the image's bytes, its volume id."""
AttachTarget = tuple[Attacher, Volumes, str]
"""A store's attacher, its service Volumes, a volume id to attach."""
SharedImages = tuple[Store, list[tuple[gs_location.Location, bytes]]]
"""A store and images in it: their locations and bytes."""

# A small "GiB" so that multi-GiB logic runs on a few bytes.
GIB = 16 * 1024
CHUNK = 4096
PASSWORD = "glance-pw"
HOST = "glance-host-1"
KEYSTONE = "http://keystone.test/v3"
ENDPOINT_TEMPLATE = "http://cinder.test/v3/%(project_id)s"


class FakeTime:
    """A monotonic clock that only moves when the store sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None
        """What the test makes happen while the store sleeps."""
        self.meanwhile: list[Callable[[], None]] = []
        """What the environment does while time passes (before on_sleep)."""
        self.on_monotonic: Callable[[], None] | None = None
        """Told whenever the store reads the clock."""

    def monotonic(self) -> float:
        if self.on_monotonic is not None:
            self.on_monotonic()
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        for happening in self.meanwhile:
            happening()
        if self.on_sleep is not None:
            self.on_sleep()

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep)


class FakeAlarm:
    """The store's linger alarm, rung by the test after moving time."""

    def __init__(self, ring: Callable[[], None],
                 monotonic: Callable[[], float]) -> None:
        self._ring = ring
        self._monotonic = monotonic
        self.deadlines: list[float] = []

    def at(self, deadline: float) -> None:
        self.deadlines.append(deadline)

    def ring_due(self) -> int:
        """Ring for the deadlines passed; return how many there were."""
        now = self._monotonic()
        due = [d for d in self.deadlines if d <= now]
        self.deadlines = [d for d in self.deadlines if d > now]
        if due:
            self._ring()
        return len(due)


class FakeMounts:
    """Shares mounted by (fake) os-brick and unmounted by the store."""

    def __init__(self) -> None:
        self.mounted: set[str] = set()
        self.unmounted: list[str] = []

    def mount(self, mount_point: str) -> None:
        self.mounted.add(mount_point)

    def unmount(self, mount_point: str) -> None:
        self.mounted.discard(mount_point)
        self.unmounted.append(mount_point)


class RecordingVerifier:
    """A signature verifier that remembers what it was fed."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.calls = 0

    def update(self, chunk: bytes) -> None:
        self.calls += 1
        self.data += chunk


class BrokenSource:
    """A file-like source whose read() fails after ``good`` bytes."""

    def __init__(self, data: bytes, good: int,
                 error: BaseException | None = None) -> None:
        self._data = io.BytesIO(data)
        self._good = good
        self.error = error or OSError("client went away")

    def read(self, size: int = -1) -> bytes:
        if self._data.tell() >= self._good:
            raise self.error
        return self._data.read(min(size, self._good - self._data.tell()))


def pattern(size: int, seed: int = 0) -> bytes:
    """The first ``size`` bytes of the image data of sequence ``seed``."""
    return random_bytes(0, size, stream=seed)


def digests(data: bytes, algo: str = "sha512") -> tuple[str, str]:
    return (hashlib.md5(data).hexdigest(),
            hashlib.new(algo, data).hexdigest())


def new_image_id() -> str:
    return str(uuid.uuid4())


def conf_text(groups: dict[str, dict[str, Any]]) -> str:
    lines = []
    for group, values in groups.items():
        lines.append("[%s]" % group)
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            lines.append("%s = %s" % (key, value))
        lines.append("")
    return "\n".join(lines)


class Env:
    """One fake cloud, connector factory, mounts and clock for a test."""

    def __init__(self, tmp_path: pathlib.Path, protocol: str = "local",
                 gib: int = GIB, **cloud_kwargs: Any) -> None:
        self.tmp = tmp_path
        self.protocol = protocol
        self.gib = gib
        self.cloud = FakeCloud(gib=gib, backing_dir=tmp_path / "volumes",
                               protocol=protocol, **cloud_kwargs)
        self.glance_user_id, self.service_project = self.cloud.add_user(
            "glance", PASSWORD, "service", roles=("member", "service"))
        self.mounts = FakeMounts()
        # Device nodes beside the backing files: both are "devices".
        self.factory = FakeConnectorFactory(
            self.cloud, mounts=self.mounts,
            device_dir=tmp_path / "volumes" / "dev")
        self.time = FakeTime()
        self.time.meanwhile.append(self.factory.time_passes)
        # The process's releaser thread lives as long as the process.
        releaser.SHARED.ensure_started()
        self.threads_before = set(threading.enumerate())
        self.mount_base = tmp_path / "mnt"
        self.lock_path = tmp_path / "locks"
        self.processes = FakeProcessTable()
        self.alarms: list[FakeAlarm] = []
        self._confs = 0

    # -- configuration ----------------------------------------------------
    def store_group(self, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "cinder_store_auth_address": KEYSTONE,
            "cinder_store_user_name": "glance",
            "cinder_store_password": PASSWORD,
            "cinder_store_project_name": "service",
            "cinder_volume_type": "glance-fast",
            "cinder_mount_point_base": str(self.mount_base),
            "cinder_state_transition_timeout": 30,
        }
        values.update(overrides)
        return values

    def conf(self, groups: dict[str, dict[str, Any]]) -> cfg.ConfigOpts:
        self._confs += 1
        path = self.tmp / ("glance-api-%d.conf" % self._confs)
        path.write_text(conf_text(groups))
        conf = cfg.ConfigOpts()
        conf.register_opt(cfg.DictOpt("enabled_backends"))
        conf(["--config-file", str(path)], project="glance")
        return conf

    def multi_conf(self, fast: dict[str, Any] | None = None,
                   slow: dict[str, Any] | None = None) -> cfg.ConfigOpts:
        return self.conf({
            "DEFAULT": {"enabled_backends": "fast:volume,slow:volume"},
            "glance_store": {"default_backend": "fast"},
            "fast": self.store_group(**(fast or {})),
            "slow": self.store_group(**{
                "cinder_volume_type": "glance-slow", **(slow or {})}),
        })

    def collaborators(self, **overrides: Any) -> Collaborators:
        values: dict[str, Any] = dict(
            http_session_factory=self.http_session,
            connector_factory=self.factory,
            host_properties=lambda settings: fake_connector_properties(
                settings.root_helper, "192.0.2.10", settings.use_multipath,
                settings.enforce_multipath, host=HOST),
            mounts=self.mounts,
            clock=self.time.clock(),
            gib=self.gib,
            lock_path=str(self.lock_path),
            process_table=self.processes,
            alarm=self.alarm,
            # The fake's "devices": its backing files and device nodes.
            devices=DeviceRules(root=str(self.cloud.backing_dir),
                                accepts=stat.S_ISREG))
        values.update(overrides)
        return Collaborators(**values)

    def alarm(self, ring: Callable[[], None],
              monotonic: Callable[[], float]) -> FakeAlarm:
        made = FakeAlarm(ring, monotonic)
        self.alarms.append(made)
        return made

    def ring_alarms(self) -> int:
        """Ring every store's alarm whose deadline has passed."""
        return sum(alarm.ring_due() for alarm in self.alarms)

    def http_session(self) -> requests.Session:
        session = self.cloud.http_session()
        session.trust_env = False  # no proxy lookups: faster, hermetic
        return session

    def outage(self, down: bool = True) -> Outage:
        return Outage(self.cloud, down)

    def store(self, backend: str | None = "fast",
              conf: cfg.ConfigOpts | None = None, *,
              chunk: int = CHUNK, read_chunk: int | None = None,
              configure: bool = True,
              collaborators: Collaborators | None = None,
              **options: Any) -> Store:
        """A configured store; ``options`` go into its group."""
        if conf is None:
            if backend is None:
                conf = self.conf({
                    "glance_store": self.store_group(**options)})
            else:
                conf = self.multi_conf(fast=options if backend == "fast"
                                       else None,
                                       slow=options if backend == "slow"
                                       else None)
        store = Store(conf, backend=backend,
                      collaborators=collaborators or self.collaborators())
        store.WRITE_CHUNKSIZE = chunk
        store.READ_CHUNKSIZE = read_chunk or chunk
        if configure:
            store.configure(re_raise_bsc=True)
        return store

    def app_credential_store(self, secret: str | None = None
                             ) -> tuple[Store, str, str]:
        """A store that signs in with a new application credential.

        ``secret``: the one it is configured with, if not the right one.
        Returns the store, the credential's id and its right secret.
        """
        cred_id, right = self.cloud.add_app_credential("glance", "service")
        store = self.store(
            cinder_store_user_name=None, cinder_store_password=None,
            cinder_store_project_name=None,
            cinder_store_application_credential_id=cred_id,
            cinder_store_application_credential_secret=(
                right if secret is None else secret))
        return store, cred_id, right

    # -- contexts and locations -------------------------------------------
    def user_context(self, user: str, project: str) -> Any:
        user_id, project_id = self.cloud.add_user(user, PASSWORD, project)
        return oslo_context.RequestContext(
            auth_token=self.cloud.issue_token(user, project),
            project_id=project_id, user_id=user_id)

    def foreign_attachment(self, volume_id: str, host: str = "compute-7"
                           ) -> tuple[Any, str]:
        """Someone else (Nova, another glance-api host) attaches a volume.

        Returns their cinderclient client and the attachment id.
        """
        token = self.cloud.issue_token("glance", "service")
        endpoint = self.cloud.cinder_endpoint(self.service_project)
        auth = token_endpoint.Token(endpoint, token)
        client = cinder_client.Client(
            session=ks_session.Session(auth=auth,
                                       session=self.http_session()),
            auth=auth, api_version=api_versions.APIVersion("3.54"))
        att = client.attachments.create(
            volume_id, fake_connector_properties(
                "sudo", "192.0.2.99", False, False, host=host), mode="ro")
        client.attachments.complete(att["id"])
        return client, att["id"]

    @staticmethod
    def location(store: Store, uri: str) -> gs_location.Location:
        return gs_location.Location("cinder", StoreLocation, store.conf,
                                    uri=uri, backend=store.backend_group)

    # -- checks -------------------------------------------------------------
    def assert_clean(self, keep: Any = ()) -> None:
        self.cloud.assert_clean(keep=keep)
        self.factory.assert_clean()

    def assert_detached(self, volume_id: str) -> None:
        """Nothing left but the volume, which is available again."""
        self.assert_clean(keep=[volume_id])
        assert self.cloud.volume(volume_id).status == "available"

    def leaks(self) -> dict[str, list[str]]:
        """What the test left behind, by kind (see tests/unit/conftest.py).
        """
        journal = self.lock_path / "journal"
        return {
            **self.cloud.leaks(),
            "connections": self.factory.leftovers(),
            "mounts": sorted(self.mounts.mounted),
            # NFS share holders are journal records (connections) too.
            "journal_records": sorted(
                "%s: %s" % (p.name, p.read_text())
                for p in (journal.glob("*.json") if journal.is_dir()
                          else ())),
            "threads": sorted(
                t.name for t in threading.enumerate()
                if t not in self.threads_before and t.is_alive()),
        }

    def extend_requests(self) -> list[Any]:
        return [r for r in self.cloud.requests if r.action == "os-extend"]

    def requests_of(self, action: str) -> list[Any]:
        return [r for r in self.cloud.requests if r.action == action]


def read_all(store: Store, location: Any, **kwargs: Any) -> bytes:
    reader, length = store.get(location, **kwargs)
    data = b"".join(reader)
    assert len(data) == length
    return data
