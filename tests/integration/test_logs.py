"""The audit log and the error log (docs/api.md "Logs"): one entry per mutating call and per
login attempt with who / what / target / result, filters, cursor paging, visibility, and no
secrets in either log."""
import datetime
import json
import urllib.parse

import pytest

from conftest import (PASSWORD, TIME_RE, UUID_RE, all_pages, expect_error_field, expect_json,
                      expect_no_content, expect_page, expect_problem, unique_name)

AUDIT_FIELDS = {"id", "time", "user_id", "action", "target", "result"}


@pytest.fixture(scope="module")
def operation_ids(module_server):
    """(METHOD, path template) -> operationId, from the server's own OpenAPI document."""
    document = expect_json(module_server.request("GET", "/api/v1/openapi.json"))
    prefix = ""
    if document.get("servers"):
        prefix = urllib.parse.urlparse(document["servers"][0].get("url", "")).path.rstrip("/")
    table = {}
    for path, item in document["paths"].items():
        full = path if path.startswith("/api/") else prefix + path
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                table[(method.upper(), full)] = operation["operationId"]
    return table


def audit(server, token, **filters):
    query = urllib.parse.urlencode(filters)
    return all_pages(server, "/api/v1/audit" + (f"?{query}" if query else ""), token=token)


def check_entry(entry):
    assert set(entry) == AUDIT_FIELDS, entry
    assert UUID_RE.match(entry["id"]) and TIME_RE.match(entry["time"]), entry
    assert isinstance(entry["result"], str) and entry["result"], entry
    return entry


def find(server, action, user_id, targets, result="ok"):
    entries = [check_entry(e) for e in audit(server, server.admin_token(), action=action,
                                              user_id=user_id)]
    for entry in entries:
        assert entry["action"] == action and entry["user_id"] == user_id, entry
    # A target naming several ids (a membership: "project/user") counts when it holds one.
    matching = [e for e in entries if (e["target"] in targets or any(
                    t and t in e["target"].split("/") for t in targets)) and
                (e["result"] == "ok" if result == "ok" else e["result"] != "ok")]
    assert matching, f"no {action} entry by {user_id} on {targets} with result {result}: {entries}"
    return matching[0]


class Actor:
    def __init__(self, server):
        self.user = server.create_user()
        self.project = server.create_project()
        server.add_member(self.project["id"], self.user["id"], "project-admin")
        self.session = server.login(self.user["name"], PASSWORD)
        self.token = self.session["access_token"]
        self.id = self.user["id"]


