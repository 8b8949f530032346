"""Retries: idempotent calls survive a dropped connection and a 503 (through a misbehaving proxy
in front of the real server); creating POSTs carry an Idempotency-Key, so a retry after a lost
reply returns the first reply instead of creating twice; other POSTs are never sent twice."""
import pytest

import tendril
from harness import ADMIN_NAME, ADMIN_PASSWORD, admin_client, unique_name
from flaky_proxy import FlakyProxy


@pytest.fixture
def proxied(server):
    """(make(actions) -> (proxy, client logged in through it as admin))."""
    proxies = []

    def make(actions):
        proxy = FlakyProxy(server.port, [])
        proxies.append(proxy)
        client = tendril.Client(proxy.url, backoff=0.01)
        client.login(ADMIN_NAME, ADMIN_PASSWORD)
        client.close()  # the next call opens a new connection, which gets `actions`
        proxy.actions.extend(actions)
        return proxy, client

    yield make
    for proxy in proxies:
        proxy.close()


def test_get_is_retried_after_a_dropped_connection(proxied):
    proxy, client = proxied(["drop", "drop"])
    assert client.system.version()["name"] == "tendril"
    assert proxy.accepted[-3:] == ["drop", "drop", "forward"], proxy.accepted


def test_get_gives_up_after_its_retries(server):
    proxy = FlakyProxy(server.port, ["drop"] * 10)
    try:
        client = tendril.Client(proxy.url, retries=2, backoff=0.01)
        with pytest.raises(tendril.ConnectionFailed):
            client.system.version()
        assert proxy.accepted == ["drop"] * 3, proxy.accepted
    finally:
        proxy.close()


def test_503_is_retried(proxied):
    proxy, client = proxied(["503"])
    assert client.users.list(limit=1)["items"], "admin exists"
    assert proxy.accepted[-2:] == ["503", "forward"], proxy.accepted


def test_503_surfaces_as_service_unavailable_when_retries_run_out(server):
    proxy = FlakyProxy(server.port, ["503"] * 5)
    try:
        client = tendril.Client(proxy.url, retries=1, backoff=0.01)
        with pytest.raises(tendril.ServiceUnavailable) as caught:
            client.system.version()
        assert caught.value.detail == "proxy says no" and caught.value.retry_after == 0
    finally:
        proxy.close()


def test_create_after_a_lost_reply_creates_once(server, proxied):
    proxy, client = proxied(["lose-reply"])
    name = unique_name("p")
    project = client.projects.create(name)
    assert project["name"] == name
    assert proxy.accepted[-2:] == ["lose-reply", "forward"], proxy.accepted
    admin = admin_client(server)
    same_name = [p["id"] for p in admin.projects.iter() if p["name"] == name]
    assert same_name == [project["id"]], same_name
    # The audit log has one creation: the replay did not run the operation again.
    created = [e for e in admin.logs.iter_audit(action="projects.create")
               if e["target"] == project["id"]]
    assert len(created) == 1, created


def test_plain_post_is_not_resent(server, proxied):
    proxy, client = proxied(["lose-reply"])
    with pytest.raises(tendril.ConnectionFailed):
        client.auth.change_password(ADMIN_PASSWORD, ADMIN_PASSWORD + "-new")
    assert proxy.accepted[1:] == ["lose-reply"], f"sent again: {proxy.accepted}"
    # It did run once: the new password works (and is put back).
    again = tendril.Client(server.url)
    again.login(ADMIN_NAME, ADMIN_PASSWORD + "-new")
    again.auth.change_password(ADMIN_PASSWORD + "-new", ADMIN_PASSWORD)
    server._admin_session = None
