"""A fake Keystone v3: users, projects, application credentials, tokens.

It answers ``POST /v3/auth/tokens`` the way Keystone does for the
``password``, ``application_credential`` and ``token`` methods that
keystoneauth1's v3 plugins send, with a service catalog pointing at the
fake Cinder.
"""

from __future__ import annotations

import dataclasses
import datetime
import http
import secrets
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from tests.unit.fakes._http import MALFORMED
from tests.unit.fakes._http import Incoming
from tests.unit.fakes._http import Reply
from tests.unit.fakes._http import new_request_id

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
REGION = "RegionOne"
INTERFACES = ("public", "internal", "admin")
EXPIRES_AT = "2999-12-31T23:59:59.000000Z"
DEFAULT_ROLES = ("member", "reader")

_UNAUTHORIZED = "The request you have made requires authentication."


class KeystoneError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _unauthorized() -> KeystoneError:
    return KeystoneError(401, _UNAUTHORIZED)


def _bad_request(message: str) -> KeystoneError:
    return KeystoneError(
        400, "%s The server could not comply with the request since it is "
        "either malformed or otherwise incorrect. The client is assumed to "
        "be in error." % message)


def keystone_error_body(status: int, message: str) -> dict[str, Any]:
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"error": {"code": status, "title": title, "message": message}}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


@dataclasses.dataclass
class Domain:
    id: str
    name: str


@dataclasses.dataclass
class Project:
    id: str
    name: str
    domain_id: str


@dataclasses.dataclass
class User:
    id: str
    name: str
    domain_id: str
    password: str
    default_project_id: str
    roles: dict[str, tuple[str, ...]]
    """Role names per project id."""


