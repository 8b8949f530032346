"""API keys (docs/api.md "API keys"): create, list, revoke, use; who may create which role;
a key never acts with more than its creator's current role."""
import uuid

import pytest

from conftest import (KEY_FIELDS, PASSWORD, TIME_RE, UUID_RE, expect_error_field, expect_json,
                      expect_no_content, expect_problem, unique_name)


class Team:
    """A project with a project-admin `boss` and a member `worker`, both logged in."""

    def __init__(self, server):
        self.project = server.create_project()
        self.boss = server.create_user()
        self.worker = server.create_user()
        server.add_member(self.project["id"], self.boss["id"], "project-admin")
        server.add_member(self.project["id"], self.worker["id"], "member")
        self.boss_token = server.login(self.boss["name"], PASSWORD)["access_token"]
        self.worker_token = server.login(self.worker["name"], PASSWORD)["access_token"]
        self.keys_path = f"/api/v1/projects/{self.project['id']}/api-keys"


@pytest.fixture
def team(server):
    return Team(server)


def list_keys(server, team, token):
    body = expect_json(server.request("GET", team.keys_path, token=token))
    for item in body["items"]:
        assert set(item) == KEY_FIELDS, f"a listed key has other fields (the secret?): {item}"
    return {item["id"]: item for item in body["items"]}


def test_create_key(server, team):
    name = unique_name("key")
    reply = server.request("POST", team.keys_path, json={"name": name}, token=team.boss_token)
    key = expect_json(reply, 201)
    assert set(key) == KEY_FIELDS | {"key"}, key
    assert key["key"].startswith("tdk_") and len(key["key"]) == 4 + 43, key
    assert UUID_RE.match(key["id"]) and TIME_RE.match(key["created_at"])
    assert (key["project_id"], key["name"], key["role"], key["created_by"]) == \
        (team.project["id"], name, "member", team.boss["id"])
    assert key["expires_at"] is None and key["revoked"] is False and key["last_used_at"] is None


def test_key_authenticates_as_its_creator_with_its_role(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token)
    who = expect_json(server.whoami(api_key=key["key"]))
    assert who["auth"] == "api_key", who
    assert who["user"]["id"] == team.boss["id"]
    assert (who["project_id"], who["role"]) == (team.project["id"], "member"), who
    # role member: may not list members, may read the project
    expect_problem(server.request("GET", f"/api/v1/projects/{team.project['id']}/members",
                                  api_key=key["key"]), 403, "permission-denied")
    expect_json(server.request("GET", f"/api/v1/projects/{team.project['id']}",
                               api_key=key["key"]))


def test_project_admin_key(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token, role="project-admin")
    assert key["role"] == "project-admin"
    body = expect_json(server.request("GET", f"/api/v1/projects/{team.project['id']}/members",
                                      api_key=key["key"]))
    assert team.worker["id"] in [m["user_id"] for m in body["items"]]


def test_last_used_at_is_updated(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token)
    expect_json(server.whoami(api_key=key["key"]))
    listed = list_keys(server, team, team.boss_token)[key["id"]]
    assert listed["last_used_at"] is not None and TIME_RE.match(listed["last_used_at"]), listed


def test_expiry(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token, expires_in_s=3600)
    assert TIME_RE.match(key["expires_at"]), key
    assert key["expires_at"] > key["created_at"]
    expect_json(server.whoami(api_key=key["key"]))


@pytest.mark.parametrize("expires_in_s", [59, 0, -1, 10 * 366 * 24 * 3600, "60", 60.5, True])
def test_bad_expiry_is_400(server, team, expires_in_s):
    reply = server.request("POST", team.keys_path,
                           json={"name": unique_name("k"), "expires_in_s": expires_in_s},
                           token=team.boss_token)
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), "expires_in_s")


def test_expiry_edges(server, team):
    server.create_api_key(team.project["id"], team.boss_token, expires_in_s=60)
    server.create_api_key(team.project["id"], team.boss_token, expires_in_s=10 * 365 * 24 * 3600)


@pytest.mark.parametrize("body, field", [({}, "name"), ({"name": "x"}, "name"),
                                         ({"name": "ok-name", "role": "admin"}, "role"),
                                         ({"name": "ok-name", "role": "user"}, "role"),
                                         ({"name": "ok-name", "secret": "x"}, "secret")])
def test_bad_key_body_is_400(server, team, body, field):
    reply = server.request("POST", team.keys_path, json=body, token=team.boss_token)
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), field)


def test_member_creates_member_keys_only(server, team):
    key = server.create_api_key(team.project["id"], team.worker_token)
    assert key["role"] == "member" and key["created_by"] == team.worker["id"]
    reply = server.request("POST", team.keys_path,
                           json={"name": unique_name("k"), "role": "project-admin"},
                           token=team.worker_token)
    expect_problem(reply, 403, "permission-denied")


def test_admin_creates_keys_in_any_project(server, team):
    key = server.create_api_key(team.project["id"], role="project-admin")
    assert key["role"] == "project-admin"
    who = expect_json(server.whoami(api_key=key["key"]))
    assert who["project_id"] == team.project["id"]


