"""The web dashboard's server side (docs/dashboard.md, docs/api.md "Browser sessions"):
cookie sessions (HttpOnly, SameSite=Strict, Origin-checked for state-changing calls and
WebSocket upgrades, rotated on refresh, cleared and revoked on logout), the dashboard's static
files (types, caching, SPA fallback, no traversal, the page when it is not built), the host
figures for monitoring and the template check behind the live preview."""
import json
from http.cookies import SimpleCookie

import pytest
import websocket

from conftest import (ADMIN_NAME, ADMIN_PASSWORD, expect_json, expect_problem, parse_raw,
                      raw_exchange, unique_name)


@pytest.fixture
def dashboard(tmp_path):
    """A built-dashboard stand-in: index.html, a hashed asset, and a secret outside it."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Tendril test</title>")
    (dist / "assets" / "index-Ab12Cd.js").write_text("console.log('tendril')")
    (dist / "assets" / "index-Ab12Cd.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("outside the dashboard")
    return dist


@pytest.fixture
def web_server(server_factory, dashboard):
    return server_factory(settings={"dashboard_dir": str(dashboard)})


def origin(server):
    return f"http://127.0.0.1:{server.port}"


def cookies_of(reply):
    """{name: morsel} of every Set-Cookie header of a reply."""
    jar = SimpleCookie()
    for header in reply.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return jar


def cookie_login(server, name=ADMIN_NAME, password=ADMIN_PASSWORD):
    reply = server.request("POST", "/api/v1/auth/login",
                           json={"name": name, "password": password, "cookie": True},
                           headers={"Origin": origin(server)})
    body = expect_json(reply, 200)
    return body, cookies_of(reply)


def cookie_header(jar):
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items() if morsel.value)


def with_cookies(server, jar, same_origin=True, extra=None):
    headers = {"Cookie": cookie_header(jar)}
    if same_origin:
        headers["Origin"] = origin(server)
    headers.update(extra or {})
    return headers


# --- cookie sessions ---------------------------------------------------------------------------


def test_cookie_login_keeps_tokens_out_of_the_body(web_server):
    body, jar = cookie_login(web_server)
    assert "access_token" not in body and "refresh_token" not in body
    assert body["user"]["name"] == ADMIN_NAME and body["role"] == "admin"
    access, refresh = jar["tendril_access"], jar["tendril_refresh"]
    assert access.value.count(".") == 2  # a JWT
    assert access["httponly"] and refresh["httponly"]
    assert access["samesite"] == "Strict" and refresh["samesite"] == "Strict"
    assert access["path"] == "/" and refresh["path"] == "/api/v1/auth"
    assert int(access["max-age"]) == body["expires_in"]
    assert int(refresh["max-age"]) > int(access["max-age"])
    assert not access["secure"]  # the page came over plain HTTP (Origin http://)
    # A plain login still answers with the tokens in the body and sets no cookie.
    plain = web_server.request("POST", "/api/v1/auth/login",
                               json={"name": ADMIN_NAME, "password": ADMIN_PASSWORD})
    assert "access_token" in expect_json(plain, 200)
    assert not plain.headers.get_all("Set-Cookie")


def test_cookies_are_secure_when_the_page_came_over_https(web_server):
    # Behind a TLS proxy the browser's Origin is https://: the cookies must not travel in clear.
    reply = web_server.request("POST", "/api/v1/auth/login",
                               json={"name": ADMIN_NAME, "password": ADMIN_PASSWORD,
                                     "cookie": True},
                               headers={"Origin": f"https://127.0.0.1:{web_server.port}"})
    expect_json(reply, 200)
    jar = cookies_of(reply)
    assert jar["tendril_access"]["secure"] and jar["tendril_refresh"]["secure"]


def test_cookie_authenticates_reads_and_same_origin_writes_only(web_server):
    _, jar = cookie_login(web_server)
    who = expect_json(web_server.request("GET", "/api/v1/auth/whoami",
                                         headers=with_cookies(web_server, jar, same_origin=False)))
    assert who["user"]["name"] == ADMIN_NAME and who["auth"] == "access_token"
    name = unique_name("p")
    # A state-changing call with the cookie but without our Origin is refused (CSRF) ...
    for headers in (with_cookies(web_server, jar, same_origin=False),
                    with_cookies(web_server, jar, same_origin=False,
                                 extra={"Origin": "http://evil.example"}),
                    with_cookies(web_server, jar, same_origin=False,
                                 extra={"Origin": origin(web_server) + ".evil.example"})):
        reply = web_server.request("POST", "/api/v1/projects", json={"name": name},
                                   headers=headers)
        expect_problem(reply, 403, "permission-denied")
    assert all(p["name"] != name for p in expect_json(web_server.request(
        "GET", "/api/v1/projects", headers=with_cookies(web_server, jar)))["items"])
    # ... and works from our own origin.
    created = web_server.request("POST", "/api/v1/projects", json={"name": name},
                                 headers=with_cookies(web_server, jar))
    assert expect_json(created, 201)["name"] == name
    # A header wins over the cookie: a bad bearer token is refused even with a good cookie.
    reply = web_server.request("GET", "/api/v1/auth/whoami",
                               headers=with_cookies(web_server, jar,
                                                    extra={"Authorization": "Bearer nope"}))
    expect_problem(reply, 401, "unauthenticated")


def test_refresh_by_cookie_rotates_and_needs_our_origin(web_server):
    _, jar = cookie_login(web_server)
    refused = web_server.request("POST", "/api/v1/auth/refresh", json={},
                                 headers=with_cookies(web_server, jar, same_origin=False))
    expect_problem(refused, 403, "permission-denied")
    reply = web_server.request("POST", "/api/v1/auth/refresh", json={},
                               headers=with_cookies(web_server, jar))
    body = expect_json(reply, 200)
    assert "access_token" not in body and "refresh_token" not in body
    fresh = cookies_of(reply)
    assert fresh["tendril_refresh"].value != jar["tendril_refresh"].value
    assert fresh["tendril_access"].value != jar["tendril_access"].value
    expect_json(web_server.request("GET", "/api/v1/auth/whoami",
                                   headers=with_cookies(web_server, fresh)))
    # Without any refresh cookie: 400 naming the field, as before cookies existed.
    expect_problem(web_server.request("POST", "/api/v1/auth/refresh", json={},
                                      headers={"Origin": origin(web_server)}),
                   400, "invalid-argument")


def test_switch_by_cookie_answers_with_new_cookies(web_server):
    _, jar = cookie_login(web_server)
    project = expect_json(web_server.request("POST", "/api/v1/projects",
                                             json={"name": unique_name("p")},
                                             headers=with_cookies(web_server, jar)), 201)
    reply = web_server.request("POST", "/api/v1/auth/switch", json={"project_id": project["id"]},
                               headers=with_cookies(web_server, jar))
    body = expect_json(reply, 200)
    assert body["project_id"] == project["id"] and "access_token" not in body
    fresh = cookies_of(reply)
    who = expect_json(web_server.request("GET", "/api/v1/auth/whoami",
                                         headers=with_cookies(web_server, fresh)))
    assert who["project_id"] == project["id"]
    # The old session ended with the switch.
    expect_problem(web_server.request("GET", "/api/v1/auth/whoami",
                                      headers=with_cookies(web_server, jar)), 401)


def test_logout_clears_the_cookies_and_revokes_the_session(web_server):
    _, jar = cookie_login(web_server)
    reply = web_server.request("POST", "/api/v1/auth/logout", json={},
                               headers=with_cookies(web_server, jar))
    assert reply.status == 204
    cleared = cookies_of(reply)
    for name in ("tendril_access", "tendril_refresh"):
        assert cleared[name].value == "" and cleared[name]["max-age"] == "0"
    # The browser would drop them; a client that keeps them is refused anyway.
    expect_problem(web_server.request("GET", "/api/v1/auth/whoami",
                                      headers=with_cookies(web_server, jar)), 401)
    expect_problem(web_server.request("POST", "/api/v1/auth/refresh", json={},
                                      headers=with_cookies(web_server, jar)), 401)


def test_websocket_upgrade_by_cookie_needs_our_origin(web_server):
    _, jar = cookie_login(web_server)
    url = f"ws://127.0.0.1:{web_server.port}/api/v1/events"
    cookie = cookie_header(jar)
    for kwargs in ({"suppress_origin": True}, {"origin": "http://evil.example"}):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, cookie=cookie, timeout=5, **kwargs)
        assert refused.value.status_code == 403
    ws = websocket.create_connection(url, cookie=cookie, origin=origin(web_server), timeout=5)
    try:
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv()) == {"type": "pong"}
    finally:
        ws.close()


# --- static files ------------------------------------------------------------------------------


def test_dashboard_files_types_and_caching(web_server):
    index = web_server.request("GET", "/")
    assert index.status == 200 and b"Tendril test" in index.body
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert index.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    asset = web_server.request("GET", "/assets/index-Ab12Cd.js")
    assert asset.status == 200 and asset.body == b"console.log('tendril')"
    assert asset.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert asset.headers["X-Content-Type-Options"] == "nosniff"
    css = web_server.request("GET", "/assets/index-Ab12Cd.css")
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    # Page paths of the single-page app get index.html; missing files do not.
    page = web_server.request("GET", "/clusters/0b8f6f1e-1111-4222-8333-944445555666")
    assert page.status == 200 and b"Tendril test" in page.body
    assert web_server.request("GET", "/assets/missing-123.js").status == 404
    # The API keeps its own 404s and methods.
    expect_problem(web_server.request("GET", "/api/v1/no-such-thing"), 404, "not-found")
    expect_problem(web_server.request("GET", "/api/nothing"), 404, "not-found")
    assert web_server.request("POST", "/clusters").status == 404
    assert expect_json(web_server.request("GET", "/healthz"))["status"] == "ok"


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
    "/assets%2F..%2F..%2Fsecret.txt", "/..%5Csecret.txt", "/.%2e/secret.txt", "//..//secret.txt",
])
def test_no_path_traversal(web_server, path):
    # Sent raw: an HTTP library would normalise the dots away before they reach the server.
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").encode()
    reply = parse_raw(raw_exchange(web_server.port, request))
    assert reply.status in (400, 404), (path, reply.status)
    assert b"outside the dashboard" not in (reply.body if isinstance(reply.body, bytes)
                                            else json.dumps(reply.body).encode())


def test_missing_dashboard_gives_a_short_page(server_factory, tmp_path):
    server = server_factory(settings={"dashboard_dir": str(tmp_path / "never-built")})
    for path in ("/", "/clusters"):
        reply = server.request("GET", path)
        assert reply.status == 503
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"dashboard is not built" in reply.body
    assert expect_json(server.request("GET", "/api/v1/version"))["name"] == "tendril"


# --- monitoring and the template preview -------------------------------------------------------


def test_host_figures(web_server):
    expect_problem(web_server.request("GET", "/api/v1/system/host"), 401)
    host = expect_json(web_server.request("GET", "/api/v1/system/host",
                                          token=web_server.admin_token()))
    assert set(host) == {"load", "cpus", "cpu_mhz", "temperature_c", "power_w",
                         "memory_total_bytes", "memory_available_bytes", "uptime_s"}
    assert host["cpus"] >= 1
    assert all(isinstance(host["load"][k], (int, float)) for k in ("1m", "5m", "15m"))
    assert host["memory_total_bytes"] > host["memory_available_bytes"] > 0
    assert host["uptime_s"] > 0
    for key in ("temperature_c", "power_w"):  # absent in most VMs: null, never an error
        assert host[key] is None or isinstance(host[key], (int, float))
    assert host["cpu_mhz"] is None or all(mhz > 0 for mhz in host["cpu_mhz"])


def test_template_check(web_server):
    token = web_server.admin_token()
    template = ("version: 1\nbricks:\n    1,1,1\n        input: pixels\n"
                "        number_of_neurons: 16\n    2,1,1\n        number_of_neurons: 8\n"
                "    3,1,1\n        output: classes\n        number_of_neurons: 4\n")
    body = expect_json(web_server.request("POST", "/api/v1/templates/check",
                                          json={"template": template}, token=token))
    assert body["inputs"] == [{"name": "pixels", "width": 16}]
    assert body["outputs"] == [{"name": "classes", "width": 4}]
    assert body["bricks"] == 3 and body["neurons"] == 28
    assert body["json"]["bricks"][0]["input"] == "pixels"
    broken = template.replace("number_of_neurons: 8", "number_of_neurons: eight")
    problem = expect_problem(web_server.request("POST", "/api/v1/templates/check",
                                                json={"template": broken}, token=token),
                             400, "invalid-argument")
    assert "line 7" in problem["detail"]
