"""Fixtures and helpers for the integration suite of `tendril serve` (docs/api.md is the contract).

A `Server` writes a config file into a temporary directory, starts the real binary on a free
loopback port, and talks to it over HTTP. Its stdout and stderr are collected into a log that is
attached to the report of every failing test that used it.

The binary is $TENDRIL_BINARY (ctest passes it), else build/src/cli/tendril under the repository
root. Run with the system interpreter: /usr/bin/python3 -m pytest tests/integration
"""
import base64
import hashlib
import hmac
import http.client
import itertools
import json as jsonlib
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, NamedTuple, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBLEM_BASE = "https://tendril.dev/problems/"
PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"
ADMIN_NAME = "admin"
ADMIN_PASSWORD = "admin-password-0"
PASSWORD = "secret-password-1"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
USER_FIELDS = {"id", "name", "is_admin", "created_at", "updated_at"}
PROJECT_FIELDS = {"id", "name", "created_by", "created_at"}
MEMBERSHIP_FIELDS = {"project_id", "user_id", "user_name", "role", "created_at"}
KEY_FIELDS = {"id", "project_id", "name", "role", "created_by", "created_at", "expires_at",
              "revoked", "last_used_at"}
SESSION_FIELDS = {"access_token", "token_type", "expires_in", "expires_at", "refresh_token",
                  "refresh_expires_at", "user", "project_id", "role"}
STARTUP_TIMEOUT_S = 30

# Settings every test server gets unless a test overrides them: cheap password hashing, a high
# login-failure threshold (all tests share one client address), short network timeouts.
BASE_SETTINGS = {
    "password_hash_cost": "testing",
    "io_threads": 4,
    "engine_threads": 1,
    "login_max_failures": 100,
    "read_timeout_s": 5,
    "idle_timeout_s": 10,
    "log_level": "info",
}


def binary_path() -> Path:
    configured = os.environ.get("TENDRIL_BINARY")
    return Path(configured) if configured else REPO_ROOT / "build" / "src" / "cli" / "tendril"


_names = itertools.count(1)


def unique_name(prefix: str = "n") -> str:
    """A fresh user, project or key name (3-64 chars, starts with a letter)."""
    return f"{prefix}-{next(_names)}-{secrets.token_hex(3)}"


# --- Replies and assertions ------------------------------------------------------------------


class Reply(NamedTuple):
    status: int
    headers: Any  # http.client.HTTPMessage: case-insensitive get()
    body: Any  # parsed JSON for JSON content types, else bytes

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def __repr__(self) -> str:
        return f"Reply(status={self.status}, content_type={self.content_type!r}, body={self.body!r})"


def expect_problem(reply: Reply, status: int, type_suffix: Optional[str] = None) -> dict:
    """Asserts an RFC 9457 problem reply with `status` (and type .../`type_suffix`)."""
    assert reply.status == status, f"expected {status}, got {reply!r}"
    assert reply.content_type == PROBLEM_TYPE, f"expected {PROBLEM_TYPE}, got {reply!r}"
    problem = reply.body
    assert isinstance(problem, dict), f"problem body is not an object: {reply!r}"
    assert problem.get("status") == status, f"problem status: {problem!r}"
    assert isinstance(problem.get("title"), str) and problem["title"], f"problem title: {problem!r}"
    assert isinstance(problem.get("type"), str) and problem["type"].startswith(PROBLEM_BASE), \
        f"problem type: {problem!r}"
    if type_suffix is not None:
        assert problem["type"] == PROBLEM_BASE + type_suffix, \
            f"expected type {type_suffix}, got {problem!r}"
    return problem


def expect_json(reply: Reply, status: int = 200) -> Any:
    """Asserts a JSON reply with `status` and returns its body."""
    assert reply.status == status, f"expected {status}, got {reply!r}"
    assert reply.content_type == JSON_TYPE, f"expected {JSON_TYPE}, got {reply!r}"
    assert isinstance(reply.body, (dict, list)), f"body is not JSON: {reply!r}"
    return reply.body


def expect_no_content(reply: Reply) -> None:
    assert reply.status == 204, f"expected 204, got {reply!r}"
    assert reply.body in (b"", None), f"204 with a body: {reply!r}"


