"""What every operator command shares.

* Configuration: ``--config-file`` (repeatable) and ``--config-dir``, read
  in the order given, like glance-api; without either, glance-api's own
  defaults (``/etc/glance/glance-api.conf`` and friends).
* The stores of this driver, found the way glance-api finds them: the
  ``enabled_backends`` entries of type ``volume`` (multi-store), else
  ``[glance_store]`` when its ``stores`` lists ``volume`` (single-store);
  ``--store NAME`` picks some.
* Output: a table for people on stdout, ``--json`` for machines; progress
  of long runs on stderr.
* Exit codes, the same for every command (:data:`EXIT_CODES_HELP`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any
from typing import TextIO

from glance_store import exceptions as gs_exc
from keystoneauth1 import identity
from oslo_config import cfg

from glance_store_cinder import errors
from glance_store_cinder.glance_images import GlanceImages
from glance_store_cinder.runtime import Collaborators
from glance_store_cinder.store import STORE_TYPE
from glance_store_cinder.store import Store

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_REMOVED = 4

EXIT_CODES_HELP = """\
exit codes:
  0  done, nothing wrong found
  1  something wrong found (listed in the output)
  2  usage or configuration error (bad arguments, no such store, options
     glance-api would refuse)
  3  a service (Keystone, Cinder, Glance) could not be reached or refused
     the store's user: the results are incomplete
  4  (sweep --apply) something found could not be removed"""

SINGLE_STORE_GROUP = "glance_store"
# Errors that mean "could not ask", not "found something wrong".
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    gs_exc.RemoteServiceUnavailable, gs_exc.NotAuthenticated,
    gs_exc.Forbidden)


class CommandError(Exception):
    """Stops a command with a message and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _ConfigSource(argparse.Action):
    """Keeps --config-file and --config-dir in the order given."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sources = list(getattr(namespace, "config_sources", None) or [])
        sources.append((self.dest, str(values)))
        namespace.config_sources = sources


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-file", dest="config-file", action=_ConfigSource,
        metavar="PATH",
        help="glance-api configuration file; repeat for several, later "
        "ones override earlier ones (default: glance-api's own search "
        "path, e.g. /etc/glance/glance-api.conf)")
    parser.add_argument(
        "--config-dir", dest="config-dir", action=_ConfigSource,
        metavar="DIR",
        help="directory of *.conf files read after the files before it, "
        "like glance-api's --config-dir")
    parser.add_argument(
        "--store", action="append", dest="stores", metavar="NAME",
        help="only this store (its enabled_backends name, or "
        "glance_store in single-store mode); repeatable")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document instead of a table")
    parser.set_defaults(config_sources=[])


# -- configuration ------------------------------------------------------
def load_conf(sources: Sequence[tuple[str, str]]) -> cfg.ConfigOpts:
    """glance-api's configuration from files and directories, in order."""
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf.register_opt(cfg.ListOpt("stores", default=["file", "http"]),
                      group=SINGLE_STORE_GROUP)
    args = ["--%s=%s" % (kind, path) for kind, path in sources]
    # Given sources replace glance-api's search path, as on its command
    # line; none given: that search path.
    files = [] if sources else cfg.find_config_files("glance", "glance-api")
    dirs = [] if sources else cfg.find_config_dirs("glance", "glance-api")
    try:
        conf(args, project="glance", prog="glance-api",
             default_config_files=files, default_config_dirs=dirs)
    except (cfg.ConfigFilesNotFoundError, cfg.ConfigDirNotFoundError,
            cfg.ConfigFileParseError) as exc:
        raise CommandError(str(exc)) from exc
    if not conf.config_file and not conf.config_dir:
        raise CommandError("no glance-api configuration found; pass "
                           "--config-file /etc/glance/glance-api.conf")
    return conf


def store_groups(conf: cfg.ConfigOpts) -> list[str]:
    """The option groups of this driver's stores, as glance-api sees them."""
    backends = dict(conf.enabled_backends or {})
    if backends:
        groups = [name for name, kind in backends.items()
                  if kind.strip() == STORE_TYPE]
        if not groups:
            raise CommandError(
                "enabled_backends has no store of type %s (it has: %s)"
                % (STORE_TYPE, ", ".join("%s:%s" % item
                                         for item in backends.items())))
        return groups
    if STORE_TYPE not in conf[SINGLE_STORE_GROUP].stores:
        raise CommandError(
            "no store of this driver: set enabled_backends = "
            "<name>:%s (multi-store) or [glance_store] stores = %s "
            "(single-store)" % (STORE_TYPE, STORE_TYPE))
    return [SINGLE_STORE_GROUP]


