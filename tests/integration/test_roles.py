"""The role matrix: every endpoint of docs/api.md called by each of anonymous, a user without a
project, a member, a project-admin (both of project A) and a global admin, with the outcome the
contract gives (docs/api.md "Roles and scoping": a policy denial is 401 for anonymous and 403 for
a known caller; a thing outside the caller's scope is 404).

Where docs/api.md leaves the choice between 403 and 404 open (a project-less user asking about a
project, a non-admin reading another user), the row accepts both and says so.

Also here: the policy file (docs/policy.md) with reload by POST /api/v1/system/policy/reload and
by SIGHUP.
"""
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest

from conftest import (ADMIN_PASSWORD, PASSWORD, World, expect_json, expect_no_content,
                      expect_page, expect_problem, unique_name)

ROLES = ("anonymous", "user", "member", "project-admin", "admin")
LABEL = {"user": "loner", "member": "am", "project-admin": "aa", "admin": "admin"}
EITHER = (403, 404)  # docs/api.md leaves it open: policy denial or out of scope
TYPE_FOR = {401: "unauthenticated", 403: "permission-denied", 404: "not-found",
            409: "failed-precondition"}


def everyone(status):
    return {role: status for role in ROLES}


def logged_in(status, anonymous=401):
    table = everyone(status)
    table["anonymous"] = anonymous
    return table


def admin_only(status):
    table = logged_in(403)
    table["admin"] = status
    return table


class Context:
    """What a row needs: the shared world plus fresh things it may consume."""

    def __init__(self, server, world: World):
        self.server = server
        self.world = world

    def token(self, role: str) -> Optional[str]:
        return None if role == "anonymous" else self.world.token(LABEL[role])

    def fresh_token(self, role: str) -> Optional[str]:
        """A new identity with `role` (in project A), for rows that change the caller's session
        or password."""
        if role == "anonymous":
            return None
        if role == "admin":
            user = self.server.create_user(is_admin=True)
        else:
            user = self.server.create_user()
            if role != "user":
                self.server.add_member(self.world.a["id"], user["id"], role)
        session = self.server.login(user["name"], PASSWORD)
        assert session["role"] == role, session
        return session["access_token"]

    def send(self, method, path, role, json=None, fresh=False):
        token = self.fresh_token(role) if fresh else self.token(role)
        return self.server.request(method, path, json=json, token=token)


@dataclass
class Row:
    name: str
    expect: dict
    call: Callable  # (ctx, role) -> Reply
    check: Optional[Callable] = None  # (body) -> None, for successes
    notes: str = field(default="")
    json_body: bool = True  # a success has a JSON body (else any non-empty body)


def a_id(ctx):
    return ctx.world.a["id"]


def fresh_member_of_a(ctx):
    user = ctx.server.create_user()
    ctx.server.add_member(ctx.world.a["id"], user["id"])
    return user


