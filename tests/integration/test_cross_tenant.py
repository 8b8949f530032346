"""Tenant isolation: callers of project A (a member, a project-admin, a project-admin API key)
call every id-taking endpoint with project B's ids. Each call must be refused with 403 or 404,
must change nothing in B, and the reply must not reveal B's data: B's name, its members' names
and ids, its keys' ids, names and secrets (the ids the caller itself sent excepted, since a
problem may echo its request path in `instance`). A 404 must look exactly like the 404 for an id
that does not exist at all."""
import json
import re
import uuid

import pytest

from conftest import (PASSWORD, World, all_pages, expect_json, expect_page, expect_problem,
                      unique_name)

UUID_ANY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Tenants:
    def __init__(self, server):
        self.server = server
        self.world = World(server)
        w = self.world
        self.a_key = server.create_api_key(w.a["id"], w.token("aa"), role="project-admin")
        self.b_key = server.create_api_key(w.b["id"], w.token("ba"), name=unique_name("bkey"),
                                           role="project-admin")
        self.b_member_key = server.create_api_key(w.b["id"], w.token("bm"),
                                                  name=unique_name("bmkey"))
        self.b_secrets = [w.b["id"], w.b["name"], w.user_id("bm"), w.users["bm"]["name"],
                          w.user_id("ba"), w.users["ba"]["name"], self.b_key["id"],
                          self.b_key["name"], self.b_key["key"], self.b_member_key["id"],
                          self.b_member_key["name"], self.b_member_key["key"]]

    def credentials(self, caller):
        if caller == "akey":
            return {"api_key": self.a_key["key"]}
        return {"token": self.world.token(caller)}

    def caller_id(self, caller):
        return self.world.user_id("aa" if caller == "akey" else caller)


@pytest.fixture(scope="module")
def tenants(module_server):
    return Tenants(module_server)


def assert_no_leak(reply, secrets, sent=""):
    text = json.dumps(reply.body) if not isinstance(reply.body, bytes) else \
        reply.body.decode(errors="replace")
    text += "\n" + "\n".join(f"{k}: {v}" for k, v in reply.headers.items())
    for secret in secrets:
        if secret in sent:
            continue
        assert secret not in text, f"reply reveals {secret!r}: {reply!r}"


# Each call: (name, function(t, caller) -> (method, path, body)).
def b(t):
    return t.world.b["id"]


CALLS = [
    ("get-project", lambda t, c: ("GET", f"/api/v1/projects/{b(t)}", None)),
    ("delete-project", lambda t, c: ("DELETE", f"/api/v1/projects/{b(t)}?cascade=true", None)),
    ("list-members", lambda t, c: ("GET", f"/api/v1/projects/{b(t)}/members", None)),
    ("add-self-to-B", lambda t, c: ("PUT", f"/api/v1/projects/{b(t)}/members/{t.caller_id(c)}",
                                    {"role": "project-admin"})),
    ("promote-B-member", lambda t, c: ("PUT",
                                       f"/api/v1/projects/{b(t)}/members/{t.world.user_id('bm')}",
                                       {"role": "project-admin"})),
    ("remove-B-member", lambda t, c: ("DELETE",
                                      f"/api/v1/projects/{b(t)}/members/{t.world.user_id('bm')}",
                                      None)),
    ("create-key-in-B", lambda t, c: ("POST", f"/api/v1/projects/{b(t)}/api-keys",
                                      {"name": unique_name("k")})),
    ("list-keys-of-B", lambda t, c: ("GET", f"/api/v1/projects/{b(t)}/api-keys", None)),
    ("revoke-B-key", lambda t, c: ("DELETE", f"/api/v1/projects/{b(t)}/api-keys/{t.b_key['id']}",
                                   None)),
    ("revoke-B-key-via-A", lambda t, c: ("DELETE", f"/api/v1/projects/{t.world.a['id']}/api-keys/"
                                         f"{t.b_key['id']}", None)),
    ("get-B-user", lambda t, c: ("GET", f"/api/v1/users/{t.world.user_id('bm')}", None)),
    ("get-B-user-projects", lambda t, c: ("GET", f"/api/v1/users/{t.world.user_id('bm')}/projects",
                                          None)),
    ("patch-B-user", lambda t, c: ("PATCH", f"/api/v1/users/{t.world.user_id('bm')}",
                                   {"password": "taken-over-1"})),
    ("delete-B-user", lambda t, c: ("DELETE", f"/api/v1/users/{t.world.user_id('bm')}", None)),
    ("audit-of-B-user", lambda t, c: ("GET", f"/api/v1/audit?user_id={t.world.user_id('bm')}",
                                      None)),
    ("switch-to-B", lambda t, c: ("POST", "/api/v1/auth/switch", {"project_id": b(t)})),
]
CALLERS = ["am", "aa", "akey"]