def test_listing_visibility(server, team):
    boss_key = server.create_api_key(team.project["id"], team.boss_token)
    worker_key = server.create_api_key(team.project["id"], team.worker_token)
    admin_key = server.create_api_key(team.project["id"])
    for token in (team.boss_token, server.admin_token()):
        assert {boss_key["id"], worker_key["id"], admin_key["id"]} <= \
            set(list_keys(server, team, token))
    assert set(list_keys(server, team, team.worker_token)) == {worker_key["id"]}
    body = server.request("GET", team.keys_path, token=team.worker_token).body
    assert boss_key["name"] not in repr(body) and admin_key["name"] not in repr(body)
    assert boss_key["key"] not in repr(body) and worker_key["key"] not in repr(body)


def test_revoke(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token)
    expect_json(server.whoami(api_key=key["key"]))
    expect_no_content(server.request("DELETE", f"{team.keys_path}/{key['id']}",
                                     token=team.boss_token))
    expect_problem(server.whoami(api_key=key["key"]), 401, "unauthenticated")
    listed = list_keys(server, team, team.boss_token)
    if key["id"] in listed:
        assert listed[key["id"]]["revoked"] is True


def test_revoke_unknown_key_is_404(server, team):
    expect_problem(server.request("DELETE", f"{team.keys_path}/{uuid.uuid4()}",
                                  token=team.boss_token), 404, "not-found")


def test_member_revokes_own_key_not_others(server, team):
    mine = server.create_api_key(team.project["id"], team.worker_token)
    bosses = server.create_api_key(team.project["id"], team.boss_token)
    reply = server.request("DELETE", f"{team.keys_path}/{bosses['id']}", token=team.worker_token)
    assert reply.status in (403, 404), reply
    expect_problem(reply, reply.status)
    expect_json(server.whoami(api_key=bosses["key"]))
    expect_no_content(server.request("DELETE", f"{team.keys_path}/{mine['id']}",
                                     token=team.worker_token))
    expect_problem(server.whoami(api_key=mine["key"]), 401, "unauthenticated")


def test_project_admin_revokes_members_key(server, team):
    workers = server.create_api_key(team.project["id"], team.worker_token)
    expect_no_content(server.request("DELETE", f"{team.keys_path}/{workers['id']}",
                                     token=team.boss_token))
    expect_problem(server.whoami(api_key=workers["key"]), 401, "unauthenticated")


def test_key_is_capped_by_creators_current_role(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token, role="project-admin")
    expect_json(server.request("GET", f"/api/v1/projects/{team.project['id']}/members",
                               api_key=key["key"]))
    server.add_member(team.project["id"], team.boss["id"], "member")  # demoted
    who = expect_json(server.whoami(api_key=key["key"]))
    assert who["role"] == "member", who
    expect_problem(server.request("GET", f"/api/v1/projects/{team.project['id']}/members",
                                  api_key=key["key"]), 403, "permission-denied")


def test_key_stops_when_creator_leaves_the_project(server, team):
    key = server.create_api_key(team.project["id"], team.worker_token)
    expect_json(server.whoami(api_key=key["key"]))
    expect_no_content(server.request(
        "DELETE", f"/api/v1/projects/{team.project['id']}/members/{team.worker['id']}",
        token=server.admin_token()))
    reply = server.whoami(api_key=key["key"])
    expect_problem(reply, 401, "unauthenticated")


def test_key_stops_when_creator_is_deleted(server, team):
    key = server.create_api_key(team.project["id"], team.worker_token)
    expect_no_content(server.request("DELETE", f"/api/v1/users/{team.worker['id']}",
                                     token=server.admin_token()))
    expect_problem(server.whoami(api_key=key["key"]), 401, "unauthenticated")


def test_key_cannot_use_another_project(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token, role="project-admin")
    other = server.create_project()
    reply = server.request("GET", f"/api/v1/projects/{other['id']}", api_key=key["key"])
    expect_problem(reply, 404, "not-found")
    reply = server.request("GET", f"/api/v1/projects/{other['id']}/api-keys", api_key=key["key"])
    assert reply.status in (403, 404), reply
    expect_problem(reply, reply.status)


def test_key_names_are_labels_not_unique(server, team):
    first = server.create_api_key(team.project["id"], team.boss_token, name="same-label")
    second = server.create_api_key(team.project["id"], team.boss_token, name="same-label")
    assert first["id"] != second["id"] and first["key"] != second["key"]


def test_key_secret_is_never_shown_again(server, team):
    key = server.create_api_key(team.project["id"], team.boss_token)
    for token in (team.boss_token, server.admin_token()):
        reply = server.request("GET", team.keys_path, token=token)
        assert key["key"] not in repr(reply.body)
    audit = server.request("GET", "/api/v1/audit?limit=1000", token=server.admin_token())
    assert audit.status == 200 and key["key"] not in repr(audit.body)
