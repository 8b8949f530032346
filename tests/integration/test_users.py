"""Users (docs/api.md "Users"): create, read, list with paging, update, delete, and the
validation of names and passwords."""
import uuid

import pytest

from conftest import (ADMIN_NAME, ADMIN_PASSWORD, PASSWORD, all_pages, expect_error_field,
                      expect_json, expect_no_content, expect_page, expect_problem, expect_user,
                      unique_name)


def test_create_user(server):
    name = unique_name("ada")
    reply = server.request("POST", "/api/v1/users", json={"name": name, "password": PASSWORD},
                           token=server.admin_token())
    user = expect_user(expect_json(reply, 201), name, False)
    assert user["created_at"] == user["updated_at"]
    assert PASSWORD not in repr(reply.body)
    server.login(name, PASSWORD)


def test_create_admin_user(server):
    user = server.create_user(is_admin=True)
    session = server.login(user["name"], PASSWORD)
    assert session["user"]["is_admin"] is True and session["role"] == "admin"
    expect_page(server.request("GET", "/api/v1/users", token=session["access_token"]))


def test_duplicate_name_is_409(server):
    user = server.create_user()
    reply = server.request("POST", "/api/v1/users",
                           json={"name": user["name"], "password": PASSWORD},
                           token=server.admin_token())
    expect_problem(reply, 409, "already-exists")


@pytest.mark.parametrize("name", [
    "ab", "x" * 65, "1abc", "_abc", "-abc", "ab c", "abc/d", "abc!", "ab\u00e9c", "", "ab\tc"])
def test_invalid_names_are_400(server, name):
    reply = server.request("POST", "/api/v1/users", json={"name": name, "password": PASSWORD},
                           token=server.admin_token())
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), "name")


@pytest.mark.parametrize("name", ["abc", "a" * 64, "A.b_c@d-e", "z9z"])
def test_valid_name_edges(server, name):
    server.create_user(name)
    server.login(name, PASSWORD)


@pytest.mark.parametrize("length, status", [(7, 400), (8, 201), (1024, 201), (1025, 400)])
def test_password_length_limits(server, length, status):
    password = "p" * length
    name = unique_name("pw")
    reply = server.request("POST", "/api/v1/users", json={"name": name, "password": password},
                           token=server.admin_token())
    if status == 201:
        expect_user(expect_json(reply, 201), name)
        server.login(name, password)
    else:
        problem = expect_problem(reply, 400, "invalid-argument")
        expect_error_field(problem, "password")
        assert password not in repr(problem)


def test_missing_fields_are_listed(server):
    problem = expect_problem(server.request("POST", "/api/v1/users", json={},
                                            token=server.admin_token()), 400, "invalid-argument")
    expect_error_field(problem, "name")
    expect_error_field(problem, "password")


def test_is_admin_must_be_boolean(server):
    reply = server.request("POST", "/api/v1/users",
                           json={"name": unique_name("u"), "password": PASSWORD, "is_admin": "yes"},
                           token=server.admin_token())
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), "is_admin")


def test_get_user(server):
    user = server.create_user()
    got = expect_user(expect_json(server.request("GET", f"/api/v1/users/{user['id']}",
                                                 token=server.admin_token())))
    assert got == user


def test_get_unknown_user_is_404(server):
    reply = server.request("GET", f"/api/v1/users/{uuid.uuid4()}", token=server.admin_token())
    expect_problem(reply, 404, "not-found")


def test_get_malformed_id_is_400(server):
    reply = server.request("GET", "/api/v1/users/not-a-uuid", token=server.admin_token())
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), "id")


def test_user_reads_themselves_but_not_others(server):
    me = server.create_user()
    other = server.create_user()
    token = server.login(me["name"], PASSWORD)["access_token"]
    assert expect_json(server.request("GET", f"/api/v1/users/{me['id']}", token=token)) == me
    reply = server.request("GET", f"/api/v1/users/{other['id']}", token=token)
    assert reply.status in (403, 404), reply
    expect_problem(reply, reply.status)
    assert other["name"] not in repr(reply.body)


