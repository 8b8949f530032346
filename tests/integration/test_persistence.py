"""Restarting on the same data directory keeps users, projects, memberships, API keys and
sessions; the token key file is created once, mode 0600, and reused."""
import os
import stat

import pytest

from conftest import (ADMIN_NAME, ADMIN_PASSWORD, PASSWORD, all_pages, expect_json,
                      expect_no_content, expect_problem)


def test_everything_survives_a_restart(server_factory):
    server = server_factory()
    admin = server.admin_token()
    user = server.create_user()
    other_admin = server.create_user(is_admin=True)
    project = server.create_project()
    server.add_member(project["id"], user["id"], "project-admin")
    session = server.login(user["name"], PASSWORD)
    key = server.create_api_key(project["id"], session["access_token"], role="project-admin")
    revoked = server.create_api_key(project["id"], session["access_token"])
    expect_no_content(server.request("DELETE", f"/api/v1/projects/{project['id']}/api-keys/"
                                     f"{revoked['id']}", token=admin))
    logged_out = server.login(user["name"], PASSWORD)
    expect_no_content(server.request("POST", "/api/v1/auth/logout",
                                     token=logged_out["access_token"]))
    audit_before = all_pages(server, "/api/v1/audit", token=admin)

    server.restart()

    admin = server.login(ADMIN_NAME, ADMIN_PASSWORD)["access_token"]
    users = {u["id"]: u for u in all_pages(server, "/api/v1/users", token=admin)}
    assert users[user["id"]] == user
    assert users[other_admin["id"]]["is_admin"] is True
    projects = {p["id"]: p for p in all_pages(server, "/api/v1/projects", token=admin)}
    assert {k: projects[project["id"]][k] for k in project} == project
    members = expect_json(server.request("GET", f"/api/v1/projects/{project['id']}/members",
                                         token=admin))
    assert {m["user_id"]: m["role"] for m in members["items"]} == {user["id"]: "project-admin"}
    # The access token, the refresh token and the API key issued before still work.
    who = expect_json(server.whoami(session["access_token"]))
    assert (who["user"]["id"], who["project_id"]) == (user["id"], project["id"])
    renewed = expect_json(server.request("POST", "/api/v1/auth/refresh",
                                         json={"refresh_token": session["refresh_token"]}))
    expect_json(server.whoami(renewed["access_token"]))
    key_who = expect_json(server.whoami(api_key=key["key"]))
    assert (key_who["auth"], key_who["role"]) == ("api_key", "project-admin")
    # Revocations survive too.
    expect_problem(server.whoami(api_key=revoked["key"]), 401, "unauthenticated")
    expect_problem(server.whoami(logged_out["access_token"]), 401, "unauthenticated")
    expect_problem(server.request("POST", "/api/v1/auth/refresh",
                                  json={"refresh_token": logged_out["refresh_token"]}),
                   401, "unauthenticated")
    server.login(user["name"], PASSWORD)
    server.login(other_admin["name"], PASSWORD)
    # The audit trail is kept, newest first.
    audit_after = all_pages(server, "/api/v1/audit", token=admin)
    ids_after = [e["id"] for e in audit_after]
    assert [e["id"] for e in audit_before] == ids_after[len(ids_after) - len(audit_before):]


def test_token_key_file(server_factory):
    server = server_factory()
    key_file = server.data_dir / "token.key"
    assert key_file.is_file(), list(server.data_dir.iterdir())
    mode = stat.S_IMODE(os.stat(key_file).st_mode)
    assert mode == 0o600, oct(mode)
    content = key_file.read_bytes()
    assert len(content.strip()) >= 32
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    server.restart()
    assert key_file.read_bytes() == content, "the key was regenerated"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    expect_json(server.whoami(session["access_token"]))


def test_token_key_from_environment_creates_no_file(server_factory):
    server = server_factory(env={"TENDRIL_TOKEN_KEY": "k" * 40})
    assert not (server.data_dir / "token.key").exists()
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    expect_json(server.whoami(session["access_token"]))


def test_unsafe_token_key_file_is_refused(server_factory):
    server = server_factory()
    key_file = server.data_dir / "token.key"
    assert server.stop() == 0
    os.chmod(key_file, 0o644)
    with pytest.raises(AssertionError, match="exited with"):
        server.start()  # a world-readable token key is refused
    assert "token" in server.log_text().lower()


def test_short_token_key_from_environment_is_refused(server_factory):
    server = server_factory(env={"TENDRIL_TOKEN_KEY": "too-short"}, start=False)
    with pytest.raises(AssertionError, match="exited with"):
        server.start()  # a 9-byte key is refused


def test_changed_token_key_invalidates_tokens(server_factory):
    server = server_factory()
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    assert server.stop() == 0
    server.extra_env["TENDRIL_TOKEN_KEY"] = "a-completely-different-key-0123456789"
    server.start()
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
    server.login(ADMIN_NAME, ADMIN_PASSWORD)
