"""Configuration options of the store and their resolution per store.

The options shared with glance_store's in-tree cinder driver are that
driver's own option objects, imported rather than redefined.  glance_store's
single-store mode registers the options of *every* installed driver in
``[glance_store]``, and oslo.config refuses two different options with one
name (help text included), so a redefinition would stop glance-api from
starting.  Importing them also keeps names, types and defaults identical,
which is what makes an existing ``glance-api.conf`` work unchanged.

The options this driver adds are defined here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from glance_store import driver as gs_driver
from glance_store import exceptions as gs_exc
from oslo_config import cfg
from oslo_utils.imageutils import format_inspector

from glance_store_cinder._i18n import _
from glance_store_cinder.endpoint import format_endpoint

LOG = logging.getLogger(__name__)

def _in_tree_options() -> list[cfg.Opt]:
    # Imported here, not at module level, so that listing options never
    # pulls in more than it needs when the in-tree driver is unavailable.
    from glance_store._drivers.cinder import store as in_tree

    by_name = {opt.name: opt for opt in in_tree.Store.OPTIONS}
    shared = SHARED_OPTION_NAMES
    missing = [name for name in shared if name not in by_name]
    if missing:
        raise RuntimeError(
            "glance_store's cinder driver lacks options %s; this "
            "glance_store release is not supported" % ", ".join(missing))
    return [by_name[name] for name in shared]


_NEW_OPTIONS = [
    cfg.BoolOpt(
        "cinder_store_multitenant",
        default=False,
        help=_("""
Store each image in the requesting user's project.

When enabled, the volume that holds an image is created, read and deleted
with the token of the user who makes the request, in that user's project,
instead of with the service credentials in the service project. Volumes
then count against the owners' quotas.

The service credentials (``cinder_store_user_name`` and the other
``cinder_store_*`` options, or an application credential), when
configured, are used in three more cases:

