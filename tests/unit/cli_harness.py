"""The operator commands run against the fakes, as an operator runs them.

``CliEnv`` writes a glance-api.conf, uploads images through a real
:class:`Store` (fake Cinder and connectors underneath) and registers them
in the fake Glance with the digests of the data meant to be there, then
runs ``glance_store_cinder.cli.main`` with the same collaborators.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib
from typing import Any

from glance_store_cinder import cli
from glance_store_cinder import location as cinder_location
from glance_store_cinder.store import Store
from tests.unit import harness
from tests.unit.fakes.glance import FakeGlance


@dataclasses.dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class CliEnv:
    def __init__(self, tmp_path: pathlib.Path, *,
                 glance: dict[str, Any] | None = None,
                 **env_kwargs: Any) -> None:
        self.env = harness.Env(tmp_path, **env_kwargs)
        self.glance = FakeGlance(self.env.cloud, **(glance or {})).install()
        self.tmp = tmp_path
        self.conf_path = self.write_conf(self.multi_groups())

    @property
    def cloud(self) -> Any:
        return self.env.cloud

    # -- configuration ----------------------------------------------------
    def multi_groups(self, **fast: Any) -> dict[str, dict[str, Any]]:
        return {
            "DEFAULT": {"enabled_backends": "fast:volume, slow:volume, "
                        "local:file"},
            "glance_store": {"default_backend": "fast"},
            "fast": self.env.store_group(**fast),
            "slow": self.env.store_group(cinder_volume_type="glance-slow"),
        }

    def write_conf(self, groups: dict[str, dict[str, Any]],
                   name: str = "glance-api.conf") -> pathlib.Path:
        path = self.tmp / name
        path.write_text(harness.conf_text(groups))
        return path

    def run(self, *argv: str, conf: pathlib.Path | None = None) -> Ran:
        out, err = io.StringIO(), io.StringIO()
        command, rest = argv[0], list(argv[1:])
        code = cli.main([command, "--config-file",
                         str(conf or self.conf_path), *rest],
                        collaborators=self.env.collaborators(),
                        out=out, err=err)
        return Ran(code, out.getvalue(), err.getvalue())

    # -- images ---------------------------------------------------------------
    def store(self, backend: str | None = "fast") -> Store:
        return self.env.store(backend)

    def upload(self, data: bytes, backend: str | None = "fast",
               **image: Any) -> tuple[str, str]:
        """Store ``data`` and register it in Glance: (image id, volume id).
        """
        image_id = harness.new_image_id()
        store = self.store(backend)
        uri, _size, _md5, _multihash, _info = store.add(
            image_id, _Source(data), len(data), "sha512")
        self.glance.add_image(self.env.service_project, data=data,
                              image_id=image_id,
                              locations=((uri, backend),), **image)
        return image_id, cinder_location.parse(uri)[1]

    def overwrite(self, volume_id: str, offset: int, data: bytes) -> None:
        """Change bytes of a volume behind the store's back."""
        with open(self.cloud.volume(volume_id).backing_path, "r+b") as f:
            f.seek(offset)
            f.write(data)


class _Source:
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)
