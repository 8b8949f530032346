"""Authentication endpoints (docs/api.md "Authentication"): login, whoami, refresh, switch,
password change and logout, on one shared server."""
import pytest

from conftest import (ADMIN_NAME, ADMIN_PASSWORD, PASSWORD, TIME_RE, expect_error_field,
                      expect_json, expect_no_content, expect_problem, expect_session, unique_name)


def project_ids_of(whoami_body):
    projects = whoami_body["projects"]
    assert isinstance(projects, list), whoami_body
    ids = set()
    for project in projects:
        assert isinstance(project, dict), whoami_body
        ids.add(project.get("id", project.get("project_id")))
    return ids


def test_admin_login_without_project_acts_with_no_project(server):
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    assert session["user"]["is_admin"] is True
    assert session["role"] == "admin"
    assert session["project_id"] in (None, ""), session
    assert session["expires_in"] == 900, "default access_token_ttl_s is 15 minutes"


def test_session_reply_never_contains_the_password(server):
    user = server.create_user()
    reply = server.login_reply(user["name"], PASSWORD)
    expect_json(reply, 200)
    assert PASSWORD not in repr(reply.body)
    assert "hash" not in repr(reply.body).lower()


def test_wrong_name_and_wrong_password_look_the_same(server):
    user = server.create_user()
    wrong_password = expect_problem(server.login_reply(user["name"], "not-the-password"), 401,
                                    "unauthenticated")
    unknown = expect_problem(server.login_reply(unique_name("ghost"), "not-the-password"), 401,
                             "unauthenticated")
    assert wrong_password["title"] == unknown["title"]
    assert wrong_password.get("detail") == unknown.get("detail"), (wrong_password, unknown)


def member_of_two(server, first_role, second_role):
    """A user with `first_role` in a project named "aa-..." and `second_role` in "zz-...";
    the "zz" project is created and joined first, so "first by name" is not "first made"."""
    user = server.create_user()
    second = server.create_project("zz-" + unique_name("p"))
    first = server.create_project("aa-" + unique_name("p"))
    server.add_member(second["id"], user["id"], second_role)
    server.add_member(first["id"], user["id"], first_role)
    return user, first, second


def test_login_picks_the_first_project_by_name(server):
    user, alpha, zeta = member_of_two(server, "member", "project-admin")
    session = server.login(user["name"], PASSWORD)
    assert (session["project_id"], session["role"]) == (alpha["id"], "member"), session
    chosen = server.login(user["name"], PASSWORD, project_id=zeta["id"])
    assert (chosen["project_id"], chosen["role"]) == (zeta["id"], "project-admin"), chosen


def test_login_into_a_project_of_which_one_is_not_a_member_is_refused(server):
    user = server.create_user()
    foreign = server.create_project()
    reply = server.login_reply(user["name"], PASSWORD, project_id=foreign["id"])
    assert reply.status in (403, 404), reply
    expect_problem(reply, reply.status,
                   "permission-denied" if reply.status == 403 else "not-found")
    assert "access_token" not in repr(reply.body)


def test_admin_may_log_into_any_project(server):
    project = server.create_project()
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD, project_id=project["id"])
    assert (session["project_id"], session["role"]) == (project["id"], "admin"), session


def test_user_without_project_has_role_user_and_little_else(server):
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    assert session["role"] == "user" and session["project_id"] in (None, ""), session
    token = session["access_token"]
    me = expect_json(server.request("GET", f"/api/v1/users/{user['id']}", token=token))
    assert me["id"] == user["id"]
    expect_problem(server.request("GET", "/api/v1/users", token=token), 403, "permission-denied")
    expect_problem(server.request("POST", "/api/v1/projects", json={"name": unique_name("p")},
                                  token=token), 403, "permission-denied")


def test_whoami_with_access_token(server):
    user = server.create_user()
    project = server.create_project()
    server.add_member(project["id"], user["id"], "project-admin")
    session = server.login(user["name"], PASSWORD)
    body = expect_json(server.whoami(session["access_token"]))
    assert {"user", "project_id", "role", "auth", "expires_at", "projects"} <= set(body), body
    assert body["user"]["id"] == user["id"] and body["user"]["name"] == user["name"], body
    assert body["project_id"] == project["id"]
    assert body["role"] == "project-admin"
    assert body["auth"] == "access_token"
    assert TIME_RE.match(body["expires_at"]), body
    assert project_ids_of(body) == {project["id"]}


def test_whoami_without_credentials_is_401(server):
    expect_problem(server.whoami(), 401, "unauthenticated")


@pytest.mark.parametrize("authorization", [
    "Bearer", "Bearer ", "Bearer not-a-token", "Bearer a.b.c", "Basic YWRtaW46YWRtaW4=",
    "bearer", "Token abc"])
def test_malformed_authorization_is_401(server, authorization):
    reply = server.request("GET", "/api/v1/auth/whoami", headers={"Authorization": authorization})
    expect_problem(reply, 401, "unauthenticated")


@pytest.mark.parametrize("key", ["", "tdk_", "tdk_" + "A" * 43, "not-a-key", "tdk_" + "A" * 500])
def test_unknown_api_key_is_401(server, key):
    reply = server.request("GET", "/api/v1/auth/whoami", headers={"X-API-Key": key})
    expect_problem(reply, 401, "unauthenticated")