* at start, to check that ``cinder_volume_type`` exists;
* to read an image whose volume the requester's project cannot see in
  Cinder (an image shared with, or public to, other projects lives in its
  owner's project: Glance decided the requester may read it);
* to delete images for requests without a project (the scrubber, tasks,
  admin contexts).

For the last two the service user must be allowed to read, attach and
delete volumes of every project (Cinder's ``admin`` role under its default
policies). Without service credentials those reads fail with NotFound and
those deletes with NotAuthenticated.

What this mode cannot protect: the volume belongs to the owner project,
which can write it under Cinder's default policies. The store marks the
volume read-only after the upload, but the owner may clear that flag,
attach the volume read-write elsewhere, or change its ``image_size``
metadata, so the bytes served later may differ from what Glance hashed (an
``image_size`` larger than the volume is refused). Where that matters, keep
images in the service project (leave this option off) or restrict those
actions to admins in Cinder's policy.

Possible values:
    * True or False

Related options:
    * cinder_catalog_info
    * cinder_endpoint_template
    * cinder_store_user_name
    * cinder_store_password
""")),
    cfg.ListOpt(
        "cinder_bootable_volume_formats",
        default=[],
        help=_("""
Disk formats for which the image volume is marked bootable.

After an upload the first bytes of the image are inspected (with
oslo.utils' format inspector); when the detected format is in this list the
volume's bootable flag is set, so Cinder and Nova can boot from volumes
cloned from it. Formats not listed leave the flag unset.

Possible values:
    * A comma separated list of disk formats known to oslo.utils' format
      inspector, for example ``raw,qcow2``
    * An empty list (default) never sets the flag

Related options:
    * None
""")),
    cfg.BoolOpt(
        "cinder_thin_provisioning",
        default=False,
        help=_("""
Skip writing all-zero blocks of an image into a new volume.

A freshly created volume on a backend that returns zeros for unwritten
blocks (sparse files on NFS, thin LUNs) does not need the zeros of a
sparse disk image written out: skipping them saves time and backend space.
Only enable this when every volume type used by this store reads back
zeros from a new volume; the store only skips zeros in volumes it has just
created, and only chunks that are entirely zeros.

Possible values:
    * True or False

Related options:
    * cinder_volume_type
""")),
]

_NEW_OPTIONS += [
    cfg.FloatOpt(
        "cinder_http_timeout",
        default=90.0,
        min=0.001,
        help=_("""
Seconds to wait for Keystone or Cinder to answer one HTTP request.

Every request of the store (authentication, volume and attachment calls,
with the service user's or a requester's token) gives up after this long
and fails with a "service unavailable" error, instead of blocking an
upload, a download, or glance-api's start for ever when the service
accepts connections but never answers. Attachment updates wait for
cinder-volume through Cinder's RPC, which gives up after
``rpc_response_timeout`` (60 s by default): keep this value above it so
that Cinder's own answer ends a slow update.

Possible values:
    * A positive number of seconds

Related options:
    * cinder_http_retries
    * cinder_state_transition_timeout
""")),
    cfg.BoolOpt(
        "cinder_recover_at_start",
        default=True,
        help=_("""
Undo at start what crashed glance-api workers of this host left in Cinder.

Before the store creates a volume, an attachment or a connection it
records it in a journal on this host (under the lock path). When the store
starts, it replays the records of processes that are no longer running:
disconnects their connections, deletes their attachments and deletes the
volumes of uploads that never completed. Records of running processes and
of other hosts are never touched. A volume found busy is also recovered on
demand, whatever this option says.

Disable it to inspect what a crash left behind, with
``glance-store-cinder sweep``, before anything is undone.

Possible values:
    * True or False

Related options:
    * cinder_mount_point_base
""")),
    cfg.FloatOpt(
        "cinder_read_attachment_linger",
        default=0.0,
        min=0.0,
        help=_("""
Seconds to keep a read attachment after its last reader on this host.

Every download of an image on this host shares one read-only attachment of
the image's volume; the last reader out detaches it. With a linger the
attachment stays this long after the last reader, so that back-to-back
downloads of one image skip the attach and detach (a few tenths of a
second each). A reader that comes meanwhile joins it. A delete of the
image, or a write attachment of the volume, from this host ends the linger
at once. Another host that wants a volume which is not multiattach waits
for the linger to end (at most this long after the last reader here,
within its ``cinder_state_transition_timeout``). Lingering needs the
service credentials (it is ended with them when no request comes); without
them nothing lingers.

Possible values:
    * 0 (default): detach as soon as the last reader is done
    * A positive number of seconds; keep it well below
      ``cinder_state_transition_timeout``

Related options:
    * cinder_state_transition_timeout
    * cinder_store_user_name
"""))]

# Older option name -> the option it stands in for.
DEPRECATED_ALIASES: dict[str, str] = {
    "cinder_store_tenant": "cinder_store_project_name",
    "cinder_store_user": "cinder_store_user_name",
    "cinder_store_key": "cinder_store_password",
}


def _alias_option(old: str, new: str) -> cfg.StrOpt:
    return cfg.StrOpt(
        old,
        secret=new == "cinder_store_password",
        deprecated_for_removal=True,
        deprecated_reason=_("Use %s.") % new,
        help=_("""
Older name of ``%(new)s``, from the store's original design.

Read only when ``%(new)s`` is not set.

Possible values:
    * The same values as ``%(new)s``

Related options:
    * %(new)s
""") % {"new": new})


_NEW_OPTIONS += [_alias_option(old, new)
                 for old, new in DEPRECATED_ALIASES.items()]


def store_options() -> list[cfg.Opt]:
    """Every option of the store, shared ones first."""
    return _in_tree_options() + list(_NEW_OPTIONS)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator (``oslo.config.opts``)."""
    return [("glance_store", store_options())]


def register(conf: cfg.ConfigOpts, group: str) -> None:
    """Register the store's options in ``group`` and ``[backend_defaults]``.

    Options are registered one by one: when the in-tree driver already put
    its options in a group, only ours are added and nothing is lost to the
    first DuplicateOptError.
    """
    groups = [group]
    if group != gs_driver.SHARED_CONF_GROUP:
        groups.append(gs_driver.SHARED_CONF_GROUP)
    for target in groups:
        for opt in store_options():
            try:
                conf.register_opt(opt, group=target)
            except cfg.DuplicateOptError:
                # Same name registered by another driver; its value is read
                # the same way, so the existing registration serves us.
                LOG.debug("Option %s already registered in [%s]",
                          opt.name, target)


def _option(name: str, *, convert: Callable[[Any], Any] = lambda v: v,
            secret: bool = False, shared: bool = True) -> Any:
    """A StoreSettings field read from the option ``name``.

    :param convert: from the option's value to the field's.
    :param secret: kept out of the settings' repr.
    :param shared: one of the in-tree driver's options (else ours).
    """
    return dataclasses.field(repr=not secret, metadata={
        "option": name, "convert": convert, "shared": shared})


def _format_names(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(f.strip().lower() for f in values or () if f.strip())


def _option_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(StoreSettings)
            if "option" in f.metadata]


def shared_option_names() -> tuple[str, ...]:
    """The in-tree driver's options this store reads, in its order."""
    return tuple(f.metadata["option"] for f in _option_fields()
                 if f.metadata["shared"])


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    """The resolved options of one store, validated at start."""

    store_name: str
    # One field per option, in the in-tree driver's order, then ours.
    catalog_info: str = _option("cinder_catalog_info")
    endpoint_template: str | None = _option("cinder_endpoint_template")
    region_name: str | None = _option("cinder_os_region_name")
    ca_certificates_file: str | None = _option(
        "cinder_ca_certificates_file")
    http_retries: int = _option("cinder_http_retries")
    state_transition_timeout: float = _option(
        "cinder_state_transition_timeout", convert=float)
    api_insecure: bool = _option("cinder_api_insecure")
    auth_address: str | None = _option("cinder_store_auth_address")
    user_name: str | None = _option("cinder_store_user_name")
    user_domain_name: str = _option("cinder_store_user_domain_name")
    password: str | None = _option("cinder_store_password", secret=True)
    application_credential_id: str | None = _option(
        "cinder_store_application_credential_id")
    application_credential_secret: str | None = _option(
        "cinder_store_application_credential_secret", secret=True)
    project_name: str | None = _option("cinder_store_project_name")
    project_domain_name: str = _option("cinder_store_project_domain_name")
    rootwrap_config: str = _option("rootwrap_config")
    volume_type: str | None = _option("cinder_volume_type")
    enforce_multipath: bool = _option("cinder_enforce_multipath")
    use_multipath: bool = _option("cinder_use_multipath")
    mount_point_base: str = _option("cinder_mount_point_base")
    do_extend_attached: bool = _option("cinder_do_extend_attached")
    attachment_retry_attempts: int = _option(
        "cinder_attachment_retry_attempts")
    multitenant: bool = _option("cinder_store_multitenant", shared=False)
    bootable_volume_formats: tuple[str, ...] = _option(
        "cinder_bootable_volume_formats", convert=_format_names,
        shared=False)
    thin_provisioning: bool = _option("cinder_thin_provisioning",
                                      shared=False)
    recover_at_start: bool = _option("cinder_recover_at_start",
                                     shared=False)
    http_timeout: float = _option("cinder_http_timeout", convert=float,
                                  shared=False)
    read_attachment_linger: float = _option(
        "cinder_read_attachment_linger", convert=float, shared=False)

    @property
    def catalog_service_type(self) -> str:
        return self.catalog_info.split(":")[0]

    @property
    def catalog_service_name(self) -> str | None:
        return self.catalog_info.split(":")[1] or None

    @property
    def catalog_interface(self) -> str:
        return self.catalog_info.split(":")[2]

    @property
    def uses_application_credential(self) -> bool:
        return bool(self.application_credential_id
                    and self.application_credential_secret)

    @property
    def has_service_credentials(self) -> bool:
        """Whether the store authenticates with its own service identity.

        Mirrors the in-tree driver: without a complete set of service
        credentials every call uses the requester's token.
        """
        if self.uses_application_credential:
            return bool(self.auth_address)
        return all((self.auth_address, self.user_name, self.password,
                    self.project_name))

    @property
    def uses_requester_token(self) -> bool:
        return self.multitenant or not self.has_service_credentials

    @property
    def root_helper(self) -> str:
        return "sudo glance-rootwrap %s" % self.rootwrap_config

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, group: str,
                  store_name: str | None = None) -> StoreSettings:
        """Read a store's options, then validate them.

        In multi-store mode an option left unset in the store's group is
        taken from ``[backend_defaults]`` when it is set there.

        :raises BadStoreConfiguration: naming the option at fault.
        """
        name = store_name or group
        values = {}
        for opt in store_options():
            try:
                values[opt.name] = _resolve(conf, group, opt.name)
            except (cfg.ConfigFileValueError, ValueError) as exc:
                raise gs_exc.BadStoreConfiguration(
                    store_name=name,
                    reason=_("invalid %(opt)s: %(err)s")
                    % {"opt": opt.name, "err": exc}) from exc
        for old, new in DEPRECATED_ALIASES.items():
            if values[new] is None and values[old] is not None:
                LOG.warning("Store %s: option %s is deprecated, use %s",
                            name, old, new)
                values[new] = values[old]
        settings = cls(store_name=name, **{
            field.name: field.metadata["convert"](
                values[field.metadata["option"]])
            for field in _option_fields()})
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check values that oslo.config's types cannot check."""
        parts = self.catalog_info.split(":")
        if len(parts) != 3 or not parts[0] or not parts[2]:
            self._fail("cinder_catalog_info", self.catalog_info,
                       "expected <service_type>:<service_name>:<interface>"
                       " with service_type and interface set")
        if self.endpoint_template:
            try:
                format_endpoint(self.endpoint_template, "p", "u")
            except ValueError as exc:
                self._fail("cinder_endpoint_template",
                           self.endpoint_template, str(exc))
        self._validate_waits()
        if self.http_retries < 0:
            self._fail("cinder_http_retries", self.http_retries,
                       "must not be negative")
        if self.attachment_retry_attempts < 1:
            self._fail("cinder_attachment_retry_attempts",
                       self.attachment_retry_attempts, "must be at least 1")
        if self.enforce_multipath and not self.use_multipath:
            self._fail("cinder_enforce_multipath", True,
                       "requires cinder_use_multipath = True")
        self._validate_credentials()
        known = set(format_inspector.ALL_FORMATS)
        unknown = [f for f in self.bootable_volume_formats if f not in known]
        if unknown:
            self._fail("cinder_bootable_volume_formats",
                       ",".join(unknown),
                       "unknown disk format; known: %s"
                       % ", ".join(sorted(known)))
        if not self.mount_point_base.startswith("/"):
            self._fail("cinder_mount_point_base", self.mount_point_base,
                       "must be an absolute path")

    def _validate_waits(self) -> None:
        if self.state_transition_timeout <= 0:
            self._fail("cinder_state_transition_timeout",
                       self.state_transition_timeout, "must be positive")
        if self.read_attachment_linger >= self.state_transition_timeout:
            self._fail("cinder_read_attachment_linger",
                       self.read_attachment_linger, "must be below "
                       "cinder_state_transition_timeout (%s), or another "
                       "host's readers give up while it lingers"
                       % self.state_transition_timeout)

    def _validate_credentials(self) -> None:
        if self.application_credential_id or \
                self.application_credential_secret:
            given = {
                "cinder_store_application_credential_id":
                    self.application_credential_id,
                "cinder_store_application_credential_secret":
                    self.application_credential_secret,
                "cinder_store_auth_address": self.auth_address,
            }
        else:
            given = {
                "cinder_store_auth_address": self.auth_address,
                "cinder_store_user_name": self.user_name,
                "cinder_store_password": self.password,
                "cinder_store_project_name": self.project_name,
            }
        missing = [k for k, v in given.items() if not v]
        # All missing means "no service user": the requester's token is
        # used, as in the in-tree driver.  Some missing is a typo.
        if missing and len(missing) != len(given):
            raise gs_exc.BadStoreConfiguration(
                store_name=self.store_name,
                reason=_("service credentials are incomplete: set %s "
                         "(or unset the others to use the requester's "
                         "token)") % ", ".join(missing))

    def _fail(self, option: str, value: Any, why: str) -> None:
        raise gs_exc.BadStoreConfiguration(
            store_name=self.store_name,
            reason=_("invalid %(opt)s = %(val)r: %(why)s")
            % {"opt": option, "val": value, "why": why})


def _user_set(conf: cfg.ConfigOpts, group: str, name: str) -> bool:
    loc = conf.get_location(name, group)
    return loc is not None and loc.location not in (
        cfg.Locations.opt_default, cfg.Locations.set_default)


def _resolve(conf: cfg.ConfigOpts, group: str, name: str) -> Any:
    group_conf = getattr(conf, group)
    if group in ("glance_store", gs_driver.SHARED_CONF_GROUP):
        return getattr(group_conf, name)
    if not _user_set(conf, group, name) and _user_set(
            conf, gs_driver.SHARED_CONF_GROUP, name):
        return getattr(getattr(conf, gs_driver.SHARED_CONF_GROUP), name)
    return getattr(group_conf, name)


SHARED_OPTION_NAMES = shared_option_names()
