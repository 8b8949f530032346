"""The first admin: from TENDRIL_ADMIN_NAME / TENDRIL_ADMIN_PASSWORD, or a generated password
printed once on stdout; and the rules that keep an admin: no deleting yourself, no demoting or
deleting the last admin."""
import re

import pytest

from conftest import (ADMIN_NAME, ADMIN_PASSWORD, PASSWORD, all_pages, expect_json,
                      expect_no_content, expect_problem, expect_user)

GENERATED = re.compile(r"^admin password: (\S+)\s*$")


def generated_passwords(server, start_index):
    return [m.group(1) for m in map(GENERATED.match, server.stdout_by_start[start_index]) if m]


def test_admin_from_environment(server_factory):
    server = server_factory()
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    assert session["user"]["is_admin"] is True and session["role"] == "admin"
    users = all_pages(server, "/api/v1/users", token=session["access_token"])
    assert [u["name"] for u in users] == [ADMIN_NAME]
    assert generated_passwords(server, 0) == []
    assert ADMIN_PASSWORD not in server.log_text(), "the password from the environment is logged"


def test_admin_with_custom_name(server_factory):
    server = server_factory(env={"TENDRIL_ADMIN_NAME": "root.ops",
                                 "TENDRIL_ADMIN_PASSWORD": "custom-password-9"})
    session = server.login("root.ops", "custom-password-9")
    assert session["user"]["is_admin"] is True
    expect_problem(server.login_reply(ADMIN_NAME, "custom-password-9"), 401, "unauthenticated")


def test_generated_password_printed_once(server_factory):
    server = server_factory(admin_from_env=False)
    stdout = server.stdout_by_start[0]
    assert "admin user: admin" in [line.strip() for line in stdout], stdout
    passwords = generated_passwords(server, 0)
    assert len(passwords) == 1, stdout
    password = passwords[0]
    assert len(password) >= 12, "a generated password should be strong"
    assert server.log_text().count(password) == 1, "printed more than once (stderr too?)"
    session = server.login("admin", password)
    assert session["user"]["is_admin"] is True
    server.restart()
    assert generated_passwords(server, 1) == [], "the password was printed again"
    assert password not in server.stdout_text(1)
    server.login("admin", password)


def test_generated_passwords_differ(server_factory):
    first = server_factory(admin_from_env=False)
    second = server_factory(admin_from_env=False)
    assert len(generated_passwords(first, 0)) == len(generated_passwords(second, 0)) == 1
    assert generated_passwords(first, 0) != generated_passwords(second, 0)


def test_environment_is_ignored_once_users_exist(server_factory):
    server = server_factory()
    assert server.stop() == 0
    server.extra_env["TENDRIL_ADMIN_PASSWORD"] = "a-different-password"
    server.start()
    server.login(ADMIN_NAME, ADMIN_PASSWORD)
    expect_problem(server.login_reply(ADMIN_NAME, "a-different-password"), 401, "unauthenticated")


@pytest.mark.parametrize("env", [{"TENDRIL_ADMIN_NAME": "admin", "TENDRIL_ADMIN_PASSWORD": "short"},
                                 {"TENDRIL_ADMIN_NAME": "1bad name",
                                  "TENDRIL_ADMIN_PASSWORD": "long-enough-password"}])
def test_invalid_bootstrap_values_are_refused(server_factory, env):
    server = server_factory(env=env, start=False)
    with pytest.raises(AssertionError, match="exited with"):
        server.start()
    assert "admin" in server.log_text().lower()


def test_admin_cannot_delete_themselves(server_factory):
    server = server_factory()
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    me = session["user"]["id"]
    expect_problem(server.request("DELETE", f"/api/v1/users/{me}", token=session["access_token"]),
                   409, "failed-precondition")
    # even with another admin around, deleting yourself is refused
    server.create_user(is_admin=True)
    expect_problem(server.request("DELETE", f"/api/v1/users/{me}", token=session["access_token"]),
                   409, "failed-precondition")
    expect_json(server.whoami(session["access_token"]))


def test_last_admin_cannot_be_demoted(server_factory):
    server = server_factory()
    session = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    token, me = session["access_token"], session["user"]["id"]
    expect_problem(server.request("PATCH", f"/api/v1/users/{me}", json={"is_admin": False},
                                  token=token), 409, "failed-precondition")
    got = expect_user(expect_json(server.request("GET", f"/api/v1/users/{me}", token=token)))
    assert got["is_admin"] is True
    # With a second admin the first may step down; then the second is the last one.
    second = server.create_user(is_admin=True)
    second_token = server.login(second["name"], PASSWORD)["access_token"]
    expect_user(expect_json(server.request("PATCH", f"/api/v1/users/{me}",
                                           json={"is_admin": False}, token=token)),
                is_admin=False)
    expect_problem(server.request("PATCH", f"/api/v1/users/{second['id']}",
                                  json={"is_admin": False}, token=second_token),
                   409, "failed-precondition")
    expect_problem(server.request("DELETE", f"/api/v1/users/{second['id']}", token=second_token),
                   409, "failed-precondition")


def test_an_admin_may_delete_another_admin(server_factory):
    server = server_factory()
    other = server.create_user(is_admin=True)
    expect_no_content(server.request("DELETE", f"/api/v1/users/{other['id']}",
                                     token=server.admin_token()))
    server.login(ADMIN_NAME, ADMIN_PASSWORD)


def test_first_start_creates_the_data_dir_and_clean_stop(server_factory):
    server = server_factory()
    assert server.data_dir.is_dir()
    assert server.stop() == 0
    assert server.exit_codes == [0]