def test_every_mutating_call_is_audited(server, operation_ids):
    admin = server.login("admin", "admin-password-0")
    admin_token, admin_id = admin["access_token"], admin["user"]["id"]
    actor = Actor(server)
    pid = actor.project["id"]

    def op(method, template):
        assert (method, template) in operation_ids, f"{method} {template} not in the document"
        return operation_ids[(method, template)]

    checks = []
    user = server.create_user(token=admin_token)
    checks.append((op("POST", "/api/v1/users"), admin_id, {user["id"]}))
    expect_json(server.request("PATCH", f"/api/v1/users/{user['id']}", json={"is_admin": False},
                               token=admin_token))
    checks.append((op("PATCH", "/api/v1/users/{id}"), admin_id, {user["id"]}))
    project = server.create_project(token=admin_token)
    checks.append((op("POST", "/api/v1/projects"), admin_id, {project["id"]}))
    server.add_member(pid, user["id"], "member", token=actor.token)
    checks.append((op("PUT", "/api/v1/projects/{id}/members/{user_id}"), actor.id,
                   {pid, user["id"]}))
    expect_no_content(server.request("DELETE", f"/api/v1/projects/{pid}/members/{user['id']}",
                                     token=actor.token))
    checks.append((op("DELETE", "/api/v1/projects/{id}/members/{user_id}"), actor.id,
                   {pid, user["id"]}))
    key = server.create_api_key(pid, actor.token)
    checks.append((op("POST", "/api/v1/projects/{id}/api-keys"), actor.id, {pid, key["id"]}))
    expect_no_content(server.request("DELETE", f"/api/v1/projects/{pid}/api-keys/{key['id']}",
                                     token=actor.token))
    checks.append((op("DELETE", "/api/v1/projects/{id}/api-keys/{key_id}"), actor.id,
                   {pid, key["id"]}))
    second = server.create_project(token=admin_token)
    server.add_member(second["id"], actor.id, token=admin_token)
    switched = expect_json(server.request("POST", "/api/v1/auth/switch",
                                          json={"project_id": second["id"]}, token=actor.token))
    checks.append((op("POST", "/api/v1/auth/switch"), actor.id, {second["id"], actor.id, ""}))
    renewed = expect_json(server.request("POST", "/api/v1/auth/refresh",
                                         json={"refresh_token": switched["refresh_token"]}))
    checks.append((op("POST", "/api/v1/auth/refresh"), actor.id, {actor.id, ""}))
    expect_no_content(server.request("POST", "/api/v1/auth/password",
                                     json={"current_password": PASSWORD,
                                           "new_password": "audited-password"},
                                     token=renewed["access_token"]))
    checks.append((op("POST", "/api/v1/auth/password"), actor.id, {actor.id, ""}))
    expect_no_content(server.request("POST", "/api/v1/auth/logout",
                                     token=renewed["access_token"]))
    checks.append((op("POST", "/api/v1/auth/logout"), actor.id, {actor.id, ""}))
    expect_no_content(server.request("DELETE", f"/api/v1/users/{user['id']}",
                                     token=admin_token))
    checks.append((op("DELETE", "/api/v1/users/{id}"), admin_id, {user["id"]}))
    expect_no_content(server.request("DELETE", f"/api/v1/projects/{project['id']}",
                                     token=admin_token))
    checks.append((op("DELETE", "/api/v1/projects/{id}"), admin_id, {project["id"]}))
    # a login names the user it tried, by id or by the name sent
    checks.append((op("POST", "/api/v1/auth/login"), actor.id,
                   {actor.id, actor.user["name"], ""}))
    for action, who, targets in checks:
        find(server, action, who, targets)


def test_refused_calls_and_failed_logins_are_audited(server, operation_ids):
    actor = Actor(server)
    expect_problem(server.request("POST", "/api/v1/projects", json={"name": unique_name("p")},
                                  token=actor.token), 403, "permission-denied")
    entry = find(server, operation_ids[("POST", "/api/v1/projects")], actor.id, {"", actor.id},
                 result="failed")
    assert entry["result"] != "ok"
    expect_problem(server.login_reply(actor.user["name"], "wrong-password-1"), 401,
                   "unauthenticated")
    login = operation_ids[("POST", "/api/v1/auth/login")]
    failures = [e for e in audit(server, server.admin_token(), action=login)
                if e["result"] != "ok"]
    assert failures, "a failed login is not audited"
    assert "wrong-password-1" not in json.dumps(failures)


def test_no_secrets_in_the_logs(server):
    secret_password = "never-log-me-" + unique_name("s")
    user = server.create_user(password=secret_password)
    project = server.create_project()
    server.add_member(project["id"], user["id"], "project-admin")
    session = server.login(user["name"], secret_password)
    key = server.create_api_key(project["id"], session["access_token"])
    server.login_reply(user["name"], secret_password + "-wrong")
    new_password = "also-secret-" + unique_name("s")
    server.request("POST", "/api/v1/auth/password",
                   json={"current_password": secret_password, "new_password": new_password},
                   token=session["access_token"])
    admin = server.admin_token()
    logs = json.dumps(audit(server, admin)) + json.dumps(all_pages(server, "/api/v1/errors",
                                                                   token=admin))
    for secret in (secret_password, new_password, key["key"], session["refresh_token"],
                   session["access_token"]):
        assert secret not in logs, f"a secret is in the logs: {secret[:12]}..."


