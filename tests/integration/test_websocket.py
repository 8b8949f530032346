"""GET /api/v1/events (docs/api.md "WebSocket"): authentication of the upgrade, audit events
scoped to the caller, ping/pong and error frames, the message size limit (1009) and the idle
timeout. Uses python3-websocket (websocket-client)."""
import json
import struct
import time

import pytest
import websocket

from conftest import PASSWORD, World, expect_json, expect_problem, unique_name

SERVER_SETTINGS = {"ws_max_message_bytes": 65536, "ws_idle_timeout_s": 30}
UPGRADE_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


class Closed(Exception):
    def __init__(self, code):
        super().__init__(f"closed with {code}")
        self.code = code


def connect(server, token=None, api_key=None, timeout=5):
    headers = []
    if token:
        headers.append(f"Authorization: Bearer {token}")
    if api_key:
        headers.append(f"X-API-Key: {api_key}")
    return websocket.create_connection(f"ws://127.0.0.1:{server.port}/api/v1/events",
                                       header=headers, timeout=timeout)


def next_message(ws, timeout=5.0):
    """The next text message as JSON; raises Closed on a close frame (without answering it:
    the server may already be gone), TimeoutError if nothing arrives in time."""
    ws.settimeout(timeout)
    parts = []
    while True:
        try:
            frame = ws.recv_frame()
        except websocket.WebSocketTimeoutException:
            raise TimeoutError("no message")
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            data = frame.data
            raise Closed(struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None)
        if frame.opcode == websocket.ABNF.OPCODE_PING:
            try:
                ws.pong(frame.data)
            except OSError:
                pass
            continue
        if frame.opcode == websocket.ABNF.OPCODE_PONG:
            continue
        assert frame.opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_CONT), \
            f"opcode {frame.opcode}"
        parts.append(frame.data if isinstance(frame.data, bytes) else frame.data.encode())
        if frame.fin:
            return json.loads(b"".join(parts).decode("utf-8"))