def selected(groups: list[str], wanted: Sequence[str] | None) -> list[str]:
    if not wanted:
        return groups
    unknown = [name for name in wanted if name not in groups]
    if unknown:
        raise CommandError("no store %s in the configuration (stores of "
                           "this driver: %s)" % (", ".join(unknown),
                                                 ", ".join(groups)))
    return [g for g in groups if g in wanted]


@dataclasses.dataclass
class LoadedStore:
    """A store built from the configuration, configured or not."""

    name: str
    store: Store
    error: Exception | None = None


def open_stores(conf: cfg.ConfigOpts, names: Sequence[str],
                collaborators: Collaborators | None) -> list[LoadedStore]:
    """Build and configure each store; a failure is kept, not raised."""
    loaded = []
    for name in names:
        store = Store(conf, backend=None if name == SINGLE_STORE_GROUP
                      else name, collaborators=collaborators)
        entry = LoadedStore(name, store)
        try:
            # Everything glance-api's start does but the recovery: that is
            # sweep's, on the operator's word (and as glance-api's user).
            store.configure_runtime()
        except Exception as exc:  # reported by the command, per store
            entry.error = exc
        loaded.append(entry)
    return loaded


def add_glance_arguments(parser: argparse.ArgumentParser) -> None:
    """How a command that asks Glance reaches it."""
    parser.add_argument(
        "--glance-endpoint", metavar="URL",
        help="Glance's URL (default: the 'image' endpoint of the store "
        "user's catalog)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS",
        help="for each request to Glance (default: 60)")


def glance_for(store: Store, endpoint: str | None,
               timeout: float) -> GlanceImages:
    """Glance with the store's service user and catalog settings."""
    settings = store.runtime.settings
    if not settings.has_service_credentials:
        raise CommandError(
            "store %s has no service user (cinder_store_user_name, ...); "
            "Glance cannot be asked for image records" % store.store_name,
            EXIT_UNAVAILABLE)
    return GlanceImages(store.runtime.clients.service_session(),
                        interface=settings.catalog_interface,
                        region_name=settings.region_name,
                        endpoint=endpoint, timeout=timeout)


@dataclasses.dataclass(frozen=True)
class ServiceContext:
    """A request context acting as the store's service user.

    Stores that use the requester's token (``cinder_store_multitenant``)
    get this one from the operator commands: the service user's token,
    project and catalog (in the v2 form glance-api's contexts carry).
    """

    auth_token: str
    user_id: str | None
    project_id: str | None
    service_catalog: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "project_id": self.project_id}


def _v2_catalog(services: Any) -> list[dict[str, Any]]:
    catalog = []
    for service in services or ():
        regions: dict[str | None, dict[str, Any]] = {}
        for endpoint in service.get("endpoints") or ():
            region = endpoint.get("region_id") or endpoint.get("region")
            entry = regions.setdefault(region, {"region": region})
            entry["%sURL" % endpoint.get("interface")] = endpoint.get("url")
        catalog.append({"type": service.get("type"),
                        "name": service.get("name"),
                        "endpoints": list(regions.values())})
    return catalog


def service_context(store: Store) -> ServiceContext:
    """The store's service user as a requester (token renewed as needed)."""
    session = store.runtime.clients.service_session()
    auth = session.auth
    if not isinstance(auth, identity.BaseIdentityPlugin):
        raise CommandError("store %s: its service session has no identity "
                           "plugin" % store.store_name, EXIT_UNAVAILABLE)
    with errors.cinder_errors("Authenticating the service user of store %s"
                              % store.store_name):
        access = auth.get_access(session)
    return ServiceContext(auth_token=str(access.auth_token),
                          user_id=access.user_id,
                          project_id=access.project_id,
                          service_catalog=_v2_catalog(
                              access.service_catalog.catalog))


# -- output ---------------------------------------------------------------
def format_table(headers: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells)
              for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths,
                                                   strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_json(document: Any, out: TextIO) -> None:
    json.dump(document, out, indent=2, sort_keys=True)
    out.write("\n")


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20),
                         ("KiB", 1 << 10)):
        if size >= factor:
            return "%.1f %s" % (size / factor, unit)
    return "%d B" % size


class Progress:
    """One line per step on stderr, for people watching a long run."""

    def __init__(self, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled

    def say(self, text: str) -> None:
        if self._enabled:
            self._stream.write(text + "\n")
            self._stream.flush()


@dataclasses.dataclass
class Invocation:
    """What a command gets to run with."""

    args: argparse.Namespace
    conf: cfg.ConfigOpts
    store_names: list[str]
    collaborators: Collaborators | None
    out: TextIO
    progress: Progress

    def open_stores(self) -> list[LoadedStore]:
        return open_stores(self.conf, self.store_names, self.collaborators)