def test_list_users_paging(server):
    created = {server.create_user()["id"] for _ in range(5)}
    token = server.admin_token()
    seen = []
    cursor = None
    for _ in range(100):
        path = "/api/v1/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = expect_page(server.request("GET", path, token=token))
        assert len(page["items"]) <= 2
        for item in page["items"]:
            expect_user(item)
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 2, "a page before the last one is full"
    assert len(seen) == len(set(seen)), "a row appeared twice"
    assert created <= set(seen)
    names = [u["name"] for u in all_pages(server, "/api/v1/users", token=token)]
    assert ADMIN_NAME in names


def test_list_default_limit_is_50(server):
    for _ in range(3):
        server.create_user()
    token = server.admin_token()
    total = len(all_pages(server, "/api/v1/users", token=token))
    page = expect_page(server.request("GET", "/api/v1/users", token=token))
    assert len(page["items"]) == min(total, 50)


def test_rows_added_between_pages_do_not_repeat_or_skip(server):
    token = server.admin_token()
    before = {u["id"] for u in all_pages(server, "/api/v1/users", token=token)}
    page = expect_page(server.request("GET", "/api/v1/users?limit=3", token=token))
    seen = [u["id"] for u in page["items"]]
    for _ in range(4):
        server.create_user()
    cursor = page["next_cursor"]
    while cursor is not None:
        page = expect_page(server.request("GET", f"/api/v1/users?limit=3&cursor={cursor}",
                                          token=token))
        seen.extend(u["id"] for u in page["items"])
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert before <= set(seen), "a row that existed throughout was skipped"


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=-1", "limit=abc",
                                   "limit=1.5", "limit=5&limit=6", "cursor=%zz",
                                   "cursor=not-a-cursor", "unknown=1"])
def test_bad_list_queries_are_400(server, query):
    reply = server.request("GET", f"/api/v1/users?{query}", token=server.admin_token())
    expect_problem(reply, 400)
    assert reply.body["type"].endswith(("/invalid-argument", "/malformed-request")), reply


def test_limit_edges(server):
    token = server.admin_token()
    assert len(expect_page(server.request("GET", "/api/v1/users?limit=1", token=token))["items"]) == 1
    expect_page(server.request("GET", "/api/v1/users?limit=1000", token=token))


def test_patch_name_and_admin_flag(server):
    user = server.create_user()
    new_name = unique_name("renamed")
    patched = expect_user(expect_json(server.request(
        "PATCH", f"/api/v1/users/{user['id']}", json={"name": new_name, "is_admin": True},
        token=server.admin_token())), new_name, True)
    assert patched["id"] == user["id"] and patched["created_at"] == user["created_at"]
    assert patched["updated_at"] >= user["updated_at"]
    assert expect_json(server.request("GET", f"/api/v1/users/{user['id']}",
                                      token=server.admin_token())) == patched
    server.login(new_name, PASSWORD)
    expect_problem(server.login_reply(user["name"], PASSWORD), 401, "unauthenticated")


def test_patch_to_a_taken_name_is_409(server):
    first = server.create_user()
    second = server.create_user()
    reply = server.request("PATCH", f"/api/v1/users/{second['id']}", json={"name": first["name"]},
                           token=server.admin_token())
    expect_problem(reply, 409, "already-exists")


def test_patch_password_revokes_sessions(server):
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    expect_user(expect_json(server.request("PATCH", f"/api/v1/users/{user['id']}",
                                           json={"password": "changed-by-admin"},
                                           token=server.admin_token())))
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
    expect_problem(server.request("POST", "/api/v1/auth/refresh",
                                  json={"refresh_token": session["refresh_token"]}),
                   401, "unauthenticated")
    server.login(user["name"], "changed-by-admin")