def test_filters(server, operation_ids):
    actor = Actor(server)
    for _ in range(3):
        server.create_api_key(actor.project["id"], actor.token)
    admin = server.admin_token()
    mine = audit(server, admin, user_id=actor.id)
    assert len(mine) >= 4 and all(e["user_id"] == actor.id for e in mine), mine
    create_key = operation_ids[("POST", "/api/v1/projects/{id}/api-keys")]
    keys = audit(server, admin, user_id=actor.id, action=create_key)
    assert len(keys) == 3 and all(e["action"] == create_key for e in keys), keys
    ok = audit(server, admin, result="ok")
    assert ok and all(e["result"] == "ok" for e in ok)
    future = (datetime.datetime.utcnow() + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    assert audit(server, admin, **{"from": future}) == []
    assert audit(server, admin, to="2001-01-01T00:00:00.000Z") == []
    newest = datetime.datetime.strptime(keys[0]["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    until = (newest + datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    window = audit(server, admin, user_id=actor.id, **{"from": keys[-1]["time"], "to": until})
    assert {e["id"] for e in keys} <= {e["id"] for e in window}
    for entry in window:
        assert keys[-1]["time"] <= entry["time"] <= until, entry


@pytest.mark.parametrize("query, field", [("from=yesterday", "from"), ("to=2026-13-01", "to"),
                                          ("user_id=not-a-uuid", "user_id"), ("limit=0", "limit"),
                                          ("bogus=1", "bogus")])
def test_bad_filters_are_400(server, query, field):
    reply = server.request("GET", f"/api/v1/audit?{query}", token=server.admin_token())
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), field)


def test_paging_newest_first(server):
    actor = Actor(server)
    for _ in range(6):
        server.create_api_key(actor.project["id"], actor.token)
    admin = server.admin_token()
    full = audit(server, admin, user_id=actor.id)
    assert len(full) >= 7
    seen = []
    cursor = None
    pages = 0
    while True:
        query = {"user_id": actor.id, "limit": 3}
        if cursor:
            query["cursor"] = cursor
        page = expect_page(server.request("GET", "/api/v1/audit?" + urllib.parse.urlencode(query),
                                          token=admin))
        pages += 1
        assert len(page["items"]) <= 3
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages >= 3
    assert [e["id"] for e in seen] == [e["id"] for e in full]
    times = [e["time"] for e in seen]
    assert times == sorted(times, reverse=True), "not newest first"


def test_non_admin_sees_only_own_entries(server):
    actor = Actor(server)
    other = Actor(server)
    server.create_api_key(other.project["id"], other.token)
    server.create_api_key(actor.project["id"], actor.token)
    entries = audit(server, actor.token)
    assert entries and all(e["user_id"] == actor.id for e in entries), entries
    assert other.id not in json.dumps(entries)
    assert audit(server, actor.token, user_id=actor.id) == entries
    expect_problem(server.request("GET", f"/api/v1/audit?user_id={other.id}", token=actor.token),
                   403, "permission-denied")


def test_api_key_calls_are_audited_as_the_creator(server, operation_ids):
    actor = Actor(server)
    key = server.create_api_key(actor.project["id"], actor.token, role="project-admin")
    reply = server.request("POST", f"/api/v1/projects/{actor.project['id']}/api-keys",
                           json={"name": unique_name("k")}, api_key=key["key"])
    created = expect_json(reply, 201)
    find(server, operation_ids[("POST", "/api/v1/projects/{id}/api-keys")], actor.id,
         {actor.project["id"], created["id"]})


def test_errors_endpoint(server):
    admin = server.admin_token()
    page = expect_page(server.request("GET", "/api/v1/errors", token=admin))
    for entry in page["items"]:
        assert {"id", "time", "user_id", "component"} <= set(entry), entry
    expect_page(server.request("GET", "/api/v1/errors?component=api&limit=5", token=admin))
    expect_problem(server.request("GET", "/api/v1/errors?limit=1001", token=admin), 400,
                   "invalid-argument")
    actor = Actor(server)
    expect_problem(server.request("GET", "/api/v1/errors", token=actor.token), 403,
                   "permission-denied")
    expect_problem(server.request("GET", "/api/v1/errors"), 401, "unauthenticated")
    expect_problem(server.request("GET", "/api/v1/audit"), 401, "unauthenticated")