def replace_ids(text, ids):
    for value in ids:
        text = text.replace(value, "<ID>")
    return text


def expect_same_as_unknown_ids(server, tenants, caller, method, path, body, reply):
    """The reply for B's ids equals the reply for random ids (docs/api.md "Errors": another
    tenant's ids look exactly like unknown ones), ids and `instance` aside."""
    sent = path + json.dumps(body)
    real_ids = [i for i in UUID_ANY.findall(sent) if i != tenants.caller_id(caller)
                and i != tenants.world.a["id"]]
    fake_path = path
    for real in real_ids:
        fake_path = fake_path.replace(real, str(uuid.uuid4()))
    fake_body = dict(body) if body else None
    if fake_body and "project_id" in fake_body:
        fake_body["project_id"] = str(uuid.uuid4())
    fake = server.request(method, fake_path, json=fake_body, **tenants.credentials(caller))
    assert fake.status == reply.status, \
        f"B's id gets {reply.status}, an unknown id {fake.status}: existence leaks\n" \
        f"  B's: {reply.body}\n  unknown: {fake.body}"
    expect_problem(fake, fake.status)
    normal = {k: v for k, v in reply.body.items() if k != "instance"}
    normal_fake = {k: v for k, v in fake.body.items() if k != "instance"}
    assert replace_ids(json.dumps(normal, sort_keys=True), UUID_ANY.findall(sent)) == \
        replace_ids(json.dumps(normal_fake, sort_keys=True),
                    UUID_ANY.findall(fake_path + json.dumps(fake_body))), \
        f"B's id and an unknown id get different replies: {reply.body} vs {fake.body}"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name, make", CALLS, ids=[name for name, _ in CALLS])
def test_cross_tenant_call_is_refused(server, tenants, caller, name, make):
    method, path, body = make(tenants, caller)
    reply = server.request(method, path, json=body, **tenants.credentials(caller))
    if name == "switch-to-B" and caller == "akey":
        # an API key has no session to switch: any refusal will do, but it must be one
        assert 400 <= reply.status < 500, reply
        expect_problem(reply, reply.status)
    else:
        assert reply.status in (403, 404), f"{name} by {caller}: {reply!r}"
        expect_problem(reply, reply.status,
                       "not-found" if reply.status == 404 else "permission-denied")
    sent = path + json.dumps(body)
    assert_no_leak(reply, tenants.b_secrets, sent)
    expect_same_as_unknown_ids(server, tenants, caller, method, path, body, reply)


def test_login_into_B_is_refused(server, tenants):
    reply = server.login_reply(tenants.world.users["am"]["name"], PASSWORD,
                               project_id=tenants.world.b["id"])
    assert reply.status in (403, 404), reply
    expect_problem(reply, reply.status)
    assert_no_leak(reply, tenants.b_secrets, tenants.world.b["id"])
    unknown = server.login_reply(tenants.world.users["am"]["name"], PASSWORD,
                                 project_id=str(uuid.uuid4()))
    assert (unknown.status, unknown.body.get("type")) == (reply.status, reply.body["type"]), \
        f"B's id: {reply.body}; unknown id: {unknown.body}"