def test_patch_unknown_field_is_400(server):
    user = server.create_user()
    reply = server.request("PATCH", f"/api/v1/users/{user['id']}", json={"nmae": "typo"},
                           token=server.admin_token())
    expect_error_field(expect_problem(reply, 400, "invalid-argument"), "nmae")


def test_patch_unknown_user_is_404(server):
    reply = server.request("PATCH", f"/api/v1/users/{uuid.uuid4()}", json={"is_admin": False},
                           token=server.admin_token())
    expect_problem(reply, 404, "not-found")


def test_non_admin_cannot_patch_even_themselves(server):
    user = server.create_user()
    token = server.login(user["name"], PASSWORD)["access_token"]
    reply = server.request("PATCH", f"/api/v1/users/{user['id']}", json={"is_admin": True},
                           token=token)
    expect_problem(reply, 403, "permission-denied")
    got = expect_json(server.request("GET", f"/api/v1/users/{user['id']}",
                                     token=server.admin_token()))
    assert got["is_admin"] is False


def test_delete_user(server):
    user = server.create_user()
    server.delete_and_expect_gone(f"/api/v1/users/{user['id']}")
    expect_problem(server.login_reply(user["name"], PASSWORD), 401, "unauthenticated")
    # The name is free again.
    server.create_user(user["name"])


def test_delete_user_with_memberships(server):
    user = server.create_user()
    project = server.create_project()
    server.add_member(project["id"], user["id"])
    expect_no_content(server.request("DELETE", f"/api/v1/users/{user['id']}",
                                     token=server.admin_token()))
    members = expect_json(server.request("GET", f"/api/v1/projects/{project['id']}/members",
                                         token=server.admin_token()))
    assert user["id"] not in [m["user_id"] for m in members["items"]]


def test_admin_cannot_delete_themselves(server):
    admin = server.create_user(is_admin=True)
    token = server.login(admin["name"], PASSWORD)["access_token"]
    reply = server.request("DELETE", f"/api/v1/users/{admin['id']}", token=token)
    expect_problem(reply, 409, "failed-precondition")
    expect_json(server.whoami(token))


def test_user_projects(server):
    user = server.create_user()
    first = server.create_project()
    second = server.create_project()
    server.create_project()  # not a member
    server.add_member(first["id"], user["id"], "member")
    server.add_member(second["id"], user["id"], "project-admin")
    token = server.login(user["name"], PASSWORD)["access_token"]
    for caller in (token, server.admin_token()):
        body = expect_json(server.request("GET", f"/api/v1/users/{user['id']}/projects",
                                          token=caller))
        assert set(body) >= {"items"}, body
        roles = {item["id"]: item["role"] for item in body["items"]}
        assert roles == {first["id"]: "member", second["id"]: "project-admin"}, body
        for item in body["items"]:
            assert {"id", "name", "role"} <= set(item), item


def test_user_projects_of_another_user_is_refused(server):
    project = server.create_project()
    other, _ = server.user_in(project["id"])
    _, token = server.user_in()
    reply = server.request("GET", f"/api/v1/users/{other['id']}/projects", token=token)
    assert reply.status in (403, 404), reply
    expect_problem(reply, reply.status)
    assert project["id"] not in repr(reply.body) and project["name"] not in repr(reply.body)


def test_lost_admin_flag_takes_effect_at_once(server):
    admin = server.create_user(is_admin=True)
    token = server.login(admin["name"], PASSWORD)["access_token"]
    expect_page(server.request("GET", "/api/v1/users", token=token))
    expect_json(server.request("PATCH", f"/api/v1/users/{admin['id']}", json={"is_admin": False},
                               token=server.admin_token()))
    expect_problem(server.request("GET", "/api/v1/users", token=token), 403, "permission-denied")


def test_bootstrap_admin_still_works(server):
    server.login(ADMIN_NAME, ADMIN_PASSWORD)
