"""Login throttling (docs/api.md "Authentication"): after login_max_failures failures for one
name, further attempts get 429 with Retry-After until the lockout passes, a correct password
included; other names are unaffected; one client address gets four times as many."""
import time

import pytest

from conftest import PASSWORD, expect_json, expect_problem, unique_name

SETTINGS = {"login_max_failures": 3, "login_window_s": 60, "login_lockout_s": 2}


@pytest.fixture
def throttled(server_factory):
    return server_factory(settings=SETTINGS)


def expect_locked(reply):
    expect_problem(reply, 429, "resource-exhausted")
    retry_after = reply.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), reply.headers
    assert 1 <= int(retry_after) <= SETTINGS["login_lockout_s"], retry_after
    assert "access_token" not in repr(reply.body)
    return int(retry_after)


def fail_logins(server, name, times):
    for attempt in range(times):
        expect_problem(server.login_reply(name, f"wrong-password-{attempt}"), 401,
                       "unauthenticated")


def test_lockout_and_its_end(throttled):
    victim = throttled.create_user()
    bystander = throttled.create_user()
    session = throttled.login(victim["name"], PASSWORD)
    fail_logins(throttled, victim["name"], 3)
    expect_locked(throttled.login_reply(victim["name"], "wrong-password-4"))
    # The right password does not get through during the lockout.
    retry_after = expect_locked(throttled.login_reply(victim["name"], PASSWORD))
    # Others can log in, and the victim's existing session keeps working.
    throttled.login(bystander["name"], PASSWORD)
    expect_json(throttled.whoami(session["access_token"]))
    time.sleep(retry_after + 0.3)
    throttled.login(victim["name"], PASSWORD)


def test_unknown_names_are_locked_the_same_way(throttled):
    ghost = unique_name("ghost")
    fail_logins(throttled, ghost, 3)
    expect_locked(throttled.login_reply(ghost, "anything-at-all"))


def test_lockout_is_per_name(throttled):
    first = throttled.create_user()
    second = throttled.create_user()
    fail_logins(throttled, first["name"], 3)
    expect_locked(throttled.login_reply(first["name"], PASSWORD))
    fail_logins(throttled, second["name"], 2)
    throttled.login(second["name"], PASSWORD)


def test_one_address_gets_four_times_as_many(throttled):
    user = throttled.create_user()
    for _ in range(4):  # 4 names x 3 failures = 12 = 4 x login_max_failures from one address
        fail_logins(throttled, unique_name("spray"), 3)
    reply = throttled.login_reply(user["name"], PASSWORD)
    retry_after = expect_locked(reply)
    time.sleep(retry_after + 0.3)
    throttled.login(user["name"], PASSWORD)


def test_failures_outside_the_window_do_not_count(server_factory):
    server = server_factory(settings={**SETTINGS, "login_window_s": 2})
    user = server.create_user()
    fail_logins(server, user["name"], 2)
    time.sleep(2.3)
    fail_logins(server, user["name"], 2)
    server.login(user["name"], PASSWORD)