def test_b_is_intact_after_the_attempts(server, tenants):
    w = tenants.world
    admin = server.admin_token()
    project = expect_json(server.request("GET", f"/api/v1/projects/{w.b['id']}", token=admin))
    assert project["name"] == w.b["name"]
    members = expect_json(server.request("GET", f"/api/v1/projects/{w.b['id']}/members",
                                         token=admin))
    roles = {m["user_id"]: m["role"] for m in members["items"]}
    assert roles == {w.user_id("bm"): "member", w.user_id("ba"): "project-admin"}, roles
    who = expect_json(server.whoami(api_key=tenants.b_key["key"]))
    assert who["project_id"] == w.b["id"]
    server.login(w.users["bm"]["name"], PASSWORD)
    keys = expect_json(server.request("GET", f"/api/v1/projects/{w.b['id']}/api-keys",
                                      token=admin))
    creators = {k["created_by"] for k in keys["items"]}
    assert creators <= {w.user_id("bm"), w.user_id("ba")}, keys
    a_members = expect_json(server.request("GET", f"/api/v1/projects/{w.a['id']}/members",
                                           token=admin))
    assert {m["user_id"] for m in a_members["items"]} == {w.user_id("am"), w.user_id("aa")}


@pytest.mark.parametrize("caller", CALLERS)
def test_lists_show_only_own_tenant(server, tenants, caller):
    creds = tenants.credentials(caller)
    w = tenants.world
    projects = all_pages(server, "/api/v1/projects", **creds)
    assert [p["id"] for p in projects] == [w.a["id"]], projects
    reply = server.request("GET", "/api/v1/projects", **creds)
    assert_no_leak(reply, tenants.b_secrets)
    reply = server.request("GET", f"/api/v1/users/{tenants.caller_id(caller)}/projects", **creds)
    assert [p["id"] for p in expect_json(reply)["items"]] == [w.a["id"]]
    assert_no_leak(reply, tenants.b_secrets)
    reply = server.whoami(**creds)
    expect_json(reply)
    assert_no_leak(reply, tenants.b_secrets)
    keys = server.request("GET", f"/api/v1/projects/{w.a['id']}/api-keys", **creds)
    expect_json(keys)
    assert_no_leak(keys, tenants.b_secrets)
    if caller != "am":
        members = server.request("GET", f"/api/v1/projects/{w.a['id']}/members", **creds)
        expect_json(members)
        assert_no_leak(members, tenants.b_secrets)


@pytest.mark.parametrize("caller", CALLERS)
def test_audit_shows_only_own_entries(server, tenants, caller):
    creds = tenants.credentials(caller)
    me = tenants.caller_id(caller)
    # make sure B's side has entries to leak
    server.create_api_key(tenants.world.b["id"], tenants.world.token("bm"))
    entries = all_pages(server, "/api/v1/audit", **creds)
    assert entries, "the caller's own actions are audited"
    for entry in entries:
        assert entry["user_id"] == me, entry
    text = json.dumps(entries)
    for secret in tenants.b_secrets:
        if secret in text:
            # only as the target of the caller's own refused attempts
            assert all(entry["user_id"] == me for entry in entries if secret in json.dumps(entry))
            assert secret in (tenants.world.b["id"], tenants.world.user_id("bm"),
                              tenants.b_key["id"]), f"audit reveals {secret!r}"


def test_b_key_cannot_reach_a(server, tenants):
    w = tenants.world
    creds = {"api_key": tenants.b_member_key["key"]}
    reply = server.request("GET", f"/api/v1/projects/{w.a['id']}", **creds)
    expect_problem(reply, 404, "not-found")
    assert w.a["name"] not in json.dumps(reply.body)
    reply = server.request("GET", f"/api/v1/projects/{w.a['id']}/api-keys", **creds)
    assert reply.status in (403, 404), reply
    assert tenants.a_key["id"] not in json.dumps(reply.body)
    expect_page(server.request("GET", "/api/v1/projects", **creds))
