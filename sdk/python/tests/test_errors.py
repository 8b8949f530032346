"""Refusals become the exception of their problem type, carrying the problem details, for
every status the API documents (docs/api.md "Errors"), against the real server."""
import pytest

import tendril
from harness import PASSWORD, TINY_TEMPLATE, member_client, unique_name

SERVER_SETTINGS = {"max_body_bytes": 4096}


def test_invalid_argument_names_the_field(server, admin):
    with pytest.raises(tendril.InvalidInput) as caught:
        admin.users.create("1-not-a-name", PASSWORD)
    error = caught.value
    assert (error.status, error.kind) == (400, "invalid-argument"), error.problem
    assert error.type == "https://tendril.dev/problems/invalid-argument"
    assert error.title and "name" in error.detail, error.problem
    assert [e["field"] for e in error.errors] == ["name"], error.problem
    assert error.problem["instance"] == "/api/v1/users", error.problem


def test_unauthenticated_without_credentials_and_with_a_forged_token(server):
    anonymous = tendril.Client(server.url)
    with pytest.raises(tendril.Unauthenticated) as caught:
        anonymous.users.list()
    assert caught.value.status == 401 and caught.value.kind == "unauthenticated"
    forged = tendril.Client(server.url, token="eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl")
    with pytest.raises(tendril.Unauthenticated):
        forged.auth.whoami()


def test_permission_denied_and_not_found(server, admin):
    member, _, _ = member_client(server)
    with pytest.raises(tendril.PermissionDenied) as caught:
        member.users.create(unique_name("u"), PASSWORD)
    assert caught.value.status == 403 and caught.value.kind == "permission-denied"
    with pytest.raises(tendril.NotFound) as caught:
        admin.projects.get("00000000-0000-4000-8000-000000000000")
    assert caught.value.status == 404 and caught.value.kind == "not-found"


def test_conflicts_are_split_by_type(server, admin):
    name = unique_name("p")
    admin.projects.create(name)
    with pytest.raises(tendril.AlreadyExists) as caught:
        admin.projects.create(name)
    assert isinstance(caught.value, tendril.Conflict) and caught.value.status == 409
    me = admin.auth.whoami()["user"]
    with pytest.raises(tendril.FailedPrecondition) as caught:
        admin.users.delete(me["id"])
    assert caught.value.kind == "failed-precondition", caught.value.problem


def test_method_not_allowed_body_too_large_and_media_type(server, admin):
    with pytest.raises(tendril.MethodNotAllowed) as caught:
        admin.transport.request("PATCH", "/projects")
    assert caught.value.status == 405
    assert "GET" in caught.value.headers.get("allow", ""), caught.value.headers
    with pytest.raises(tendril.PayloadTooLarge) as caught:
        admin.transport.request("POST", "/projects", json_body={"name": "x" * 5000})
    assert caught.value.status == 413 and caught.value.kind == "body-too-large"
    with pytest.raises(tendril.UnsupportedMediaType) as caught:
        admin.transport.request("POST", "/projects", raw=b'{"name": "abc"}')
    assert caught.value.status == 415


def test_quota_is_quota_exceeded(server, admin):
    client, project, _ = member_client(server)
    admin.projects.set_quota(project["id"], clusters=0)
    with pytest.raises(tendril.QuotaExceeded) as caught:
        client.clusters.create("cl1", TINY_TEMPLATE)
    assert caught.value.status == 429 and caught.value.kind == "resource-exhausted"
    assert caught.value.detail.startswith("quota"), caught.value.problem
    assert not isinstance(caught.value, tendril.RateLimited)


def test_failed_logins_become_rate_limited_with_retry_after(server_factory):
    srv = server_factory(settings={"login_max_failures": 2, "login_window_s": 60})
    client = tendril.Client(srv.url)
    for _ in range(2):
        with pytest.raises(tendril.Unauthenticated):
            client.login("admin", "wrong-password")
    with pytest.raises(tendril.RateLimited) as caught:
        client.login("admin", "wrong-password")
    assert caught.value.status == 429 and caught.value.retry_after is not None
    assert caught.value.retry_after > 0, caught.value.headers


def test_direct_io_errors_in_both_encodings(server):
    client, _, _ = member_client(server)
    cluster = client.clusters.create("direct-errors", TINY_TEMPLATE)
    for binary in (False, True):
        with client.clusters.direct(cluster["id"], binary=binary) as direct:
            with pytest.raises(tendril.InvalidInput) as caught:
                direct.request([1.0, 2.0])
            assert caught.value.status == 400 and "4" in caught.value.detail, caught.value
            outputs = direct.request([1.0, 0.5, 2.0, 0.0])  # the session is still usable
            assert list(outputs) == ["out"] and len(outputs["out"]) == 3, outputs
    with pytest.raises(tendril.NotFound):
        client.clusters.direct("00000000-0000-4000-8000-000000000000")

