"""A fake Keystone v3 API over :class:`IdentityRegistry`.

It answers ``POST /v3/auth/tokens`` the way Keystone does for the
``password``, ``application_credential`` and ``token`` methods that
keystoneauth1's v3 plugins send, with a service catalog pointing at the
fake Cinder; token bodies and version documents are keystoneauth1's
fixtures.
"""

from __future__ import annotations

import http
import uuid
from collections.abc import Callable
from typing import Any

from keystoneauth1 import fixture

from tests.unit.fakes._http import MALFORMED
from tests.unit.fakes._http import Incoming
from tests.unit.fakes._http import Reply
from tests.unit.fakes._http import new_request_id
from tests.unit.fakes.identity import AppCredential
from tests.unit.fakes.identity import IdentityRegistry
from tests.unit.fakes.identity import KeystoneError
from tests.unit.fakes.identity import Project
from tests.unit.fakes.identity import TokenInfo
from tests.unit.fakes.identity import User
from tests.unit.fakes.identity import bad_request
from tests.unit.fakes.identity import unauthorized

REGION = "RegionOne"
INTERFACES = ("public", "internal", "admin")
EXPIRES_AT = "2999-12-31T23:59:59.000000Z"
_SERVICE_NAMES = {"volumev3": "cinderv3", "block-storage": "cinder",
                  "identity": "keystone"}

# Who authenticated: the user, the project, the roles, the name for the
# auth log, the application credential used.
_Subject = tuple[User, str | None, tuple[str, ...], str, str | None]


def keystone_error_body(status: int, message: str) -> dict[str, Any]:
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"error": {"code": status, "title": title, "message": message}}


