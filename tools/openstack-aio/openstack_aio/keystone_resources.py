"""Keystone resources: projects, users, roles, catalog, app credential."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openstack_aio.credentials import Secrets
from openstack_aio.credentials import save_secrets
from openstack_aio.settings import AUTH_URL
from openstack_aio.settings import CINDER_TEMPLATE
from openstack_aio.settings import DEMOS
from openstack_aio.settings import GLANCE_URL
from openstack_aio.settings import REGION
from openstack_aio.util import api
from openstack_aio.util import http

Resource = dict[str, Any]


def password_auth(user: str, password: str,
                  project: str) -> tuple[str, Resource]:
    """A project-scoped token and its body."""
    payload, headers = api("POST", AUTH_URL + "/auth/tokens", {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "password": password,
                "domain": {"id": "default"}}}},
            "scope": {"project": {"name": project,
                                  "domain": {"id": "default"}}},
        }}, ok=(201,))
    return headers["X-Subject-Token"], payload


def admin_token(sec: Secrets) -> str:
    return password_auth("admin", sec["admin"], "admin")[0]


class Keystone:
    """Idempotent creation of identity resources, as admin.

    ``changed`` says whether anything was created or altered: Keystone
    caches catalogs, assignments and tokens' contents per worker process
    (``oslo_cache.dict``), and a change made through one worker leaves the
    other's cache stale for ``[cache] expiration_time``.
    """

    def __init__(self, sec: Secrets) -> None:
        self.token, self.body = password_auth("admin", sec["admin"], "admin")
        self.changed = False

    def get(self, path: str) -> Any:
        return api("GET", AUTH_URL + path, token=self.token)[0]

    def post(self, path: str, body: object) -> Any:
        self.changed = True
        return api("POST", AUTH_URL + path, body, token=self.token)[0]

    def patch(self, path: str, body: object) -> Any:
        self.changed = True
        return api("PATCH", AUTH_URL + path, body, token=self.token)[0]

    def find(self, kind: str, name: str, **query: str) -> Resource | None:
        q = "&".join(["name=%s" % name] +
                     ["%s=%s" % kv for kv in query.items()])
        items: list[Resource] = self.get("/%s?%s" % (kind, q))[kind]
        return items[0] if items else None

    def project(self, name: str, description: str) -> Resource:
        p = self.find("projects", name, domain_id="default")
        if p is None:
            p = self.post("/projects", {"project": {
                "name": name, "domain_id": "default",
                "description": description, "enabled": True}})["project"]
        return p

    def role(self, name: str) -> Resource:
        r = self.find("roles", name)
        if r is None:
            r = self.post("/roles", {"role": {"name": name}})["role"]
        return r

    def user(self, name: str, password: str, project: Resource) -> Resource:
        u = self.find("users", name, domain_id="default")
        if u is None:
            created: Resource = self.post("/users", {"user": {
                "name": name, "password": password, "domain_id": "default",
                "default_project_id": project["id"], "enabled": True}})["user"]
            return created
        status, _, _ = http("POST", AUTH_URL + "/auth/tokens", {
            "auth": {"identity": {"methods": ["password"], "password": {
                "user": {"id": u["id"], "password": password}}}}})
        if status != 201:
            self.patch("/users/" + u["id"], {"user": {
                "password": password, "enabled": True}})
        return u

    def grant(self, project: Resource, user: Resource, role: Resource) -> None:
        path = AUTH_URL + "/projects/%s/users/%s/roles/%s" % (
            project["id"], user["id"], role["id"])
        if http("HEAD", path, token=self.token)[0] != 204:
            self.changed = True
            api("PUT", path, token=self.token)

    def endpoint(self, stype: str, sname: str, url: str) -> None:
        items = self.get("/services?type=%s" % stype)["services"]
        s = items[0] if items else self.post("/services", {"service": {
            "type": stype, "name": sname, "enabled": True}})["service"]
        eps = self.get("/endpoints?service_id=%s" % s["id"])["endpoints"]
        for iface in ("public", "internal", "admin"):
            mine = [e for e in eps if e["interface"] == iface]
            if not mine:
                self.post("/endpoints", {"endpoint": {
                    "service_id": s["id"], "interface": iface, "url": url,
                    "region_id": REGION, "enabled": True}})
            elif mine[0]["url"] != url:
                self.patch("/endpoints/" + mine[0]["id"],
                           {"endpoint": {"url": url}})


def app_credential_valid(cur: Resource, user_id: str) -> bool:
    if not (cur.get("id") and cur.get("user_id") == user_id):
        return False
    status, _, _ = http("POST", AUTH_URL + "/auth/tokens", {"auth": {
        "identity": {"methods": ["application_credential"],
                     "application_credential": {
                         "id": cur["id"], "secret": cur["secret"]}}}})
    return status == 201


def app_credential(sec: Secrets, user_id: str) -> Resource:
    """An application credential of the glance user; kept across ups."""
    cur: Resource = sec.get("app_credential") or {}
    if app_credential_valid(cur, user_id):
        return cur
    token, _ = password_auth("glance", sec["glance"], "service")
    base = AUTH_URL + "/users/%s/application_credentials" % user_id
    existing = api("GET", base + "?name=gsc-aio", token=token)[0]
    for ac in existing["application_credentials"]:
        api("DELETE", base + "/" + ac["id"], token=token)
    ac = api("POST", base, {"application_credential": {
        "name": "gsc-aio",
        "description": "glance-store-cinder functional tests",
        "unrestricted": False}}, token=token)[0]["application_credential"]
    cur = {"id": ac["id"], "secret": ac["secret"], "name": ac["name"],
           "user_id": user_id, "project_id": ac["project_id"]}
    sec["app_credential"] = cur
    save_secrets(sec)
    return cur


@dataclass
class KeystoneInfo:
    admin_project_id: str
    service_project_id: str
    users: dict[str, Resource]
    demos: list[Resource]
    app_cred: Resource
    changed: bool       # anything created or altered (see Keystone)


def setup_demos(ks: Keystone, sec: Secrets,
                roles: dict[str, Resource]) -> list[Resource]:
    demos = []
    for name in DEMOS:
        p = ks.project(name, "multitenant tests")
        u = ks.user(name, sec[name], p)
        ks.grant(p, u, roles["member"])
        ks.grant(p, u, roles["reader"])
        demos.append({"project_name": name, "project_id": p["id"],
                      "username": name, "user_id": u["id"],
                      "password": sec[name],
                      "user_domain_name": "Default",
                      "project_domain_name": "Default"})
    return demos


def setup_keystone(sec: Secrets) -> KeystoneInfo:
    ks = Keystone(sec)
    roles = {n: ks.role(n) for n in ("admin", "member", "reader", "service")}
    service = ks.project("service", "service users")
    users = {}
    for name in ("glance", "cinder"):
        u = ks.user(name, sec[name], service)
        ks.grant(service, u, roles["admin"])
        ks.grant(service, u, roles["service"])
        users[name] = u
    demos = setup_demos(ks, sec, roles)
    ks.endpoint("block-storage", "cinder", CINDER_TEMPLATE)
    ks.endpoint("volumev3", "cinderv3", CINDER_TEMPLATE)
    ks.endpoint("image", "glance", GLANCE_URL)
    ac = app_credential(sec, users["glance"]["id"])
    return KeystoneInfo(
        admin_project_id=ks.body["token"]["project"]["id"],
        service_project_id=service["id"], users=users, demos=demos,
        app_cred=ac, changed=ks.changed)
