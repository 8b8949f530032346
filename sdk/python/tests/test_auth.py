"""Credentials in the SDK against the real server: an access token that expires is refreshed
with the refresh token (before use, and after a 401), by one thread only even when many need it;
refresh tokens rotate; logout forgets and revokes; API keys; switching projects."""
import threading
import time

import pytest

import tendril
from harness import ADMIN_NAME, PASSWORD, admin_client, member_client, unique_name

SERVER_SETTINGS = {"access_token_ttl_s": 2}


def test_expired_access_token_is_refreshed_before_use(server):
    client = admin_client(server)
    first_token, first_refresh = client.token, client.refresh_token
    time.sleep(2.2)  # the token is now expired (or within the refresh margin)
    assert client.auth.whoami()["user"]["name"] == ADMIN_NAME
    assert client.token != first_token and client.refresh_token != first_refresh
    # The old access token is expired: the server refuses it.
    with pytest.raises(tendril.Unauthenticated):
        tendril.Client(server.url, token=first_token).auth.whoami()


def test_a_401_with_a_refresh_token_refreshes_once_and_repeats(server):
    session = admin_client(server).session
    client = tendril.Client(server.url, token="not.a.token",
                            refresh_token=session["refresh_token"])
    assert client.users.get(session["user"]["id"])["name"] == ADMIN_NAME
    assert client.token != "not.a.token" and client.refresh_token != session["refresh_token"]
    # Without a refresh token a 401 is just raised.
    with pytest.raises(tendril.Unauthenticated):
        tendril.Client(server.url, token="not.a.token").auth.whoami()


def test_many_threads_share_one_refresh(server):
    client = admin_client(server)
    time.sleep(2.2)
    errors, names = [], []

    def work():
        try:
            names.append(client.auth.whoami()["user"]["name"])
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and names == [ADMIN_NAME] * 6, errors
    # Had two threads presented the same refresh token, the server would have ended every
    # session of the user (reuse detection): the session still works.
    assert client.auth.whoami()["auth"] == "access_token"


def test_rotated_refresh_token_cannot_be_used_again(server):
    client = admin_client(server)
    old_refresh = client.refresh_token
    client.auth.refresh()
    thief = tendril.Client(server.url, refresh_token=old_refresh, token="x.y.z")
    with pytest.raises(tendril.Unauthenticated):
        thief.auth.refresh()
    # Reuse of a rotated token ends every session of the user, the live one included.
    with pytest.raises(tendril.Unauthenticated):
        client.auth.whoami()


def test_logout_revokes_and_forgets(server):
    client = admin_client(server)
    token = client.token
    client.logout()
    assert client.token is None and client.refresh_token is None
    with pytest.raises(tendril.Unauthenticated):
        tendril.Client(server.url, token=token).auth.whoami()


def test_api_key_client(server):
    owner, project, _ = member_client(server)
    key = owner.api_keys.create(project["id"], unique_name("k"))
    program = tendril.Client(server.url, api_key=key["key"])
    me = program.auth.whoami()
    assert (me["auth"], me["project_id"], me["role"]) == ("api_key", project["id"], "member")
    assert program.clusters.list()["items"] == []
    assert [k["id"] for k in owner.api_keys.list(project["id"])] == [key["id"]]
    owner.api_keys.revoke(project["id"], key["id"])
    with pytest.raises(tendril.Unauthenticated):
        program.auth.whoami()
    with pytest.raises(ValueError):
        tendril.Client(server.url, token="a", api_key="b")


def test_switch_project(server):
    admin = admin_client(server)
    first, second = (admin.projects.create(unique_name("p")) for _ in range(2))
    user = admin.users.create(unique_name("u"), PASSWORD)
    for project in (first, second):
        admin.projects.set_member(project["id"], user["id"], "project-admin")
    client = tendril.Client(server.url)
    session = client.login(user["name"], PASSWORD, project_id=first["id"])
    assert session["project_id"] == first["id"]
    switched = client.auth.switch(second["id"])
    assert switched["project_id"] == second["id"] and client.token == switched["access_token"]
    assert client.auth.whoami()["project_id"] == second["id"]
    assert {p["id"] for p in admin.users.projects(user["id"])} == {first["id"], second["id"]}