def expect_page(reply: Reply) -> dict:
    page = expect_json(reply, 200)
    assert isinstance(page, dict) and set(page) == {"items", "next_cursor"}, f"not a page: {page!r}"
    assert isinstance(page["items"], list), f"items is not a list: {page!r}"
    assert page["next_cursor"] is None or isinstance(page["next_cursor"], str), page
    return page


def expect_error_field(problem: dict, field: str) -> None:
    """The invalid-argument problem's `errors` names `field`."""
    errors = problem.get("errors")
    assert isinstance(errors, list) and errors, f"no errors list: {problem!r}"
    for error in errors:
        assert isinstance(error, dict) and isinstance(error.get("field"), str) \
            and isinstance(error.get("message"), str) and error["message"], f"bad entry {error!r}"
    assert field in [e["field"] for e in errors], f"errors does not name {field!r}: {problem!r}"


def expect_user(user: Any, name: Optional[str] = None, is_admin: Optional[bool] = None) -> dict:
    assert isinstance(user, dict) and set(user) == USER_FIELDS, f"not a user: {user!r}"
    assert UUID_RE.match(user["id"]), user
    assert TIME_RE.match(user["created_at"]) and TIME_RE.match(user["updated_at"]), user
    assert isinstance(user["is_admin"], bool), user
    if name is not None:
        assert user["name"] == name, user
    if is_admin is not None:
        assert user["is_admin"] is is_admin, user
    return user


def expect_session(session: Any, user_name: Optional[str] = None) -> dict:
    assert isinstance(session, dict) and set(session) == SESSION_FIELDS, \
        f"not a session: {session!r}"
    assert session["token_type"] == "Bearer", session
    assert isinstance(session["access_token"], str) and session["access_token"].count(".") == 2
    assert isinstance(session["refresh_token"], str) and len(session["refresh_token"]) >= 32
    assert isinstance(session["expires_in"], int) and session["expires_in"] > 0, session
    assert TIME_RE.match(session["expires_at"]), session
    assert TIME_RE.match(session["refresh_expires_at"]), session
    assert isinstance(session["user"], dict) and set(session["user"]) >= {"id", "name",
                                                                          "is_admin"}, session
    assert "password" not in jsonlib.dumps(session["user"]), session
    if user_name is not None:
        assert session["user"]["name"] == user_name, session
    return session


def all_pages(server: "Server", path: str, token=None, api_key=None, limit: int = 1000) -> list:
    """Every item of a paged list, following next_cursor."""
    items = []
    separator = "&" if "?" in path else "?"
    url = f"{path}{separator}limit={limit}"
    for _ in range(1000):
        page = expect_page(server.request("GET", url, token=token, api_key=api_key))
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        url = f"{path}{separator}limit={limit}&cursor={urllib.parse.quote(page['next_cursor'])}"
    raise AssertionError("paging never ended")


def quote(value: str) -> str:
    """Percent-encodes every reserved character (for path segments and query values)."""
    return urllib.parse.quote(value, safe="")