def upgrade(ctx, role):
    """A WebSocket opening handshake on a raw socket; returns a Reply-like status and body."""
    token = ctx.token(role)
    lines = ["GET /api/v1/events HTTP/1.1", f"Host: 127.0.0.1:{ctx.server.port}",
             "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    with socket.create_connection(("127.0.0.1", ctx.server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    status_line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return int(status_line.split()[1])


def is_page(body):
    assert set(body) == {"items", "next_cursor"}, body


def is_items(body):
    assert isinstance(body.get("items"), list), body


ROWS = [
    # --- auth ---
    Row("login", everyone(200),
        lambda c, r: c.server.request(
            "POST", "/api/v1/auth/login", token=c.token(r),
            json={"name": c.world.users["loner"]["name"], "password": PASSWORD}),
        lambda b: b["access_token"] and b["role"] == "user",
        "login with an Authorization header present is still a login"),
    Row("refresh", everyone(200),
        lambda c, r: c.server.request(
            "POST", "/api/v1/auth/refresh", token=c.token(r),
            json={"refresh_token": c.server.login(c.world.users["loner"]["name"],
                                                  PASSWORD)["refresh_token"]}),
        lambda b: b["access_token"]),
    Row("logout", logged_in(204), lambda c, r: c.send("POST", "/api/v1/auth/logout", r, fresh=True)),
    Row("whoami", logged_in(200), lambda c, r: c.send("GET", "/api/v1/auth/whoami", r),
        lambda b: b["auth"] == "access_token"),
    Row("switch-to-A", {"anonymous": 401, "user": EITHER, "member": 200, "project-admin": 200,
                        "admin": 200},
        lambda c, r: c.send("POST", "/api/v1/auth/switch", r, json={"project_id": a_id(c)},
                            fresh=True),
        lambda b: b["project_id"] and b["access_token"]),
    Row("password", logged_in(204),
        lambda c, r: c.send("POST", "/api/v1/auth/password", r, fresh=True,
                            json={"current_password": PASSWORD,
                                  "new_password": "changed-password-1"})),
    # --- users ---
    Row("users-create", admin_only(201),
        lambda c, r: c.send("POST", "/api/v1/users", r,
                            json={"name": unique_name("m"), "password": PASSWORD}),
        lambda b: b["id"]),
    Row("users-list", admin_only(200), lambda c, r: c.send("GET", "/api/v1/users", r), is_page),
    Row("users-get-other", {"anonymous": 401, "user": EITHER, "member": EITHER,
                            "project-admin": EITHER, "admin": 200},
        lambda c, r: c.send("GET", f"/api/v1/users/{c.world.user_id('bm')}", r),
        lambda b: b["name"]),
    Row("users-get-self", logged_in(200),
        lambda c, r: c.send("GET", "/api/v1/users/"
                            + (c.world.sessions[LABEL.get(r, "loner")]["user"]["id"]), r),
        lambda b: b["name"]),
    Row("users-patch", admin_only(200),
        lambda c, r: c.send("PATCH", f"/api/v1/users/{c.server.create_user()['id']}", r,
                            json={"is_admin": False}),
        lambda b: b["is_admin"] is False),
    Row("users-delete", admin_only(204),
        lambda c, r: c.send("DELETE", f"/api/v1/users/{c.server.create_user()['id']}", r)),
    Row("users-projects-other", {"anonymous": 401, "user": EITHER, "member": EITHER,
                                 "project-admin": EITHER, "admin": 200},
        lambda c, r: c.send("GET", f"/api/v1/users/{c.world.user_id('bm')}/projects", r),
        is_items),
    Row("users-projects-self", logged_in(200),
        lambda c, r: c.send("GET", "/api/v1/users/"
                            + c.world.sessions[LABEL.get(r, "loner")]["user"]["id"]
                            + "/projects", r),
        is_items),
    # --- projects ---
    Row("projects-create", admin_only(201),
        lambda c, r: c.send("POST", "/api/v1/projects", r, json={"name": unique_name("p")}),
        lambda b: b["id"]),
    Row("projects-list", logged_in(200), lambda c, r: c.send("GET", "/api/v1/projects", r),
        is_page),
    Row("projects-get-own", {"anonymous": 401, "user": 404, "member": 200, "project-admin": 200,
                             "admin": 200},
        lambda c, r: c.send("GET", f"/api/v1/projects/{a_id(c)}", r),
        lambda b: b["name"]),
    Row("projects-get-foreign", {"anonymous": 401, "user": 404, "member": 404,
                                 "project-admin": 404, "admin": 200},
        lambda c, r: c.send("GET", f"/api/v1/projects/{c.world.b['id']}", r),
        lambda b: b["name"]),
    Row("projects-delete", admin_only(204),
        lambda c, r: c.send("DELETE", f"/api/v1/projects/{c.server.create_project()['id']}", r)),
    Row("members-list", {"anonymous": 401, "user": EITHER, "member": 403, "project-admin": 200,
                         "admin": 200},
        lambda c, r: c.send("GET", f"/api/v1/projects/{a_id(c)}/members", r), is_items),
    Row("members-put", {"anonymous": 401, "user": EITHER, "member": 403, "project-admin": 200,
                        "admin": 200},
        lambda c, r: c.send("PUT", f"/api/v1/projects/{a_id(c)}/members/"
                            f"{c.server.create_user()['id']}", r, json={"role": "member"}),
        lambda b: b["role"] == "member"),
    Row("members-delete", {"anonymous": 401, "user": EITHER, "member": 403, "project-admin": 204,
                           "admin": 204},
        lambda c, r: c.send("DELETE", f"/api/v1/projects/{a_id(c)}/members/"
                            f"{fresh_member_of_a(c)['id']}", r)),
    Row("keys-create-member", {"anonymous": 401, "user": EITHER, "member": 201,
                               "project-admin": 201, "admin": 201},
        lambda c, r: c.send("POST", f"/api/v1/projects/{a_id(c)}/api-keys", r,
                            json={"name": unique_name("k")}),
        lambda b: b["key"].startswith("tdk_") and b["role"] == "member"),
    Row("keys-create-project-admin", {"anonymous": 401, "user": EITHER, "member": 403,
                                      "project-admin": 201, "admin": 201},
        lambda c, r: c.send("POST", f"/api/v1/projects/{a_id(c)}/api-keys", r,
                            json={"name": unique_name("k"), "role": "project-admin"}),
        lambda b: b["role"] == "project-admin"),
    Row("keys-list", {"anonymous": 401, "user": EITHER, "member": 200, "project-admin": 200,
                      "admin": 200},
        lambda c, r: c.send("GET", f"/api/v1/projects/{a_id(c)}/api-keys", r), is_items),
    Row("keys-delete-admins-key", {"anonymous": 401, "user": EITHER, "member": EITHER,
                                   "project-admin": 204, "admin": 204},
        lambda c, r: c.send("DELETE", f"/api/v1/projects/{a_id(c)}/api-keys/"
                            f"{c.server.create_api_key(a_id(c))['id']}", r)),
    # --- logs ---
    Row("audit-own", logged_in(200), lambda c, r: c.send("GET", "/api/v1/audit", r), is_page),
    Row("audit-other-user", admin_only(200),
        lambda c, r: c.send("GET", f"/api/v1/audit?user_id={c.world.user_id('bm')}", r),
        is_page),
    Row("errors", admin_only(200), lambda c, r: c.send("GET", "/api/v1/errors", r), is_page),
    # --- system ---
    Row("healthz", everyone(200), lambda c, r: c.send("GET", "/healthz", r),
        lambda b: b == {"status": "ok"}),
    Row("readyz", everyone(200), lambda c, r: c.send("GET", "/readyz", r), json_body=False),
    Row("version", everyone(200), lambda c, r: c.send("GET", "/api/v1/version", r),
        lambda b: b["name"] == "tendril" and b["version"]),
    Row("metrics", everyone(200), lambda c, r: c.send("GET", "/metrics", r), json_body=False),
    Row("openapi", everyone(200), lambda c, r: c.send("GET", "/api/v1/openapi.json", r),
        lambda b: b["openapi"].startswith("3.1")),
    Row("docs-page", everyone(200), lambda c, r: c.send("GET", "/api/docs", r), json_body=False),
    # Without a policy file the admin passes the policy and gets 409 (nothing to reload) or
    # 200; TestPolicyFile below covers reload with a file.
    Row("policy-reload", {**admin_only(200), "admin": (200, 409)},
        lambda c, r: c.send("POST", "/api/v1/system/policy/reload", r)),
    Row("no-such-route", everyone(404), lambda c, r: c.send("GET", "/api/v1/no-such-thing", r)),
    Row("events-upgrade", logged_in(101), upgrade),
]


def check_outcome(row: Row, role: str, reply) -> None:
    expected = row.expect[role]
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(reply, int):  # the WebSocket handshake
        assert reply in allowed, f"{row.name} as {role}: {reply}, expected {expected}"
        return
    assert reply.status in allowed, f"{row.name} as {role}: expected {expected}, got {reply!r}"
    status = reply.status
    if status in TYPE_FOR:
        expect_problem(reply, status, TYPE_FOR[status])
    elif status == 204:
        expect_no_content(reply)
    elif not row.json_body:
        assert reply.body, f"{row.name} as {role}: empty body {reply!r}"
    else:
        body = expect_json(reply, status)
        if row.check is not None:
            assert row.check(body) is not False, f"{row.name} as {role}: body {body!r}"


@pytest.fixture(scope="module")
def ctx(module_server, world):
    return Context(module_server, world)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_role_matrix(server, ctx, row, role):
    check_outcome(row, role, row.call(ctx, role))


def test_matrix_covers_every_role_of_every_row():
    for row in ROWS:
        assert set(row.expect) == set(ROLES), row.name


def test_member_without_project_scope_after_removal(server, ctx):
    """A member removed from the project keeps a valid login but loses the project at once."""
    user = fresh_member_of_a(ctx)
    token = server.login(user["name"], PASSWORD)["access_token"]
    expect_json(server.request("GET", f"/api/v1/projects/{a_id(ctx)}/api-keys", token=token))
    expect_no_content(server.request("DELETE", f"/api/v1/projects/{a_id(ctx)}/members/{user['id']}",
                                     token=server.admin_token()))
    reply = server.request("GET", f"/api/v1/projects/{a_id(ctx)}/api-keys", token=token)
    assert reply.status in (401, 403, 404), reply
    expect_problem(reply, reply.status)


def test_promotion_takes_effect_at_once(server, ctx):
    user = fresh_member_of_a(ctx)
    token = server.login(user["name"], PASSWORD)["access_token"]
    expect_problem(server.request("GET", f"/api/v1/projects/{a_id(ctx)}/members", token=token),
                   403, "permission-denied")
    ctx.server.add_member(a_id(ctx), user["id"], "project-admin")
    expect_json(server.request("GET", f"/api/v1/projects/{a_id(ctx)}/members", token=token))


# --- the policy file -------------------------------------------------------------------------

# The policy of docs/api.md, written out (docs/policy.md format). GET_PROJECTS is the line the
# reload tests change.
LOGGED_IN = "user, member, project-admin, admin"
EVERYONE = "anonymous, " + LOGGED_IN
POLICY_LINES = [
    f"POST    /api/v1/auth/login                            {EVERYONE}",
    f"POST    /api/v1/auth/refresh                          {EVERYONE}",
    f"POST    /api/v1/auth/logout                           {LOGGED_IN}",
    f"GET     /api/v1/auth/whoami                           {LOGGED_IN}",
    f"POST    /api/v1/auth/switch                           {LOGGED_IN}",
    f"POST    /api/v1/auth/password                         {LOGGED_IN}",
    "POST    /api/v1/users                                 admin",
    "GET     /api/v1/users                                 admin",
    f"GET     /api/v1/users/{{id}}                            {LOGGED_IN}",
    "PATCH   /api/v1/users/{id}                            admin",
    "DELETE  /api/v1/users/{id}                            admin",
    f"GET     /api/v1/users/{{id}}/projects                   {LOGGED_IN}",
    "POST    /api/v1/projects                              admin",
    "GET     /api/v1/projects                              {GET_PROJECTS}",
    f"GET     /api/v1/projects/{{id}}                         {LOGGED_IN}",
    "DELETE  /api/v1/projects/{id}                         admin",
    f"GET     /api/v1/projects/{{id}}/members                 {LOGGED_IN}",
    f"PUT     /api/v1/projects/{{id}}/members/{{user_id}}       {LOGGED_IN}",
    f"DELETE  /api/v1/projects/{{id}}/members/{{user_id}}       {LOGGED_IN}",
    f"POST    /api/v1/projects/{{id}}/api-keys                {LOGGED_IN}",
    f"GET     /api/v1/projects/{{id}}/api-keys                {LOGGED_IN}",
    f"DELETE  /api/v1/projects/{{id}}/api-keys/{{key_id}}     {LOGGED_IN}",
    f"GET     /api/v1/audit                                 {LOGGED_IN}",
    "GET     /api/v1/errors                                admin",
    "POST    /api/v1/system/policy/reload                  admin",
    f"GET     /api/v1/openapi.json                          {EVERYONE}",
    f"GET     /api/v1/events                                {LOGGED_IN}",
]


def policy_text(get_projects: str) -> str:
    body = "\n".join(line.replace("{GET_PROJECTS}", get_projects) for line in POLICY_LINES)
    return "# policy written by tests/integration/test_roles.py\n" + body + "\n"


@pytest.fixture
def policy_server(server_factory, tmp_path):
    path = tmp_path / "policy.txt"
    path.write_text(policy_text("admin"))
    server = server_factory(settings={"policy_file": path})
    server.policy_path = path
    user = server.create_user()
    project = server.create_project()
    server.add_member(project["id"], user["id"])
    server.member_token = server.login(user["name"], PASSWORD)["access_token"]
    return server


def reload(server):
    return server.request("POST", "/api/v1/system/policy/reload", token=server.admin_token())


def test_policy_file_is_in_force(policy_server):
    expect_problem(policy_server.request("GET", "/api/v1/projects",
                                         token=policy_server.member_token),
                   403, "permission-denied")
    expect_page(policy_server.request("GET", "/api/v1/projects",
                                      token=policy_server.admin_token()))


def test_policy_reload_by_request(policy_server):
    policy_server.policy_path.write_text(policy_text("member, admin"))
    body = expect_json(reload(policy_server))
    assert body == {"rules": len(POLICY_LINES)}, body
    expect_page(policy_server.request("GET", "/api/v1/projects",
                                      token=policy_server.member_token))


def test_policy_reload_by_sighup(policy_server):
    policy_server.policy_path.write_text(policy_text("member, admin"))
    policy_server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while True:
        reply = policy_server.request("GET", "/api/v1/projects", token=policy_server.member_token)
        if reply.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    expect_page(reply)
    assert policy_server.running() and policy_server.healthy()


@pytest.mark.parametrize("broken", ["GET /api/v1/projects root\n", "FETCH /api/v1/projects admin\n",
                                    "GET /api/v1/projects\n"])
def test_broken_policy_keeps_the_old_one(policy_server, broken):
    policy_server.policy_path.write_text(policy_text("member, admin") + broken)
    reply = reload(policy_server)
    problem = expect_problem(reply, 400, "invalid-argument")
    assert "line" in problem.get("detail", ""), problem
    expect_problem(policy_server.request("GET", "/api/v1/projects",
                                         token=policy_server.member_token),
                   403, "permission-denied")
    # SIGHUP with the broken file does not stop the server either.
    policy_server.signal(signal.SIGHUP)
    time.sleep(0.3)
    assert policy_server.running() and policy_server.healthy()
    expect_page(policy_server.request("GET", "/api/v1/projects",
                                      token=policy_server.admin_token()))


def test_stale_rule_is_refused_and_the_old_policy_stays(policy_server):
    # A rule for a route the server does not have is a typo or a leftover: refused, not kept
    # silently (Hanami kept such rules).
    policy_server.policy_path.write_text(policy_text("member, admin") +
                                         "GET /api/v1/no-such-route admin\n")
    problem = expect_problem(reload(policy_server), 400, "invalid-argument")
    assert "/api/v1/no-such-route" in problem.get("detail", ""), problem
    expect_problem(policy_server.request("GET", "/api/v1/projects",
                                         token=policy_server.member_token),
                   403, "permission-denied")


def test_deny_by_default(policy_server):
    text = policy_text("admin").replace(
        "GET     /api/v1/users                                 admin",
        "GET     /api/v1/users                                 none")
    policy_server.policy_path.write_text(text)
    expect_json(reload(policy_server))
    expect_problem(policy_server.request("GET", "/api/v1/users",
                                         token=policy_server.admin_token()),
                   403, "permission-denied")
    expect_problem(policy_server.request("GET", "/api/v1/users"), 401, "unauthenticated")


def test_reload_without_policy_file(server_factory):
    server = server_factory()
    reply = server.request("POST", "/api/v1/system/policy/reload", token=server.admin_token())
    if reply.status == 200:
        assert isinstance(reply.body.get("rules"), int) and reply.body["rules"] > 20, reply
    else:
        expect_problem(reply, 409, "failed-precondition")
    assert server.login("admin", ADMIN_PASSWORD)


def test_unknown_ids_in_matrix_paths_are_404_for_admin(server, ctx):
    for path in (f"/api/v1/users/{uuid.uuid4()}", f"/api/v1/projects/{uuid.uuid4()}",
                 f"/api/v1/projects/{uuid.uuid4()}/members",
                 f"/api/v1/projects/{uuid.uuid4()}/api-keys",
                 f"/api/v1/users/{uuid.uuid4()}/projects"):
        expect_problem(server.request("GET", path, token=ctx.token("admin")), 404, "not-found")