def test_refresh_gives_new_tokens(server):
    user = server.create_user()
    first = server.login(user["name"], PASSWORD)
    second = expect_session(expect_json(server.request(
        "POST", "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})),
        user["name"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["user"]["id"] == user["id"]
    expect_json(server.whoami(second["access_token"]))


def test_refresh_with_unknown_token_is_401(server):
    reply = server.request("POST", "/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    expect_problem(reply, 401, "unauthenticated")


def test_refresh_without_field_is_400(server):
    problem = expect_problem(server.request("POST", "/api/v1/auth/refresh", json={}), 400,
                             "invalid-argument")
    expect_error_field(problem, "refresh_token")


def test_switch_project(server):
    user, first, second = member_of_two(server, "member", "project-admin")
    session = server.login(user["name"], PASSWORD)
    assert session["project_id"] == first["id"]
    switched = expect_session(expect_json(server.request(
        "POST", "/api/v1/auth/switch", json={"project_id": second["id"]},
        token=session["access_token"])), user["name"])
    assert (switched["project_id"], switched["role"]) == (second["id"], "project-admin")
    who = expect_json(server.whoami(switched["access_token"]))
    assert (who["project_id"], who["role"]) == (second["id"], "project-admin")
    # The old session is revoked: its access and refresh tokens are refused.
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
    expect_problem(server.request("POST", "/api/v1/auth/refresh",
                                  json={"refresh_token": session["refresh_token"]}),
                   401, "unauthenticated")


def test_switch_into_a_foreign_project_is_refused_and_keeps_the_session(server):
    user = server.create_user()
    mine = server.create_project()
    foreign = server.create_project()
    server.add_member(mine["id"], user["id"])
    session = server.login(user["name"], PASSWORD)
    reply = server.request("POST", "/api/v1/auth/switch", json={"project_id": foreign["id"]},
                           token=session["access_token"])
    assert reply.status in (403, 404), reply
    expect_problem(reply, reply.status, "permission-denied" if reply.status == 403 else "not-found")
    who = expect_json(server.whoami(session["access_token"]))
    assert who["project_id"] == mine["id"]


def test_switch_to_malformed_project_id_is_400(server):
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    problem = expect_problem(server.request("POST", "/api/v1/auth/switch",
                                            json={"project_id": "not-a-uuid"},
                                            token=session["access_token"]),
                             400, "invalid-argument")
    expect_error_field(problem, "project_id")


def test_password_change(server):
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    new_password = "a-brand-new-password"
    expect_no_content(server.request("POST", "/api/v1/auth/password",
                                     json={"current_password": PASSWORD,
                                           "new_password": new_password},
                                     token=session["access_token"]))
    expect_problem(server.login_reply(user["name"], PASSWORD), 401, "unauthenticated")
    server.login(user["name"], new_password)
    # The session that made the change stays valid.
    expect_json(server.whoami(session["access_token"]))


def test_password_change_with_wrong_current_password_is_refused(server):
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    reply = server.request("POST", "/api/v1/auth/password",
                           json={"current_password": "wrong-password",
                                 "new_password": "another-password"},
                           token=session["access_token"])
    assert reply.status in (400, 401, 403), reply
    expect_problem(reply, reply.status)
    server.login(user["name"], PASSWORD)
    expect_problem(server.login_reply(user["name"], "another-password"), 401, "unauthenticated")


@pytest.mark.parametrize("new_password", ["short", "x" * 1025])
def test_password_change_enforces_length(server, new_password):
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    problem = expect_problem(server.request("POST", "/api/v1/auth/password",
                                            json={"current_password": PASSWORD,
                                                  "new_password": new_password},
                                            token=session["access_token"]),
                             400, "invalid-argument")
    expect_error_field(problem, "new_password")
    assert new_password not in repr(problem), "a secret field's value is echoed"
    server.login(user["name"], PASSWORD)


def test_logout_revokes_the_session(server):
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    other = server.login(user["name"], PASSWORD)
    expect_no_content(server.request("POST", "/api/v1/auth/logout",
                                     token=session["access_token"]))
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
    # Another session of the same user is untouched.
    expect_json(server.whoami(other["access_token"]))
    expect_problem(server.request("POST", "/api/v1/auth/refresh",
                                  json={"refresh_token": session["refresh_token"]}),
                   401, "unauthenticated")


def test_stale_refresh_after_logout_does_not_end_other_sessions(server):
    """A client that logged out and later presents its old refresh token (a common client
    bug, or an attacker holding an old token) gets 401; docs/api.md gives no reason for that
    to end the user's other sessions, and it must not give a way to log a user out
    everywhere."""
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    other = server.login(user["name"], PASSWORD)
    expect_no_content(server.request("POST", "/api/v1/auth/logout",
                                     token=session["access_token"]))
    expect_problem(server.request("POST", "/api/v1/auth/refresh",
                                  json={"refresh_token": session["refresh_token"]}),
                   401, "unauthenticated")
    expect_json(server.whoami(other["access_token"]))


def test_logout_all_revokes_every_session(server):
    user = server.create_user()
    sessions = [server.login(user["name"], PASSWORD) for _ in range(3)]
    expect_no_content(server.request("POST", "/api/v1/auth/logout", json={"all": True},
                                     token=sessions[0]["access_token"]))
    for session in sessions:
        expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
        expect_problem(server.request("POST", "/api/v1/auth/refresh",
                                      json={"refresh_token": session["refresh_token"]}),
                       401, "unauthenticated")
    server.login(user["name"], PASSWORD)


def test_logout_without_credentials_is_401(server):
    expect_problem(server.request("POST", "/api/v1/auth/logout"), 401, "unauthenticated")


def test_logout_all_must_be_boolean(server):
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    problem = expect_problem(server.request("POST", "/api/v1/auth/logout", json={"all": "yes"},
                                            token=session["access_token"]),
                             400, "invalid-argument")
    expect_error_field(problem, "all")
    expect_json(server.whoami(session["access_token"]))


def test_login_is_refused_for_get(server):
    reply = server.request("GET", "/api/v1/auth/login")
    expect_problem(reply, 405, "method-not-allowed")
    assert "POST" in reply.headers.get("Allow", ""), reply.headers