# --- Raw sockets (for what http.client will not send) --------------------------------------------


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Sends `data` and returns everything the server says until it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"no close within {timeout} s; got {b''.join(chunks)!r}")
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def parse_raw(data: bytes) -> Reply:
    """The first HTTP response in `data` (body by Content-Length, else the rest)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1.1 "), f"not an HTTP/1.1 response: {data[:200]!r}"
    status = int(lines[0].split()[1])
    message = http.client.HTTPMessage()
    for line in lines[1:]:
        name, _, value = line.partition(":")
        message[name.strip()] = value.strip()
    length = message.get("Content-Length")
    return make_reply(status, message, rest[:int(length)] if length is not None else rest)


def make_reply(status: int, headers: Any, data: bytes) -> Reply:
    """A Reply whose body is parsed when it is declared as JSON (and parses)."""
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    parsed: Any = data
    if data and content_type in (JSON_TYPE, PROBLEM_TYPE):
        try:
            parsed = jsonlib.loads(data)
        except ValueError:
            pass
    return Reply(status, headers, parsed)


# --- JWT helpers (for forged tokens) -----------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str):
    header, payload, signature = token.split(".")
    return jsonlib.loads(b64url_decode(header)), jsonlib.loads(b64url_decode(payload)), signature


def sign_jwt(header: dict, claims: dict, key: Optional[bytes]) -> str:
    """A compact JWT; HS256 with `key`, or no signature when `key` is None."""
    signing_input = (b64url(jsonlib.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(jsonlib.dumps(claims, separators=(",", ":")).encode()))
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


# --- The server ----------------------------------------------------------------------------------


class Server:
    """One `tendril serve` process on a temporary directory."""

    registry: list = []  # every server created in this run, for failure reports
    current_test: str = ""

    def __init__(self, directory: Path, settings: Optional[dict] = None,
                 env: Optional[dict] = None, admin_from_env: bool = True, name: str = "server"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "tendril.conf"
        self.settings = dict(BASE_SETTINGS)
        self.settings.update(settings or {})
        self.extra_env = dict(env or {})
        if admin_from_env:
            self.extra_env.setdefault("TENDRIL_ADMIN_NAME", ADMIN_NAME)
            self.extra_env.setdefault("TENDRIL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        self.name = name
        self.process: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.log_lines: list = []
        self.stdout_by_start: list = []  # stdout lines of each start, in order
        self.exit_codes: list = []
        self._lock = threading.Lock()
        self._readers: list = []
        self._admin_session: Optional[dict] = None
        self._admin_deadline = 0.0
        self.touched_by: set = set()
        Server.registry.append(self)

    # -- lifecycle --

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        lines = ["# written by tests/integration/conftest.py"]
        lines += [f"{key} = {value}" for key, value in self.settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENDRIL_")}
        env.update(self.extra_env)
        return env

    def _read(self, stream, label: str, lines: Optional[list]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            with self._lock:
                self.log_lines.append(f"[{label}] {line}")
                if lines is not None:
                    lines.append(line)
        stream.close()

    def start(self) -> "Server":
        assert self.process is None, "already running"
        binary = binary_path()
        if not binary.exists():
            pytest.fail(f"tendril binary not found at {binary} (set TENDRIL_BINARY)")
        self.touched_by.add(Server.current_test)
        self.write_config()
        stdout_lines: list = []
        self.stdout_by_start.append(stdout_lines)
        with self._lock:
            self.log_lines.append(f"=== start {len(self.stdout_by_start)}: {binary} serve "
                                  f"--config {self.config_path}")
        self.process = subprocess.Popen(
            [str(binary), "serve", "--config", str(self.config_path), "--listen", "127.0.0.1:0",
             "--data-dir", str(self.data_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self._environment(), text=True, errors="replace", bufsize=1)
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, "out", stdout_lines),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, "err", None),
                             daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        pattern = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)\s*$")
        while time.monotonic() < deadline:
            with self._lock:
                found = [m for m in map(pattern.match, stdout_lines) if m]
            if found:
                self.port = int(found[0].group(1))
                self._admin_session = None
                return self
            if self.process.poll() is not None:
                for reader in self._readers:
                    reader.join(2)
                code = self.process.returncode
                self.process = None
                raise AssertionError(f"tendril serve exited with {code} before listening:\n"
                                     f"{self.log_text()}")
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"tendril serve did not print its address in {STARTUP_TIMEOUT_S} s:\n"
                             f"{self.log_text()}")

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then waits; returns the exit status (kills and fails after `timeout`)."""
        if self.process is None:
            return self.exit_codes[-1] if self.exit_codes else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"tendril serve ignored SIGTERM for {timeout} s:\n"
                                 f"{self.log_text()}")
        for reader in self._readers:
            reader.join(5)
        self.process = None
        self.exit_codes.append(code)
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for reader in self._readers:
                reader.join(5)
            self.exit_codes.append(self.process.returncode)
            self.process = None

    def restart(self) -> "Server":
        code = self.stop()
        assert code == 0, f"exit status {code} after SIGTERM:\n{self.log_text()}"
        return self.start()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self, tail: int = 300) -> str:
        with self._lock:
            return "\n".join(self.log_lines[-tail:])

    def stdout_text(self, start_index: int = -1) -> str:
        with self._lock:
            return "\n".join(self.stdout_by_start[start_index])

    # -- HTTP --

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, json: Any = None, token: Optional[str] = None,
                api_key: Optional[str] = None, headers: Optional[dict] = None,
                raw_body: Optional[bytes] = None, timeout: float = 10) -> Reply:
        """One request on a fresh connection. `json` is serialised (None: no body unless
        `raw_body`); JSON replies are parsed, anything else is returned as bytes."""
        self.touched_by.add(Server.current_test)
        all_headers = {}
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            all_headers["Content-Type"] = JSON_TYPE
        if raw_body is not None:
            body = raw_body
            all_headers.setdefault("Content-Type", JSON_TYPE)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if api_key is not None:
            all_headers["X-API-Key"] = api_key
        all_headers.update(headers or {})
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        connection = self.connection(timeout)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            reply_headers = response.msg
            status = response.status
        finally:
            connection.close()
        return make_reply(status, reply_headers, data)

    def login_reply(self, name: str, password: str, project_id: Optional[str] = None) -> Reply:
        body = {"name": name, "password": password}
        if project_id is not None:
            body["project_id"] = project_id
        return self.request("POST", "/api/v1/auth/login", json=body)

    def login(self, name: str, password: str, project_id: Optional[str] = None) -> dict:
        """Logs in and returns the session (asserts 200)."""
        return expect_session(expect_json(self.login_reply(name, password, project_id), 200), name)

    def admin_token(self) -> str:
        """An access token of the bootstrap admin, renewed when close to expiry."""
        if self._admin_session is None or time.monotonic() > self._admin_deadline:
            self._admin_session = self.login(ADMIN_NAME, ADMIN_PASSWORD)
            self._admin_deadline = time.monotonic() + self._admin_session["expires_in"] / 2
        return self._admin_session["access_token"]

    # -- setup shortcuts (as the bootstrap admin unless a token is given) --

    def create_user(self, name: Optional[str] = None, password: str = PASSWORD,
                    is_admin: bool = False, token: Optional[str] = None) -> dict:
        name = name or unique_name("u")
        reply = self.request("POST", "/api/v1/users",
                             json={"name": name, "password": password, "is_admin": is_admin},
                             token=token or self.admin_token())
        return expect_user(expect_json(reply, 201), name, is_admin)

    def create_project(self, name: Optional[str] = None, token: Optional[str] = None) -> dict:
        name = name or unique_name("p")
        reply = self.request("POST", "/api/v1/projects", json={"name": name},
                             token=token or self.admin_token())
        project = expect_json(reply, 201)
        assert set(project) == PROJECT_FIELDS and project["name"] == name, project
        return project

    def add_member(self, project_id: str, user_id: str, role: str = "member",
                   token: Optional[str] = None) -> dict:
        reply = self.request("PUT", f"/api/v1/projects/{project_id}/members/{user_id}",
                             json={"role": role}, token=token or self.admin_token())
        membership = expect_json(reply, 200)
        assert set(membership) == MEMBERSHIP_FIELDS, membership
        assert (membership["project_id"], membership["user_id"], membership["role"]) == \
            (project_id, user_id, role), membership
        return membership

    def create_api_key(self, project_id: str, token: Optional[str] = None,
                       name: Optional[str] = None, role: Optional[str] = None,
                       expires_in_s: Optional[int] = None) -> dict:
        body: dict = {"name": name or unique_name("k")}
        if role is not None:
            body["role"] = role
        if expires_in_s is not None:
            body["expires_in_s"] = expires_in_s
        reply = self.request("POST", f"/api/v1/projects/{project_id}/api-keys", json=body,
                             token=token or self.admin_token())
        key = expect_json(reply, 201)
        assert set(key) == KEY_FIELDS | {"key"}, key
        assert re.fullmatch(r"tdk_[A-Za-z0-9_-]{43}", key["key"]), key
        return key

    def user_in(self, project_id: Optional[str] = None, role: str = "member"):
        """A new user with `role` in `project_id` (none: no project), logged in: (user, token)."""
        user = self.create_user()
        if project_id is not None:
            self.add_member(project_id, user["id"], role)
        return user, self.login(user["name"], PASSWORD)["access_token"]

    def delete_and_expect_gone(self, path: str, token: Optional[str] = None) -> None:
        """DELETE `path` (204), then GET and a second DELETE of it are 404."""
        token = token or self.admin_token()
        expect_no_content(self.request("DELETE", path, token=token))
        expect_problem(self.request("GET", path, token=token), 404, "not-found")
        expect_problem(self.request("DELETE", path, token=token), 404, "not-found")

    def whoami(self, token: Optional[str] = None, api_key: Optional[str] = None) -> Reply:
        return self.request("GET", "/api/v1/auth/whoami", token=token, api_key=api_key)

    def healthy(self) -> bool:
        reply = self.request("GET", "/healthz")
        return reply.status == 200 and reply.body == {"status": "ok"}