class FakeKeystone:
    """The Keystone v3 API: versions and ``/v3/auth/tokens``."""

    def __init__(self, registry: IdentityRegistry, keystone_url: str,
                 catalog_urls: Callable[[str], dict[str, str]]) -> None:
        """:param catalog_urls: project id -> {service type: endpoint URL}."""
        self.registry = registry
        self.url = keystone_url.rstrip("/")
        self._catalog_urls = catalog_urls
        self._role_ids: dict[str, str] = {}
        self._service_ids: dict[str, str] = {}

    def handle(self, req: Incoming) -> Reply:
        request_id = new_request_id()
        try:
            reply = self._route(req)
        except KeystoneError as exc:
            headers = {"x-openstack-request-id": request_id}
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Keystone uri="%s"' % self.url
            return Reply(exc.status,
                         keystone_error_body(exc.status, exc.message),
                         headers)
        reply.headers.setdefault("x-openstack-request-id", request_id)
        reply.headers.setdefault("Vary", "X-Auth-Token")
        return reply

    @staticmethod
    def error_reply(status: int, message: str) -> Reply:
        return Reply(status, keystone_error_body(status, message),
                     {"x-openstack-request-id": new_request_id()})

    def _version_doc(self) -> dict[str, Any]:
        return dict(fixture.V3Discovery(self.url + "/", "v3.14", xml=False))

    def _route(self, req: Incoming) -> Reply:
        path = req.path.rstrip("/") or "/"
        if path == "/" and req.method == "GET":
            return Reply(300, {"versions": {"values": [self._version_doc()]}},
                         {"Location": self.url + "/"})
        if path == "/v3" and req.method == "GET":
            return Reply(200, {"version": self._version_doc()})
        if path == "/v3/auth/tokens":
            if req.method == "POST":
                return self._authenticate(req)
            if req.method in ("GET", "HEAD", "DELETE"):
                return self._check_token(req)
        raise KeystoneError(404, "The resource could not be found.")

    def _check_token(self, req: Incoming) -> Reply:
        if self.registry.validate(req.headers.get("X-Auth-Token")) is None:
            raise unauthorized()
        subject = self.registry.validate(req.headers.get("X-Subject-Token"))
        if subject is None:
            raise KeystoneError(404, "Could not find token.")
        if req.method == "DELETE":
            del self.registry.tokens[subject.token]
            return Reply(204)
        body = self._token_body(subject, catalog="nocatalog" not in req.query)
        return Reply(200, body, {"X-Subject-Token": subject.token})

    # -- authentication -------------------------------------------------
    def _authenticate(self, req: Incoming) -> Reply:
        body = req.body
        if body is MALFORMED or not isinstance(body, dict):
            raise bad_request("Malformed request body.")
        auth = body.get("auth")
        if not isinstance(auth, dict) or not isinstance(
                auth.get("identity"), dict):
            raise bad_request("Expecting to find identity in auth.")
        identity = auth["identity"]
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise bad_request("Expecting to find methods in identity.")
        scope = auth.get("scope")
        # Keystone tries the methods in this order.
        if "application_credential" in methods:
            subject = self._by_app_credential(
                identity.get("application_credential"), scope)
        elif "password" in methods:
            subject = self._by_password(identity.get("password"), scope)
        elif "token" in methods:
            subject = self._by_token(identity.get("token"), scope)
        else:
            raise unauthorized()
        user, project_id, roles, who, app_cred_id = subject
        info = self.registry.new_token(user, project_id, roles,
                                       tuple(methods), app_cred_id)
        self.registry.auth_log.append((who, project_id))
        return Reply(201, self._token_body(
            info, catalog="nocatalog" not in req.query),
            {"X-Subject-Token": info.token})

    def _scoped(self, user: User, scope: Any) -> _Subject:
        project_id = self._scope(user, scope)
        roles = user.roles.get(project_id, ()) if project_id else ()
        return user, project_id, roles, user.name, None

    def _by_app_credential(self, ref: Any, scope: Any) -> _Subject:
        cred = self._app_credential(ref)
        if scope is not None:
            # Keystone: application credentials cannot request a scope.
            raise unauthorized()
        user = self.registry.users[cred.user_id]
        return user, cred.project_id, cred.roles, cred.id, cred.id

    def _by_password(self, ref: Any, scope: Any) -> _Subject:
        return self._scoped(self._password_user(ref), scope)

    def _by_token(self, ref: Any, scope: Any) -> _Subject:
        old = self.registry.validate(ref.get("id") if isinstance(ref, dict)
                                     else None)
        if old is None:
            raise unauthorized()
        return self._scoped(self.registry.users[old.user_id], scope)

    def _user_ref(self, user_ref: dict[str, Any]) -> User | None:
        if "id" in user_ref:
            return self.registry.users.get(str(user_ref["id"]))
        dom = self.registry.domain_ref(user_ref.get("domain"))
        return self.registry.user_by_name(str(user_ref.get("name")), dom.id)

    def _password_user(self, ref: Any) -> User:
        user_ref = ref.get("user") if isinstance(ref, dict) else None
        if not isinstance(user_ref, dict):
            raise bad_request("Expecting to find user in password.")
        if "id" not in user_ref and "name" not in user_ref:
            raise bad_request("Expecting to find id or name in user.")
        if "id" not in user_ref and "domain" not in user_ref:
            raise bad_request("Expecting to find domain in user.")
        user = self._user_ref(user_ref)
        if user is None or user_ref.get("password") != user.password:
            raise unauthorized()
        return user

    def _app_credential(self, ref: Any) -> AppCredential:
        if not isinstance(ref, dict) or "secret" not in ref:
            raise bad_request(
                "Expecting to find secret in application_credential.")
        cred: AppCredential | None = None
        if "id" in ref:
            cred = self.registry.app_credentials.get(str(ref["id"]))
        elif "name" in ref and isinstance(ref.get("user"), dict):
            user = self._user_ref(ref["user"])
            cred = next((c for c in self.registry.app_credentials.values()
                         if user is not None and c.user_id == user.id
                         and c.name == ref["name"]), None)
        else:
            raise bad_request(
                "Expecting to find id or name and user in "
                "application_credential.")
        if cred is None or cred.secret != ref["secret"]:
            raise unauthorized()
        return cred

    def _scope(self, user: User, scope: Any) -> str | None:
        """The project a request scopes to; None for unscoped tokens."""
        if scope is None:
            # Keystone scopes to the default project when there is one.
            return (user.default_project_id
                    if user.default_project_id in user.roles else None)
        if scope == "unscoped":
            return None
        if not isinstance(scope, dict) or "project" not in scope:
            # Domain, system and trust scopes are not modelled.
            raise unauthorized()
        project = self._project_ref(scope["project"])
        if project is None or project.id not in user.roles:
            raise unauthorized()
        return project.id

    def _project_ref(self, ref: Any) -> Project | None:
        if not isinstance(ref, dict):
            raise bad_request("Expecting to find project in scope.")
        if "id" in ref:
            return self.registry.projects.get(str(ref["id"]))
        if "name" not in ref:
            raise bad_request("Expecting to find id or name in project.")
        if "domain" not in ref:
            raise bad_request("Expecting to find domain in project.")
        dom = self.registry.domain_ref(ref["domain"])
        return next((p for p in self.registry.projects.values()
                     if p.name == ref["name"] and p.domain_id == dom.id),
                    None)

    # -- token bodies ---------------------------------------------------------
    def _token_body(self, info: TokenInfo, catalog: bool) -> dict[str, Any]:
        registry = self.registry
        user = registry.users[info.user_id]
        dom = registry.domains[user.domain_id]
        token = fixture.V3Token(
            expires=EXPIRES_AT, user_id=user.id, user_name=user.name,
            user_domain_id=dom.id, user_domain_name=dom.name,
            methods=list(info.methods),
            application_credential_id=info.app_credential_id)
        if info.project_id is not None:
            project = registry.projects[info.project_id]
            pdom = registry.domains[project.domain_id]
            token.set_project_scope(id=project.id, name=project.name,
                                    domain_id=pdom.id, domain_name=pdom.name,
                                    is_domain=False)
            for role in info.roles:
                token.add_role(
                    name=role, id=self._role_ids.setdefault(
                        role, uuid.uuid4().hex))
            if catalog:
                self._add_catalog(token, project.id)
        return dict(token)

    def _add_catalog(self, token: fixture.V3Token, project_id: str) -> None:
        urls = dict(self._catalog_urls(project_id))
        urls.setdefault("identity", self.url)
        for service_type, url in urls.items():
            service = token.add_service(
                service_type,
                name=_SERVICE_NAMES.get(service_type, service_type),
                id=self._service_ids.setdefault(service_type,
                                                uuid.uuid4().hex))
            for interface in INTERFACES:
                endpoint_id = uuid.uuid5(
                    uuid.NAMESPACE_URL,
                    "%s/%s/%s" % (service_type, interface, url)).hex
                service.add_endpoint(interface, url, region=REGION,
                                     id=endpoint_id)
