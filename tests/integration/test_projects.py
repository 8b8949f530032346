"""Projects and memberships (docs/api.md "Projects and memberships")."""
import uuid

import pytest

from conftest import (MEMBERSHIP_FIELDS, PASSWORD, PROJECT_FIELDS, TIME_RE, UUID_RE, all_pages,
                      expect_error_field, expect_json, expect_no_content, expect_page,
                      expect_problem, unique_name)


def members_of(server, project_id, token=None):
    body = expect_json(server.request("GET", f"/api/v1/projects/{project_id}/members",
                                      token=token or server.admin_token()))
    assert set(body) >= {"items"}, body
    for item in body["items"]:
        assert set(item) == MEMBERSHIP_FIELDS, item
        assert item["project_id"] == project_id and TIME_RE.match(item["created_at"]), item
    return {item["user_id"]: item for item in body["items"]}


def test_create_project(server):
    name = unique_name("proj")
    admin = server.login("admin", "admin-password-0")
    project = expect_json(server.request("POST", "/api/v1/projects", json={"name": name},
                                         token=admin["access_token"]), 201)
    assert set(project) == PROJECT_FIELDS, project
    assert project["name"] == name and UUID_RE.match(project["id"])
    assert project["created_by"] == admin["user"]["id"]
    assert TIME_RE.match(project["created_at"])


def test_duplicate_project_name_is_409(server):
    project = server.create_project()
    reply = server.request("POST", "/api/v1/projects", json={"name": project["name"]},
                           token=server.admin_token())
    expect_problem(reply, 409, "already-exists")


@pytest.mark.parametrize("name", ["ab", "9lives", "has space", "x" * 65, ""])
def test_invalid_project_name_is_400(server, name):
    reply = server.request("POST", "/api/v1/projects", json={"name": name},
                           token=server.admin_token())
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), "name")


def test_get_project(server):
    project = server.create_project()
    assert expect_json(server.request("GET", f"/api/v1/projects/{project['id']}",
                                      token=server.admin_token())) == project
    expect_problem(server.request("GET", f"/api/v1/projects/{uuid.uuid4()}",
                                  token=server.admin_token()), 404, "not-found")


def test_member_reads_own_project_only(server):
    mine = server.create_project()
    other = server.create_project()
    _, token = server.user_in(mine["id"])
    assert expect_json(server.request("GET", f"/api/v1/projects/{mine['id']}",
                                      token=token))["id"] == mine["id"]
    reply = server.request("GET", f"/api/v1/projects/{other['id']}", token=token)
    expect_problem(reply, 404, "not-found")
    assert other["name"] not in repr(reply.body)


def test_member_of_two_projects_reads_both(server):
    user = server.create_user()
    first = server.create_project("aa-" + unique_name("p"))
    second = server.create_project("zz-" + unique_name("p"))
    server.add_member(first["id"], user["id"])
    server.add_member(second["id"], user["id"])
    token = server.login(user["name"], PASSWORD)["access_token"]  # acts in `first`
    assert expect_json(server.request("GET", f"/api/v1/projects/{second['id']}",
                                      token=token))["id"] == second["id"]


def test_list_projects_admin_sees_all(server):
    created = {server.create_project()["id"] for _ in range(3)}
    listed = {p["id"] for p in all_pages(server, "/api/v1/projects", token=server.admin_token())}
    assert created <= listed


def test_list_projects_member_sees_own_with_role(server):
    user = server.create_user()
    first = server.create_project()
    second = server.create_project()
    server.create_project()
    server.add_member(first["id"], user["id"], "member")
    server.add_member(second["id"], user["id"], "project-admin")
    token = server.login(user["name"], PASSWORD)["access_token"]
    items = all_pages(server, "/api/v1/projects", token=token)
    assert {p["id"]: p["role"] for p in items} == {first["id"]: "member",
                                                   second["id"]: "project-admin"}, items


def test_list_projects_user_without_project_is_empty(server):
    user = server.create_user()
    server.create_project()
    token = server.login(user["name"], PASSWORD)["access_token"]
    page = expect_page(server.request("GET", "/api/v1/projects", token=token))
    assert page == {"items": [], "next_cursor": None}