class World:
    """Two tenants. Project A: member `am`, project-admin `aa`; project B: member `bm`,
    project-admin `ba`; `loner` has no project; plus the bootstrap admin. Each user has a session
    (logged in without project_id, so in their only project)."""

    def __init__(self, server: Server):
        self.server = server
        self.a = server.create_project(unique_name("projA"))
        self.b = server.create_project(unique_name("projB"))
        self.users = {}
        self.sessions = {}
        for label, project, role in (("am", self.a, "member"), ("aa", self.a, "project-admin"),
                                     ("bm", self.b, "member"), ("ba", self.b, "project-admin"),
                                     ("loner", None, None)):
            user = server.create_user(unique_name(label))
            self.users[label] = user
            if project is not None:
                server.add_member(project["id"], user["id"], role)
        for label, user in self.users.items():
            self.sessions[label] = server.login(user["name"], PASSWORD)
        assert self.sessions["am"]["project_id"] == self.a["id"]
        assert self.sessions["am"]["role"] == "member"
        assert self.sessions["aa"]["role"] == "project-admin"
        assert self.sessions["loner"]["role"] == "user"
        self.sessions["admin"] = server.login(ADMIN_NAME, ADMIN_PASSWORD)

    def token(self, label: str) -> str:
        return self.sessions[label]["access_token"]

    def user_id(self, label: str) -> str:
        return self.users[label]["id"]


