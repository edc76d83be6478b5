"""Finding and removing what the benchmark created in Cinder."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from glance_store_cinder.errors import StateTimeout
from glance_store_cinder.polling import Poller

LOG = logging.getLogger(__name__)

# States a volume leaves by itself, and those it does not leave without
# a detach.
SETTLING = ("creating", "extending", "attaching", "detaching")
BUSY = SETTLING + ("in-use", "reserved")


def admin_client(env: dict[str, Any]) -> Any:
    """cinderclient (3.54) as the environment's admin (all projects)."""
    return _client(env, env["admin"])


def service_client(env: dict[str, Any]) -> Any:
    """cinderclient (3.54) as the stores' service user."""
    return _client(env, env["service_user"])


def _client(env: dict[str, Any], user: dict[str, Any]) -> Any:
    from cinderclient import api_versions
    from cinderclient.v3 import client as cinder_v3
    from keystoneauth1 import identity
    from keystoneauth1 import session as ks_session

    auth = identity.V3Password(
        auth_url=env["keystone"]["auth_url"], username=user["username"],
        password=user["password"], project_name=user["project_name"],
        user_domain_name=user["user_domain_name"],
        project_domain_name=user["project_domain_name"])
    return cinder_v3.Client(session=ks_session.Session(auth=auth),
                            service_type="volumev3",
                            api_version=api_versions.APIVersion("3.54"))


def list_volumes(client: Any) -> list[Any]:
    return list(client.volumes.list(search_opts={"all_tenants": 1}))


def named(client: Any, prefixes: Iterable[str]) -> list[Any]:
    prefixes = tuple(prefixes)
    return [v for v in list_volumes(client)
            if (v.name or "").startswith(prefixes)]


def remove_volume(client: Any, volume: Any) -> None:
    """Delete a volume whatever its state: detach, reset, force."""
    from cinderclient import exceptions as cexc

    try:
        volume = client.volumes.get(volume.id)
    except cexc.NotFound:
        return
    if volume.status == "deleting":
        return
    for att in getattr(volume, "attachments", None) or []:
        with contextlib.suppress(Exception):
            client.attachments.delete(att.get("attachment_id")
                                      or att.get("id"))
    if volume.status in BUSY:
        volume = _settled(client, volume)
        if volume is None:
            return
    try:
        client.volumes.delete(volume.id)
        return
    except cexc.NotFound:
        return
    except Exception as exc:
        LOG.info("Deleting volume %s (%s) failed: %s; forcing", volume.id,
                 volume.status, exc)
    with contextlib.suppress(Exception):
        client.volumes.reset_state(volume.id, "available",
                                   attach_status="detached")
    try:
        client.volumes.delete(volume.id)
    except cexc.NotFound:
        return
    except Exception:
        client.volumes.force_delete(volume.id)


def _settled(client: Any, volume: Any) -> Any:
    """The volume once Cinder finished what it was doing (30 s at most);
    None when it is gone."""
    from cinderclient import exceptions as cexc

    try:
        return Poller(timeout=30, first_interval=0.5, growth=1.0).wait(
            lambda: client.volumes.get(volume.id),
            lambda v: v.status not in SETTLING,
            "volume %s to settle" % volume.id)
    except cexc.NotFound:
        return None
    except StateTimeout:
        return volume


def wait_gone(client: Any, ids: Iterable[str], timeout: float = 180,
              interval: float = 0.1) -> list[str]:
    """Wait until the volumes are gone; return those that are not."""
    left = set(ids)

    def look() -> set[str]:
        for vid in list(left):
            if _gone(client, vid):
                left.discard(vid)
        return left

    try:
        Poller(timeout=timeout, first_interval=interval, growth=1.0).wait(
            look, lambda remaining: not remaining, "volumes to go")
    except StateTimeout:
        pass
    return sorted(left)


def _gone(client: Any, vid: str) -> bool:
    """Whether the volume is gone; one that failed to delete is pushed
    again."""
    from cinderclient import exceptions as cexc

    try:
        status = client.volumes.get(vid).status
    except cexc.NotFound:
        return True
    if status == "error_deleting":
        with contextlib.suppress(Exception):
            client.volumes.reset_state(vid, "error")
            client.volumes.delete(vid)
    elif status in ("available", "error"):
        # Its delete was refused (still attached then: a reader's linger)
        # or never arrived: asked again rather than waited on in vain.
        with contextlib.suppress(Exception):
            client.volumes.delete(vid)
    return False


def sweep(client: Any, prefixes: Iterable[str],
          log: Callable[[str], None] | None = None) -> list[str]:
    """Remove every volume whose name starts with one of ``prefixes``.

    Returns the ids of volumes that could not be removed.
    """
    volumes = named(client, prefixes)
    for volume in volumes:
        if log:
            log("removing volume %s (%s, %s)" % (volume.id, volume.name,
                                                 volume.status))
        try:
            remove_volume(client, volume)
        except Exception as exc:
            if log:
                log("could not remove volume %s: %s" % (volume.id, exc))
    return wait_gone(client, [v.id for v in volumes])


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says Keystone or Cinder is not
    there (refused connection, 502/503/504), not that an operation failed.
    """
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        exc = current
        seen.add(id(exc))
        name = type(exc).__name__
        text = str(exc)
        if name in ("ConnectFailure", "ConnectionRefusedError",
                    "ServiceUnavailable", "GatewayTimeout", "BadGateway",
                    "ConnectTimeout", "DiscoveryFailure"):
            return True
        if getattr(exc, "http_status", None) in (502, 503, 504) or \
                getattr(exc, "code", None) in (502, 503, 504):
            return True
        if ("Unable to establish connection" in text
                or "Connection refused" in text
                or "Service Unavailable" in text):
            return True
        current = exc.__cause__ or exc.__context__
    return False


def environment_gone(admin: Any, exc: BaseException) -> bool:
    """Whether ``exc`` came from Keystone or Cinder not being there, or
    Cinder does not answer now."""
    if is_outage(exc):
        return True
    try:
        admin.volume_types.list()
    except Exception:
        return True
    return False


def retrying(fn: Callable[[], Any], wait: float = 600,
             log: Callable[[str], None] | None = None) -> Any:
    """``fn()``, repeated while Keystone or Cinder is unreachable; after
    ``wait`` seconds the last outage is raised."""
    outages: list[Exception] = []

    def attempt() -> tuple[bool, Any]:
        try:
            return True, fn()
        except Exception as exc:
            if not is_outage(exc):
                raise
            if log and not outages:
                log("bench: Cinder or Keystone does not answer (%s); "
                    "waiting" % type(exc).__name__)
            outages.append(exc)
            return False, None

    try:
        return Poller(timeout=wait, first_interval=5, growth=1.0).wait(
            attempt, lambda result: result[0], "Cinder and Keystone")[1]
    except StateTimeout as timeout:
        raise outages[-1] from timeout