def wait_for(ws, predicate, timeout=5.0):
    """Messages up to and including the first one matching `predicate`."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = next_message(ws, max(0.1, deadline - time.monotonic()))
        seen.append(message)
        if predicate(message):
            return seen
    raise AssertionError(f"no matching message in {timeout} s; got {seen}")


def audit_by(user_id):
    return lambda m: m.get("type") == "audit" and m["entry"].get("user_id") == user_id


@pytest.fixture(scope="module")
def tenants(module_server):
    return World(module_server)


def test_upgrade_without_credentials_is_401_problem(server):
    reply = server.request("GET", "/api/v1/events", headers=UPGRADE_HEADERS)
    expect_problem(reply, 401, "unauthenticated")
    with pytest.raises(websocket.WebSocketBadStatusException) as error:
        connect(server)
    assert error.value.status_code == 401


@pytest.mark.parametrize("credentials", [{"Authorization": "Bearer nope.nope.nope"},
                                         {"X-API-Key": "tdk_" + "x" * 43}])
def test_upgrade_with_bad_credentials_is_401(server, credentials):
    reply = server.request("GET", "/api/v1/events", headers={**UPGRADE_HEADERS, **credentials})
    expect_problem(reply, 401, "unauthenticated")


def test_plain_get_on_events_is_refused(server, tenants):
    reply = server.request("GET", "/api/v1/events", token=tenants.token("am"))
    assert 400 <= reply.status < 500, reply
    expect_problem(reply, reply.status)


def test_own_events_arrive_and_other_tenants_do_not(server, tenants):
    ws = connect(server, tenants.token("am"))
    try:
        # B acts first, then A: if B's entry were delivered, it would come before A's.
        server.create_api_key(tenants.b["id"], tenants.token("bm"), name=unique_name("bk"))
        key = server.create_api_key(tenants.a["id"], tenants.token("am"))
        seen = wait_for(ws, lambda m: audit_by(tenants.user_id("am"))(m)
                        and m["entry"].get("target") in (key["id"], tenants.a["id"]))
        entry = seen[-1]["entry"]
        assert {"id", "time", "user_id", "action", "target", "result"} <= set(entry), entry
        assert entry["result"] == "ok"
        for message in seen:
            assert message.get("type") == "audit", message
            assert message["entry"]["user_id"] == tenants.user_id("am"), message
        text = json.dumps(seen)
        for secret in (tenants.b["id"], tenants.user_id("bm"), tenants.b["name"], key["key"]):
            assert secret not in text
        # Nothing else arrives for a while: not B's later actions either.
        server.create_api_key(tenants.b["id"], tenants.token("ba"))
        with pytest.raises(TimeoutError):
            message = next_message(ws, 0.7)
            raise AssertionError(f"unexpected event {message}")
    finally:
        ws.close()


def test_admin_sees_every_tenant(server, tenants):
    ws = connect(server, tenants.token("admin"))
    try:
        server.create_api_key(tenants.b["id"], tenants.token("bm"))
        wait_for(ws, audit_by(tenants.user_id("bm")))
        server.create_api_key(tenants.a["id"], tenants.token("am"))
        wait_for(ws, audit_by(tenants.user_id("am")))
    finally:
        ws.close()


def test_api_key_connection(server, tenants):
    key = server.create_api_key(tenants.a["id"], tenants.token("am"))
    ws = connect(server, api_key=key["key"])
    try:
        ws.send(json.dumps({"type": "ping"}))
        assert wait_for(ws, lambda m: m.get("type") == "pong")[-1] == {"type": "pong"}
    finally:
        ws.close()


def test_ping_pong_and_error_frames(server, tenants):
    ws = connect(server, tenants.token("aa"))
    try:
        for _ in range(3):
            ws.send(json.dumps({"type": "ping"}))
            assert wait_for(ws, lambda m: m.get("type") in ("pong", "error"))[-1] == \
                {"type": "pong"}
        for bad in ["hello", json.dumps({"type": "subscribe"}), "[]", json.dumps({"kind": 1}),
                    "{"]:
            ws.send(bad)
            reply = wait_for(ws, lambda m: m.get("type") in ("pong", "error"))[-1]
            assert reply["type"] == "error" and isinstance(reply.get("detail"), str) \
                and reply["detail"], reply
        ws.send_binary(b"\x00\x01binary")
        reply = wait_for(ws, lambda m: m.get("type") in ("pong", "error"))[-1]
        assert reply["type"] == "error", reply
        # still usable afterwards
        ws.send(json.dumps({"type": "ping"}))
        assert wait_for(ws, lambda m: m.get("type") in ("pong", "error"))[-1] == {"type": "pong"}
    finally:
        ws.close()


def test_oversized_message_closes_with_1009(server, tenants):
    ws = connect(server, tenants.token("am"))
    try:
        try:
            ws.send("x" * 70000)
        except OSError:
            pass  # the server may close before reading it all; its close frame is still queued
        with pytest.raises(Closed) as closed:
            for _ in range(20):
                next_message(ws, 5)
        assert closed.value.code == 1009
    finally:
        ws.close()
    # The server keeps serving, WebSockets included.
    assert server.healthy()
    again = connect(server, tenants.token("am"))
    try:
        again.send(json.dumps({"type": "ping"}))
        assert wait_for(again, lambda m: m.get("type") == "pong")
        again.send("y" * 60000)  # under the limit: an error frame, not a close
        assert wait_for(again, lambda m: m.get("type") in ("error", "pong"))[-1]["type"] == "error"
    finally:
        again.close()


def test_revoked_session_events_stop_or_close(server, tenants):
    """Logging out is not required to close an open socket, but the socket must not carry
    events of someone else afterwards; at minimum a new upgrade with the token is refused."""
    user = server.create_user()
    server.add_member(tenants.a["id"], user["id"])
    session = server.login(user["name"], PASSWORD)
    ws = connect(server, session["access_token"])
    ws.close()
    server.request("POST", "/api/v1/auth/logout", token=session["access_token"])
    reply = server.request("GET", "/api/v1/events", token=session["access_token"],
                           headers=UPGRADE_HEADERS)
    expect_problem(reply, 401, "unauthenticated")


def test_idle_socket_is_dropped_and_a_chatty_one_kept(server_factory):
    server = server_factory(settings={"ws_idle_timeout_s": 2})
    token = server.admin_token()
    chatty = connect(server, token)
    silent = connect(server, token)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 3.5:
            chatty.send(json.dumps({"type": "ping"}))
            wait_for(chatty, lambda m: m.get("type") == "pong")
            time.sleep(0.4)
        # The silent one never read, so never answered the server's pings: it is gone.
        outcome = "open"
        try:
            for _ in range(50):
                next_message(silent, 3)
        except TimeoutError:
            outcome = "still open after 3 s more"
        except (Closed, websocket.WebSocketConnectionClosedException, OSError):
            outcome = "closed"
        assert outcome == "closed", f"a silent client was kept past ws_idle_timeout_s: {outcome}"
        chatty.send(json.dumps({"type": "ping"}))
        wait_for(chatty, lambda m: m.get("type") == "pong")
    finally:
        chatty.close()
        silent.close()
    expect_json(server.whoami(token))
