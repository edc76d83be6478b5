"""Cinder's own time for what every image costs, whatever the driver.

Create a 1 GiB volume and poll it (every 20 ms) until available;
attachment create, update (with this host's connector), os-brick connect
(mounts the share), attachment complete; os-brick disconnect, unmount,
attachment delete.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from bench import cleanup
from bench.common import drop_caches
from bench.common import unmount_all_under
from glance_store_cinder.polling import Poller

LOG = logging.getLogger(__name__)

POLL = 0.02


class Laps:
    """Seconds per named step, each from the end of the one before."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._t = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = now - self._t
        self._t = now


class CinderCycle:
    def __init__(self, env: dict[str, Any], workdir: str,
                 name_prefix: str) -> None:
        self.env = env
        self.workdir = workdir
        self.name_prefix = name_prefix
        self.volumes: list[str] = []
        self.mount_base = os.path.join(workdir, "mnt")

    def setup(self) -> None:
        """os-brick as the drivers use it, and the service user's client.
        """
        from oslo_config import cfg
        os.makedirs(self.workdir, exist_ok=True)
        conf_path = os.path.join(self.workdir, "os-brick.conf")
        with open(conf_path, "w", encoding="utf-8") as f:
            f.write("[os_brick]\nlock_path = %s\n\n"
                    "[oslo_concurrency]\nlock_path = %s\n\n"
                    "[privsep_osbrick]\nhelper_command = %s\n"
                    % (self.env["os_brick"]["lock_path"],
                       os.path.join(self.workdir, "locks"),
                       self.env["os_brick"]["privsep_helper_command"]))
        import os_brick
        from os_brick.initiator import connector
        cfg.CONF(["--config-file", conf_path], project="bench")
        os_brick.setup(cfg.CONF)
        try:
            ip = socket.gethostbyname(socket.gethostname())
        except OSError:
            ip = "127.0.0.1"
        self.connector_props = connector.get_connector_properties(
            "sudo", ip, False, False, host=socket.gethostname())
        self.brick = connector.InitiatorConnector.factory(
            "NFS", "sudo", conn={"mount_point_base": self.mount_base})
        self.client = cleanup.service_client(self.env)

    def cycle(self, name: str) -> dict[str, float]:
        """One image's worth of Cinder; seconds per step."""
        client = self.client
        # As before every timed add: Cinder's own files (its database
        # included) are read from the disk again.
        drop_caches()
        lap = Laps()
        volume = client.volumes.create(
            1, name=self.name_prefix + name,
            volume_type=self.env["volume_types"]["fast"])
        self.volumes.append(volume.id)
        Poller(timeout=300, first_interval=POLL, growth=1.0,
               max_interval=POLL).wait(
            lambda: client.volumes.get(volume.id),
            lambda v: v.status == "available", "volume %s" % volume.id,
            failed=lambda v: None if v.status in ("creating", "downloading")
            else "status %s" % v.status)
        lap("create")
        att = client.attachments.create(volume.id, None, mode="rw")
        lap("attachment_create")
        updated = client.attachments.update(att["id"],
                                            self.connector_props)
        lap("attachment_update")
        info = dict(updated.connection_info)
        device = self.brick.connect_volume(info)
        lap("connect")
        client.attachments.complete(att["id"])
        lap("attachment_complete")
        self.brick.disconnect_volume(info, device)
        lap("disconnect")
        unmount_all_under(self.mount_base)
        lap("unmount")
        client.attachments.delete(att["id"])
        lap("attachment_delete")
        return lap.steps

    def close(self) -> None:
        """Nothing mounted, every volume of the cycles gone."""
        unmount_all_under(self.mount_base)
        admin = cleanup.admin_client(self.env)
        for vid in self.volumes:
            try:
                cleanup.remove_volume(admin, admin.volumes.get(vid))
            except Exception as exc:
                LOG.info("volume %s: %s", vid, exc)
        cleanup.wait_gone(admin, self.volumes)
