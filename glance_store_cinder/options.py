"""Configuration options of the store and their resolution per store.

The options shared with glance_store's in-tree cinder driver are that
driver's own option objects, imported rather than redefined.  glance_store's
single-store mode registers the options of *every* installed driver in
``[glance_store]``, and oslo.config refuses two different options with one
name (help text included), so a redefinition would stop glance-api from
starting.  Importing them also keeps names, types and defaults identical,
which is what makes an existing ``glance-api.conf`` work unchanged.

The options this driver adds are defined in :mod:`new_options`.
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
from glance_store_cinder.new_options import DEPRECATED_ALIASES
from glance_store_cinder.new_options import NEW_OPTIONS

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


def store_options() -> list[cfg.Opt]:
    """Every option of the store, shared ones first."""
    return _in_tree_options() + list(NEW_OPTIONS)


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
    upload_direct_io: bool = _option("cinder_upload_direct_io",
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
