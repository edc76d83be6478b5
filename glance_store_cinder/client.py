"""Cinder clients for one store: its keystone session and auth modes.

Each store has its own :class:`CinderClients`, so two stores with different
service users never share a session or a token (the in-tree driver keeps one
session per process, and the credentials of whichever store came first win).

Two identities are used:

* the store's service user (password or application credential), in
  ``[<store>] cinder_store_*``, for every call unless
* the requester's token is to be used: ``cinder_store_multitenant`` is set,
  or no service user is configured (the in-tree driver's behaviour).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests
from glance_store import exceptions as gs_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import identity
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from keystoneauth1.access import service_catalog

from glance_store_cinder import errors
from glance_store_cinder.endpoint import format_endpoint
from glance_store_cinder.options import StoreSettings

try:
    from cinderclient import api_versions
    from cinderclient.v3 import client as cinder_v3
except ImportError:  # reported by Store.configure_add
    api_versions = None
    cinder_v3 = None

LOG = logging.getLogger(__name__)

# 3.54: attachments accept an attach mode, so readers attach read-only
# (and, since 3.42, a volume that is attached can be extended).
API_VERSION = "3.54"

HttpSessionFactory = Callable[[], requests.Session]


@dataclasses.dataclass(frozen=True)
class Requester:
    """The parts of a Glance request context the store relies on."""

    auth_token: str | None
    user_id: str | None
    project_id: str | None
    service_catalog: Any

    @classmethod
    def from_context(cls, context: Any) -> Requester:
        return cls(auth_token=getattr(context, "auth_token", None),
                   user_id=getattr(context, "user_id", None),
                   project_id=getattr(context, "project_id", None),
                   service_catalog=getattr(context, "service_catalog", None))


class CinderClients:
    """Builds cinderclient clients for one store."""

    def __init__(self, settings: StoreSettings,
                 http_session_factory: HttpSessionFactory | None = None
                 ) -> None:
        self._settings = settings
        self._http_session_factory = http_session_factory
        self._lock = threading.Lock()
        self._service_session: ks_session.Session | None = None

    @staticmethod
    def available() -> bool:
        return cinder_v3 is not None

    def _verify(self) -> bool | str:
        if self._settings.api_insecure:
            return False
        return self._settings.ca_certificates_file or True

    def _new_session(self, auth: Any = None) -> ks_session.Session:
        http = (self._http_session_factory()
                if self._http_session_factory else None)
        # A timeout on every request: a service that accepts and never
        # answers must not block glance-api (nor a volume's lock) forever.
        return ks_session.Session(auth=auth, verify=self._verify(),
                                  session=http,
                                  timeout=self._settings.http_timeout)

    def _service_auth(self, auth_url: str) -> Any:
        s = self._settings
        if s.uses_application_credential:
            return identity.V3ApplicationCredential(
                auth_url=auth_url,
                application_credential_id=s.application_credential_id,
                application_credential_secret=str(
                    s.application_credential_secret))
        return identity.V3Password(
            auth_url=auth_url,
            username=s.user_name,
            password=str(s.password),
            user_domain_name=s.user_domain_name,
            project_name=s.project_name,
            project_domain_name=s.project_domain_name)

    def service_session(self) -> ks_session.Session:
        # has_service_credentials implies an auth address; naming it here
        # gives the type checker the str that keystoneauth1 wants.
        auth_url = self._settings.auth_address
        if not (auth_url and self._settings.has_service_credentials):
            raise gs_exc.BadStoreConfiguration(
                store_name=self._settings.store_name,
                reason="no service credentials configured "
                "(cinder_store_auth_address, cinder_store_user_name, "
                "cinder_store_password, cinder_store_project_name)")
        with self._lock:
            if self._service_session is None:
                self._service_session = self._new_session(
                    self._service_auth(auth_url))
            return self._service_session

    def _client(self, session: ks_session.Session, auth: Any,
                endpoint: str | None, version: str) -> Any:
        if cinder_v3 is None or api_versions is None:
            raise gs_exc.BadStoreConfiguration(
                store_name=self._settings.store_name,
                reason="python-cinderclient is not installed")
        s = self._settings
        return cinder_v3.Client(
            session=session, auth=auth,
            service_type=s.catalog_service_type,
            service_name=s.catalog_service_name,
            endpoint_type=s.catalog_interface,
            region_name=s.region_name,
            os_endpoint=endpoint,
            retries=s.http_retries,
            api_version=api_versions.APIVersion(version))

    def service_client(self, version: str = API_VERSION) -> Any:
        """A client acting as the store's service user."""
        session = self.service_session()
        endpoint = None
        if self._settings.endpoint_template:
            with errors.cinder_errors("Authenticating the service user of "
                                      "store %s" % self._settings.store_name):
                project_id = session.get_project_id()
                user_id = session.get_user_id()
            endpoint = self._endpoint_from_template(project_id, user_id)
        return self._client(session, None, endpoint, version)

    def requester_client(self, context: Any,
                         version: str = API_VERSION) -> Any:
        """A client acting with the requester's own token."""
        if context is None:
            raise gs_exc.BadStoreConfiguration(
                store_name=self._settings.store_name,
                reason="this store uses the requester's token "
                "(cinder_store_multitenant or no service user) but the "
                "request has no context")
        req = Requester.from_context(context)
        if not req.project_id:
            raise gs_exc.NotAuthenticated(
                message="The request has no project to store images in")
        # Without a token (noauth deployments) Cinder accepts
        # "<user>:<project>" in its place.
        token = req.auth_token or "%s:%s" % (req.user_id, req.project_id)
        endpoint = self._requester_endpoint(req)
        auth = token_endpoint.Token(endpoint, token)
        session = self._new_session(auth)
        return self._client(session, auth, endpoint, version)

    def _endpoint_from_template(self, project_id: str | None,
                                user_id: str | None) -> str:
        template = str(self._settings.endpoint_template)
        try:
            return format_endpoint(template, project_id, user_id)
        except ValueError as exc:  # validated at start; kept typed anyway
            raise gs_exc.BadStoreConfiguration(
                store_name=self._settings.store_name,
                reason="invalid cinder_endpoint_template %r: %s"
                % (template, exc)) from exc

    def _requester_endpoint(self, req: Requester) -> str:
        s = self._settings
        if s.endpoint_template:
            return self._endpoint_from_template(req.project_id, req.user_id)
        if not req.service_catalog:
            raise gs_exc.BadStoreConfiguration(
                store_name=s.store_name,
                reason="the request carries no service catalog; set "
                "cinder_endpoint_template")
        try:
            catalog = service_catalog.ServiceCatalogV2(req.service_catalog)
            return str(catalog.url_for(
                service_type=s.catalog_service_type,
                service_name=s.catalog_service_name,
                interface=s.catalog_interface,
                region_name=s.region_name))
        except ks_exc.EndpointNotFound as exc:
            raise gs_exc.BadStoreConfiguration(
                store_name=s.store_name,
                reason="no %s endpoint in the request's service catalog "
                "(cinder_catalog_info = %s, cinder_os_region_name = %s)"
                % (s.catalog_service_type, s.catalog_info, s.region_name)
            ) from exc

    def client_for(self, context: Any, version: str = API_VERSION) -> Any:
        """The client for a request, by the store's auth mode."""
        if self._settings.uses_requester_token:
            return self.requester_client(context, version)
        return self.service_client(version)
