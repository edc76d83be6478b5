"""Cinder's side behind the API: the database, quotas, the volume manager.

Volumes are sparse files under ``backing_dir``.  Asynchronous work
(create, extend, delete) is a :class:`Transition` that GETs of the volume
move along: ``status_polls_before_ready`` GETs see the transitional status,
the next one sees the result.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import uuid
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from tests.unit.fakes.cinder.model import PROTOCOLS
from tests.unit.fakes.cinder.model import CinderError
from tests.unit.fakes.cinder.model import FakeAttachment
from tests.unit.fakes.cinder.model import FakeVolume
from tests.unit.fakes.cinder.model import FakeVolumeType
from tests.unit.fakes.cinder.model import Transition
from tests.unit.fakes.cinder.model import utcnow


@dataclasses.dataclass
class Quota:
    """-1 is unlimited (Cinder's convention)."""

    volumes: int = -1
    gigabytes: int = -1


class CinderBackend:
    """Volume types, volumes and their attachments, and quotas."""

    def __init__(self, *, gib: int, backing_dir: pathlib.Path,
                 protocol: str, volume_types: Sequence[str],
                 default_type: str | None,
                 status_polls_before_ready: int) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError("protocol must be one of %s" % (PROTOCOLS,))
        if gib <= 0 or status_polls_before_ready < 0:
            raise ValueError("gib must be > 0, polls >= 0")
        self.gib = gib
        self.backing_dir = backing_dir
        self.backing_dir.mkdir(parents=True, exist_ok=True)
        self.protocol = protocol
        self.status_polls_before_ready = status_polls_before_ready
        self.deleted_volume_ids: list[str] = []
        self.volumes: dict[str, FakeVolume] = {}
        self.types: dict[str, FakeVolumeType] = {}
        self.quotas: dict[str, Quota] = {}
        self.connection_overrides: dict[str, Any] = {}
        """Put into every attachment's connection info (None: removed)."""
        for name in volume_types:
            self.add_type(name, {})
        if default_type is not None and self.type_by_name(
                default_type) is None:
            raise ValueError("default_type %r is not among the volume types"
                             % default_type)
        self.default_type = default_type

    # -- volume types -----------------------------------------------------
    def add_type(self, name: str, extra_specs: dict[str, str],
                 description: str | None = None,
                 encrypted: bool = False) -> FakeVolumeType:
        vtype = FakeVolumeType(str(uuid.uuid4()), name, extra_specs,
                               description, encrypted=encrypted)
        self.types[vtype.id] = vtype
        return vtype

    def type_by_name(self, name: str) -> FakeVolumeType | None:
        return next((t for t in self.types.values() if t.name == name),
                    None)

    def type_for(self, name_or_id: str | None) -> FakeVolumeType | None:
        """The named type, the default one for None."""
        if name_or_id is None:
            if self.default_type is None:
                raise ValueError("no default volume type")
            return self.type_by_name(self.default_type)
        return self.types.get(name_or_id) or self.type_by_name(name_or_id)

    # -- volumes --------------------------------------------------------------
    def new_volume(self, *, project_id: str, user_id: str | None,
                   size: int, name: str | None, description: str | None,
                   vtype: FakeVolumeType, metadata: dict[str, str],
                   status: str, fmt: str = "raw", encrypted: bool = False,
                   multiattach: bool = False) -> FakeVolume:
        vid = str(uuid.uuid4())
        path = self.backing_dir / ("volume-%s" % vid)
        with open(path, "wb") as f:
            f.truncate(size * self.gib)
        encrypted = encrypted or vtype.encrypted
        vol = FakeVolume(
            id=vid, project_id=project_id, user_id=user_id, size=size,
            status=status, name=name, description=description,
            volume_type=vtype.name, volume_type_id=vtype.id,
            metadata=metadata, backing_path=path, created_at=utcnow(),
            multiattach=multiattach or vtype.multiattach,
            encrypted=encrypted, fmt=fmt,
            encryption_key_id=str(uuid.uuid4()) if encrypted else None)
        self.volumes[vid] = vol
        return vol

    def attachments(self) -> Iterator[tuple[FakeVolume, FakeAttachment]]:
        for vol in self.volumes.values():
            for att in vol.attachments.values():
                yield vol, att

    # -- asynchronous work --------------------------------------------------
    def start(self, vol: FakeVolume, status: str, target: str | None,
              new_size: int | None = None) -> None:
        """Begin work showing ``status``; ``target`` None deletes."""
        vol.status = status
        vol.updated_at = utcnow()
        vol.transition = Transition(target, self.status_polls_before_ready,
                                    new_size)

    def observe(self, vol: FakeVolume) -> bool:
        """A GET sees the volume: advance its work.  False: it is gone."""
        if vol.transition is not None:
            if vol.transition.polls > 0:
                vol.transition.polls -= 1
            else:
                self.finish(vol)
        return vol.id in self.volumes

    def finish(self, vol: FakeVolume) -> None:
        work = vol.transition
        assert work is not None
        vol.transition = None
        if work.target is None:
            del self.volumes[vol.id]
            self.deleted_volume_ids.append(vol.id)
            vol.backing_path.unlink(missing_ok=True)
            return
        if work.new_size is not None and work.new_size > vol.size:
            wanted = work.new_size * self.gib
            if os.path.getsize(vol.backing_path) < wanted:
                os.truncate(vol.backing_path, wanted)
            vol.size = work.new_size
        vol.status = work.target
        vol.updated_at = utcnow()

    # -- quotas ---------------------------------------------------------------
    def check_quota(self, project_id: str, add_volumes: int,
                    add_gigabytes: int) -> None:
        """Cinder's 413 when the project would exceed its quota."""
        quota = self.quotas.get(project_id)
        if quota is None:
            return
        mine = [v for v in self.volumes.values()
                if v.project_id == project_id]
        used = sum(v.size for v in mine)
        limit = quota.gigabytes
        if limit >= 0 and used + add_gigabytes > limit:
            raise CinderError(
                413, "Requested volume or snapshot exceeds allowed gigabytes "
                "quota. Requested %sG, quota is %sG and %sG has been "
                "consumed." % (add_gigabytes, limit, used))
        limit = quota.volumes
        if add_volumes and limit >= 0 and len(mine) + add_volumes > limit:
            raise CinderError(
                413, "Maximum number of volumes allowed (%d) exceeded for "
                "quota 'volumes'." % limit)
