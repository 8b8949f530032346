"""Access and refresh tokens: claims, expiry, rotation, revocation taking effect at once, and
forged tokens. The module's server signs with a key the test knows (TENDRIL_TOKEN_KEY), so it can
mint tokens: a correctly signed one is accepted (the control), every forgery is refused."""
import time

import pytest

from conftest import (ADMIN_NAME, ADMIN_PASSWORD, PASSWORD, Server, expect_json,
                      expect_no_content, expect_problem, jwt_parts, sign_jwt, unique_name)

TOKEN_KEY = "integration-test-signing-key-0123456789abcdef"
OTHER_KEY = "another-servers-signing-key-0123456789abcdef"


@pytest.fixture(scope="module")
def module_server(tmp_path_factory):
    """Overrides conftest's: this module's server signs with TOKEN_KEY."""
    server = Server(tmp_path_factory.mktemp("tokens"), env={"TENDRIL_TOKEN_KEY": TOKEN_KEY},
                    name="tokens")
    server.start()
    yield server
    code = server.stop()
    assert code == 0, server.log_text()


def refresh(server, refresh_token):
    return server.request("POST", "/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def member_session(server):
    user = server.create_user()
    project = server.create_project()
    server.add_member(project["id"], user["id"], "member")
    return user, project, server.login(user["name"], PASSWORD)


def test_access_token_claims(server):
    user, project, session = member_session(server)
    header, claims, _ = jwt_parts(session["access_token"])
    assert header.get("alg") == "HS256", header
    assert {"sub", "iat", "exp", "iss", "project", "role", "sid"} <= set(claims), claims
    assert claims["sub"] == user["id"]
    assert claims["project"] == project["id"]
    assert claims["role"] == "member"
    assert claims["exp"] - claims["iat"] == session["expires_in"] == 900
    assert abs(claims["iat"] - time.time()) < 60
    assert PASSWORD not in session["access_token"]


def test_minted_token_is_accepted(server):
    """The control for the forgeries below: the same claims, signed with the server's key."""
    _, _, session = member_session(server)
    header, claims, _ = jwt_parts(session["access_token"])
    token = sign_jwt(header, claims, TOKEN_KEY.encode())
    assert expect_json(server.whoami(token))["user"]["id"] == claims["sub"]


def forge(session, key=TOKEN_KEY, header_changes=None, claim_changes=None, drop=()):
    header, claims, _ = jwt_parts(session["access_token"])
    header.update(header_changes or {})
    claims.update(claim_changes or {})
    for name in drop:
        claims.pop(name, None)
    return sign_jwt(header, claims, None if key is None else key.encode())


FORGERIES = {
    "other-key": lambda s, admin_id: forge(s, key=OTHER_KEY),
    "alg-none": lambda s, admin_id: forge(s, key=None, header_changes={"alg": "none"}),
    "alg-none-upper": lambda s, admin_id: forge(s, key=None, header_changes={"alg": "NONE"}),
    "alg-hs384": lambda s, admin_id: forge(s, header_changes={"alg": "HS384"}),
    "expired": lambda s, admin_id: forge(s, claim_changes={"iat": int(time.time()) - 7200,
                                                           "exp": int(time.time()) - 3600}),
    "wrong-issuer": lambda s, admin_id: forge(s, claim_changes={"iss": "someone-else"}),
    "no-sid": lambda s, admin_id: forge(s, drop=("sid",)),
    "no-exp": lambda s, admin_id: forge(s, drop=("exp",)),
    "unknown-sub": lambda s, admin_id: forge(s, claim_changes={
        "sub": "00000000-0000-4000-8000-000000000000"}),
    "bogus-sid": lambda s, admin_id: forge(s, claim_changes={
        "sid": "00000000-0000-4000-8000-000000000000"}),
}


@pytest.mark.parametrize("kind", sorted(FORGERIES))
def test_forged_token_is_refused(server, kind):
    _, _, session = member_session(server)
    token = FORGERIES[kind](session, None)
    expect_problem(server.whoami(token), 401, "unauthenticated")


def test_tampered_claims_with_original_signature(server):
    user, _, session = member_session(server)
    admin = server.login(ADMIN_NAME, ADMIN_PASSWORD)
    header, claims, signature = jwt_parts(session["access_token"])
    for changes in ({"role": "admin"}, {"sub": admin["user"]["id"]}, {"exp": claims["exp"] + 9999}):
        forged = forge(session, claim_changes=changes).rsplit(".", 1)[0] + "." + signature
        expect_problem(server.whoami(forged), 401, "unauthenticated")
        expect_problem(server.request("GET", "/api/v1/users", token=forged), 401,
                       "unauthenticated")


def test_bad_signature_is_refused(server):
    _, _, session = member_session(server)
    token = session["access_token"]
    last = token[-2]
    flipped = token[:-2] + ("A" if last != "A" else "B") + token[-1]
    expect_problem(server.whoami(flipped), 401, "unauthenticated")
    expect_problem(server.whoami(token.rsplit(".", 1)[0] + "."), 401, "unauthenticated")


def test_escalated_claims_with_the_right_key_still_use_the_store(server):
    """Even correctly signed, a token's role claim does not make a member an admin: the caller
    is re-read from the store on each request."""
    _, _, session = member_session(server)
    token = forge(session, claim_changes={"role": "admin"})
    reply = server.request("GET", "/api/v1/users", token=token)
    assert reply.status in (401, 403), reply
    expect_problem(reply, reply.status)


def test_token_of_another_server_is_refused(server, server_factory):
    other = server_factory(env={"TENDRIL_TOKEN_KEY": OTHER_KEY})
    foreign = other.login(ADMIN_NAME, ADMIN_PASSWORD)
    expect_json(other.whoami(foreign["access_token"]))
    expect_problem(server.whoami(foreign["access_token"]), 401, "unauthenticated")
    expect_problem(refresh(server, foreign["refresh_token"]), 401, "unauthenticated")


def test_token_of_a_server_with_a_generated_key_is_refused(server, server_factory):
    other = server_factory()
    foreign = other.login(ADMIN_NAME, ADMIN_PASSWORD)
    expect_problem(server.whoami(foreign["access_token"]), 401, "unauthenticated")


def test_refresh_rotation(server):
    user, _, first = member_session(server)
    second = expect_json(refresh(server, first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    expect_json(server.whoami(second["access_token"]))
    third = expect_json(refresh(server, second["refresh_token"]))
    expect_json(server.whoami(third["access_token"]))
    assert third["user"]["id"] == user["id"] and third["role"] == "member"
    # every used refresh token is refused afterwards
    for used in (first, second):
        expect_problem(refresh(server, used["refresh_token"]), 401, "unauthenticated")


def test_replayed_refresh_token_ends_its_chain(server):
    """Replaying a rotated refresh token means it leaked: it is refused, and whatever the
    server does about the chain it leaked from, it never hands out a session for it."""
    _, _, first = member_session(server)
    second = expect_json(refresh(server, first["refresh_token"]))
    replay = refresh(server, first["refresh_token"])
    expect_problem(replay, 401, "unauthenticated")
    assert "access_token" not in repr(replay.body)
    assert second["refresh_token"] not in repr(replay.body)


def test_refresh_keeps_the_project(server):
    _, project, session = member_session(server)
    renewed = expect_json(refresh(server, session["refresh_token"]))
    assert (renewed["project_id"], renewed["role"]) == (project["id"], "member")


def logout_and_expect_revoked(server, session):
    expect_no_content(server.request("POST", "/api/v1/auth/logout",
                                     token=session["access_token"]))
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
    expect_problem(refresh(server, session["refresh_token"]), 401, "unauthenticated")


def test_logout_revokes_access_token_at_once(server):
    _, _, session = member_session(server)
    expect_json(server.whoami(session["access_token"]))
    logout_and_expect_revoked(server, session)


def test_logout_revokes_tokens_refreshed_from_the_session(server):
    _, _, session = member_session(server)
    logout_and_expect_revoked(server, expect_json(refresh(server, session["refresh_token"])))


def test_password_change_revokes_other_sessions(server):
    user, _, mine = member_session(server)
    other = server.login(user["name"], PASSWORD)
    expect_no_content(server.request("POST", "/api/v1/auth/password",
                                     json={"current_password": PASSWORD,
                                           "new_password": "rotated-password"},
                                     token=mine["access_token"]))
    expect_json(server.whoami(mine["access_token"]))
    expect_problem(server.whoami(other["access_token"]), 401, "unauthenticated")
    expect_problem(refresh(server, other["refresh_token"]), 401, "unauthenticated")


def test_deleted_users_token_is_refused(server):
    user, _, session = member_session(server)
    expect_no_content(server.request("DELETE", f"/api/v1/users/{user['id']}",
                                     token=server.admin_token()))
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
    expect_problem(refresh(server, session["refresh_token"]), 401, "unauthenticated")
    # a new user of the same name does not inherit the old one's tokens
    server.create_user(user["name"])
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")


def test_removed_membership_takes_effect_at_once(server):
    user, project, session = member_session(server)
    token = session["access_token"]
    expect_json(server.request("GET", f"/api/v1/projects/{project['id']}", token=token))
    expect_no_content(server.request(
        "DELETE", f"/api/v1/projects/{project['id']}/members/{user['id']}",
        token=server.admin_token()))
    reply = server.request("GET", f"/api/v1/projects/{project['id']}", token=token)
    assert reply.status in (401, 403, 404), reply
    expect_problem(reply, reply.status)
    who = server.whoami(token)
    if who.status == 200:
        assert who.body["role"] != "member" and who.body["project_id"] != project["id"], who
    else:
        expect_problem(who, 401, "unauthenticated")


def test_demotion_takes_effect_at_once(server):
    user, project, _ = member_session(server)
    server.add_member(project["id"], user["id"], "project-admin")
    token = server.login(user["name"], PASSWORD)["access_token"]
    expect_json(server.request("GET", f"/api/v1/projects/{project['id']}/members", token=token))
    server.add_member(project["id"], user["id"], "member")
    expect_problem(server.request("GET", f"/api/v1/projects/{project['id']}/members",
                                  token=token), 403, "permission-denied")


def test_minted_short_lived_token_expires(server):
    """The expiry check against the real clock: a token minted with the server's key to live
    2 s works at once and is refused after 3 s."""
    _, _, session = member_session(server)
    now = int(time.time())
    token = forge(session, claim_changes={"iat": now, "exp": now + 2})
    expect_json(server.whoami(token))
    time.sleep(3.2)
    expect_problem(server.whoami(token), 401, "unauthenticated")
    expect_json(server.whoami(session["access_token"]))


def test_access_token_expiry(server_factory):
    server = server_factory(settings={"access_token_ttl_s": 2})
    user = server.create_user()
    session = server.login(user["name"], PASSWORD)
    assert session["expires_in"] == 2, session
    expect_json(server.whoami(session["access_token"]))
    time.sleep(3.2)
    expect_problem(server.whoami(session["access_token"]), 401, "unauthenticated")
    # The refresh token outlives it and gives a working access token.
    renewed = expect_json(refresh(server, session["refresh_token"]))
    expect_json(server.whoami(renewed["access_token"]))


def test_refresh_token_with_garbage_is_refused(server):
    for value in ["", "a", "x" * 5000, unique_name("r")]:
        reply = refresh(server, value)
        assert reply.status in (400, 401), reply
        expect_problem(reply, reply.status)