@dataclasses.dataclass
class AppCredential:
    id: str
    name: str
    secret: str
    user_id: str
    project_id: str
    roles: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    """What a token stands for (what keystonemiddleware tells Cinder)."""

    token: str
    user_id: str
    user_name: str
    project_id: str | None
    roles: tuple[str, ...]
    methods: tuple[str, ...]
    app_credential_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class FakeKeystone:
    """The identity registry and the Keystone v3 API."""

    def __init__(self, keystone_url: str,
                 catalog_urls: Callable[[str], dict[str, str]]) -> None:
        """:param catalog_urls: project id -> {service type: endpoint URL}."""
        self.url = keystone_url.rstrip("/")
        self._catalog_urls = catalog_urls
        self.domains: dict[str, Domain] = {
            DEFAULT_DOMAIN_ID: Domain(DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME)}
        self.projects: dict[str, Project] = {}
        self.users: dict[str, User] = {}
        self.app_credentials: dict[str, AppCredential] = {}
        self.tokens: dict[str, TokenInfo] = {}
        self.auth_log: list[tuple[str, str | None]] = []
        self._role_ids: dict[str, str] = {}
        self._service_ids: dict[str, str] = {}
        self._extra_catalog: dict[str, str] = {}

    # -- registry -----------------------------------------------------
    def add_catalog_service(self, service_type: str, url: str) -> None:
        """List one more service (same URL for every project)."""
        self._extra_catalog[service_type] = url

    def domain(self, name: str) -> Domain:
        for d in self.domains.values():
            if d.name == name:
                return d
        d = Domain(uuid.uuid4().hex, name)
        self.domains[d.id] = d
        return d

    def add_project(self, name: str, domain: str = DEFAULT_DOMAIN_NAME) -> str:
        dom = self.domain(domain)
        for p in self.projects.values():
            if p.name == name and p.domain_id == dom.id:
                return p.id
        p = Project(uuid.uuid4().hex, name, dom.id)
        self.projects[p.id] = p
        return p.id

    def project_id(self, name: str, domain: str = DEFAULT_DOMAIN_NAME) -> str:
        dom = self.domain(domain)
        for p in self.projects.values():
            if p.name == name and p.domain_id == dom.id:
                return p.id
        raise KeyError("no project %r in domain %r" % (name, domain))

    def add_user(self, name: str, password: str, project: str,
                 domain: str = DEFAULT_DOMAIN_NAME,
                 roles: Iterable[str] = DEFAULT_ROLES) -> tuple[str, str]:
        """Create the user (or grant it roles on one more project)."""
        project_id = self.add_project(project, domain)
        dom = self.domain(domain)
        user = self._user_by_name(name, dom.id)
        if user is None:
            user = User(uuid.uuid4().hex, name, dom.id, password, project_id,
                        {})
            self.users[user.id] = user
        user.password = password
        user.roles[project_id] = tuple(roles)
        return user.id, project_id

    def add_app_credential(self, user_name: str, project: str,
                           domain: str = DEFAULT_DOMAIN_NAME
                           ) -> tuple[str, str]:
        user = self._user_by_name(user_name, self.domain(domain).id)
        if user is None:
            raise KeyError("no user %r" % user_name)
        project_id = self.project_id(project, domain)
        if project_id not in user.roles:
            raise KeyError("user %r has no role on project %r"
                           % (user_name, project))
        cred = AppCredential(uuid.uuid4().hex, "appcred-%s" % user_name,
                             secrets.token_urlsafe(24), user.id, project_id,
                             user.roles[project_id])
        self.app_credentials[cred.id] = cred
        return cred.id, cred.secret

    def issue_token(self, user_name: str, project: str | None = None,
                    domain: str = DEFAULT_DOMAIN_NAME) -> str:
        """A project-scoped token, as a requester would carry."""
        user = self._user_by_name(user_name, self.domain(domain).id)
        if user is None:
            raise KeyError("no user %r" % user_name)
        project_id = (self.project_id(project, domain) if project
                      else user.default_project_id)
        if project_id not in user.roles:
            raise KeyError("user %r has no role on that project" % user_name)
        return self._new_token(user, project_id, user.roles[project_id],
                               ("password",)).token

    def revoke_tokens(self, user_name: str | None = None) -> int:
        """Invalidate every token (of one user); returns how many."""
        gone = [t for t, info in self.tokens.items()
                if user_name is None or info.user_name == user_name]
        for t in gone:
            del self.tokens[t]
        return len(gone)

    def validate(self, token: str | None) -> TokenInfo | None:
        if not token:
            return None
        return self.tokens.get(token)

    # -- internals ----------------------------------------------------
    def _user_by_name(self, name: str, domain_id: str) -> User | None:
        for u in self.users.values():
            if u.name == name and u.domain_id == domain_id:
                return u
        return None

    def _new_token(self, user: User, project_id: str | None,
                   roles: tuple[str, ...], methods: tuple[str, ...],
                   app_credential_id: str | None = None) -> TokenInfo:
        token = "gAAAAAB" + secrets.token_urlsafe(48)
        info = TokenInfo(token=token, user_id=user.id, user_name=user.name,
                         project_id=project_id, roles=roles, methods=methods,
                         app_credential_id=app_credential_id)
        self.tokens[token] = info
        return info

    def _role_id(self, name: str) -> str:
        return self._role_ids.setdefault(name, uuid.uuid4().hex)

    def _service_id(self, service_type: str) -> str:
        return self._service_ids.setdefault(service_type, uuid.uuid4().hex)

    def _domain_ref(self, ref: Any) -> Domain:
        if not isinstance(ref, dict):
            raise _bad_request("Expecting to find domain in user.")
        if "id" in ref:
            dom = self.domains.get(str(ref["id"]))
        elif "name" in ref:
            dom = next((d for d in self.domains.values()
                        if d.name == ref["name"]), None)
        else:
            raise _bad_request("Expecting to find id or name in domain.")
        if dom is None:
            raise _unauthorized()
        return dom

    # -- API ----------------------------------------------------------
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

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply(status, keystone_error_body(status, message),
                     {"x-openstack-request-id": new_request_id()})

    def _version_doc(self) -> dict[str, Any]:
        return {
            "id": "v3.14", "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": self.url + "/"}],
            "media-types": [{
                "base": "application/json",
                "type": "application/vnd.openstack.identity-v3+json"}]}

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
        if self.validate(req.headers.get("X-Auth-Token")) is None:
            raise _unauthorized()
        subject = self.validate(req.headers.get("X-Subject-Token"))
        if subject is None:
            raise KeystoneError(404, "Could not find token.")
        if req.method == "DELETE":
            del self.tokens[subject.token]
            return Reply(204)
        body = self._token_body(subject, catalog="nocatalog" not in req.query)
        return Reply(200, body, {"X-Subject-Token": subject.token})

    def _authenticate(self, req: Incoming) -> Reply:
        body = req.body
        if body is MALFORMED or not isinstance(body, dict):
            raise _bad_request("Malformed request body.")
        auth = body.get("auth")
        if not isinstance(auth, dict) or not isinstance(
                auth.get("identity"), dict):
            raise _bad_request("Expecting to find identity in auth.")
        identity = auth["identity"]
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise _bad_request("Expecting to find methods in identity.")
        scope = auth.get("scope")
        app_cred: AppCredential | None = None
        if "application_credential" in methods:
            app_cred = self._app_credential(
                identity.get("application_credential"))
            if scope is not None:
                # Keystone: application credentials cannot request a scope.
                raise _unauthorized()
            user = self.users[app_cred.user_id]
            project_id: str | None = app_cred.project_id
            roles = app_cred.roles
            who = app_cred.id
        elif "password" in methods:
            user = self._password_user(identity.get("password"))
            project_id = self._scope(user, scope)
            roles = user.roles.get(project_id, ()) if project_id else ()
            who = user.name
        elif "token" in methods:
            ref = identity.get("token")
            old = self.validate(ref.get("id") if isinstance(ref, dict)
                                else None)
            if old is None:
                raise _unauthorized()
            user = self.users[old.user_id]
            project_id = self._scope(user, scope)
            roles = user.roles.get(project_id, ()) if project_id else ()
            who = user.name
        else:
            raise _unauthorized()
        info = self._new_token(user, project_id, roles, tuple(methods),
                               app_cred.id if app_cred else None)
        self.auth_log.append((who, project_id))
        return Reply(201, self._token_body(
            info, catalog="nocatalog" not in req.query),
            {"X-Subject-Token": info.token})

    def _password_user(self, ref: Any) -> User:
        user_ref = ref.get("user") if isinstance(ref, dict) else None
        if not isinstance(user_ref, dict):
            raise _bad_request("Expecting to find user in password.")
        user: User | None
        if "id" in user_ref:
            user = self.users.get(str(user_ref["id"]))
        elif "name" in user_ref:
            if "domain" not in user_ref:
                raise _bad_request("Expecting to find domain in user.")
            dom = self._domain_ref(user_ref["domain"])
            user = self._user_by_name(str(user_ref["name"]), dom.id)
        else:
            raise _bad_request("Expecting to find id or name in user.")
        if user is None or user_ref.get("password") != user.password:
            raise _unauthorized()
        return user

    def _app_credential(self, ref: Any) -> AppCredential:
        if not isinstance(ref, dict) or "secret" not in ref:
            raise _bad_request(
                "Expecting to find secret in application_credential.")
        cred: AppCredential | None = None
        if "id" in ref:
            cred = self.app_credentials.get(str(ref["id"]))
        elif "name" in ref and isinstance(ref.get("user"), dict):
            user_ref = ref["user"]
            user: User | None
            if "id" in user_ref:
                user = self.users.get(str(user_ref["id"]))
            else:
                dom = self._domain_ref(user_ref.get("domain"))
                user = self._user_by_name(str(user_ref.get("name")), dom.id)
            cred = next((c for c in self.app_credentials.values()
                         if user is not None and c.user_id == user.id
                         and c.name == ref["name"]), None)
        else:
            raise _bad_request(
                "Expecting to find id or name and user in "
                "application_credential.")
        if cred is None or cred.secret != ref["secret"]:
            raise _unauthorized()
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
            raise _unauthorized()
        ref = scope["project"]
        if not isinstance(ref, dict):
            raise _bad_request("Expecting to find project in scope.")
        project: Project | None
        if "id" in ref:
            project = self.projects.get(str(ref["id"]))
        elif "name" in ref:
            if "domain" not in ref:
                raise _bad_request("Expecting to find domain in project.")
            dom = self._domain_ref(ref["domain"])
            project = next((p for p in self.projects.values()
                            if p.name == ref["name"]
                            and p.domain_id == dom.id), None)
        else:
            raise _bad_request("Expecting to find id or name in project.")
        if project is None or project.id not in user.roles:
            raise _unauthorized()
        return project.id

    def _catalog(self, project_id: str) -> list[dict[str, Any]]:
        urls = dict(self._catalog_urls(project_id))
        urls.setdefault("identity", self.url)
        urls.update(self._extra_catalog)
        names = {"volumev3": "cinderv3", "block-storage": "cinder",
                 "identity": "keystone"}
        catalog = []
        for service_type, url in urls.items():
            catalog.append({
                "id": self._service_id(service_type),
                "type": service_type,
                "name": names.get(service_type, service_type),
                "endpoints": [{
                    "id": uuid.uuid5(uuid.NAMESPACE_URL,
                                     "%s/%s/%s" % (service_type, interface,
                                                   url)).hex,
                    "interface": interface,
                    "region_id": REGION,
                    "region": REGION,
                    "url": url,
                } for interface in INTERFACES],
            })
        return catalog

    def _token_body(self, info: TokenInfo, catalog: bool) -> dict[str, Any]:
        user = self.users[info.user_id]
        dom = self.domains[user.domain_id]
        token: dict[str, Any] = {
            "methods": list(info.methods),
            "user": {"id": user.id, "name": user.name,
                     "domain": {"id": dom.id, "name": dom.name},
                     "password_expires_at": None},
            "audit_ids": [secrets.token_urlsafe(16)],
            "expires_at": EXPIRES_AT,
            "issued_at": _now(),
        }
        if info.project_id is not None:
            project = self.projects[info.project_id]
            pdom = self.domains[project.domain_id]
            token["project"] = {"id": project.id, "name": project.name,
                                "domain": {"id": pdom.id, "name": pdom.name}}
            token["is_domain"] = False
            token["roles"] = [{"id": self._role_id(r), "name": r}
                              for r in info.roles]
            if catalog:
                token["catalog"] = self._catalog(project.id)
        if info.app_credential_id is not None:
            cred = self.app_credentials[info.app_credential_id]
            token["application_credential"] = {
                "id": cred.id, "name": cred.name, "restricted": True}
        return {"token": token}