# --- pytest wiring -------------------------------------------------------------------------------


def pytest_runtest_setup(item):
    Server.current_test = item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in Server.registry:
            if item.nodeid in server.touched_by:
                report.sections.append((f"tendril serve log ({server.name}, {server.dir})",
                                        server.log_text()))


def _stop_checked(server: Server) -> None:
    running = server.running()
    crashed = server.process is not None and not running
    code = server.stop()
    if crashed:
        pytest.fail(f"tendril serve ({server.name}) died during the tests with {code}:\n"
                    f"{server.log_text()}")
    if running and code != 0:
        pytest.fail(f"tendril serve ({server.name}) exited with {code} after SIGTERM:\n"
                    f"{server.log_text()}")


@pytest.fixture
def server_factory(tmp_path):
    """Makes servers with per-test settings: factory(settings=..., env=..., start=True)."""
    made = []

    def make(settings: Optional[dict] = None, env: Optional[dict] = None,
             admin_from_env: bool = True, start: bool = True, name: Optional[str] = None):
        label = name or f"s{len(made)}"
        server = Server(tmp_path / label, settings, env, admin_from_env, label)
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        _stop_checked(server)


@pytest.fixture(scope="module")
def module_server(request, tmp_path_factory):
    """One server shared by a module; the module may set SERVER_SETTINGS."""
    settings = getattr(request.module, "SERVER_SETTINGS", {})
    name = request.module.__name__.rsplit(".", 1)[-1]
    server = Server(tmp_path_factory.mktemp(name), settings, name=name)
    server.start()
    yield server
    _stop_checked(server)


@pytest.fixture
def server(module_server):
    """The module's server, checked to be alive before each test."""
    module_server.touched_by.add(Server.current_test)
    assert module_server.running(), f"the module server is not running:\n{module_server.log_text()}"
    return module_server


@pytest.fixture(scope="module")
def world(module_server):
    return World(module_server)
