"""What the fake Keystone knows: domains, projects, users, application
credentials and the tokens it issued.  The API is ``keystone.py``.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
DEFAULT_ROLES = ("member", "reader")

_UNAUTHORIZED = "The request you have made requires authentication."


class KeystoneError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def unauthorized() -> KeystoneError:
    return KeystoneError(401, _UNAUTHORIZED)


def bad_request(message: str) -> KeystoneError:
    return KeystoneError(
        400, "%s The server could not comply with the request since it is "
        "either malformed or otherwise incorrect. The client is assumed to "
        "be in error." % message)


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


class IdentityRegistry:
    """Keystone's identity and token backends."""

    def __init__(self) -> None:
        self.domains: dict[str, Domain] = {
            DEFAULT_DOMAIN_ID: Domain(DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME)}
        self.projects: dict[str, Project] = {}
        self.users: dict[str, User] = {}
        self.app_credentials: dict[str, AppCredential] = {}
        self.tokens: dict[str, TokenInfo] = {}
        self.auth_log: list[tuple[str, str | None]] = []
        """(user name or application credential id, project id) per auth."""

    # -- registry -----------------------------------------------------
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
        user = self.user_by_name(name, dom.id)
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
        user = self.user_by_name(user_name, self.domain(domain).id)
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
        user = self.user_by_name(user_name, self.domain(domain).id)
        if user is None:
            raise KeyError("no user %r" % user_name)
        project_id = (self.project_id(project, domain) if project
                      else user.default_project_id)
        if project_id not in user.roles:
            raise KeyError("user %r has no role on that project" % user_name)
        return self.new_token(user, project_id, user.roles[project_id],
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

    # -- for the API ------------------------------------------------------
    def user_by_name(self, name: str, domain_id: str) -> User | None:
        for u in self.users.values():
            if u.name == name and u.domain_id == domain_id:
                return u
        return None

    def new_token(self, user: User, project_id: str | None,
                   roles: tuple[str, ...], methods: tuple[str, ...],
                   app_credential_id: str | None = None) -> TokenInfo:
        token = "gAAAAAB" + secrets.token_urlsafe(48)
        info = TokenInfo(token=token, user_id=user.id, user_name=user.name,
                         project_id=project_id, roles=roles, methods=methods,
                         app_credential_id=app_credential_id)
        self.tokens[token] = info
        return info

    def domain_ref(self, ref: Any) -> Domain:
        if not isinstance(ref, dict):
            raise bad_request("Expecting to find domain in user.")
        if "id" in ref:
            dom = self.domains.get(str(ref["id"]))
        elif "name" in ref:
            dom = next((d for d in self.domains.values()
                        if d.name == ref["name"]), None)
        else:
            raise bad_request("Expecting to find id or name in domain.")
        if dom is None:
            raise unauthorized()
        return dom