def test_list_projects_paging(server):
    for _ in range(5):
        server.create_project()
    token = server.admin_token()
    everything = [p["id"] for p in all_pages(server, "/api/v1/projects", token=token)]
    paged = []
    cursor = None
    while True:
        path = "/api/v1/projects?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = expect_page(server.request("GET", path, token=token))
        paged.extend(p["id"] for p in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything


def test_add_change_and_remove_member(server):
    project = server.create_project()
    user = server.create_user()
    added = server.add_member(project["id"], user["id"], "member")
    assert added["user_name"] == user["name"] and TIME_RE.match(added["created_at"])
    assert members_of(server, project["id"])[user["id"]]["role"] == "member"
    changed = server.add_member(project["id"], user["id"], "project-admin")
    assert changed["user_name"] == user["name"]
    assert members_of(server, project["id"])[user["id"]]["role"] == "project-admin"
    expect_no_content(server.request("DELETE",
                                     f"/api/v1/projects/{project['id']}/members/{user['id']}",
                                     token=server.admin_token()))
    assert user["id"] not in members_of(server, project["id"])
    expect_problem(server.request("DELETE",
                                  f"/api/v1/projects/{project['id']}/members/{user['id']}",
                                  token=server.admin_token()), 404, "not-found")


@pytest.mark.parametrize("body", [{"role": "owner"}, {"role": "admin"}, {"role": 1}, {},
                                  {"role": "member", "extra": True}])
def test_bad_membership_body_is_400(server, body):
    project = server.create_project()
    user = server.create_user()
    reply = server.request("PUT", f"/api/v1/projects/{project['id']}/members/{user['id']}",
                           json=body, token=server.admin_token())
    problem = expect_problem(reply, 400, "invalid-argument")
    expect_error_field(problem, "extra" if "extra" in body else "role")
    assert user["id"] not in members_of(server, project["id"])


def test_member_of_unknown_user_or_project_is_404(server):
    project = server.create_project()
    user = server.create_user()
    expect_problem(server.request("PUT", f"/api/v1/projects/{project['id']}/members/{uuid.uuid4()}",
                                  json={"role": "member"}, token=server.admin_token()),
                   404, "not-found")
    expect_problem(server.request("PUT", f"/api/v1/projects/{uuid.uuid4()}/members/{user['id']}",
                                  json={"role": "member"}, token=server.admin_token()),
                   404, "not-found")


def test_project_admin_manages_members(server):
    project = server.create_project()
    boss = server.create_user()
    newcomer = server.create_user()
    server.add_member(project["id"], boss["id"], "project-admin")
    token = server.login(boss["name"], PASSWORD)["access_token"]
    server.add_member(project["id"], newcomer["id"], "member", token=token)
    assert set(members_of(server, project["id"], token)) == {boss["id"], newcomer["id"]}
    expect_no_content(server.request(
        "DELETE", f"/api/v1/projects/{project['id']}/members/{newcomer['id']}", token=token))
    assert set(members_of(server, project["id"], token)) == {boss["id"]}


def test_member_cannot_manage_members(server):
    project = server.create_project()
    member, token = server.user_in(project["id"], "member")
    other = server.create_user()
    expect_problem(server.request("GET", f"/api/v1/projects/{project['id']}/members",
                                  token=token), 403, "permission-denied")
    expect_problem(server.request("PUT", f"/api/v1/projects/{project['id']}/members/{other['id']}",
                                  json={"role": "member"}, token=token), 403, "permission-denied")
    expect_problem(server.request("PUT",
                                  f"/api/v1/projects/{project['id']}/members/{member['id']}",
                                  json={"role": "project-admin"}, token=token),
                   403, "permission-denied")
    assert members_of(server, project["id"])[member["id"]]["role"] == "member"
    assert other["id"] not in members_of(server, project["id"])


def test_delete_empty_project(server):
    project = server.create_project()
    server.delete_and_expect_gone(f"/api/v1/projects/{project['id']}")


def test_delete_project_with_members_needs_cascade(server):
    project = server.create_project()
    user = server.create_user()
    server.add_member(project["id"], user["id"])
    key = server.create_api_key(project["id"])
    expect_problem(server.request("DELETE", f"/api/v1/projects/{project['id']}",
                                  token=server.admin_token()), 409, "failed-precondition")
    expect_problem(server.request("DELETE", f"/api/v1/projects/{project['id']}?cascade=false",
                                  token=server.admin_token()), 409, "failed-precondition")
    assert expect_json(server.whoami(api_key=key["key"]))["project_id"] == project["id"]
    expect_no_content(server.request("DELETE", f"/api/v1/projects/{project['id']}?cascade=true",
                                     token=server.admin_token()))
    expect_problem(server.request("GET", f"/api/v1/projects/{project['id']}",
                                  token=server.admin_token()), 404, "not-found")
    expect_problem(server.whoami(api_key=key["key"]), 401, "unauthenticated")
    session = server.login(user["name"], PASSWORD)
    assert session["role"] == "user", "the membership went with the project"


def test_delete_project_with_only_a_key_needs_cascade(server):
    project = server.create_project()
    server.create_api_key(project["id"])
    expect_problem(server.request("DELETE", f"/api/v1/projects/{project['id']}",
                                  token=server.admin_token()), 409, "failed-precondition")


@pytest.mark.parametrize("query", ["cascade=yes", "cascade=1", "cascade=true&cascade=true",
                                   "force=true"])
def test_delete_project_bad_query_is_400(server, query):
    project = server.create_project()
    reply = server.request("DELETE", f"/api/v1/projects/{project['id']}?{query}",
                           token=server.admin_token())
    expect_problem(reply, 400)
    expect_json(server.request("GET", f"/api/v1/projects/{project['id']}",
                               token=server.admin_token()))


def test_project_admin_cannot_delete_project(server):
    project = server.create_project()
    _, token = server.user_in(project["id"], "project-admin")
    expect_problem(server.request("DELETE", f"/api/v1/projects/{project['id']}?cascade=true",
                                  token=token), 403, "permission-denied")
    expect_json(server.request("GET", f"/api/v1/projects/{project['id']}",
                               token=server.admin_token()))


def test_removed_member_loses_access_at_once(server):
    project = server.create_project()
    user = server.create_user()
    server.add_member(project["id"], user["id"])
    token = server.login(user["name"], PASSWORD)["access_token"]
    expect_json(server.request("GET", f"/api/v1/projects/{project['id']}", token=token))
    expect_no_content(server.request("DELETE",
                                     f"/api/v1/projects/{project['id']}/members/{user['id']}",
                                     token=server.admin_token()))
    reply = server.request("GET", f"/api/v1/projects/{project['id']}", token=token)
    assert reply.status in (401, 403, 404), reply
    expect_problem(reply, reply.status)
